//! What lsenv knows of Litestream: which variables its config references, read the way Go's
//! `os.Expand` reads them (Litestream expands the raw text before parsing it as YAML), and the
//! names Litestream itself reads from its environment.

use std::path::Path;

use crate::config::position_of;
use crate::error::{Error, Position, Result};

/// Variables Litestream reads itself, and the litestream gem's conventions for its config.
pub const KNOWN_VARIABLES: &[&str] = &[
    "LITESTREAM_ACCESS_KEY_ID",
    "LITESTREAM_SECRET_ACCESS_KEY",
    "LITESTREAM_REPLICA_BUCKET",
    "LITESTREAM_REPLICA_REGION",
    "LITESTREAM_REPLICA_ENDPOINT",
    "LITESTREAM_REPLICA_PATH",
    "LITESTREAM_AZURE_ACCOUNT_KEY",
    "LITESTREAM_AZURE_SAS_TOKEN",
    "LITESTREAM_S3_ENDPOINT",
    "LITESTREAM_CONFIG",
    // What `lsenv init --type TYPE` writes (config/templates/types/).
    "LITESTREAM_REPLICA_SESSION_TOKEN",
    "LITESTREAM_REPLICA_SSE_CUSTOMER_KEY",
    "LITESTREAM_AZURE_ACCOUNT_NAME",
    "LITESTREAM_SFTP_HOST",
    "LITESTREAM_SFTP_USER",
    "LITESTREAM_SFTP_PASSWORD",
    "LITESTREAM_SFTP_HOST_KEY",
    "LITESTREAM_SFTP_KEY_PATH",
    "LITESTREAM_NATS_URL",
    "LITESTREAM_NATS_USERNAME",
    "LITESTREAM_NATS_PASSWORD",
    "LITESTREAM_NATS_TOKEN",
    "LITESTREAM_NATS_CREDS_PATH",
    "LITESTREAM_NATS_CLIENT_KEY_PATH",
    "LITESTREAM_WEBDAV_URL",
    "LITESTREAM_WEBDAV_USERNAME",
    "LITESTREAM_WEBDAV_PASSWORD",
];

/// How the text around a reference quotes it, which decides what a value may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quoting {
    /// A plain scalar, and whether the reference starts it.
    Plain {
        at_start: bool,
    },
    Single,
    Double,
}

/// One `$NAME` or `${NAME}` in the config text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub name: String,
    pub position: Position,
    pub quoting: Quoting,
}

/// Every variable reference in `text`, as `os.Expand` finds them: `$NAME` (letters, digits, `_`),
/// `${NAME}`, and the one-character shell specials (`$1`, `$$`, …).
pub fn references(text: &str) -> Vec<Reference> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while at + 1 < bytes.len() {
        if bytes[at] != b'$' {
            at += 1;
            continue;
        }
        let (name, width) = shell_name(&text[at + 1..]);
        if !name.is_empty() && !in_comment(text, at) {
            found.push(Reference {
                name: name.to_owned(),
                position: position_of(text, at),
                quoting: quoting_at(text, at),
            });
        }
        at += 1 + width;
    }
    found
}

/// Go's `getShellName`: the name after a `$`, and how many bytes it spans.
fn shell_name(rest: &str) -> (&str, usize) {
    let bytes = rest.as_bytes();
    let special = |b: u8| b"*#$@!?-".contains(&b) || b.is_ascii_digit();
    if bytes.first() == Some(&b'{') {
        if bytes.len() > 2 && special(bytes[1]) && bytes[2] == b'}' {
            return (&rest[1..2], 3);
        }
        return match rest[1..].find('}') {
            // `${}`: invalid, eaten.
            Some(0) => ("", 2),
            Some(end) => (&rest[1..=end], end + 2),
            // No closing brace: invalid, the `{` is eaten.
            None => ("", 1),
        };
    }
    if bytes.first().is_some_and(|&b| special(b)) {
        return (&rest[..1], 1);
    }
    let end = bytes
        .iter()
        .position(|&b| !(b == b'_' || b.is_ascii_alphanumeric()))
        .unwrap_or(bytes.len());
    (&rest[..end], end)
}

/// Whether byte `at` is inside a YAML comment (a `#` at the start of its line or after a space,
/// outside quotes): expanding a variable there changes nothing.
fn in_comment(text: &str, at: usize) -> bool {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let mut quote = None;
    let mut previous = b' ';
    for &b in &text.as_bytes()[line_start..at] {
        match (quote, b) {
            (None, b'#') if previous == b' ' || previous == b'\t' => return true,
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if b == q => quote = None,
            _ => {}
        }
        previous = b;
    }
    false
}

/// The quoting of the scalar that contains byte `at`, judged from its line: what follows the
/// last `: ` or `- ` indicator before it.
fn quoting_at(text: &str, at: usize) -> Quoting {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..at];
    let scalar_start = ["- ", ": "]
        .iter()
        .filter_map(|indicator| before.rfind(indicator).map(|i| i + indicator.len()))
        .max()
        .unwrap_or(0);
    let scalar = before[scalar_start..].trim_start();
    match scalar.chars().next() {
        Some('"') => Quoting::Double,
        Some('\'') => Quoting::Single,
        _ => Quoting::Plain {
            at_start: scalar.is_empty(),
        },
    }
}

/// Why `value` would change the YAML once Litestream pastes it in place of a reference quoted
/// as `quoting`; `None` when it is safe. Never quotes the value.
pub fn breaks_yaml(value: &[u8], quoting: Quoting) -> Option<&'static str> {
    if value.contains(&b'\n') || value.contains(&b'\r') {
        return Some("it has a line break");
    }
    let has = |needle: &[u8]| value.windows(needle.len()).any(|w| w == needle);
    match quoting {
        Quoting::Double if value.contains(&b'"') || value.contains(&b'\\') => {
            Some("it has a `\"` or `\\` inside a double-quoted scalar")
        }
        Quoting::Single if value.contains(&b'\'') => {
            Some("it has a `'` inside a single-quoted scalar")
        }
        Quoting::Plain { at_start } => {
            if has(b": ") || value.ends_with(b":") {
                Some("it has `: ` (or ends with `:`), which starts a mapping")
            } else if has(b" #") {
                Some("it has ` #`, which starts a comment")
            } else if at_start
                && value
                    .first()
                    .is_some_and(|b| b"*&!'\"[]{}|>%@`#,?-".contains(b))
            {
                Some("it starts with a YAML indicator character")
            } else if at_start && (value.first() == Some(&b' ') || value.last() == Some(&b' ')) {
                Some("it has spaces at its start or end, which YAML drops")
            } else {
                None
            }
        }
        Quoting::Double | Quoting::Single => None,
    }
}

/// The Litestream config's text, or `None` when there is none.
pub fn read_config(path: &Path) -> Result<Option<String>> {
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = crate::os::read_capped(path, 1024 * 1024)?;
    String::from_utf8(bytes.to_vec())
        .map(Some)
        .map_err(|_| Error::config(crate::error::Location::file(path), "not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::{Quoting, breaks_yaml, references};

    #[test]
    fn references_are_found_as_go_finds_them() {
        let text = "a: $LITESTREAM_A\nb: \"${LITESTREAM_B}\"\nc: 'x$C_1y'\nd: $$ $1 ${} ${unclosed\ne: cost$\n# $IN_COMMENT\nf: x # $ALSO_COMMENT\ng: \"# $NOT_COMMENT\"\n";
        let found: Vec<(String, usize, Quoting)> = references(text)
            .into_iter()
            .map(|r| (r.name, r.position.line, r.quoting))
            .collect();
        assert_eq!(
            found,
            [
                ("LITESTREAM_A".into(), 1, Quoting::Plain { at_start: true }),
                ("LITESTREAM_B".into(), 2, Quoting::Double),
                ("C_1y".into(), 3, Quoting::Single),
                ("$".into(), 4, Quoting::Plain { at_start: true }),
                ("1".into(), 4, Quoting::Plain { at_start: false }),
                ("NOT_COMMENT".into(), 8, Quoting::Double),
            ]
        );
    }

    #[test]
    fn values_that_break_each_quoting() {
        let plain = Quoting::Plain { at_start: true };
        assert!(breaks_yaml(b"a: b", plain).is_some());
        assert!(breaks_yaml(b"a #b", plain).is_some());
        assert!(breaks_yaml(b"*abc", plain).is_some());
        assert!(breaks_yaml(b"*abc", Quoting::Plain { at_start: false }).is_none());
        assert!(breaks_yaml(b"line\nbreak", Quoting::Double).is_some());
        assert!(breaks_yaml(b"a\"b", Quoting::Double).is_some());
        assert!(breaks_yaml(b"a: b # c", Quoting::Double).is_none());
        assert!(breaks_yaml(b"it's", Quoting::Single).is_some());
        assert!(breaks_yaml(b"AKIA/abc+def=", plain).is_none());
    }
}
