//! Commands that own a module of their own: each `NAME.rs` is `lsenv NAME`, with its `run`, and
//! what they share.

use std::fmt::Write as _;

pub(crate) mod audit;
pub(crate) mod scan;

/// Bytes lsenv did not write (paths from a repository, git's messages, a log's fields) as text
/// that cannot drive a terminal: control characters and invalid UTF-8 escaped.
pub(crate) fn printable(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn shown_escapes_what_could_drive_a_terminal() {
        assert_eq!(printable(b"a\x1b[2Jb\n\xffc"), "a\\u{1b}[2Jb\\n\\xffc");
    }
}
