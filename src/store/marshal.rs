//! The two Ruby `Marshal` framings of a String that Rails credentials files hold, and nothing
//! else: general Marshal is a deserialization hazard, so any other object is refused.
//!
//! * `04 08 22 LEN BYTES`: a binary String (what `credentials:edit` writes; lsenv writes this).
//! * `04 08 49 22 LEN BYTES 06 3a 06 45 (54|46)`: a String with the `:E` encoding ivar (UTF-8 or
//!   US-ASCII), what `credentials.write` from Ruby writes.

use std::ops::Range;

use zeroize::Zeroizing;

const VERSION: [u8; 2] = [4, 8];
const TYPE_STRING: u8 = b'"';
const TYPE_IVAR: u8 = b'I';
const TYPE_SYMBOL: u8 = b':';
const TRUE: u8 = b'T';
const FALSE: u8 = b'F';

/// What is wrong with a payload. Never carries payload bytes, except an encoding's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarshalError {
    #[error("the payload is not Ruby Marshal data version 4.8")]
    Version,
    #[error("the payload is not a Ruby String")]
    NotAString,
    #[error("the payload ends early")]
    Truncated,
    #[error("the payload has a negative or oversized length")]
    BadLength,
    #[error("the payload has bytes after the String")]
    TrailingBytes,
    #[error("the String carries unexpected instance variables")]
    UnexpectedIvars,
    #[error("the String is in the {0} encoding; only UTF-8, US-ASCII and binary are supported")]
    UnsupportedEncoding(String),
}

/// Where the bytes of the String held by `payload` are: a range, so that the caller can keep
/// them in the buffer they were decrypted in instead of copying them.
pub fn unwrap_string(payload: &[u8]) -> Result<Range<usize>, MarshalError> {
    let mut reader = Reader { rest: payload };
    if reader.take(2)? != VERSION {
        return Err(MarshalError::Version);
    }
    // Ruby's framing of a String with its encoding: an object with instance variables, then
    // the String.
    let ivars = match reader.byte()? {
        TYPE_STRING => false,
        TYPE_IVAR => true,
        _ => return Err(MarshalError::NotAString),
    };
    if ivars && reader.byte()? != TYPE_STRING {
        return Err(MarshalError::NotAString);
    }
    let len = reader.string()?.len();
    let end = payload.len() - reader.rest.len();
    if ivars {
        reader.encoding_ivar()?;
    }
    if reader.rest.is_empty() {
        Ok(end - len..end)
    } else {
        Err(MarshalError::TrailingBytes)
    }
}

/// `Marshal.dump` of a binary String holding `bytes`, in a buffer that is wiped on drop.
pub fn wrap_string(bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len() + 8));
    out.extend_from_slice(&VERSION);
    out.push(TYPE_STRING);
    write_len(&mut out, bytes.len());
    out.extend_from_slice(bytes);
    out
}

/// Marshal's variable-length integer for a non-negative length.
fn write_len(out: &mut Vec<u8>, len: usize) {
    match len {
        0 => out.push(0),
        // Small values are stored as n + 5 in one byte; this cannot overflow for n <= 122.
        1..=122 => out.push(u8::try_from(len + 5).expect("1..=122 plus 5 fits in a byte")),
        _ => {
            let bytes = len.to_le_bytes();
            let width = bytes.iter().rposition(|&b| b != 0).map_or(1, |i| i + 1);
            out.push(u8::try_from(width).expect("a usize has at most 8 bytes"));
            out.extend_from_slice(&bytes[..width]);
        }
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MarshalError> {
        if self.rest.len() < n {
            return Err(MarshalError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, MarshalError> {
        Ok(self.take(1)?[0])
    }

    /// Marshal's `w_long`: 0; n+5 for 1..=122; n-5 for -123..=-1; else a count of 1..4
    /// little-endian bytes (negative counts are negative numbers, which no length can be).
    fn long(&mut self) -> Result<usize, MarshalError> {
        let lead = i8::from_le_bytes([self.byte()?]);
        match lead {
            0 => Ok(0),
            5..=127 => Ok(usize::from(lead.unsigned_abs()) - 5),
            1..=4 => {
                let bytes = self.take(usize::from(lead.unsigned_abs()))?;
                Ok(bytes
                    .iter()
                    .rev()
                    .fold(0usize, |acc, &b| (acc << 8) | usize::from(b)))
            }
            _ => Err(MarshalError::BadLength),
        }
    }

    fn string(&mut self) -> Result<&'a [u8], MarshalError> {
        let len = self.long()?;
        self.take(len).map_err(|_| MarshalError::Truncated)
    }

    /// Exactly one ivar, `:E => true|false` (UTF-8 or US-ASCII). An `:encoding` ivar names any
    /// other encoding, which is refused by name.
    fn encoding_ivar(&mut self) -> Result<(), MarshalError> {
        if self.long()? != 1 || self.byte()? != TYPE_SYMBOL {
            return Err(MarshalError::UnexpectedIvars);
        }
        match self.string()? {
            b"E" => match self.byte()? {
                TRUE | FALSE => Ok(()),
                _ => Err(MarshalError::UnexpectedIvars),
            },
            b"encoding" => {
                if self.byte()? != TYPE_STRING {
                    return Err(MarshalError::UnexpectedIvars);
                }
                let name = self.string()?;
                Err(MarshalError::UnsupportedEncoding(
                    String::from_utf8_lossy(name).chars().take(40).collect(),
                ))
            }
            _ => Err(MarshalError::UnexpectedIvars),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{MarshalError, unwrap_string, wrap_string};

    #[test]
    fn length_prefix_widths_round_trip() {
        for len in [0, 1, 122, 123, 255, 256, 65_535, 65_536, 16_777_216] {
            let body = vec![b'x'; len];
            let framed = wrap_string(&body);
            assert_eq!(
                &framed[unwrap_string(&framed).unwrap()],
                body.as_slice(),
                "len {len}"
            );
        }
    }

    #[test]
    fn prefixes_match_ruby() {
        // Bytes from Ruby: Marshal.dump("a".b), Marshal.dump(("a"*123).b), Marshal.dump(("a"*256).b)
        assert_eq!(wrap_string(b"a")[..4], [4, 8, b'"', 6]);
        assert_eq!(wrap_string(&[b'a'; 123])[..5], [4, 8, b'"', 1, 123]);
        assert_eq!(wrap_string(&[b'a'; 256])[..6], [4, 8, b'"', 2, 0, 1]);
    }

    #[test]
    fn utf8_and_ascii_ivars_are_read() {
        let utf8 = b"\x04\x08I\"\x07hi\x06:\x06ET";
        let ascii = b"\x04\x08I\"\x07hi\x06:\x06EF";
        assert_eq!(&utf8[unwrap_string(utf8).unwrap()], b"hi");
        assert_eq!(&ascii[unwrap_string(ascii).unwrap()], b"hi");
    }

    #[test]
    fn everything_else_is_refused() {
        let cases: [(&[u8], MarshalError); 7] = [
            (b"\x04\x09\"\x06a", MarshalError::Version),
            (b"\x04\x08i\x06", MarshalError::NotAString),
            (b"\x04\x08\"\x0aab", MarshalError::Truncated),
            (b"\x04\x08\"\x06ab", MarshalError::TrailingBytes),
            (b"\x04\x08\"\xfa", MarshalError::BadLength),
            (
                b"\x04\x08I\"\x06a\x06:\x06Ex",
                MarshalError::UnexpectedIvars,
            ),
            (
                b"\x04\x08I\"\x06a\x06:\x0dencoding\"\x0eShift_JIS",
                MarshalError::UnsupportedEncoding("Shift_JIS".into()),
            ),
        ];
        for (payload, expected) in cases {
            assert_eq!(unwrap_string(payload), Err(expected), "{payload:?}");
        }
    }
}
