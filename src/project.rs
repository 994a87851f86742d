//! The project lsenv works on: its root, the credentials environment, its settings, and where its
//! credentials file and key are (or would be created).

use std::fmt::Write as _;
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use crate::config::{CONFIG_FILE, Config};
use crate::env::Env;
use crate::error::{ConfigProblem, Error, KeyProblem, Location, Result, UsageProblem};
use crate::store::keys::{self, AgeKeys, KeySource};
use crate::store::rails::MasterKey;
use crate::store::{Access, Credentials, Keys};
use crate::terminal::say;

pub(crate) const GLOBAL_CREDENTIALS: &str = "config/credentials.yml.enc";
const GLOBAL_STEM: &str = "config/credentials";
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
    /// Whether the root holds one of the files that mark a project (see [`find_root`]).
    pub found: bool,
}

/// Where the credentials file of a project is, whether it exists, and its keys.
#[derive(Debug)]
pub struct CredentialsTarget {
    pub file: PathBuf,
    pub exists: bool,
    /// For a Rails file: `None` when no key source is present (yet).
    pub key: Option<KeySource>,
    /// For a Rails file: where a new key goes when one has to be created.
    pub new_key_file: PathBuf,
    /// Set when the file is (or, new, will be) an age file: where its identities and recipients are.
    pub age: Option<AgeKeys>,
}

impl CredentialsTarget {
    /// How the file is opened: its age keys, or its Rails key when one is present.
    pub fn access(&self) -> Option<Access> {
        match &self.age {
            Some(keys) => Some(Access::Age(keys.clone())),
            None => self.key.clone().map(Access::Rails),
        }
    }

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

/// The keys that seal a credentials file, and what has to be written before anything sealed
/// with them is: a new Rails key file, or a new age recipients file.
pub struct Sealing {
    pub keys: Keys,
    /// What the file is sealed with, for messages: "the key from …", "3 age recipients".
    pub description: String,
    pending: Option<Pending>,
    /// Whether `pending` has been written (it is written once).
    written: std::cell::Cell<bool>,
}

#[derive(Debug)]
enum Pending {
    KeyFile(PathBuf),
    RecipientsFile(PathBuf),
}

impl std::fmt::Debug for Sealing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealing([redacted])")
    }
}

impl Sealing {
    /// The key file this sealing will create, if it makes a new Rails key.
    pub fn new_key_file(&self) -> Option<&Path> {
        match &self.pending {
            Some(Pending::KeyFile(path)) => Some(path),
            _ => None,
        }
    }

    /// Writes the new key or recipients file, once; after this the sealed file can be opened.
    pub fn persist(&self, project: &Project) -> Result<()> {
        // Marked written only once it is: a refusal here must be met again by the next caller
        // (keeping an edit sealed with a key that was never saved would lose it).
        if self.written.get() {
            return Ok(());
        }
        match (&self.pending, &self.keys) {
            (Some(Pending::KeyFile(path)), Keys::Rails(key)) => {
                // Ignored before it exists, so git never sees the key unignored.
                project.ignore_in_git(path)?;
                keys::create_key_file(path, key)?;
                say(&format!(
                    "created {} (the new key: mode 0600, listed in .gitignore)",
                    path.display()
                ));
            }
            (
                Some(Pending::RecipientsFile(path)),
                Keys::Age {
                    recipients: Some(recipients),
                    ..
                },
            ) => {
                let lines: String = recipients.iter().fold(String::new(), |mut lines, r| {
                    let _ = writeln!(lines, "{r}");
                    lines
                });
                let text = format!(
                    "# age recipients of {}; manage with: lsenv credentials recipients\n{lines}",
                    path.display()
                );
                crate::os::create_new(path, text.as_bytes(), 0o644)?;
                say(&format!(
                    "created {} with your own recipient",
                    path.display()
                ));
            }
            _ => {}
        }
        self.written.set(true);
        Ok(())
    }
}

impl Project {
    /// The keys to seal `target` with. An existing file keeps its keys: a Rails file without its
    /// key is an error (Rails' own mistake, not repeated: a new key could never open it). A new
    /// Rails file takes [`CredentialsTarget::key_for_new_file`] or a new key; a new age file its
    /// recipients, or else the recipients of the user's own identities.
    pub fn sealing(&self, target: &CredentialsTarget, env: &Env) -> Result<Sealing> {
        if let Some(age) = &target.age {
            let identities = age.load_identities(env)?;
            let mut recipients = age.load_recipients()?;
            let mut pending = None;
            if !target.exists && recipients.is_empty() {
                if identities.is_empty() {
                    return Err(Error::key(
                        target.file.display(),
                        KeyProblem::NoIdentityForRecipients,
                    ));
                }
                // A plugin's identity is a handle: only the plugin knows its recipient.
                recipients = identities
                    .iter()
                    .filter_map(|identity| match identity {
                        crate::store::age::Identity::X25519(key) => {
                            Some(crate::store::age::Recipient::X25519(key.to_public()))
                        }
                        crate::store::age::Identity::Plugin { .. } => None,
                    })
                    .collect();
                if recipients.is_empty() {
                    return Err(Error::key(
                        target.file.display(),
                        KeyProblem::PluginIdentityOnly {
                            recipients_file: age.recipients_file.clone(),
                        },
                    ));
                }
                pending = Some(Pending::RecipientsFile(age.recipients_file.clone()));
            }
            return Ok(Sealing {
                description: format!("to {} age recipient(s)", recipients.len()),
                keys: Keys::Age {
                    identities,
                    recipients: Some(recipients),
                    keys: age.clone(),
                    sources: Access::Age(age.clone()).to_string(),
                },
                pending,
                written: false.into(),
            });
        }
        let source = if target.exists {
            Some(
                target
                    .key
                    .as_ref()
                    .ok_or_else(|| self.missing_key(&target.file))?,
            )
        } else {
            target.key_for_new_file()
        };
        Ok(match source {
            Some(source) => Sealing {
                keys: Keys::Rails(source.load(env)?),
                description: format!("with the key from {source}"),
                pending: None,
                written: false.into(),
            },
            None => Sealing {
                keys: Keys::Rails(MasterKey::generate()),
                description: format!("with the new key in {}", target.new_key_file.display()),
                pending: Some(Pending::KeyFile(target.new_key_file.clone())),
                written: false.into(),
            },
        })
    }

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
                return Err(Error::usage(UsageProblem::NotADirectory { dir }));
            }
            None => find_root(cwd)?,
        };
        let environment = select_environment(environment, env)?;
        let config = Config::load(root.join(CONFIG_FILE), environment.as_deref())?;
        Ok(Self {
            found: is_marked(&root)?,
            root,
            root_given,
            environment,
            environment_given,
            config,
        })
    }

    /// Why the resolution is the environment alone, when there is no project: not an error (CI
    /// may run lsenv anywhere), but never silent.
    pub fn none_found(&self) -> Option<String> {
        (!self.found).then(|| {
            let dir = if self.root.as_os_str().is_empty() {
                Path::new(".")
            } else {
                &self.root
            };
            let place = if self.root_given { "in" } else { "in or above" };
            format!(
                "no project found {place} {} (no {}): only the LITESTREAM_* variables of the environment apply",
                std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()).display(),
                MARKERS.join(", ")
            )
        })
    }

    /// Says [`Self::none_found`] on stderr.
    pub fn say_if_none(&self) {
        if let Some(message) = self.none_found() {
            say(&message);
        }
    }

    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.root.join(relative)
    }

    /// Which credentials file, and where its keys are. Per-environment content and key are chosen
    /// independently, as in Rails 7.1+; a per-environment file replaces the global one. Each of
    /// `config/credentials/ENV` and `config/credentials` may be a Rails `.yml.enc` or an age
    /// `.yml.age` file (not both); a new file is an age file when its recipients file exists.
    pub fn credentials_target(&self, env: &Env) -> Result<CredentialsTarget> {
        let environment = self.environment.as_deref();
        let (file, exists) = if let Some(file) = &self.config.credentials_file {
            let file = self.path(file);
            let exists = crate::os::exists(&file)?;
            (file, exists)
        } else {
            let per_environment = environment.map(|name| format!("config/credentials/{name}"));
            let stems: Vec<String> = per_environment
                .iter()
                .cloned()
                .chain([GLOBAL_STEM.to_owned()])
                .collect();
            let mut found = None;
            for stem in &stems {
                if let Some(file) = self.existing_credentials(stem)? {
                    found = Some(file);
                    break;
                }
            }
            match found {
                Some(found) => (found, true),
                None => (
                    self.new_credentials(per_environment.as_deref().unwrap_or(GLOBAL_STEM)),
                    false,
                ),
            }
        };
        Ok(self.target(file, exists, env))
    }

    /// The target for `file`: its kind and keys.
    pub fn target(&self, file: PathBuf, exists: bool, env: &Env) -> CredentialsTarget {
        let environment = self.environment.as_deref();
        // Told by content, so a renamed file still opens; a `.age` name counts too, for a file
        // that a merge filled with plaintext (`edit --reencrypt`).
        let named_age = file.extension().is_some_and(|ext| ext == "age");
        let age = named_age
            || (exists && read_head(&file).is_some_and(|head| crate::store::age::is_age(&head)));
        CredentialsTarget {
            age: age.then(|| AgeKeys::find(env, &self.root, &self.config, &file)),
            file,
            exists,
            key: KeySource::find(env, &self.root, environment),
            new_key_file: self.path(match environment {
                Some(name) => format!("config/credentials/{name}.key"),
                None => GLOBAL_KEY.to_owned(),
            }),
        }
    }

    /// `STEM.yml.enc` or `STEM.yml.age`, whichever exists; both is an error.
    fn existing_credentials(&self, stem: &str) -> Result<Option<PathBuf>> {
        let rails = self.path(format!("{stem}.yml.enc"));
        let age = self.path(format!("{stem}.yml.age"));
        match (crate::os::exists(&rails)?, crate::os::exists(&age)?) {
            (true, true) => Err(Error::config(
                Location::file(&age),
                ConfigProblem::TwoCredentialsFiles { rails },
            )),
            (true, false) => Ok(Some(rails)),
            (false, true) => Ok(Some(age)),
            (false, false) => Ok(None),
        }
    }

    /// The file a new credentials file at `stem` would be: age when its recipients file exists.
    fn new_credentials(&self, stem: &str) -> PathBuf {
        let age = self.path(format!("{stem}.yml.age"));
        if crate::store::keys::recipients_file(&age).exists() {
            age
        } else {
            self.path(format!("{stem}.yml.enc"))
        }
    }

    /// The credentials file to create or edit. As `rails credentials:edit -e ENV`, an explicit
    /// `-e ENV` means `config/credentials/ENV.yml.enc` even before it exists; an environment from
    /// `RAILS_ENV` only chooses among existing files, so a shell's `RAILS_ENV` never makes a new file.
    pub fn writable_credentials_target(&self, env: &Env) -> Result<CredentialsTarget> {
        let target = self.credentials_target(env)?;
        if let (true, Some(name), None) = (
            self.environment_given,
            &self.environment,
            &self.config.credentials_file,
        ) {
            let stem = format!("config/credentials/{name}");
            let own = match self.existing_credentials(&stem)? {
                Some(file) => return Ok(self.target(file, true, env)),
                None => self.new_credentials(&stem),
            };
            if target.file != own {
                return Ok(self.target(own, false, env));
            }
        }
        Ok(target)
    }

    /// The credentials to read, or `None` when the project has none (not an error for `exec`).
    /// A Rails file that exists without a key is an error.
    pub fn credentials(&self, env: &Env) -> Result<Option<Credentials>> {
        let target = self.credentials_target(env)?;
        if !target.exists {
            if self.config.credentials_file.is_some() {
                return Err(Error::config(
                    Location::file(&self.config.path).key("credentials.file"),
                    ConfigProblem::NamedFileMissing { file: target.file },
                ));
            }
            return Ok(None);
        }
        if let (true, Some(name), None) = (
            self.environment_given,
            &self.environment,
            &self.config.credentials_file,
        ) && !target.file.starts_with(self.path("config/credentials"))
        {
            say(&format!(
                "-e {name}: there is no config/credentials/{name}.yml.enc (or .yml.age); using {}",
                target.file.display()
            ));
        }
        let access = target
            .access()
            .ok_or_else(|| self.missing_key(&target.file))?;
        Ok(Some(self.with_unused_keys(target.file, access, env)))
    }

    /// The credentials in `file`, opened with `access`, and the key sources that lookup passes
    /// over for it.
    fn with_unused_keys(&self, file: PathBuf, access: Access, env: &Env) -> Credentials {
        let unused_keys = match &access {
            Access::Rails(used) => KeySource::present(env, &self.root, self.environment.as_deref())
                .into_iter()
                .filter(|source| source != used)
                .collect(),
            Access::Age(_) => Vec::new(),
        };
        Credentials {
            file,
            access,
            unused_keys,
        }
    }

    /// A key that does not open the file being edited, explained as when it is read
    /// ([`Credentials::explain_wrong_key`]).
    pub fn explain_wrong_key(&self, err: Error, env: &Env) -> Error {
        let Ok(target) = self.writable_credentials_target(env) else {
            return err;
        };
        match target.access() {
            Some(access) if target.exists => self
                .with_unused_keys(target.file, access, env)
                .explain_wrong_key(err, env),
            _ => err,
        }
    }

    pub fn missing_key(&self, file: &Path) -> Error {
        Error::key(
            file.display(),
            KeyProblem::Missing {
                key_files: self.key_files(),
            },
        )
    }

    /// The key files a Rails key is looked for in, for the hint of a missing key.
    pub fn key_files(&self) -> String {
        match &self.environment {
            Some(name) => format!("config/credentials/{name}.key or {GLOBAL_KEY}"),
            None => GLOBAL_KEY.to_owned(),
        }
    }

    /// [`Self::ignore_in_git`] for a file about to be written at `path` (relative to lsenv's
    /// working directory), when it is inside this project; whether it is.
    pub fn ignore_if_inside(&self, path: &Path) -> Result<bool> {
        let absolute = |path: &Path| {
            let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty());
            let dir = std::fs::canonicalize(dir.unwrap_or(Path::new("."))).ok()?;
            Some(dir.join(path.file_name()?))
        };
        let root = std::fs::canonicalize(if self.root.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &self.root
        });
        let inside = match (root, absolute(path)) {
            (Ok(root), Some(file)) if self.found => file
                .strip_prefix(&root)
                .ok()
                .map(|relative| self.path(relative)),
            _ => None,
        };
        match inside {
            Some(path) => self.ignore_in_git(&path).map(|()| true),
            None => Ok(false),
        }
    }

    /// Adds `/path` to the root's `.gitignore` (created if missing) unless a line already says so.
    pub fn ignore_in_git(&self, path: &Path) -> Result<()> {
        let relative = path.strip_prefix(&self.root).unwrap_or(path);
        let line = format!("/{}", relative.display());
        let gitignore = self.path(".gitignore");
        // Appended to in place: a link could point out of the project, so none is followed.
        let mut file = crate::os::open_private(&gitignore)?;
        let mut existing = String::new();
        (&mut file)
            .take(MAX_GITIGNORE_BYTES)
            .read_to_string(&mut existing)
            .map_err(|err| Error::io(&gitignore, "read", err))?;
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
        file.seek(std::io::SeekFrom::End(0))
            .and_then(|_| file.write_all(format!("{separator}{line}\n").as_bytes()))
            .map_err(|err| Error::io(&gitignore, "write", err))
    }
}

/// A `.gitignore` lsenv appends to is read up to here.
const MAX_GITIGNORE_BYTES: u64 = 1024 * 1024;

/// The first bytes of a file, enough to tell an age file from a Rails one.
fn read_head(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read as _;
    let mut head = Vec::new();
    crate::os::open_input(path)
        .ok()??
        .take(64)
        .read_to_end(&mut head)
        .ok()?;
    Some(head)
}

/// The nearest ancestor of `cwd` that holds `config/lsenv.toml`, `config/credentials.yml.enc` or
/// `config/credentials/`, as a relative path (`""`, `".."`, …); `cwd` itself when none does.
/// The nearest ancestor of `cwd` that is a project root, relative to `cwd`; a directory that
/// cannot be looked into on the way is an error naming it, not taken for "no project here".
fn find_root(cwd: &Path) -> Result<PathBuf> {
    for (depth, dir) in cwd.ancestors().enumerate() {
        if is_marked(dir)? {
            return Ok((0..depth).map(|_| "..").collect());
        }
    }
    Ok(PathBuf::new())
}

/// The files whose presence makes a directory a project root.
const MARKERS: [&str; 4] = [
    CONFIG_FILE,
    GLOBAL_CREDENTIALS,
    "config/credentials.yml.age",
    "config/credentials",
];

fn is_marked(dir: &Path) -> Result<bool> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    for marker in MARKERS {
        if crate::os::exists(&dir.join(marker))? {
            return Ok(true);
        }
    }
    Ok(false)
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
        Err(Error::usage(UsageProblem::InvalidEnvironmentName {
            origin,
        }))
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
        assert_eq!(find_root(&app).unwrap(), PathBuf::new());
        assert_eq!(
            find_root(&app.join("lib/deep")).unwrap(),
            Path::new("../..")
        );
        assert_eq!(find_root(dir.path()).unwrap(), PathBuf::new());
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
