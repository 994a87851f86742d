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
}
