//! Encrypted credentials stores and their keys. A store turns a file and a key into the
//! decrypted document, as a [`Node`] whose leaves are secrets.

pub mod keys;
pub mod marshal;
pub mod rails;

use std::path::PathBuf;

use zeroize::Zeroizing;

use crate::env::Env;
use crate::error::Result;
use crate::tree::Node;
use crate::yaml;

use keys::KeySource;

/// A credentials file and where its key comes from, chosen when the plan is made.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub file: PathBuf,
    pub key: KeySource,
}

impl Credentials {
    /// Loads the key, decrypts the file and parses the YAML; every buffer along the way is wiped.
    pub fn open(&self, env: &Env) -> Result<Node> {
        yaml::parse(&self.read_text(env)?, &self.file)
    }

    /// The decrypted YAML text.
    pub fn read_text(&self, env: &Env) -> Result<Zeroizing<String>> {
        rails::read(&self.file, &self.key.load(env)?)
    }
}
