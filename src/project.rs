//! The project lsenv works on: its root, the credentials environment, its settings, and where its
//! credentials file and key are (or would be created).

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::config::{CONFIG_FILE, Config};
use crate::env::Env;
use crate::error::{Error, Location, Result};
use crate::store::Credentials;
use crate::store::keys::KeySource;

pub const GLOBAL_CREDENTIALS: &str = "config/credentials.yml.enc";
const GLOBAL_KEY: &str = "config/master.key";
const ENVIRONMENT_VARIABLES: [&str; 2] = ["LSENV_ENV", "RAILS_ENV"];

#[derive(Debug)]
pub struct Project {
    /// The root, relative to lsenv's working directory (empty when it is that directory).
    pub root: PathBuf,
    /// Whether `-C` named the root: commands then run there, as with `git -C`.
    pub root_given: bool,
    pub environment: Option<String>,
    /// Whether `-e` named the environment (rather than `LSENV_ENV`/`RAILS_ENV`).
    pub environment_given: bool,
    pub config: Config,
}

/// Where the credentials file of a project is, whether it exists, and its key.
#[derive(Debug)]
pub struct CredentialsTarget {
    pub file: PathBuf,
    pub exists: bool,
    /// `None` when no key source is present (yet).
    pub key: Option<KeySource>,
    /// Where a new key goes when one has to be created.
    pub new_key_file: PathBuf,
}

impl CredentialsTarget {
    /// The existing key a new credentials file should be encrypted with: the one that lookup
    /// will find for it at run time, a key variable or the file's own key file. `None`: make a
    /// new key in `new_key_file`. Another environment's key file (`config/master.key` for a new
    /// `-e ENV` file) is not shared: as `rails credentials:edit -e ENV`, a new environment gets a
    /// key of its own.
    pub fn key_for_new_file(&self) -> Option<&KeySource> {
        self.key.as_ref().filter(|source| match source {
            KeySource::Variable(_) => true,
            KeySource::File(path) => *path == self.new_key_file,
        })
    }
}

impl Project {
    /// Finds the root (or takes `-C DIR`), picks the environment and loads `config/lsenv.toml`.
    pub fn open(
        directory: Option<PathBuf>,
        environment: Option<String>,
        env: &Env,
        cwd: &Path,
    ) -> Result<Self> {
        let root_given = directory.is_some();
        let environment_given = environment.is_some();
        let root = match directory {
            Some(dir) if dir.is_dir() => dir,
            Some(dir) => {
                return Err(Error::usage(format!(
                    "-C {}: not a directory",
                    dir.display()
                )));
            }
            None => find_root(cwd),
        };
        let environment = select_environment(environment, env)?;
        let config = Config::load(root.join(CONFIG_FILE), environment.as_deref())?;
        Ok(Self {
            root,
            root_given,
            environment,
            environment_given,
            config,
        })
    }

    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.root.join(relative)
    }

    /// Which credentials file, and where its key is. Per-environment content and key are chosen
    /// independently, as in Rails 7.1+; a per-environment file replaces the global one.
    pub fn credentials_target(&self, env: &Env) -> Result<CredentialsTarget> {
        let environment = self.environment.as_deref();
        let (file, exists) = if let Some(file) = &self.config.credentials_file {
            let file = self.path(file);
            let exists = file.exists();
            (file, exists)
        } else {
            let per_environment =
                environment.map(|name| self.path(format!("config/credentials/{name}.yml.enc")));
            let global = self.path(GLOBAL_CREDENTIALS);
            let found = per_environment
                .iter()
                .chain([&global])
                .find(|path| path.exists())
                .cloned();
            match found {
                Some(found) => (found, true),
                None => (per_environment.unwrap_or(global), false),
            }
        };
        Ok(CredentialsTarget {
            file,
            exists,
            key: KeySource::find(env, &self.root, environment),
            new_key_file: self.path(match environment {
                Some(name) => format!("config/credentials/{name}.key"),
                None => GLOBAL_KEY.to_owned(),
            }),
        })
    }

    /// The credentials file to create or edit. As `rails credentials:edit -e ENV`, an explicit
    /// `-e ENV` means `config/credentials/ENV.yml.enc` even before it exists; an environment from
    /// `RAILS_ENV` only chooses among existing files, so a shell's `RAILS_ENV` never makes a new file.
    pub fn writable_credentials_target(&self, env: &Env) -> Result<CredentialsTarget> {
        let mut target = self.credentials_target(env)?;
        if let (true, Some(name), None) = (
            self.environment_given,
            &self.environment,
            &self.config.credentials_file,
        ) {
            let own = self.path(format!("config/credentials/{name}.yml.enc"));
            if target.file != own {
                target.file = own;
                target.exists = false;
            }
        }
        Ok(target)
    }

    /// The credentials to read, or `None` when the project has none (not an error for `exec`).
    /// A file that exists without a key is an error.
    pub fn credentials(&self, env: &Env) -> Result<Option<Credentials>> {
        let target = self.credentials_target(env)?;
        if !target.exists {
            if self.config.credentials_file.is_some() {
                return Err(Error::config(
                    Location::file(&self.config.path).key("credentials.file"),
                    format!("{} does not exist", target.file.display()),
                ));
            }
            return Ok(None);
        }
        let key = target.key.ok_or_else(|| self.missing_key(&target.file))?;
        Ok(Some(Credentials {
            file: target.file,
            key,
        }))
    }

    pub fn missing_key(&self, file: &Path) -> Error {
        self.missing_key_because(file, "no key found to decrypt this file")
    }

    pub fn missing_key_because(&self, file: &Path, problem: &str) -> Error {
        Error::Key {
            source_name: file.display().to_string(),
            problem: problem.to_owned(),
            hint: Some(format!(
                "set RAILS_MASTER_KEY (or LSENV_MASTER_KEY), or put the key in {}",
                match &self.environment {
                    Some(name) => format!("config/credentials/{name}.key or {GLOBAL_KEY}"),
                    None => GLOBAL_KEY.to_owned(),
                }
            )),
        }
    }

    /// Adds `/path` to the root's `.gitignore` (created if missing) unless a line already says so.
    pub fn ignore_in_git(&self, path: &Path) -> Result<()> {
        let relative = path.strip_prefix(&self.root).unwrap_or(path);
        let line = format!("/{}", relative.display());
        let gitignore = self.path(".gitignore");
        let existing = match std::fs::read_to_string(&gitignore) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(err) => return Err(Error::io(&gitignore, "read", err)),
        };
        if existing
            .lines()
            .any(|l| l.trim() == line || l.trim() == &line[1..])
        {
            return Ok(());
        }
        let separator = if existing.is_empty() || existing.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&gitignore)
            .and_then(|mut file| file.write_all(format!("{separator}{line}\n").as_bytes()))
            .map_err(|err| Error::io(&gitignore, "write", err))
    }
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
