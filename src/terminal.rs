//! The one place that writes to the terminal: what the user asked to see on stdout, status lines
//! and errors on stderr. Nothing written here is a secret unless the user asked for it
//! (`--reveal`, `credentials show`); errors and status lines never carry values.

use std::fmt::Write as _;
use std::io::Write as _;

use crate::error::{Error, Result};

/// A status line on stderr (`lsenv: …`); stdout stays for what the user asked to see.
pub(crate) fn say(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "lsenv: {message}");
}

/// Writes what the user asked to see to stdout.
pub(crate) fn print(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|err| Error::io("stdout", "print", err))
}

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

/// Reports an error the way the binary ends with one: clap's own text for usage errors, help and
/// version, otherwise `lsenv: …` and its hint on stderr.
pub fn report(err: &Error) {
    if let Error::Cli(clap_err) = err {
        // clap formats help, version and usage errors itself, on the right stream.
        let _ = clap_err.print();
        return;
    }
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "lsenv: {err}");
    if let Some(hint) = err.hint() {
        let _ = writeln!(stderr, "lsenv: hint: {hint}");
    }
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn printable_escapes_what_could_drive_a_terminal() {
        assert_eq!(printable(b"a\x1b[2Jb\n\xffc"), "a\\u{1b}[2Jb\\n\\xffc");
    }
}
