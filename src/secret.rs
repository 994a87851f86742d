//! Secret values: bytes that are wiped when dropped and never shown by `Debug`.
//!
//! Every value that can come from credentials or from a `LITESTREAM_*` variable travels as a
//! [`Secret`]. The only way to see the bytes is [`Secret::expose`], so every place that reveals a
//! value is greppable.

use std::fmt;
use std::sync::OnceLock;

use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// What fingerprints are keyed with: derived from the first credentials key loaded, so that
/// fingerprints of the same credentials compare across runs and machines, and random (this run
/// only) when no key is.
static FINGERPRINT_KEY: OnceLock<[u8; 32]> = OnceLock::new();

/// Keys this run's fingerprints with one derived from `material`, a credentials key (the first
/// one loaded wins). Without the key, a fingerprint says nothing about the value.
pub fn key_fingerprints(material: &[u8]) {
    let _ = FINGERPRINT_KEY.set(hmac(material, b"lsenv fingerprint v1"));
}

fn fingerprint_key() -> &'static [u8; 32] {
    FINGERPRINT_KEY.get_or_init(|| {
        use aes_gcm::aead::rand_core::RngCore as _;
        let mut key = [0; 32];
        aes_gcm::aead::OsRng.fill_bytes(&mut key);
        key
    })
}

/// HMAC-SHA256 (RFC 2104).
fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = Zeroizing::new([0u8; 64]);
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| Zeroizing::new(block.map(|b| b ^ byte));
    let inner = Sha256::new()
        .chain_update(*pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(*pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// A value that may be sensitive. Its buffer is zeroized on drop and its `Debug` form is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Copies `bytes` into a zeroizing buffer; the caller stays responsible for its own copy.
    pub fn copy_from(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }

    /// The raw bytes. Callers must not log, format or put them in argv.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What may be shown instead of the value: its length and the first 8 hex digits of its
    /// HMAC-SHA256 under a key derived from the credentials key, e.g. `40 bytes, hmac 1a2b3c4d`.
    /// Equal values of the same credentials have equal fingerprints, so two environments can be
    /// compared without revealing them; unlike a plain hash, a short, guessable value (`auto`, a
    /// region) cannot be guessed from it by anyone without the key.
    pub fn fingerprint(&self) -> String {
        let digest = hmac(fingerprint_key(), self.expose());
        let short = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        let plural = if self.len() == 1 { "" } else { "s" };
        format!("{} byte{plural}, hmac {short:08x}", self.len())
    }
}

impl From<Vec<u8>> for Secret {
    /// Takes ownership without reallocating, so no unwiped copy is left behind.
    fn from(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Self {
        Self::from(text.into_bytes())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::{Secret, hmac};

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2 of RFC 4231.
        let mac = hmac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(mac[..4], [0x5b, 0xdc, 0xc1, 0x46]);
        assert_eq!(mac[28..], [0x64, 0xec, 0x38, 0x43]);
        // A key longer than a block is hashed first (test case 6).
        let mac = hmac(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(mac[..4], [0x60, 0xe4, 0x31, 0x59]);
    }

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::copy_from(b"canary-value-123");
        let shown = format!("{secret:?} {:?}", vec![secret.clone()]);
        assert!(!shown.contains("canary"), "{shown}");
        assert_eq!(secret.expose(), b"canary-value-123");
    }

    #[test]
    fn fingerprints_compare_without_revealing() {
        let a = Secret::copy_from(b"canary-value-123");
        assert_eq!(
            a.fingerprint(),
            Secret::copy_from(b"canary-value-123").fingerprint()
        );
        assert_ne!(
            a.fingerprint(),
            Secret::copy_from(b"canary-value-124").fingerprint()
        );
        // Keyed: not sha256("") = e3b0c442….
        let empty = Secret::copy_from(b"").fingerprint();
        assert!(empty.starts_with("0 bytes, hmac "), "{empty}");
        assert!(!empty.contains("e3b0c442"), "{empty}");
        assert!(!a.fingerprint().contains("canary"));
    }
}
