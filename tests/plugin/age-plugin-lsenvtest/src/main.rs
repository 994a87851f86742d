//! `age-plugin-lsenvtest`: an age plugin for lsenv's tests. Its identity carries an X25519 key
//! and its recipient the matching public key; the file key is wrapped with age's own X25519
//! recipient and the stanza is tagged `lsenvtest`, so only this plugin (or someone holding the
//! identity) opens it. Everything else is the real age plugin protocol, through the age-plugin
//! crate.
//!
//! `age-plugin-lsenvtest --generate` prints a new identity (with its recipient in a comment).
//! `LSENVTEST_MODE` changes how it behaves when asked to wrap or unwrap:
//! * `confirm`: before unwrapping, asks the user to confirm; a no or no answer is an error.
//! * `pin`: before unwrapping, asks for a PIN (a secret), which must equal `LSENVTEST_PIN`.
//! * `fail`: every wrap and unwrap fails with an error.
//!
//! `LSENVTEST_LOG`, when set, names a file to which each run appends its arguments.
//! `LSENVTEST_WRITE`, when set, names a file that each unwrap replaces with
//! `LSENVTEST_WRITE_TEXT` unless it holds that text already: a change made while lsenv reads.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write as _};
use std::str::FromStr as _;

use age::secrecy::ExposeSecret as _;
use age::{Identity as _, Recipient as _, x25519};
use age_core::format::{FileKey, Stanza};
use age_plugin::identity::{self, IdentityPluginV1};
use age_plugin::recipient::{self, RecipientPluginV1};
use age_plugin::{Callbacks, PluginHandler, print_new_identity, run_state_machine};
use bech32::{Bech32, Hrp};

const NAME: &str = "lsenvtest";
const X25519_TAG: &str = "X25519";

fn mode() -> String {
    std::env::var("LSENVTEST_MODE").unwrap_or_default()
}

/// The bytes inside a Bech32 string.
fn data(text: &str) -> Vec<u8> {
    bech32::decode(text).expect("valid Bech32").1
}

fn x25519_identity(bytes: &[u8]) -> Option<x25519::Identity> {
    let text = bech32::encode::<Bech32>(Hrp::parse("age-secret-key-").ok()?, bytes).ok()?;
    x25519::Identity::from_str(&text.to_uppercase()).ok()
}

fn x25519_recipient(bytes: &[u8]) -> Option<x25519::Recipient> {
    let text = bech32::encode::<Bech32>(Hrp::parse("age").ok()?, bytes).ok()?;
    x25519::Recipient::from_str(&text).ok()
}

struct Handler;

impl PluginHandler for Handler {
    type RecipientV1 = Wrap;
    type IdentityV1 = Unwrap;

    fn recipient_v1(self) -> io::Result<Wrap> {
        Ok(Wrap(Vec::new()))
    }

    fn identity_v1(self) -> io::Result<Unwrap> {
        Ok(Unwrap(Vec::new()))
    }
}

struct Wrap(Vec<x25519::Recipient>);

impl RecipientPluginV1 for Wrap {
    fn add_recipient(
        &mut self,
        index: usize,
        plugin: &str,
        bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        match x25519_recipient(bytes).filter(|_| plugin == NAME) {
            Some(recipient) => {
                self.0.push(recipient);
                Ok(())
            }
            None => Err(recipient::Error::Recipient {
                index,
                message: "not an lsenvtest recipient".into(),
            }),
        }
    }

    fn add_identity(
        &mut self,
        index: usize,
        plugin: &str,
        bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        match x25519_identity(bytes).filter(|_| plugin == NAME) {
            Some(identity) => {
                self.0.push(identity.to_public());
                Ok(())
            }
            None => Err(recipient::Error::Identity {
                index,
                message: "not an lsenvtest identity".into(),
            }),
        }
    }

    fn labels(&mut self) -> HashSet<String> {
        HashSet::new()
    }

    fn wrap_file_keys(
        &mut self,
        file_keys: Vec<FileKey>,
        _: impl Callbacks<recipient::Error>,
    ) -> io::Result<Result<Vec<Vec<Stanza>>, Vec<recipient::Error>>> {
        if mode() == "fail" {
            return Ok(Err(vec![recipient::Error::Internal {
                message: "lsenvtest was told to fail (LSENVTEST_MODE=fail)".into(),
            }]));
        }
        Ok(Ok(file_keys
            .iter()
            .map(|file_key| {
                self.0
                    .iter()
                    .flat_map(|recipient| {
                        recipient.wrap_file_key(file_key).expect("X25519 wraps").0
                    })
                    .map(|mut stanza| {
                        stanza.tag = NAME.into();
                        stanza
                    })
                    .collect()
            })
            .collect()))
    }
}

struct Unwrap(Vec<x25519::Identity>);

impl Unwrap {
    /// What the mode asks of the user before unwrapping; the error to send if it is not given.
    fn ask(callbacks: &mut impl Callbacks<identity::Error>) -> io::Result<Option<String>> {
        Ok(match mode().as_str() {
            "confirm" => {
                callbacks.message("lsenvtest: about to unwrap")?.ok();
                match callbacks.confirm("lsenvtest: unwrap the file key?", "yes", Some("no"))? {
                    Ok(true) => None,
                    Ok(false) => Some("the user said no".into()),
                    Err(_) => Some("could not ask for confirmation".into()),
                }
            }
            "pin" => match callbacks.request_secret("lsenvtest PIN:")? {
                Ok(pin)
                    if Some(pin.expose_secret())
                        == std::env::var("LSENVTEST_PIN").ok().as_deref() =>
                {
                    None
                }
                Ok(_) => Some("wrong PIN".into()),
                Err(_) => Some("could not ask for the PIN".into()),
            },
            "fail" => Some("lsenvtest was told to fail (LSENVTEST_MODE=fail)".into()),
            _ => None,
        })
    }
}

impl IdentityPluginV1 for Unwrap {
    fn add_identity(
        &mut self,
        index: usize,
        plugin: &str,
        bytes: &[u8],
    ) -> Result<(), identity::Error> {
        match x25519_identity(bytes).filter(|_| plugin == NAME) {
            Some(identity) => {
                self.0.push(identity);
                Ok(())
            }
            None => Err(identity::Error::Identity {
                index,
                message: "not an lsenvtest identity".into(),
            }),
        }
    }

    fn unwrap_file_keys(
        &mut self,
        files: Vec<Vec<Stanza>>,
        mut callbacks: impl Callbacks<identity::Error>,
    ) -> io::Result<HashMap<usize, Result<FileKey, Vec<identity::Error>>>> {
        let mut keys = HashMap::new();
        for (file, stanzas) in files.into_iter().enumerate() {
            let ours: Vec<Stanza> = stanzas
                .into_iter()
                .filter(|stanza| stanza.tag == NAME)
                .map(|mut stanza| {
                    stanza.tag = X25519_TAG.into();
                    stanza
                })
                .collect();
            if ours.is_empty() {
                continue;
            }
            if let Ok(path) = std::env::var("LSENVTEST_WRITE") {
                let text = std::env::var("LSENVTEST_WRITE_TEXT").unwrap_or_default();
                if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                    std::fs::write(&path, text)?;
                }
            }
            if let Some(message) = Self::ask(&mut callbacks)? {
                keys.insert(
                    file,
                    Err(vec![identity::Error::Identity { index: 0, message }]),
                );
                continue;
            }
            if let Some(Ok(key)) = self
                .0
                .iter()
                .find_map(|identity| identity.unwrap_stanzas(&ours))
            {
                keys.insert(file, Ok(key));
            }
        }
        Ok(keys)
    }
}

fn main() -> io::Result<()> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if let Ok(log) = std::env::var("LSENVTEST_LOG") {
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        writeln!(log, "{}", arguments.join(" "))?;
    }
    match arguments.first().map(String::as_str) {
        Some(machine) if machine.starts_with("--age-plugin=") => {
            run_state_machine(&machine["--age-plugin=".len()..], Handler)
        }
        Some("--generate") => {
            let identity = x25519::Identity::generate();
            print_new_identity(
                NAME,
                &data(identity.to_string().expose_secret()),
                &data(&identity.to_public().to_string()),
            );
            Ok(())
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "usage: age-plugin-lsenvtest --generate",
        )),
    }
}
