//! Rails encrypted credentials (`*.yml.enc`): `BASE64(ciphertext)--BASE64(iv)--BASE64(tag)`,
//! AES-128-GCM with the 16 bytes of a 32-hex-character key, over `Marshal.dump` of the YAML text.
//!
//! Decryption happens in zeroizing buffers and either yields the whole plaintext or nothing: a
//! failed tag check returns before any byte is used. Writing uses a fresh random IV every time,
//! the `credentials:edit` framing, no trailing newline, and an atomic replace.

use std::path::Path;

use aes_gcm::aead::{AeadInPlace, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes128Gcm, Nonce, Tag};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use zeroize::Zeroizing;

use crate::error::{Error, IntegrityProblem, KeyProblem, Location, Result};
use crate::os;
use crate::store::marshal;

const KEY_HEX_LEN: usize = 32;
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
const SEPARATOR: &str = "--";
/// Credentials files larger than this are refused before anything is allocated for them.
/// How a key that does not open a file is reported (the hint may name where the key came from).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A Rails master key: 16 bytes, wiped on drop, never printed; and where it came from.
pub struct MasterKey {
    key: Zeroizing<[u8; 16]>,
    /// The path or variable it was read from (the audit log names it).
    source: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// Parses the text of a key file or variable, ignoring surrounding whitespace. `source_name`
    /// (a path or a variable name) goes into the error, the text never does.
    pub fn parse(text: &[u8], source_name: &str) -> Result<Self> {
        let text = text.trim_ascii();
        let problem = if text.len() != KEY_HEX_LEN {
            Some(KeyProblem::WrongLength {
                length: text.len(),
                expected: KEY_HEX_LEN,
            })
        } else if !text.iter().all(u8::is_ascii_hexdigit) {
            Some(KeyProblem::NotHex {
                expected: KEY_HEX_LEN,
            })
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(Error::key(source_name, problem));
        }
        let mut key = Zeroizing::new([0u8; 16]);
        for (byte, pair) in key.iter_mut().zip(text.chunks_exact(2)) {
            *byte = (hex_value(pair[0]) << 4) | hex_value(pair[1]);
        }
        Ok(Self {
            key,
            source: source_name.to_owned(),
        })
    }

    /// Where the key came from: a path, a variable's name, or `a new key`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// A new random key, as Rails makes it.
    pub fn generate() -> Self {
        let key = Aes128Gcm::generate_key(&mut OsRng);
        let mut bytes = Zeroizing::new([0u8; 16]);
        bytes.copy_from_slice(&key);
        Self {
            key: bytes,
            source: "a new key".into(),
        }
    }

    /// The 32 lowercase hex characters of the key, for writing it to its file once.
    pub fn to_hex(&self) -> Zeroizing<String> {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = Zeroizing::new(String::with_capacity(KEY_HEX_LEN));
        for byte in self.key.iter() {
            text.push(char::from(DIGITS[usize::from(byte >> 4)]));
            text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
        text
    }

    fn cipher(&self) -> Aes128Gcm {
        Aes128Gcm::new(aes_gcm::Key::<Aes128Gcm>::from_slice(self.key.as_ref()))
    }
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

/// Reads and decrypts `path`, returning the YAML text.
pub fn read(path: &Path, key: &MasterKey) -> Result<Zeroizing<String>> {
    let file = os::read_capped(path, MAX_FILE_BYTES)?;
    decrypt(&file, key, path)
}

/// Decrypts the text of a credentials file. `path` is only used to name the file in errors.
pub fn decrypt(file: &[u8], key: &MasterKey, path: &Path) -> Result<Zeroizing<String>> {
    let fail = |problem| Error::integrity(Location::file(path), problem);
    let Some((data, iv, tag)) = split_parts(file.trim_ascii()) else {
        return Err(not_ciphertext(file, path));
    };
    let decode = |bytes: &[u8], part: &'static str| {
        BASE64
            .decode(bytes)
            .map(Zeroizing::new)
            .map_err(|_| fail(IntegrityProblem::NotBase64 { part }))
    };
    let iv = decode(iv, "IV")?;
    let tag = decode(tag, "authentication tag")?;
    let mut buffer = match decode(data, "ciphertext") {
        // Base64 has no `-`: a third separator means this is not ciphertext at all.
        Err(_) if data.contains(&b'-') => return Err(not_ciphertext(file, path)),
        decoded => decoded?,
    };
    if iv.len() != IV_LEN {
        return Err(fail(IntegrityProblem::WrongLength {
            part: "IV",
            length: iv.len(),
            expected: IV_LEN,
        }));
    }
    if tag.len() != TAG_LEN {
        return Err(fail(IntegrityProblem::WrongLength {
            part: "authentication tag",
            length: tag.len(),
            expected: TAG_LEN,
        }));
    }
    key.cipher()
        .decrypt_in_place_detached(
            Nonce::from_slice(&iv),
            b"",
            &mut buffer,
            Tag::from_slice(&tag),
        )
        .map_err(|_| fail(IntegrityProblem::WrongKey { tried: None }))?;
    let text = marshal::unwrap_string(&buffer).map_err(|err| fail(err.into()))?;
    // The text stays in the buffer it was decrypted in (moved to its front): no second copy of
    // a large file to allocate and wipe. Zeroizing wipes the spare capacity as well.
    let mut bytes = std::mem::take(&mut *buffer);
    bytes.truncate(text.end);
    bytes.drain(..text.start);
    String::from_utf8(bytes).map(Zeroizing::new).map_err(|err| {
        let valid_up_to = err.utf8_error().valid_up_to();
        drop(Zeroizing::new(err.into_bytes()));
        fail(IntegrityProblem::NotUtf8 { at: valid_up_to })
    })
}

/// `DATA--IV--TAG`, the separators found from the end, where the short IV and tag are: a large
/// file is not scanned for them. A `-` inside DATA is left for base64 decoding to refuse.
fn split_parts(file: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    fn split(text: &[u8]) -> Option<(&[u8], &[u8])> {
        let at = text.iter().rposition(|&byte| byte == b'-')?;
        (at > 0 && text[at - 1] == b'-').then(|| (&text[..at - 1], &text[at + 1..]))
    }
    let (rest, tag) = split(file)?;
    let (data, iv) = split(rest)?;
    Some((data, iv, tag))
}

/// The error for a file that is not `BASE64--BASE64--BASE64`, saying whether a merge or an editor
/// seems to have written plaintext into it (which lsenv can encrypt again).
fn not_ciphertext(file: &[u8], path: &Path) -> Error {
    let problem = if has_conflict_markers(file) {
        IntegrityProblem::ConflictMarkers
    } else if std::str::from_utf8(file).is_ok_and(|text| text.contains([':', '\n'])) {
        // Base64 has neither, so this is text someone saved in place of the ciphertext.
        IntegrityProblem::Plaintext
    } else {
        IntegrityProblem::NotRailsCiphertext
    };
    Error::integrity(Location::file(path), problem)
}

/// Whether `text` has a line that git writes around a merge conflict.
pub fn has_conflict_markers(text: &[u8]) -> bool {
    text.split(|&b| b == b'\n').any(|line| {
        line.starts_with(b"<<<<<<< ")
            || line.starts_with(b">>>>>>> ")
            || line.trim_ascii_end() == b"======="
    })
}

/// The text of a credentials file holding `yaml`, encrypted with a fresh random IV.
///
/// # Panics
///
/// Never in practice: AES-GCM refuses only payloads over 64 GiB, far above the size cap.
pub fn encrypt(yaml: &[u8], key: &MasterKey) -> String {
    let mut buffer = marshal::wrap_string(yaml);
    let iv = Aes128Gcm::generate_nonce(&mut OsRng);
    let tag = key
        .cipher()
        .encrypt_in_place_detached(&iv, b"", &mut buffer)
        .expect("AES-GCM encrypts any payload under 64 GiB");
    format!(
        "{}{SEPARATOR}{}{SEPARATOR}{}",
        BASE64.encode(&*buffer),
        BASE64.encode(iv),
        BASE64.encode(tag)
    )
}

/// Encrypts `yaml` and replaces `path` atomically (the old file stays whole if anything fails).
pub fn write(path: &Path, yaml: &[u8], key: &MasterKey) -> Result<()> {
    os::write_atomic(path, encrypt(yaml, key).as_bytes())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{MasterKey, decrypt, encrypt};
    use crate::error::Error;

    const KEY: &[u8] = b"00112233445566778899aabbccddeeff";

    #[test]
    fn round_trip_with_whitespace_around() {
        let key = MasterKey::parse(KEY, "test").unwrap();
        let file = format!("\n {} \n", encrypt("a: 1\n".as_bytes(), &key));
        let text = decrypt(file.as_bytes(), &key, Path::new("x.yml.enc")).unwrap();
        assert_eq!(text.as_str(), "a: 1\n");
    }

    #[test]
    fn key_errors_say_what_was_found_without_echoing_it() {
        let short = MasterKey::parse(b"abc123", "RAILS_MASTER_KEY").unwrap_err();
        assert!(short.to_string().contains("6 characters"), "{short}");
        let non_hex = MasterKey::parse(b"zz112233445566778899aabbccddeeff", "k").unwrap_err();
        assert!(non_hex.to_string().contains("not hex"), "{non_hex}");
        assert!(!non_hex.to_string().contains("zz11"), "{non_hex}");
    }

    #[test]
    fn hex_round_trip() {
        let key = MasterKey::parse(b"00112233445566778899AABBCCDDEEFF\n", "k").unwrap();
        assert_eq!(key.to_hex().as_str(), std::str::from_utf8(KEY).unwrap());
        assert_eq!(MasterKey::generate().to_hex().len(), 32);
    }

    #[test]
    fn every_framing_error_is_an_integrity_error() {
        let key = MasterKey::parse(KEY, "k").unwrap();
        let good = encrypt(b"a: 1", &key);
        let (data, rest) = good.split_once("--").unwrap();
        let (iv, tag) = rest.split_once("--").unwrap();
        for bad in [
            String::new(),
            data.to_owned(),
            format!("{data}--{iv}"),
            format!("{data}--{iv}--{tag}--{tag}"),
            format!("{data}---{iv}--{tag}"),
            format!("{data}--{iv}--!{tag}"),
            format!("{data}--{}--{tag}", &iv[4..]),
            format!("{data}--{iv}--{}", &tag[4..]),
        ] {
            let err = decrypt(bad.as_bytes(), &key, Path::new("f")).unwrap_err();
            assert!(matches!(err, Error::Integrity { .. }), "{bad}: {err}");
        }
    }
}
