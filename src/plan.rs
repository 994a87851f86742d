//! Turns the raw command line and environment into a validated [`Plan`]: the project root, the
//! credentials environment, the settings, which credentials file and key source, and the command
//! to run. Nothing after this module looks at raw arguments.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::cli::{Cli, Command};
use crate::config::{CONFIG_FILE, Config};
use crate::env::Env;
use crate::error::{Error, Location, Result};
use crate::exec::CommandPlan;
use crate::names;
use crate::store::Credentials;
use crate::store::keys::KeySource;

const GLOBAL_CREDENTIALS: &str = "config/credentials.yml.enc";
const ENVIRONMENT_VARIABLES: [&str; 2] = ["LSENV_ENV", "RAILS_ENV"];

#[derive(Debug)]
pub struct Plan {
    /// The project root, relative to lsenv's working directory (empty when it is that directory).
    pub root: PathBuf,
    pub environment: Option<String>,
    pub config: Config,
    /// `None` when the project has no credentials file: not an error for `exec`.
    pub credentials: Option<Credentials>,
    pub command: CommandPlan,
}

impl Plan {
    pub fn new(cli: Cli, env: &Env, cwd: &Path) -> Result<Self> {
        let root = match &cli.directory {
            Some(dir) if dir.is_dir() => dir.clone(),
            Some(dir) => {
                return Err(Error::usage(format!(
                    "-C {}: not a directory",
                    dir.display()
                )));
            }
            None => find_root(cwd),
        };
        let (environment_flag, action) = match cli.command {
            Command::Exec(args) => (
                args.environment.or(cli.environment),
                Action::Exec(args.command, args.pass),
            ),
            Command::Replicate(args) => (cli.environment, Action::Replicate(args.args)),
        };
        let environment = select_environment(environment_flag, env)?;
        let config = Config::load(root.join(CONFIG_FILE), environment.as_deref())?;
        let credentials = credentials(&root, &config, environment.as_deref(), env)?;
        let command = match action {
            Action::Exec(words, pass) => {
                let (program, args) = split_command(words);
                CommandPlan {
                    program,
                    args,
                    cwd: cli.directory.is_some().then(|| root.clone()),
                    pass: pass_list(&config, pass)?,
                }
            }
            Action::Replicate(args) => replicate_command(&root, &config, args)?,
        };
        Ok(Self {
            root,
            environment,
            config,
            credentials,
            command,
        })
    }
}

enum Action {
    Exec(Vec<OsString>, Vec<String>),
    Replicate(Vec<OsString>),
}

/// The nearest ancestor of `cwd` that holds `config/lsenv.toml`, `config/credentials.yml.enc` or
/// `config/credentials/`, as a relative path (`""`, `".."`, …); `cwd` itself when none does.
fn find_root(cwd: &Path) -> PathBuf {
    let markers = [CONFIG_FILE, GLOBAL_CREDENTIALS, "config/credentials"];
    cwd.ancestors()
        .position(|dir| markers.iter().any(|marker| dir.join(marker).exists()))
        .map_or_else(PathBuf::new, |depth| (0..depth).map(|_| "..").collect())
}

/// `-e`, else `$LSENV_ENV`, else `$RAILS_ENV` (empty counts as unset). The name becomes part of
/// file names, so it must be a plain name.
fn select_environment(flag: Option<String>, env: &Env) -> Result<Option<String>> {
    let (name, origin) = match flag {
        Some(name) => (name, "-e".to_owned()),
        None => match ENVIRONMENT_VARIABLES
            .into_iter()
            .find_map(|var| env.get_non_empty(var).map(|value| (value, var)))
        {
            Some((value, var)) => (
                String::from_utf8_lossy(value.expose()).trim().to_owned(),
                format!("${var}"),
            ),
            None => return Ok(None),
        },
    };
    let valid = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if valid {
        Ok(Some(name))
    } else {
        Err(Error::usage(format!(
            "{origin}: the environment name must be letters, digits, `_`, `-` or `.`, not starting with `.`"
        )))
    }
}

/// Which credentials file, and where its key is. Per-environment content and key are chosen
/// independently, as in Rails 7.1+; a per-environment file replaces the global one.
fn credentials(
    root: &Path,
    config: &Config,
    environment: Option<&str>,
    env: &Env,
) -> Result<Option<Credentials>> {
    let file = if let Some(file) = &config.credentials_file {
        let file = root.join(file);
        if !file.exists() {
            return Err(Error::config(
                Location::file(&config.path).key("credentials.file"),
                format!("{} does not exist", file.display()),
            ));
        }
        file
    } else {
        let candidates = environment
            .map(|name| root.join(format!("config/credentials/{name}.yml.enc")))
            .into_iter()
            .chain([root.join(GLOBAL_CREDENTIALS)]);
        match candidates.into_iter().find(|path| path.exists()) {
            Some(file) => file,
            None => return Ok(None),
        }
    };
    let key = KeySource::find(env, root, environment).ok_or_else(|| Error::Key {
        source_name: file.display().to_string(),
        problem: "no key found to decrypt this file".into(),
        hint: Some(format!(
            "set RAILS_MASTER_KEY (or LSENV_MASTER_KEY), or put the key in {}",
            match environment {
                Some(name) => format!("config/credentials/{name}.key or config/master.key"),
                None => "config/master.key".to_owned(),
            }
        )),
    })?;
    Ok(Some(Credentials { file, key }))
}

/// `[exec] pass` then `--pass`. Naming a key variable explicitly is refused; globs skip them.
fn pass_list(config: &Config, cli: Vec<String>) -> Result<Vec<String>> {
    for pattern in &config.pass {
        check_pattern(pattern).map_err(|problem| {
            Error::config(Location::file(&config.path).key("exec.pass"), problem)
        })?;
    }
    for pattern in &cli {
        check_pattern(pattern)
            .map_err(|problem| Error::usage(format!("--pass {pattern}: {problem}")))?;
    }
    Ok(config.pass.iter().cloned().chain(cli).collect())
}

fn check_pattern(pattern: &str) -> Result<(), String> {
    if !names::is_valid_pattern(pattern) {
        Err("expected a variable name or a glob of letters, digits, _, * and ?".into())
    } else if !names::is_glob(pattern) && names::is_key_variable(pattern) {
        Err(format!(
            "{pattern} holds a key, and keys are never passed to a command"
        ))
    } else {
        Ok(())
    }
}

fn split_command(mut words: Vec<OsString>) -> (OsString, Vec<OsString>) {
    let args = words.split_off(1);
    (words.pop().unwrap_or_default(), args)
}

/// `litestream replicate -config <config> ARGS`, run in the project root. Litestream takes flags
/// before positional arguments, so `-config` goes first; it is left out when ARGS carry their own.
fn replicate_command(root: &Path, config: &Config, args: Vec<OsString>) -> Result<CommandPlan> {
    let own_config = args.iter().any(|arg| {
        let arg = arg.to_string_lossy();
        let flag = arg.split('=').next().unwrap_or_default();
        flag == "-config" || flag == "--config"
    });
    let mut full = vec![OsString::from("replicate")];
    if !own_config {
        if !root.join(&config.litestream_config).is_file() {
            return Err(Error::config(
                Location::file(root.join(&config.litestream_config)),
                "the Litestream configuration file does not exist",
            )
            .with_hint(format!(
                "create it, or set `config` in the [replicate] table of {}",
                config.path.display()
            )));
        }
        full.push("-config".into());
        full.push(config.litestream_config.clone().into());
    }
    full.extend(args);
    Ok(CommandPlan {
        program: config.litestream_bin.clone(),
        args: full,
        cwd: (!root.as_os_str().is_empty()).then(|| root.to_owned()),
        pass: pass_list(config, Vec::new())?,
    })
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::{find_root, select_environment};
    use crate::env::Env;

    #[test]
    fn root_is_the_nearest_marked_ancestor() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app");
        std::fs::create_dir_all(app.join("config")).unwrap();
        std::fs::create_dir_all(app.join("lib/deep")).unwrap();
        std::fs::write(app.join("config/credentials.yml.enc"), "x").unwrap();
        assert_eq!(find_root(&app), PathBuf::new());
        assert_eq!(find_root(&app.join("lib/deep")), Path::new("../.."));
        assert_eq!(find_root(dir.path()), PathBuf::new());
    }

    #[test]
    fn environment_precedence_and_validation() {
        let env: Env = [("LSENV_ENV", ""), ("RAILS_ENV", "production")]
            .into_iter()
            .collect();
        assert_eq!(
            select_environment(None, &env).unwrap().as_deref(),
            Some("production")
        );
        assert_eq!(
            select_environment(Some("staging".into()), &env)
                .unwrap()
                .as_deref(),
            Some("staging")
        );
        assert!(select_environment(Some("../x".into()), &env).is_err());
        assert!(select_environment(Some("a/b".into()), &env).is_err());
        assert_eq!(select_environment(None, &Env::default()).unwrap(), None);
    }
}
