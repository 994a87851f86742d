//! Where keys come from. A Rails master key: `LSENV_MASTER_KEY`, `RAILS_MASTER_KEY`, a key
//! delivered by systemd (`$CREDENTIALS_DIRECTORY/ENV.key`, then `…/master.key`),
//! `config/credentials/ENV.key`, then `config/master.key` (first found wins; empty variables
//! count as unset). age identities: `LSENV_AGE_IDENTITY` (the key text, for CI),
//! `LSENV_AGE_IDENTITY_FILE`, `$CREDENTIALS_DIRECTORY/age-identity`, the files
//! `[credentials] identity` names, and the default identity
//! file `lsenv keygen` writes — all of them are tried. age recipients: the recipients file next to
//! the credentials and `[credentials] recipients`. The lookup only decides where; keys are read
//! when they are needed.

use std::fmt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::env::Env;
use crate::error::{ConfigProblem, Error, KeyProblem, Result};
use crate::os;
use crate::store::rails::MasterKey;

const KEY_VARIABLES: [&str; 2] = ["LSENV_MASTER_KEY", "RAILS_MASTER_KEY"];
/// A key file is 32 characters, an identity file a few lines; anything far larger is not read
/// whole.
const MAX_KEY_FILE_BYTES: u64 = 4096;
const MAX_IDENTITY_FILE_BYTES: u64 = 64 * 1024;
/// A recipients file: an `age1…` line is 63 bytes, so room for thousands.
const MAX_RECIPIENTS_BYTES: u64 = 1024 * 1024;

/// Where a key (a Rails master key, or age identities) comes from: a variable or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Variable(&'static str),
    File(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Variable(name) => write!(f, "${name}"),
            KeySource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl KeySource {
    /// The first key source that is present for a project at `root`.
    pub fn find(env: &Env, root: &Path, environment: Option<&str>) -> Option<Self> {
        Self::present(env, root, environment).into_iter().next()
    }

    /// Every key source that is present, in the order they are tried (only the first is used).
    pub fn present(env: &Env, root: &Path, environment: Option<&str>) -> Vec<Self> {
        let variables = KEY_VARIABLES
            .into_iter()
            .filter(|name| env.get_non_empty(name).is_some())
            .map(Self::Variable);
        // Under systemd, `LoadCredential=master.key:…` (or `ENV.key`) delivers the key as a file in
        // $CREDENTIALS_DIRECTORY, readable only by the service.
        let delivered = systemd_credentials(env).into_iter().flat_map(|dir| {
            environment
                .map(|name| dir.join(format!("{name}.key")))
                .into_iter()
                .chain([dir.join("master.key")])
        });
        let project = environment
            .map(|name| root.join(format!("config/credentials/{name}.key")))
            .into_iter()
            .chain([root.join("config/master.key")]);
        let files = delivered
            .chain(project)
            // One that cannot be looked at is found, so that reading it says why (EACCES).
            .filter(|path| crate::os::exists(path).unwrap_or(true))
            .map(Self::File);
        variables.chain(files).collect()
    }

    pub fn load(&self, env: &Env) -> Result<MasterKey> {
        MasterKey::parse(&self.read(env, MAX_KEY_FILE_BYTES)?, &self.to_string())
    }

    /// The text of the variable or the file (at most `limit` bytes), in a wiped buffer.
    fn read(&self, env: &Env, limit: u64) -> Result<Zeroizing<Vec<u8>>> {
        match self {
            KeySource::Variable(var) => Ok(Zeroizing::new(
                env.get(var)
                    .map(|value| value.expose().to_vec())
                    .unwrap_or_default(),
            )),
            KeySource::File(path) => os::read_capped(path, limit).map_err(|err| {
                Error::key(
                    self,
                    match err {
                        Error::Io { source, .. } => KeyProblem::Unreadable(source),
                        // Not a regular file, or far too large to hold a key.
                        Error::Config { problem, .. } => KeyProblem::Refused(*problem),
                        _ => KeyProblem::CannotRead,
                    },
                )
            }),
        }
    }
}

const AGE_IDENTITY: &str = "LSENV_AGE_IDENTITY";
/// The name of an age identity delivered by systemd's `LoadCredential=`.
const SYSTEMD_AGE_IDENTITY: &str = "age-identity";
const AGE_IDENTITY_FILE: &str = "LSENV_AGE_IDENTITY_FILE";

/// Where the identities and recipients of an age credentials file are.
#[derive(Debug, Clone)]
pub struct AgeKeys {
    /// Every identity source that is present, in the order they are tried.
    pub identities: Vec<KeySource>,
    /// The recipients file next to the credentials (it may not exist yet).
    pub recipients_file: PathBuf,
    /// Recipients listed in `config/lsenv.toml`, and that file, for errors.
    pub config_recipients: Vec<String>,
    pub config_path: PathBuf,
}

impl AgeKeys {
    pub fn find(
        env: &Env,
        root: &Path,
        config: &crate::config::Config,
        credentials_file: &Path,
    ) -> Self {
        let mut identities = Vec::new();
        if env.get_non_empty(AGE_IDENTITY).is_some() {
            identities.push(KeySource::Variable(AGE_IDENTITY));
        }
        if let Some(path) = env.get_non_empty(AGE_IDENTITY_FILE) {
            identities.push(KeySource::File(os_path(path.expose())));
        }
        if let Some(delivered) = systemd_credentials(env)
            .map(|dir| dir.join(SYSTEMD_AGE_IDENTITY))
            .filter(|path| path.is_file())
        {
            identities.push(KeySource::File(delivered));
        }
        let home = env.get_non_empty("HOME").map(|home| os_path(home.expose()));
        for path in &config.identity_files {
            let path = match (path.strip_prefix("~"), &home) {
                (Ok(rest), Some(home)) => home.join(rest),
                _ => root.join(path),
            };
            identities.push(KeySource::File(path));
        }
        if let Some(default) = default_identity_file(env).filter(|path| path.is_file())
            && !identities.contains(&KeySource::File(default.clone()))
        {
            identities.push(KeySource::File(default));
        }
        Self {
            identities,
            recipients_file: recipients_file(credentials_file),
            config_recipients: config.recipients.clone(),
            config_path: config.path.clone(),
        }
    }

    /// Every identity, from every source; a source that cannot be read is an error.
    pub fn load_identities(&self, env: &Env) -> Result<Vec<crate::store::age::Identity>> {
        let mut all = Vec::new();
        for source in &self.identities {
            let text = source.read(env, MAX_IDENTITY_FILE_BYTES)?;
            all.extend(crate::store::age::parse_identities(
                &text,
                &source.to_string(),
            )?);
        }
        Ok(all)
    }

    /// The recipients file's recipients, then those listed in TOML.
    pub fn load_recipients(&self) -> Result<Vec<crate::store::age::Recipient>> {
        let text = crate::os::read_text_optional(&self.recipients_file, MAX_RECIPIENTS_BYTES)?;
        self.recipients_with(&text)
    }

    /// The recipients of `text` (the recipients file's text, as it is or is about to be), then
    /// those listed in TOML.
    pub fn recipients_with(&self, text: &str) -> Result<Vec<crate::store::age::Recipient>> {
        let mut recipients = crate::store::age::parse_recipients(text, &self.recipients_file)?;
        for text in &self.config_recipients {
            let recipient = crate::store::age::parse_recipient(text).map_err(|problem| {
                Error::config(
                    crate::error::Location::file(&self.config_path).key("credentials.recipients"),
                    ConfigProblem::BadRecipient(problem),
                )
            })?;
            if !recipients
                .iter()
                .any(|r| r.to_string() == recipient.to_string())
            {
                recipients.push(recipient);
            }
        }
        Ok(recipients)
    }
}

/// `<stem>.recipients` next to `<stem>.yml.age` (`config/credentials.recipients`).
pub fn recipients_file(credentials_file: &Path) -> PathBuf {
    let name = credentials_file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".yml.age")
        .or_else(|| name.strip_suffix(".yml.enc"))
        .unwrap_or(name);
    credentials_file.with_file_name(format!("{stem}.recipients"))
}

/// Where `lsenv keygen` puts an identity by default: `$XDG_CONFIG_HOME/lsenv/identity.txt`, else
/// `~/.config/lsenv/identity.txt`.
pub fn default_identity_file(env: &Env) -> Option<PathBuf> {
    let config_home = env
        .get_non_empty("XDG_CONFIG_HOME")
        .map(|dir| os_path(dir.expose()))
        .or_else(|| {
            env.get_non_empty("HOME")
                .map(|home| os_path(home.expose()).join(".config"))
        })?;
    Some(config_home.join("lsenv/identity.txt"))
}

/// `$CREDENTIALS_DIRECTORY`: where systemd puts the credentials of a service.
fn systemd_credentials(env: &Env) -> Option<PathBuf> {
    env.get_non_empty("CREDENTIALS_DIRECTORY")
        .map(|dir| os_path(dir.expose()))
}

fn os_path(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt as _;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

/// Writes a new key file: 32 lowercase hex characters, no newline, mode 0600. Never overwrites.
pub fn create_key_file(path: &Path, key: &MasterKey) -> Result<()> {
    os::create_new(path, key.to_hex().as_bytes(), 0o600)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::KeySource;
    use crate::env::Env;

    #[test]
    fn variables_win_and_empty_counts_as_unset() {
        let root = Path::new("/nonexistent");
        let env: Env = [("LSENV_MASTER_KEY", " "), ("RAILS_MASTER_KEY", "x")]
            .into_iter()
            .collect();
        assert_eq!(
            KeySource::find(&env, root, None),
            Some(KeySource::Variable("RAILS_MASTER_KEY"))
        );
        assert_eq!(KeySource::find(&Env::default(), root, None), None);
    }

    #[test]
    fn environment_key_file_before_master_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("config/credentials")).unwrap();
        std::fs::write(dir.path().join("config/master.key"), "k").unwrap();
        std::fs::write(dir.path().join("config/credentials/production.key"), "k").unwrap();
        let found = |environment| KeySource::find(&Env::default(), dir.path(), environment);
        assert_eq!(
            found(Some("production")),
            Some(KeySource::File(
                dir.path().join("config/credentials/production.key")
            ))
        );
        assert_eq!(
            found(Some("staging")),
            Some(KeySource::File(dir.path().join("config/master.key")))
        );
    }
}
