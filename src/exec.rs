//! Replacing lsenv with the command: its environment is exactly the resolved variables plus the
//! pass-list, it is found on lsenv's own `PATH`, and `execve` keeps the PID, so signals and the
//! exit status are the command's own. Values go into the environment only, never into argv.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::env::Env;
use crate::error::{Error, Result};
use crate::names;
use crate::os::NoCoreDumps;
use crate::resolve::Resolution;

/// `execvp`'s search path when `PATH` is not set.
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// What to run, where, and which of lsenv's own variables it may see.
#[derive(Debug, Clone)]
pub struct CommandPlan {
    pub program: OsString,
    pub args: Vec<OsString>,
    /// The child's working directory; `None` keeps lsenv's.
    pub cwd: Option<PathBuf>,
    /// Names and globs from `--pass` and `[exec] pass`, validated by the plan.
    pub pass: Vec<String>,
    /// Supervise instead of exec, filtering secrets out of the command's output.
    pub redact: bool,
}

/// The child's environment: pass-list matches from `env`, then the resolved variables on top.
/// Key variables are never included, whatever the pass-list says.
pub fn child_env(resolution: &Resolution, env: &Env, pass: &[String]) -> Vec<(OsString, OsString)> {
    let mut vars: std::collections::BTreeMap<OsString, OsString> = env
        .iter_named()
        .filter(|(name, _)| !names::is_key_variable(name))
        .filter(|(name, _)| pass.iter().any(|pattern| names::glob_match(pattern, name)))
        .map(|(name, value)| (name.into(), OsString::from_vec(value.expose().to_vec())))
        .collect();
    for (name, variable) in &resolution.variables {
        vars.insert(
            name.into(),
            OsString::from_vec(variable.value.expose().to_vec()),
        );
    }
    vars.into_iter().collect()
}

/// Replaces this process with the command. Returns only if that failed.
pub fn exec(
    plan: &CommandPlan,
    resolution: &Resolution,
    env: &Env,
    core_dumps: &NoCoreDumps,
) -> Error {
    let (mut command, program) = match command(plan, resolution, env) {
        Ok(found) => found,
        Err(err) => return err,
    };
    core_dumps.restore();
    cannot_execute(program, &command.exec())
}

/// The command ready to start: found on lsenv's own `PATH`, with its argv, working directory and
/// exactly [`child_env`] as its environment. The program's path comes along for error messages.
pub(crate) fn command(
    plan: &CommandPlan,
    resolution: &Resolution,
    env: &Env,
) -> Result<(Command, PathBuf)> {
    let base = plan.cwd.as_deref().unwrap_or(Path::new(""));
    let path_var = env
        .get("PATH")
        .map(|value| OsStr::from_bytes(value.expose()));
    let program = find_program(&plan.program, path_var, base)?;
    let mut command = Command::new(&program);
    command
        .arg0(&plan.program)
        .args(&plan.args)
        .env_clear()
        .envs(child_env(resolution, env, &plan.pass));
    if let Some(cwd) = &plan.cwd {
        command.current_dir(cwd);
    }
    Ok((command, program))
}

/// Why `program` did not start, from the error of `execve` (a spawn reports the child's).
pub(crate) fn cannot_execute(program: PathBuf, err: &io::Error) -> Error {
    match err.raw_os_error() {
        Some(code) if code == rustix::io::Errno::NOENT.raw_os_error() => Error::CannotExecute {
            path: program,
            reason: "its interpreter or loader was not found".into(),
        },
        _ => Error::CannotExecute {
            path: program,
            reason: err.to_string(),
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
                reason: err.to_string(),
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
        reason: "it is not an executable file".into(),
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
    use crate::resolve::Resolution;

    #[test]
    fn child_env_is_resolution_plus_pass_list_without_keys() {
        let env: Env = [
            ("HOME", "/h"),
            ("LC_ALL", "C"),
            ("RAILS_MASTER_KEY", "k"),
            ("SECRET", "s"),
        ]
        .into_iter()
        .collect();
        let pass = ["HOME".to_owned(), "LC_*".to_owned(), "RAILS_*".to_owned()];
        let names: Vec<_> = child_env(&Resolution::default(), &env, &pass)
            .into_iter()
            .map(|(name, _)| name.into_string().unwrap())
            .collect();
        assert_eq!(names, ["HOME", "LC_ALL"]);
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
