//! age files (`*.yml.age`): binary or ASCII-armored, told apart by their content; decrypted in
//! memory with any of the user's identities (the first that opens the file wins: X25519 keys
//! first, then each age plugin's, see [`crate::store::plugin`]), or with a passphrase typed at a
//! terminal for passphrase-encrypted files; written to every recipient (X25519 or a plugin's),
//! ASCII-armored so that they travel through git and e-mail as text.
//!
//! Identities and decrypted bytes live in types that wipe themselves; errors name the file and
//! the line, never an identity or a value.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::str::FromStr as _;

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::secrecy::SecretString;
use age::{plugin, x25519};
use zeroize::Zeroizing;

use crate::error::{
    ConfigProblem, Error, IntegrityProblem, KeyProblem, Location, RecipientProblem, Result,
};
use crate::store::plugin::Prompts;

/// An identity that opens age files: an X25519 key, or a plugin's identity (a handle for a key
/// the plugin holds, in hardware or a service).
#[derive(Clone)]
pub enum Identity {
    X25519(x25519::Identity),
    /// `source` names where it came from, for errors.
    Plugin {
        identity: plugin::Identity,
        source: String,
    },
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identity([redacted])")
    }
}

impl Identity {
    /// The identity's text (`AGE-SECRET-KEY-1…` or `AGE-PLUGIN-…`).
    pub fn to_secret_string(&self) -> SecretString {
        match self {
            Identity::X25519(identity) => identity.to_string(),
            Identity::Plugin { identity, .. } => identity.to_string().into(),
        }
    }
}

/// Someone a file is encrypted to: an X25519 key or a plugin's recipient.
#[derive(Clone)]
pub enum Recipient {
    X25519(x25519::Recipient),
    Plugin(plugin::Recipient),
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recipient({self})")
    }
}

impl std::fmt::Display for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recipient::X25519(recipient) => recipient.fmt(f),
            Recipient::Plugin(recipient) => recipient.fmt(f),
        }
    }
}

/// The plugins named by `items` (each once, in order of appearance), each with its items.
fn by_plugin<T: Clone>(items: impl Iterator<Item = (String, T)>) -> Vec<(String, Vec<T>)> {
    let mut groups: Vec<(String, Vec<T>)> = Vec::new();
    for (name, item) in items {
        match groups.iter_mut().find(|(known, _)| *known == name) {
            Some((_, group)) => group.push(item),
            None => groups.push((name, vec![item])),
        }
    }
    groups
}

/// The first line of a binary age file, and of an armored one.
const BINARY_MAGIC: &[u8] = b"age-encryption.org/v1\n";
const ARMOR_MAGIC: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";

/// Whether `bytes` hold an age file (binary or armored), whatever the file is called.
pub fn is_age(bytes: &[u8]) -> bool {
    bytes.starts_with(BINARY_MAGIC) || bytes.trim_ascii_start().starts_with(ARMOR_MAGIC)
}

/// The most header bytes lsenv lets the age crate parse. The cost is in the age crate (0.12):
/// `Header::read` parses the whole buffer from the start again each time the parser reports
/// `Incomplete` (after one more byte, or one more line for buffered input), so its work grows
/// with the square of the header (a crafted 300 KB argument took 14 s, 20 000 stanzas over
/// 120 s; a genuine file for 128 recipients took 8 s unoptimised). Upstream, the parser could
/// resume, or the header could be capped; lsenv reads it line by line (`new_buffered`) and caps
/// it here regardless. A real header is about 100 bytes per recipient.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The most recipient stanzas in a header (one per recipient).
pub const MAX_STANZAS: usize = 128;
/// The longest header line: a long line costs the age crate the most (16 KB on one line took
/// seconds); the longest line of a real header, a recipient stanza's, is under 100 bytes.
pub const MAX_HEADER_LINE_BYTES: usize = 256;

/// Checks that the header of an age file (binary, or armored: then decoded first, which takes
/// time in proportion to the bytes decoded) stays within [`MAX_HEADER_BYTES`],
/// [`MAX_STANZAS`] and [`MAX_HEADER_LINE_BYTES`], reading no further than that; the error says
/// which bound it exceeds.
pub fn check_header(file: &[u8]) -> Result<(), IntegrityProblem> {
    let mut head = Vec::with_capacity(MAX_HEADER_BYTES + 1);
    let limit = MAX_HEADER_BYTES as u64 + 1;
    // A decoding error is left for the age crate to report, from the bytes decoded so far.
    let _ = ArmoredReader::new(file).take(limit).read_to_end(&mut head);
    let mut stanzas = 0;
    for line in head.split(|&byte| byte == b'\n') {
        if line.len() > MAX_HEADER_LINE_BYTES {
            return Err(IntegrityProblem::HeaderLineTooLong {
                limit: MAX_HEADER_LINE_BYTES,
            });
        }
        if line.starts_with(b"---") {
            return Ok(());
        }
        if line.starts_with(b"->") {
            stanzas += 1;
            if stanzas > MAX_STANZAS {
                return Err(IntegrityProblem::TooManyStanzas { limit: MAX_STANZAS });
            }
        }
    }
    if head.len() > MAX_HEADER_BYTES {
        return Err(IntegrityProblem::HeaderTooLarge {
            limit: MAX_HEADER_BYTES,
        });
    }
    // A header cut short: the age crate says so, having little to parse.
    Ok(())
}

/// The age crate's decryptor for a file whose header is within bounds.
fn decryptor(
    file: &[u8],
) -> Result<age::Decryptor<ArmoredReader<std::io::BufReader<&[u8]>>>, IntegrityProblem> {
    check_header(file)?;
    // Buffered: the age crate then re-parses the header once per line, not once per byte.
    age::Decryptor::new_buffered(ArmoredReader::new(file)).map_err(|err| describe(&err))
}

/// Whether an age file is encrypted with a passphrase (and so needs one typed in).
pub fn is_passphrase_file(bytes: &[u8]) -> bool {
    decryptor(bytes).is_ok_and(|decryptor| decryptor.is_scrypt())
}

/// Whether an age file is ASCII-armored (rewrites keep the file's form).
pub fn is_armored(bytes: &[u8]) -> bool {
    bytes.trim_ascii_start().starts_with(ARMOR_MAGIC)
}

/// Identities (`AGE-SECRET-KEY-1…` and `AGE-PLUGIN-…` lines; `#` comments and blank lines
/// allowed) from `text`. `source` names where they came from, for errors; a bad line is named by
/// its number.
pub fn parse_identities(text: &[u8], source: &str) -> Result<Vec<Identity>> {
    let key_error = |problem| Error::key(source, problem);
    let text = std::str::from_utf8(text).map_err(|_| key_error(KeyProblem::IdentityNotUtf8))?;
    let mut identities = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Ok(identity) = x25519::Identity::from_str(line) {
            identities.push(Identity::X25519(identity));
        } else if let Ok(identity) = plugin::Identity::from_str(line) {
            identities.push(Identity::Plugin {
                identity,
                source: source.to_owned(),
            });
        } else {
            return Err(key_error(KeyProblem::NotAnIdentity { line: number + 1 }));
        }
    }
    if identities.is_empty() {
        return Err(key_error(KeyProblem::NoIdentityInFile));
    }
    Ok(identities)
}

/// Recipients (`age1…`, or a plugin's `age1NAME1…`), one per line, `#` comments and blank lines
/// allowed.
pub fn parse_recipients(text: &str, path: &Path) -> Result<Vec<Recipient>> {
    let mut recipients = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        recipients.push(parse_recipient(line).map_err(|problem| {
            Error::config(
                Location::file(path).at(Some(crate::error::Position {
                    line: number + 1,
                    column: 1,
                })),
                ConfigProblem::BadRecipient(problem),
            )
        })?);
    }
    Ok(recipients)
}

/// One `age1…` or `age1NAME1…` recipient; the error says why, without quoting the text.
pub fn parse_recipient(text: &str) -> Result<Recipient, RecipientProblem> {
    if text.starts_with("ssh-") {
        return Err(RecipientProblem::SshKey);
    }
    if let Ok(recipient) = x25519::Recipient::from_str(text) {
        return Ok(Recipient::X25519(recipient));
    }
    plugin::Recipient::from_str(text)
        .map(Recipient::Plugin)
        .map_err(|_| RecipientProblem::NotX25519)
}

/// What opens an age file: identities, or a passphrase asked for only if the file needs one.
pub struct Unlock<'a> {
    pub identities: &'a [Identity],
    pub passphrase: &'a dyn Fn() -> Result<age::secrecy::SecretString>,
}

impl std::fmt::Debug for Unlock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unlock([redacted])")
    }
}

/// Decrypts an age file's bytes to its UTF-8 text. `path` only names the file in errors.
pub fn decrypt(file: &[u8], unlock: &Unlock<'_>, path: &Path) -> Result<Zeroizing<String>> {
    let fail = |problem| Error::integrity(Location::file(path), problem);
    let decryptor = decryptor(file).map_err(fail)?;
    let mut reader = if decryptor.is_scrypt() {
        let identity = age::scrypt::Identity::new((unlock.passphrase)()?);
        decryptor
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .map_err(|err| fail(describe(&err)))?
    } else {
        open_with(file, decryptor, unlock.identities, path)?
    };
    let mut plaintext = Zeroizing::new(Vec::new());
    reader
        .read_to_end(&mut plaintext)
        .map_err(|_| fail(IntegrityProblem::PayloadDamaged))?;
    match std::str::from_utf8(&plaintext) {
        Ok(text) => Ok(Zeroizing::new(text.to_owned())),
        Err(err) => Err(fail(IntegrityProblem::NotUtf8 {
            at: err.valid_up_to(),
        })),
    }
}

type Payload<'a> = age::stream::StreamReader<ArmoredReader<std::io::BufReader<&'a [u8]>>>;

/// The payload of `file`, opened with the first identity that can: the X25519 keys first (no
/// program runs for them), then each plugin's in turn. A plugin that is not installed is an
/// error only if no other identity opens the file; one that fails stops the search.
fn open_with<'a>(
    file: &'a [u8],
    first: age::Decryptor<ArmoredReader<std::io::BufReader<&'a [u8]>>>,
    identities: &[Identity],
    path: &Path,
) -> Result<Payload<'a>> {
    let fail = |problem| Error::integrity(Location::file(path), problem);
    let native = identities.iter().filter_map(|identity| match identity {
        Identity::X25519(identity) => Some(identity as &dyn age::Identity),
        Identity::Plugin { .. } => None,
    });
    match first.decrypt(native) {
        Err(age::DecryptError::NoMatchingKeys) => {}
        other => return other.map_err(|err| fail(describe(&err))),
    }
    let plugins = by_plugin(identities.iter().filter_map(|identity| match identity {
        Identity::Plugin { identity, source } => Some((
            identity.plugin().to_owned(),
            (identity.clone(), source.clone()),
        )),
        Identity::X25519(_) => None,
    }));
    let mut missing = None;
    for (name, group) in plugins {
        let prompts = Prompts::new(&name);
        let handles: Vec<plugin::Identity> = group.iter().map(|(id, _)| id.clone()).collect();
        let Ok(identity) = plugin::IdentityPluginV1::new(&name, &handles, prompts.clone()) else {
            let source = &group[0].1;
            missing.get_or_insert_with(|| {
                crate::store::plugin::missing(&name, &format!("the identity in {source}"), path)
            });
            continue;
        };
        let subject = "decrypt this file";
        match decryptor(file)
            .map_err(fail)?
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
        {
            Ok(payload) => return Ok(payload),
            Err(age::DecryptError::NoMatchingKeys) => {}
            Err(age::DecryptError::Plugin(errors)) => {
                return Err(prompts.failure(
                    &crate::store::plugin::messages(&errors),
                    subject,
                    path,
                ));
            }
            // The plugin stopped (it died, or could not be started).
            Err(age::DecryptError::Io(_)) => return Err(prompts.failure(&[], subject, path)),
            Err(err) => return Err(fail(describe(&err))),
        }
    }
    Err(missing.unwrap_or_else(|| fail(describe(&age::DecryptError::NoMatchingKeys))))
}

/// A plugin's recipients, noting in `last` when they are asked to wrap: age asks the recipients in
/// turn and stops at the first that fails, so the last asked is the one that failed.
struct Noted<'a> {
    plugin: plugin::RecipientPluginV1<Prompts>,
    prompts: Prompts,
    index: usize,
    last: &'a std::cell::Cell<usize>,
}

impl age::Recipient for Noted<'_> {
    fn wrap_file_key(
        &self,
        file_key: &age_core::format::FileKey,
    ) -> Result<
        (
            Vec<age_core::format::Stanza>,
            std::collections::HashSet<String>,
        ),
        age::EncryptError,
    > {
        self.last.set(self.index);
        self.plugin.wrap_file_key(file_key)
    }
}

/// age's errors in lsenv's words (age's own never quote secrets, but say less about what to do).
fn describe(err: &age::DecryptError) -> IntegrityProblem {
    match err {
        age::DecryptError::NoMatchingKeys | age::DecryptError::DecryptionFailed => {
            IntegrityProblem::NoMatchingIdentity { tried: None }
        }
        age::DecryptError::KeyDecryptionFailed => IntegrityProblem::WrongPassphrase,
        age::DecryptError::InvalidMac => IntegrityProblem::BadMac,
        age::DecryptError::InvalidHeader | age::DecryptError::UnknownFormat => {
            IntegrityProblem::BadHeader
        }
        age::DecryptError::ExcessiveWork { .. } => IntegrityProblem::ExcessiveWork,
        age::DecryptError::Io(_) => IntegrityProblem::Damaged,
        // Plugin errors are described where plugins are run (`open_with`).
        _ => IntegrityProblem::Undecryptable,
    }
}

/// The bytes of an age file holding `plaintext`, encrypted to every recipient.
pub fn encrypt(
    plaintext: &[u8],
    recipients: &[Recipient],
    armored: bool,
    path: &Path,
) -> Result<Vec<u8>> {
    if recipients.is_empty() {
        return Err(Error::config(
            Location::file(path),
            ConfigProblem::NoRecipient,
        ));
    }
    let fail = |err: std::io::Error| Error::io(path, "encrypt", err);
    let native = recipients.iter().filter_map(|recipient| match recipient {
        Recipient::X25519(recipient) => Some(recipient as &dyn age::Recipient),
        Recipient::Plugin(_) => None,
    });
    let last = std::cell::Cell::new(0);
    let mut plugins = Vec::new();
    for (name, group) in by_plugin(recipients.iter().filter_map(|recipient| match recipient {
        Recipient::Plugin(recipient) => Some((recipient.plugin().to_owned(), recipient.clone())),
        Recipient::X25519(_) => None,
    })) {
        let prompts = Prompts::new(&name);
        let plugin =
            plugin::RecipientPluginV1::new(&name, &group, &[], prompts.clone()).map_err(|_| {
                crate::store::plugin::missing(&name, &format!("the recipient {}", group[0]), path)
            })?;
        plugins.push(Noted {
            plugin,
            prompts,
            index: plugins.len(),
            last: &last,
        });
    }
    let encryptor = age::Encryptor::with_recipients(
        native.chain(plugins.iter().map(|plugin| plugin as &dyn age::Recipient)),
    )
    .map_err(|err| {
        let failed = plugins.get(last.get()).map(|plugin| &plugin.prompts);
        let subject = "encrypt to its recipients";
        match (err, failed) {
            (age::EncryptError::Plugin(errors), Some(prompts)) => {
                prompts.failure(&crate::store::plugin::messages(&errors), subject, path)
            }
            // The plugin stopped (it died, or could not be started).
            (age::EncryptError::Io(_), Some(prompts)) => prompts.failure(&[], subject, path),
            _ => Error::config(Location::file(path), ConfigProblem::IncompatibleRecipients),
        }
    })?;
    let format = if armored {
        Format::AsciiArmor
    } else {
        Format::Binary
    };
    let armor = ArmoredWriter::wrap_output(Vec::new(), format).map_err(fail)?;
    let mut writer = encryptor.wrap_output(armor).map_err(fail)?;
    writer.write_all(plaintext).map_err(fail)?;
    writer
        .finish()
        .and_then(ArmoredWriter::finish)
        .map_err(fail)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use age::x25519;

    use super::{
        Identity, Recipient, Unlock, decrypt, encrypt, is_age, parse_identities, parse_recipients,
    };
    use crate::error::Error;

    fn no_passphrase() -> crate::error::Result<age::secrecy::SecretString> {
        panic!("no passphrase expected")
    }

    #[test]
    fn round_trip_to_several_recipients_each_opens_it() {
        let (a, b, stranger) = (
            x25519::Identity::generate(),
            x25519::Identity::generate(),
            x25519::Identity::generate(),
        );
        for armored in [true, false] {
            let file = encrypt(
                b"k: v\n",
                &[
                    Recipient::X25519(a.to_public()),
                    Recipient::X25519(b.to_public()),
                ],
                armored,
                Path::new("f"),
            )
            .unwrap();
            assert!(is_age(&file));
            for identity in [&a, &b] {
                let unlock = Unlock {
                    identities: &[Identity::X25519(identity.clone())],
                    passphrase: &no_passphrase,
                };
                assert_eq!(
                    decrypt(&file, &unlock, Path::new("f")).unwrap().as_str(),
                    "k: v\n"
                );
            }
            let unlock = Unlock {
                identities: &[Identity::X25519(stranger.clone())],
                passphrase: &no_passphrase,
            };
            let err = decrypt(&file, &unlock, Path::new("f")).unwrap_err();
            assert!(matches!(err, Error::Integrity { .. }), "{err}");
        }
    }

    #[test]
    fn identity_and_recipient_lines_are_checked_by_number() {
        let identity = x25519::Identity::generate();
        let secret = age::secrecy::ExposeSecret::expose_secret(&identity.to_string()).to_owned();
        let text = format!("# created: today\n\n{secret}\n");
        assert_eq!(parse_identities(text.as_bytes(), "f").unwrap().len(), 1);
        let Err(err) =
            parse_identities(format!("{secret}\nAGE-SECRET-KEY-1NOPE\n").as_bytes(), "f")
        else {
            panic!("a bad line must be refused");
        };
        let err = err.to_string();
        assert!(
            err.contains("line 2 is not an age X25519 identity"),
            "{err}"
        );
        assert!(!err.contains(&secret[..20]), "{err}");
        let err = parse_recipients(
            &format!("{}\nnot-a-recipient\n", identity.to_public()),
            Path::new("r"),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("r:2:1: not an age X25519 recipient"),
            "{err}"
        );
    }
}
