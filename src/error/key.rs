//! Reasons for a key error (exit 4): a key that is missing or malformed. The error names where
//! it was looked for or found; no reason holds a key.

use std::path::PathBuf;

use super::config::ConfigProblem;

#[derive(Debug, thiserror::Error)]
pub enum KeyProblem {
    /// `key_files` names the key files where the key was looked for.
    #[error("no key found to decrypt this file")]
    Missing { key_files: String },
    #[error(
        "no key found to decrypt this file, and init makes no new key for it, since a new key could never decrypt it"
    )]
    MissingForInit { key_files: String },
    #[error("the key is {length} characters long; a Rails key is {expected} hex characters")]
    WrongLength { length: usize, expected: usize },
    #[error(
        "the key has characters that are not hex digits; a Rails key is {expected} hex characters"
    )]
    NotHex { expected: usize },
    #[error("cannot read the file: {0}")]
    Unreadable(std::io::Error),
    /// Not a regular file, or far too large to hold a key.
    #[error("{0}")]
    Refused(ConfigProblem),
    #[error("the file cannot be read")]
    CannotRead,
    #[error("the key comes from a variable; rotate-key replaces a key file")]
    FromVariable { key_file: PathBuf },

    // age identities.
    #[error("not valid UTF-8")]
    IdentityNotUtf8,
    #[error("line {line} is not an age X25519 identity nor a plugin identity (AGE-PLUGIN-…)")]
    NotAnIdentity { line: usize },
    #[error("it holds no identity")]
    NoIdentityInFile,
    #[error("no age identity to decrypt this file with")]
    NoIdentity,
    #[error("a new age file needs recipients, and there is no identity to take one from")]
    NoIdentityForRecipients,
    #[error("the file is encrypted with a passphrase, and there is no terminal to ask for it")]
    NoTerminal,

    // age plugins: `binary` is `age-plugin-NAME`, `subject` what it was doing.
    #[error("{needed_for} needs the age plugin {binary}, which is not on PATH")]
    PluginMissing { binary: String, needed_for: String },
    #[error(
        "{binary} asked for {asked} to {subject}, and there is no terminal to answer on; refused"
    )]
    PluginAskedWithoutTerminal {
        binary: String,
        asked: &'static str,
        subject: &'static str,
    },
    #[error("{binary} stopped before it could {subject}")]
    PluginStopped {
        binary: String,
        subject: &'static str,
    },
    /// `said`: the plugin's own messages, escaped.
    #[error("{binary} failed to {subject}: {said}")]
    PluginFailed {
        binary: String,
        subject: &'static str,
        said: String,
    },
    #[error("a new age file needs recipients, and a plugin's identity does not say its recipient")]
    PluginIdentityOnly { recipients_file: PathBuf },
}

impl KeyProblem {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Missing { key_files } | Self::MissingForInit { key_files } => format!(
                "set RAILS_MASTER_KEY (or LSENV_MASTER_KEY), or put the key in {key_files}"
            ),
            Self::FromVariable { key_file } => format!(
                "put the current key in {}, unset the variable, and run rotate-key again",
                key_file.display()
            ),
            Self::IdentityNotUtf8 | Self::NotAnIdentity { .. } | Self::NoIdentityInFile => {
                "an age identity file holds AGE-SECRET-KEY-1… lines (lsenv keygen or age-keygen makes one) or a plugin's AGE-PLUGIN-… lines".into()
            }
            Self::NoIdentity => "set LSENV_AGE_IDENTITY or LSENV_AGE_IDENTITY_FILE, or create one: lsenv keygen".into(),
            Self::NoIdentityForRecipients => "create an identity first: lsenv keygen".into(),
            Self::NoTerminal => {
                "run this at a terminal, or encrypt the file to recipients instead".into()
            }
            Self::PluginMissing { binary, .. } => {
                format!("install {binary} and put it on lsenv's PATH, or use another identity")
            }
            Self::PluginAskedWithoutTerminal { .. } => "run this at a terminal; for CI and servers use an identity that needs no PIN or touch (lsenv keygen makes one)".into(),
            Self::PluginStopped { .. } => {
                "run it again with AGEDEBUG=plugin to see what the plugin said".into()
            }
            Self::PluginFailed { .. } => {
                "check the plugin's device or service; AGEDEBUG=plugin shows the conversation"
                    .into()
            }
            Self::PluginIdentityOnly { recipients_file } => format!(
                "list the plugin's recipient (age1NAME1…, which the plugin printed with the identity) in {}",
                recipients_file.display()
            ),
            _ => return None,
        })
    }
}
