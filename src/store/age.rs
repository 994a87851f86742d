//! age files (`*.yml.age`): binary or ASCII-armored, told apart by their content; decrypted in
//! memory with any of the user's X25519 identities (the first that opens the file wins), or with
//! a passphrase typed at a terminal for passphrase-encrypted files; written to every recipient,
//! ASCII-armored so that they travel through git and e-mail as text.
//!
//! Identities and decrypted bytes live in types that wipe themselves; errors name the file and
//! the line, never an identity or a value.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::str::FromStr as _;

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::x25519;
use zeroize::Zeroizing;

use crate::error::{
    ConfigProblem, Error, IntegrityProblem, KeyProblem, Location, RecipientProblem, Result,
};

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

/// X25519 identities (`AGE-SECRET-KEY-1…` lines; `#` comments and blank lines allowed) from
/// `text`. `source` names where they came from, for errors; a bad line is named by its number.
pub fn parse_identities(text: &[u8], source: &str) -> Result<Vec<x25519::Identity>> {
    let key_error = |problem| Error::key(source, problem);
    let text = std::str::from_utf8(text).map_err(|_| key_error(KeyProblem::IdentityNotUtf8))?;
    let mut identities = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match x25519::Identity::from_str(line) {
            Ok(identity) => identities.push(identity),
            Err(_) => {
                return Err(key_error(KeyProblem::NotAnIdentity { line: number + 1 }));
            }
        }
    }
    if identities.is_empty() {
        return Err(key_error(KeyProblem::NoIdentityInFile));
    }
    Ok(identities)
}

/// X25519 recipients (`age1…`), one per line, `#` comments and blank lines allowed.
pub fn parse_recipients(text: &str, path: &Path) -> Result<Vec<x25519::Recipient>> {
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

/// One `age1…` recipient; the error says why, without quoting the text.
pub fn parse_recipient(text: &str) -> Result<x25519::Recipient, RecipientProblem> {
    if text.starts_with("ssh-") {
        return Err(RecipientProblem::SshKey);
    }
    x25519::Recipient::from_str(text).map_err(|_| RecipientProblem::NotX25519)
}

/// What opens an age file: identities, or a passphrase asked for only if the file needs one.
pub struct Unlock<'a> {
    pub identities: &'a [x25519::Identity],
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
        decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity))
    } else {
        decryptor.decrypt(
            unlock
                .identities
                .iter()
                .map(|identity| identity as &dyn age::Identity),
        )
    }
    .map_err(|err| fail(describe(&err)))?;
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
        // Plugin errors: lsenv builds age without plugins, so these cannot happen.
        _ => IntegrityProblem::Undecryptable,
    }
}

/// The bytes of an age file holding `plaintext`, encrypted to every recipient.
pub fn encrypt(
    plaintext: &[u8],
    recipients: &[x25519::Recipient],
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
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|_| {
                Error::config(Location::file(path), ConfigProblem::IncompatibleRecipients)
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

    use super::{Unlock, decrypt, encrypt, is_age, parse_identities, parse_recipients};
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
                &[a.to_public(), b.to_public()],
                armored,
                Path::new("f"),
            )
            .unwrap();
            assert!(is_age(&file));
            for identity in [&a, &b] {
                let unlock = Unlock {
                    identities: std::slice::from_ref(identity),
                    passphrase: &no_passphrase,
                };
                assert_eq!(
                    decrypt(&file, &unlock, Path::new("f")).unwrap().as_str(),
                    "k: v\n"
                );
            }
            let unlock = Unlock {
                identities: std::slice::from_ref(&stranger),
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
