//! Encrypted credentials stores and their keys. A credentials file is a Rails `*.yml.enc` or an
//! age file; [`Keys`] open and seal either, so every command works with both. Decrypted text is
//! returned in wiped buffers and parsed into a [`Node`] whose leaves are secrets.

pub mod age;
pub mod keys;
pub mod marshal;
pub mod plugin;
pub mod rails;

use std::fmt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::env::Env;
use crate::error::{Error, Hint, IntegrityProblem, KeyProblem, Location, Result};
use crate::os;
use crate::tree::Node;
use crate::yaml;

use keys::{AgeKeys, KeySource};

/// How a credentials file is locked, and where its keys are; decided when the plan is made.
#[derive(Debug, Clone)]
pub enum Access {
    Rails(KeySource),
    Age(AgeKeys),
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Access::Rails(source) => write!(f, "the key from {source}"),
            Access::Age(keys) if keys.identities.is_empty() => f.write_str("no age identity"),
            Access::Age(keys) => {
                let sources: Vec<String> =
                    keys.identities.iter().map(ToString::to_string).collect();
                write!(f, "an age identity from {}", sources.join(", "))
            }
        }
    }
}

impl Access {
    /// Loads the keys. For age, identities that are absent are not an error here (a passphrase
    /// file needs none) and recipients are read only when something is written: a read needs
    /// none.
    pub fn load(&self, env: &Env) -> Result<Keys> {
        let keys = match self {
            Access::Rails(source) => Keys::Rails(source.load(env)?),
            Access::Age(keys) => Keys::Age {
                identities: keys.load_identities(env)?,
                recipients: None,
                keys: keys.clone(),
                sources: self.to_string(),
            },
        };
        // Fingerprints shown from now on are keyed with this key.
        match &keys {
            Keys::Rails(key) => crate::secret::key_fingerprints(key.to_hex().as_bytes()),
            Keys::Age { identities, .. } => {
                if let Some(identity) = identities.first() {
                    let secret = identity.to_secret_string();
                    crate::secret::key_fingerprints(
                        ::age::secrecy::ExposeSecret::expose_secret(&secret).as_bytes(),
                    );
                }
            }
        }
        Ok(keys)
    }
}

/// The keys of a credentials file, loaded: what opens it and what seals it again.
pub enum Keys {
    Rails(rails::MasterKey),
    Age {
        identities: Vec<age::Identity>,
        /// `None`: the recipients file and TOML, read when writing.
        recipients: Option<Vec<age::Recipient>>,
        keys: AgeKeys,
        /// Where the identities came from, for errors.
        sources: String,
    },
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

impl Keys {
    /// Reads and decrypts `path`. A Rails file is decrypted in the buffer it is read into.
    pub fn read(&self, path: &Path) -> Result<Zeroizing<String>> {
        let bytes = os::read_capped(path, rails::MAX_FILE_BYTES)?;
        // Before the buffer becomes the plaintext.
        let sha256 = crate::audit::sha256(&bytes);
        let text = match self {
            Keys::Rails(key) if !age::is_age(&bytes) => rails::decrypt_owned(bytes, key, path)?,
            _ => self.decrypt_unlogged(&bytes, path)?,
        };
        self.logged(path, sha256);
        Ok(text)
    }

    /// Decrypts the bytes of a credentials file, whichever kind they are. Each success goes to the
    /// audit log.
    pub fn decrypt(&self, bytes: &[u8], path: &Path) -> Result<Zeroizing<String>> {
        let text = self.decrypt_unlogged(bytes, path)?;
        self.logged(path, crate::audit::sha256(bytes));
        Ok(text)
    }

    /// Notes for the audit log that `path`, whose encrypted bytes have the digest `sha256`, was
    /// decrypted with these keys (no digest: this run writes no log).
    fn logged(&self, path: &Path, sha256: Option<String>) {
        let Some(sha256) = sha256 else {
            return;
        };
        let source = match self {
            Keys::Rails(key) => key.source().to_owned(),
            Keys::Age { sources, .. } => sources.clone(),
        };
        crate::audit::decrypted(path, sha256, source);
    }

    fn decrypt_unlogged(&self, bytes: &[u8], path: &Path) -> Result<Zeroizing<String>> {
        match self {
            Keys::Rails(key) if !age::is_age(bytes) => rails::decrypt(bytes, key, path),
            Keys::Age {
                identities,
                sources,
                ..
            } if age::is_age(bytes) => {
                let no_identity = || Error::key(path.display(), KeyProblem::NoIdentity);
                let unlock = age::Unlock {
                    identities,
                    passphrase: &|| os::read_passphrase(path),
                };
                if identities.is_empty() && !age::is_passphrase_file(bytes) {
                    return Err(no_identity());
                }
                age::decrypt(bytes, &unlock, path).map_err(|mut err| {
                    if let Error::Integrity { problem, .. } = &mut err
                        && let IntegrityProblem::NoMatchingIdentity { tried } = &mut **problem
                    {
                        *tried = Some(sources.clone());
                    }
                    err
                })
            }
            Keys::Rails(_) => Err(Error::integrity(
                Location::file(path),
                IntegrityProblem::RailsKeyForAge,
            )),
            Keys::Age { .. } => Err(Error::integrity(
                Location::file(path),
                IntegrityProblem::NotAge,
            )),
        }
    }

    /// The same keys, sealing to `recipients` (age; a Rails key is kept as it is).
    #[must_use]
    pub fn with_recipients(self, recipients: Vec<age::Recipient>) -> Self {
        match self {
            Keys::Age {
                identities,
                keys,
                sources,
                ..
            } => Keys::Age {
                identities,
                recipients: Some(recipients),
                keys,
                sources,
            },
            rails @ Keys::Rails(_) => rails,
        }
    }

    /// Encrypts `text` into `path` atomically. An age file keeps its form (armored or binary);
    /// a new one is armored.
    pub fn write(&self, path: &Path, text: &[u8]) -> Result<()> {
        os::write_atomic(path, &self.encrypt(path, text)?)
    }

    /// The bytes of `path` holding `text`, encrypted (for a Rails key) or to every recipient.
    pub fn encrypt(&self, path: &Path, text: &[u8]) -> Result<Vec<u8>> {
        match self {
            Keys::Rails(key) => Ok(rails::encrypt(text, key).into_bytes()),
            Keys::Age {
                recipients, keys, ..
            } => {
                let armored = os::read_optional(path, rails::MAX_FILE_BYTES)
                    .ok()
                    .flatten()
                    .is_none_or(|existing| age::is_armored(&existing));
                let loaded;
                let recipients = if let Some(recipients) = recipients {
                    recipients
                } else {
                    loaded = keys.load_recipients()?;
                    &loaded
                };
                age::encrypt(text, recipients, armored, path)
            }
        }
    }
}

/// A credentials file and how it is locked, chosen when the plan is made.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub file: PathBuf,
    pub access: Access,
    /// The other Rails key sources that are present but come after the chosen one: never used,
    /// only tried to explain a key that does not open the file.
    pub unused_keys: Vec<KeySource>,
}

impl Credentials {
    /// Loads the keys, decrypts the file and parses the YAML; every buffer along the way is wiped.
    pub fn open(&self, env: &Env) -> Result<Node> {
        self.open_only(env, &|_| true)
    }

    /// [`Self::open`], building only the entries whose key path `wanted` keeps.
    pub fn open_only(&self, env: &Env, wanted: &dyn Fn(&str) -> bool) -> Result<Node> {
        yaml::parse_only(&self.read_text(env)?, &self.file, wanted)
    }

    /// The decrypted YAML text.
    pub fn read_text(&self, env: &Env) -> Result<Zeroizing<String>> {
        self.access
            .load(env)?
            .read(&self.file)
            .map_err(|err| self.explain_wrong_key(err, env))
    }

    /// A Rails key that does not open the file: the error says which source it came from, and
    /// which of the other sources present would have opened it.
    pub fn explain_wrong_key(&self, mut err: Error, env: &Env) -> Error {
        let (
            Access::Rails(used),
            Error::Integrity {
                location,
                problem,
                hint,
            },
        ) = (&self.access, &mut err)
        else {
            return err;
        };
        let IntegrityProblem::WrongKey { tried } = &mut **problem else {
            return err;
        };
        if tried.is_some() || location.path != self.file {
            return err;
        }
        // Only tried, never used: not a decryption for the audit log.
        let opens = |source: &KeySource| {
            source.load(env).is_ok_and(|key| {
                os::read_capped(&self.file, rails::MAX_FILE_BYTES).is_ok_and(|bytes| {
                    Keys::Rails(key)
                        .decrypt_unlogged(&bytes, &self.file)
                        .is_ok()
                })
            })
        };
        let (opening, not_opening): (Vec<&KeySource>, Vec<&KeySource>) =
            self.unused_keys.iter().partition(|source| opens(source));
        if let Some(good) = opening.first() {
            *hint = Some(Box::new(Hint::OtherKeyOpens {
                good: good.to_string(),
                used: used.to_string(),
            }));
        } else if !not_opening.is_empty() {
            *hint = Some(Box::new(Hint::NoOtherKeyOpens {
                others: not_opening.iter().map(ToString::to_string).collect(),
            }));
        }
        *tried = Some(used.to_string());
        err
    }
}

/// The two kinds of credentials file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// age, to the recipients of the recipients file
    Age,
    /// Rails, with a master key
    Rails,
}
