//! Where a Rails master key comes from: `LSENV_MASTER_KEY`, `RAILS_MASTER_KEY`,
//! `config/credentials/ENV.key`, then `config/master.key` (first found wins; empty variables
//! count as unset). The lookup only decides where; the key is read when it is needed.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::env::Env;
use crate::error::{Error, Result};
use crate::os;
use crate::store::rails::MasterKey;

const KEY_VARIABLES: [&str; 2] = ["LSENV_MASTER_KEY", "RAILS_MASTER_KEY"];
/// A key file is 32 characters; anything far larger is not a key and is not read whole.
const MAX_KEY_FILE_BYTES: u64 = 4096;

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
        if let Some(name) = KEY_VARIABLES
            .into_iter()
            .find(|name| env.get_non_empty(name).is_some())
        {
            return Some(Self::Variable(name));
        }
        environment
            .map(|name| root.join(format!("config/credentials/{name}.key")))
            .into_iter()
            .chain([root.join("config/master.key")])
            .find(|path| path.exists())
            .map(Self::File)
    }

    pub fn load(&self, env: &Env) -> Result<MasterKey> {
        let name = self.to_string();
        match self {
            KeySource::Variable(var) => {
                let value = env
                    .get(var)
                    .map(crate::secret::Secret::expose)
                    .unwrap_or_default();
                MasterKey::parse(value, &name)
            }
            KeySource::File(path) => {
                let text = os::read_capped(path, MAX_KEY_FILE_BYTES).map_err(|err| Error::Key {
                    source_name: name.clone(),
                    problem: match err {
                        Error::Io { source, .. } => format!("cannot read the key file: {source}"),
                        _ => "the file is far too large to be a key".to_owned(),
                    },
                    hint: None,
                })?;
                MasterKey::parse(&text, &name)
            }
        }
    }
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
