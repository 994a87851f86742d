//! Starting the command: its environment is exactly the resolved variables plus the pass-list,
//! it is found on lsenv's own `PATH`, and `execve` keeps the PID, so signals and the exit status
//! are the command's own. Values go into the environment only, never into argv. Both `exec`
//! (which becomes the command) and supervision (which spawns it) start it through here.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use signal_hook::consts::SIGPIPE;
use zeroize::Zeroizing;

use crate::env::Env;
use crate::error::{ConfigProblem, Error, ExecProblem, Location, Result, ValueProblem};
use crate::filesecret::FileSecrets;
use crate::names;
use crate::os::NoCoreDumps;
use crate::resolve::{Resolution, Variable};

/// `execvp`'s search path when `PATH` is not set.
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// What to run, where, and which of lsenv's own variables it may see.
#[derive(Debug, Clone)]
pub(crate) struct CommandPlan {
    pub program: OsString,
    pub args: Vec<OsString>,
    /// The child's working directory; `None` keeps lsenv's.
    pub cwd: Option<PathBuf>,
    /// Names and globs from `--pass` and `[exec] pass`, validated by the plan.
    pub pass: Vec<String>,
    /// Supervise instead of exec, filtering secrets out of the command's output.
    pub redact: bool,
    /// Supervise instead of exec, starting the command again when what it gets changes.
    pub watch: bool,
    /// Supervise instead of exec, serving the AWS keys from a loopback endpoint (`credserver`).
    pub serve: bool,
    /// `replicate`: the Litestream config whose `$VAR`s must all resolve before it runs.
    pub preflight: Option<PathBuf>,
}

/// The child's environment, sorted by name: pass-list matches from `env`, then the resolved
/// variables on top. Key variables are never included, whatever the pass-list says. Borrowed, so
/// the only copy of a value is the one the child receives; a value that no environment variable
/// can hold (a NUL byte) is refused by name. A file secret is the path of its memfd in `files`.
pub(crate) fn child_env<'a>(
    resolution: &'a Resolution,
    env: &'a Env,
    pass: &[String],
    files: &'a FileSecrets,
) -> Result<Vec<(&'a str, &'a [u8])>> {
    let mut vars = Vec::with_capacity(resolution.len());
    merge_child_env(resolution, passed(env, pass)?, files, |name, value| {
        vars.push((name, value));
    })?;
    Ok(vars)
}

/// The variables of `env` the pass-list lets through, in name order; one holding a NUL byte is
/// refused.
fn passed<'a>(env: &'a Env, pass: &[String]) -> Result<Vec<(&'a str, &'a [u8])>> {
    let passed: Vec<_> = env
        .iter_named()
        .filter(|(name, _)| !names::is_key_variable(name))
        .filter(|(name, _)| pass.iter().any(|pattern| names::glob_match(pattern, name)))
        .map(|(name, value)| (name, value.expose()))
        .collect();
    if let Some((name, _)) = passed.iter().find(|(_, value)| value.contains(&0)) {
        return Err(Error::config(
            Location::file("environment"),
            ConfigProblem::Value {
                name: (*name).to_owned(),
                problem: ValueProblem::HoldsNul,
            },
        ));
    }
    Ok(passed)
}

/// Calls `each` with [`child_env`]'s variables in order, without collecting them: `exec` copies
/// them straight into the environment it hands to `execve`.
fn merge_child_env<'a>(
    resolution: &'a Resolution,
    passed: Vec<(&'a str, &'a [u8])>,
    files: &'a FileSecrets,
    mut each: impl FnMut(&'a str, &'a [u8]),
) -> Result<()> {
    let mut passed = passed.into_iter().peekable();
    // Both are sorted by name: merge them, the resolved variable winning a tie.
    for (name, variable) in resolution.iter() {
        while let Some((earlier, value)) = passed.next_if(|(passed, _)| *passed < name) {
            each(earlier, value);
        }
        passed.next_if(|(passed, _)| *passed == name);
        let value = match file_path(name, variable, files) {
            Some(path) => path.as_bytes(),
            None => variable.env_value(name)?,
        };
        each(name, value);
    }
    passed.for_each(|(name, value)| each(name, value));
    Ok(())
}

/// The path the command gets for variable `name`, if it is a file secret.
fn file_path<'a>(name: &str, variable: &Variable, files: &'a FileSecrets) -> Option<&'a str> {
    variable.file.then(|| files.path(name)).flatten()
}

/// Programs that look other commands up on `PATH`: started without one, they search only their
/// built-in default.
const SEARCHERS: [&str; 9] = [
    "sh", "bash", "dash", "zsh", "ksh", "ash", "busybox", "env", "xargs",
];

/// Said when a command finds no command because it got no `PATH`.
pub(crate) const PASS_PATH_HINT: &str = "lsenv gives the command no PATH unless asked: add --pass PATH (or `pass = [\"PATH\"]` in the [exec] table of config/lsenv.toml)";

/// Whether the command gets no `PATH`: neither resolved nor in the pass-list.
pub(crate) fn lacks_path(plan: &CommandPlan, resolution: &Resolution) -> bool {
    resolution.get("PATH").is_none()
        && !plan
            .pass
            .iter()
            .any(|pattern| names::glob_match(pattern, "PATH"))
}

/// Once lsenv has become the command it cannot see the command exit 127, so a shell (or `env`)
/// started without `PATH`, whose lookups would then fail, is noted on stderr beforehand.
pub(crate) fn note_missing_path(plan: &CommandPlan, resolution: &Resolution) {
    let name = Path::new(&plan.program)
        .file_name()
        .and_then(OsStr::to_str)
        .unwrap_or_default();
    // `env` with no command (`env`, `env -0`) only prints.
    let runs_commands = name != "env"
        || plan.args.iter().any(|arg| {
            let arg = arg.as_bytes();
            !arg.starts_with(b"-") && !arg.contains(&b'=')
        });
    if SEARCHERS.contains(&name) && runs_commands && lacks_path(plan, resolution) {
        crate::terminal::say(&format!(
            "note: {name} gets no PATH, so the commands it runs are looked up in its built-in default path only; {PASS_PATH_HINT}"
        ));
    }
}

/// Replaces this process with the command. Returns only if that failed.
///
/// `execve` is called directly with an environment built in one pass: `std::process::Command`
/// copies every variable three times into maps of its own, which with thousands of variables
/// costs more than all the rest of lsenv's work.
pub(crate) fn exec(
    plan: &CommandPlan,
    resolution: &Resolution,
    env: &Env,
    core_dumps: &NoCoreDumps,
) -> Error {
    // Open until `execve`, which hands them to the command.
    let files = match FileSecrets::create(resolution) {
        Ok(files) => files,
        Err(err) => return err,
    };
    let image = match Image::new(plan, resolution, env, &files) {
        Ok(image) => image,
        Err(err) => return err,
    };
    if let Some(cwd) = &plan.cwd
        && let Err(err) = std::env::set_current_dir(cwd)
    {
        return Error::io(cwd, "enter the directory", err);
    }
    if let Err(err) = reset_sigpipe() {
        return err;
    }
    core_dumps.restore();
    // Each piece ends in the one NUL byte it holds (values with others are refused): cut where
    // the next NUL is.
    let mut rest = image.environment.as_slice();
    let envp: Vec<&CStr> = std::iter::from_fn(|| {
        let piece = CStr::from_bytes_until_nul(rest).ok()?;
        rest = &rest[piece.count_bytes() + 1..];
        Some(piece)
    })
    .collect();
    let Err(errno) = nix::unistd::execve(&image.path, &image.argv, &envp);
    cannot_execute(image.program, &errno.into())
}

/// Rust ignores SIGPIPE, and an ignored signal stays ignored across `execve`: the command
/// would get EPIPE where it expects to die, as at the head of a pipeline. A caught signal is
/// reset to its default by `execve`, so catching it is how it is reset without unsafe code.
pub(crate) fn reset_sigpipe() -> Result<()> {
    signal_hook::flag::register(SIGPIPE, Arc::new(AtomicBool::new(false)))
        .map(drop)
        .map_err(|err| Error::io("SIGPIPE", "reset", err))
}

/// What `execve` takes: the program found on lsenv's own `PATH`, argv, and the environment as
/// `NAME=value` strings, each ending in a NUL byte, in one buffer (one allocation, not one per
/// variable; wiped if `execve` fails).
struct Image {
    program: PathBuf,
    path: CString,
    argv: Vec<CString>,
    environment: Zeroizing<Vec<u8>>,
}

impl Image {
    fn new(
        plan: &CommandPlan,
        resolution: &Resolution,
        env: &Env,
        files: &FileSecrets,
    ) -> Result<Self> {
        let program = locate(plan, env)?;
        let c_string = |bytes: &[u8]| {
            CString::new(bytes).map_err(|_| Error::CannotExecute {
                path: program.clone(),
                reason: ExecProblem::Nul,
            })
        };
        let path = c_string(program.as_os_str().as_bytes())?;
        let argv = std::iter::once(&plan.program)
            .chain(&plan.args)
            .map(|arg| c_string(arg.as_bytes()))
            .collect::<Result<_>>()?;
        let passed = passed(env, &plan.pass)?;
        // At least what is needed (a passed variable the resolution overrides is counted too),
        // so that the buffer never grows: a move would leave an unwiped copy behind.
        let size = passed
            .iter()
            .map(|(name, value)| name.len() + value.len() + 2)
            .chain(resolution.iter().map(|(name, variable)| {
                let value = file_path(name, variable, files).map_or(variable.value.len(), str::len);
                name.len() + value + 2
            }))
            .sum();
        let mut environment = Zeroizing::new(Vec::with_capacity(size));
        merge_child_env(resolution, passed, files, |name, value| {
            environment.extend_from_slice(name.as_bytes());
            environment.push(b'=');
            environment.extend_from_slice(value);
            environment.push(0);
        })?;
        Ok(Self {
            program,
            path,
            argv,
            environment,
        })
    }
}

/// The command ready to spawn, for supervision: found on lsenv's own `PATH`, with its argv,
/// working directory and exactly [`child_env`] as its environment. The program's path comes
/// along for error messages, and the file secrets, which must stay open until it is spawned.
pub(crate) fn command(
    plan: &CommandPlan,
    resolution: &Resolution,
    env: &Env,
) -> Result<(Command, PathBuf, FileSecrets)> {
    let program = locate(plan, env)?;
    let files = FileSecrets::create(resolution)?;
    let mut command = Command::new(&program);
    command
        .arg0(&plan.program)
        .args(&plan.args)
        .env_clear()
        .envs(
            child_env(resolution, env, &plan.pass, &files)?
                .into_iter()
                .map(|(name, value)| (name, OsStr::from_bytes(value))),
        );
    if let Some(cwd) = &plan.cwd {
        command.current_dir(cwd);
    }
    Ok((command, program, files))
}

/// The plan's program, found relative to its working directory and then made absolute: the
/// command is started after the working directory changes.
fn locate(plan: &CommandPlan, env: &Env) -> Result<PathBuf> {
    let base = plan.cwd.as_deref().unwrap_or(Path::new(""));
    let path_var = env
        .get("PATH")
        .map(|value| OsStr::from_bytes(value.expose()));
    let program = find_program(&plan.program, path_var, base)?;
    std::path::absolute(&program).map_err(|err| Error::io(&program, "find", err))
}

/// Why `program` did not start, from the error of `execve` (a spawn reports the child's).
pub(crate) fn cannot_execute(program: PathBuf, err: &io::Error) -> Error {
    match err.raw_os_error() {
        Some(code) if code == rustix::io::Errno::NOENT.raw_os_error() => Error::CannotExecute {
            path: program,
            reason: ExecProblem::NoInterpreter,
        },
        _ => Error::CannotExecute {
            path: program,
            // The error is borrowed: its text is kept, for the message.
            reason: ExecProblem::Os(io::Error::new(err.kind(), err.to_string())),
        },
    }
}

/// Finds `program` like `execvp`: a name with a `/` is used as it is (relative to `base`), any
/// other name is searched in `PATH`. Not found → exit 127; found but not executable → 126.
pub(crate) fn find_program(
    program: &OsStr,
    path_var: Option<&OsStr>,
    base: &Path,
) -> Result<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        let path = base.join(program);
        return match executable(&path) {
            Ok(true) => Ok(path),
            Ok(false) => Err(not_executable(path)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Err(Error::CommandNotFound {
                program: program.to_string_lossy().into_owned(),
                searched: None,
            }),
            Err(err) => Err(Error::CannotExecute {
                path,
                reason: ExecProblem::Os(err),
            }),
        };
    }
    let searched = path_var.map_or(OsStr::new(DEFAULT_PATH), |path| path);
    let mut denied = None;
    for dir in std::env::split_paths(searched) {
        let candidate = base.join(dir).join(program);
        match executable(&candidate) {
            Ok(true) => return Ok(candidate),
            Ok(false) => {
                denied.get_or_insert(candidate);
            }
            Err(_) => {}
        }
    }
    match denied {
        Some(path) => Err(not_executable(path)),
        None => Err(Error::CommandNotFound {
            program: program.to_string_lossy().into_owned(),
            searched: Some(match path_var {
                Some(path) => format!("PATH={}", path.to_string_lossy()),
                None => format!("PATH={DEFAULT_PATH}, the default, as PATH is not set"),
            }),
        }),
    }
}

fn not_executable(path: PathBuf) -> Error {
    Error::CannotExecute {
        path,
        reason: ExecProblem::NotExecutable,
    }
}

/// Whether `path` is a regular file with an execute bit; `Err` when it does not exist.
fn executable(path: &Path) -> io::Result<bool> {
    let meta = std::fs::metadata(path)?;
    Ok(meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{child_env, find_program};
    use crate::env::Env;
    use crate::error::Error;
    use crate::filesecret::FileSecrets;
    use crate::resolve::{Resolution, Source, Variable};
    use crate::secret::Secret;

    fn resolved(vars: &[(&str, &str)]) -> Resolution {
        vars.iter()
            .map(|(name, value)| {
                let variable = Variable {
                    value: Secret::copy_from(value.as_bytes()),
                    source: Source::Environment {
                        name: (*name).into(),
                    },
                    overridden: Vec::new(),
                    file: false,
                };
                ((*name).to_owned(), variable)
            })
            .collect()
    }

    #[test]
    fn child_env_is_resolution_plus_pass_list_without_keys() {
        let env: Env = [
            ("HOME", "/h"),
            ("LC_ALL", "C"),
            ("LITESTREAM_B", "from the environment"),
            ("RAILS_MASTER_KEY", "k"),
            ("SECRET", "s"),
            ("ZED", "z"),
        ]
        .into_iter()
        .collect();
        let pass = ["HOME", "LC_*", "LITESTREAM_B", "RAILS_*", "ZED"].map(String::from);
        let resolution = resolved(&[("LITESTREAM_A", "a"), ("LITESTREAM_B", "resolved")]);
        let no_files = FileSecrets::default();
        let vars = child_env(&resolution, &env, &pass, &no_files).unwrap();
        let shown: Vec<_> = vars
            .iter()
            .map(|(name, value)| format!("{name}={}", String::from_utf8_lossy(value)))
            .collect();
        assert_eq!(
            shown,
            [
                "HOME=/h",
                "LC_ALL=C",
                "LITESTREAM_A=a",
                "LITESTREAM_B=resolved",
                "ZED=z"
            ]
        );

        let nul = resolved(&[("LITESTREAM_NUL", "canary\0")]);
        let refused = child_env(&nul, &env, &pass, &no_files)
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("LITESTREAM_NUL holds a NUL byte"),
            "{refused}"
        );
        assert!(!refused.contains("canary"), "{refused}");
        let env_nul: Env = [("ZED", "canary\0")].into_iter().collect();
        let refused = child_env(&resolution, &env_nul, &pass, &no_files)
            .unwrap_err()
            .to_string();
        assert!(refused.contains("ZED holds a NUL byte"), "{refused}");
        assert!(!refused.contains("canary"), "{refused}");
    }

    #[test]
    fn lookup_uses_the_given_path() {
        let sh = find_program(
            "sh".as_ref(),
            Some("/nonexistent:/bin:/usr/bin".as_ref()),
            Path::new(""),
        )
        .unwrap();
        assert!(sh.ends_with("sh"));
        let missing =
            find_program("sh".as_ref(), Some("/nonexistent".as_ref()), Path::new("")).unwrap_err();
        assert!(
            matches!(missing, Error::CommandNotFound { ref searched, .. } if searched.as_deref() == Some("PATH=/nonexistent"))
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("plain"), "").unwrap();
        let not_exec = find_program(
            "plain".as_ref(),
            Some(dir.path().as_os_str()),
            Path::new(""),
        )
        .unwrap_err();
        assert_eq!(not_exec.exit_code(), 126);
        let no_file = find_program("./nope".as_ref(), None, Path::new("")).unwrap_err();
        assert_eq!(no_file.exit_code(), 127);
    }
}
