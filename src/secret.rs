//! Secret values: bytes that are wiped when dropped and never shown by `Debug`.
//!
//! Every value that can come from credentials or from a `LITESTREAM_*` variable travels as a
//! [`Secret`]. The only way to see the bytes is [`Secret::expose`], so every place that reveals a
//! value is greppable.

use std::fmt;

use zeroize::Zeroizing;

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
    /// SHA-256, e.g. `40 bytes, sha256 1a2b3c4d`. Equal values have equal fingerprints, so two
    /// environments can be compared without revealing them; 32 bits of hash say nothing useful
    /// about a key-sized secret (but a short, guessable value can be guessed: it is no secret).
    pub fn fingerprint(&self) -> String {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(self.expose());
        let short = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        let plural = if self.len() == 1 { "" } else { "s" };
        format!("{} byte{plural}, sha256 {short:08x}", self.len())
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
    use super::Secret;

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
        // sha256("") = e3b0c442…
        assert_eq!(
            Secret::copy_from(b"").fingerprint(),
            "0 bytes, sha256 e3b0c442"
        );
        assert!(!a.fingerprint().contains("canary"));
    }
}
