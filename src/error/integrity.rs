//! Reasons for an integrity error (exit 5): the encrypted file is damaged, tampered with, or the
//! key does not open it.

use crate::store::marshal::MarshalError;

#[derive(Debug, thiserror::Error)]
pub enum IntegrityProblem {
    // Rails.
    #[error("not a Rails credentials file: expected BASE64--BASE64--BASE64")]
    NotRailsCiphertext,
    #[error(
        "the file holds git conflict markers instead of ciphertext (a merge wrote decrypted text into it)"
    )]
    ConflictMarkers,
    #[error("the file holds plaintext instead of ciphertext")]
    Plaintext,
    /// `part` is the IV, the authentication tag or the ciphertext.
    #[error("the {part} is not valid base64")]
    NotBase64 { part: &'static str },
    #[error("the {part} is {length} bytes; Rails uses {expected}")]
    WrongLength {
        part: &'static str,
        length: usize,
        expected: usize,
    },
    /// `tried` names the key source used, once it is known.
    #[error(
        "cannot decrypt: wrong key, or the file was changed or damaged{}",
        .tried.as_ref().map_or_else(String::new, |used| format!(" (tried the key from {used})"))
    )]
    WrongKey { tried: Option<String> },
    #[error("{0}")]
    Marshal(#[from] MarshalError),

    // age.
    /// `tried` names the identity sources, once they are known.
    #[error(
        "none of the age identities opens this file (it is not encrypted to them){}",
        .tried.as_ref().map_or_else(String::new, |sources| format!("; tried {sources}"))
    )]
    NoMatchingIdentity { tried: Option<String> },
    #[error("the passphrase does not open this file")]
    WrongPassphrase,
    #[error("the age header's MAC is wrong: the file was changed or damaged")]
    BadMac,
    #[error("not a valid age file: its header is damaged or of an unknown version")]
    BadHeader,
    #[error("the passphrase's work factor is excessive (over a second of work); refusing to try")]
    ExcessiveWork,
    #[error("the file is damaged or truncated")]
    Damaged,
    #[error("the payload is damaged or truncated")]
    PayloadDamaged,
    /// Plugin errors: lsenv builds age without plugins, so these cannot happen.
    #[error("the file could not be decrypted")]
    Undecryptable,
    #[error("the decrypted text is not valid UTF-8 (at byte {at})")]
    NotUtf8 { at: usize },
    #[error("the age header has a line longer than {limit} bytes; refusing to parse it")]
    HeaderLineTooLong { limit: usize },
    #[error("the age header has more than {limit} recipient stanzas; refusing to parse it")]
    TooManyStanzas { limit: usize },
    #[error("the age header is larger than {} KiB; refusing to parse it", .limit >> 10)]
    HeaderTooLarge { limit: usize },

    // Which store.
    #[error("this is an age file, but a Rails key was chosen for it")]
    RailsKeyForAge,
    #[error("this is not an age file, but it is named like one")]
    NotAge,
    #[error("the converted file does not read back the same; nothing changed")]
    ConvertedDiffers,
}

impl IntegrityProblem {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::ConflictMarkers | Self::Plaintext => "make the text the YAML you want, then encrypt it again: lsenv credentials edit --reencrypt",
            Self::WrongKey { .. } => "check that the key belongs to this file (RAILS_MASTER_KEY, config/master.key or config/credentials/ENV.key)",
            _ => return None,
        }.to_owned())
    }
}
