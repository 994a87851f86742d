//! The shape nearly every credentials file has, read without the general parser: block mappings
//! whose values are one-line plain, single- or double-quoted scalars (with the escapes `\\`, `\"`,
//! `\n`, `\t`, `\r`, `\/` and `''`), or literal blocks (`|`, `|-`: PEM keys, JSON documents),
//! with comments and blank lines, all in printable ASCII. That is a few times faster than the general parser on a large file, which matters when
//! lsenv starts every deploy and every replica.
//!
//! Anything outside that shape, and anything irregular (a duplicate key, a stray indentation),
//! gives `None` and the general parser reads the file instead, with its errors and positions.
//! So the two never disagree on what a file means: the `yaml` fuzz target and a property test
//! check that whatever this reader accepts, the general one reads the same way.

use crate::secret::Secret;
use crate::tree::Node;

/// The characters no plain scalar may start with (YAML's indicators), and the quotes.
const INDICATORS: &[u8] = b"-?:,[]{}#&*!|>'\"%@`";

/// The document as a tree, building only the entries whose key path `wanted` keeps; `None`
/// when the text is not of the simple shape.
pub(super) fn parse(text: &str, wanted: &dyn Fn(&str) -> bool) -> Option<Node> {
    // No tab, carriage return, control character or non-ASCII byte anywhere. Checked a block
    // at a time without stopping early, which the compiler turns into vector instructions.
    let printable = |block: &[u8]| {
        block.iter().fold(true, |ok, &b| {
            ok & ((b == b'\n') | (b' '..=b'~').contains(&b))
        })
    };
    if !text.as_bytes().chunks(64).all(printable) {
        return None;
    }
    // Nor blanks after the last line break (parsers differ on them at the end of a block).
    if text.ends_with(' ')
        && text
            .rsplit('\n')
            .next()
            .is_some_and(|last| last.trim_start_matches(' ').is_empty())
    {
        return None;
    }
    let mut lines = Vec::new();
    let mut raw = text.split('\n').peekable();
    while let Some(line) = raw.next() {
        let content = line.trim_start_matches(' ');
        // Blank lines and comments say nothing about the structure.
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let mut line = Line::read(line.len() - content.len(), content)?;
        if let Value::Block { strip, .. } = line.value {
            let text = literal_block(&mut raw, line.indent, strip)?;
            line.value = Value::Block { strip, text };
        }
        lines.push(line);
    }
    if lines.first().is_some_and(|line| line.indent > 0) {
        return None;
    }
    let mut reader = Reader {
        lines: &lines,
        at: 0,
        wanted,
        key_path: String::new(),
    };
    reader.mapping(0, true)
}

/// A `key: value` line, its value not read yet.
struct Line<'t> {
    indent: usize,
    key: &'t str,
    value: Value<'t>,
}

enum Value<'t> {
    /// Nothing after the colon: null, or a mapping on the lines below.
    Empty,
    Plain(&'t str),
    Quoted(&'t str),
    /// A quoted scalar with escapes, unescaped.
    Unescaped(Secret),
    /// `|` (`strip`: `|-`), its text read from the lines below once the header is read.
    Block {
        strip: bool,
        text: Secret,
    },
}

impl<'t> Line<'t> {
    /// The line whose text after its indentation is `content`; `None` if not of the simple
    /// shape.
    fn read(indent: usize, content: &'t str) -> Option<Self> {
        let key_len = content
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))?;
        let (key, rest) = content.split_at(key_len);
        if key.is_empty() || key.starts_with('-') {
            return None;
        }
        let rest = rest.strip_prefix(':')?;
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return None;
        }
        let value = Value::read(rest.trim_start_matches(' '))?;
        Some(Line { indent, key, value })
    }
}

impl<'t> Value<'t> {
    /// What follows `key: `, its leading blanks removed.
    fn read(text: &'t str) -> Option<Self> {
        if text.is_empty() || text.starts_with('#') {
            return Some(Value::Empty);
        }
        let quote = text.as_bytes()[0];
        if quote == b'"' || quote == b'\'' {
            let (value, after) = quoted(&text[1..], quote)?;
            // Only a comment may follow the closing quote, after a blank.
            let after_ok = after.trim_start_matches(' ').is_empty()
                || (after.starts_with(' ') && after.trim_start_matches(' ').starts_with('#'));
            return after_ok.then_some(value);
        }
        if quote == b'|' {
            let (strip, rest) = match text[1..].strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, &text[1..]),
            };
            // Only a comment may follow the header, after a blank (`|+` and indentation digits
            // are left to the general parser).
            let after = rest.trim_start_matches(' ');
            if !(after.is_empty() || (after.starts_with('#') && after.len() < rest.len())) {
                return None;
            }
            let text = Secret::copy_from(b"");
            return Some(Value::Block { strip, text });
        }
        if INDICATORS.contains(&quote) {
            return None;
        }
        let plain = text.find(" #").map_or(text, |comment| &text[..comment]);
        let plain = plain.trim_end_matches(' ');
        if plain.contains(": ") || plain.ends_with(':') {
            return None;
        }
        Some(Value::Plain(plain))
    }
}

/// A quoted scalar whose opening `quote` is just before `body`, and what follows its closing
/// quote; `None` if it does not close on this line or has an escape outside the simple set.
fn quoted(body: &str, quote: u8) -> Option<(Value<'_>, &str)> {
    let bytes = body.as_bytes();
    let end = bytes
        .iter()
        .position(|&b| b == quote || (quote == b'"' && b == b'\\'))?;
    let escaped_quote = quote == b'\'' && bytes.get(end + 1) == Some(&b'\'');
    if bytes[end] == quote && !escaped_quote {
        return Some((Value::Quoted(&body[..end]), &body[end + 1..]));
    }
    // Escapes: unescaped into a buffer sized once (it can only shrink), so that no copy of the
    // value is left behind by a reallocation.
    let mut text = String::with_capacity(body.len());
    let mut rest = bytes.iter().enumerate();
    while let Some((at, &b)) = rest.next() {
        let unescaped = match b {
            b'\'' if quote == b'\'' => match rest.next() {
                Some((_, b'\'')) => '\'',
                _ => return Some((Value::Unescaped(Secret::from(text)), &body[at + 1..])),
            },
            b'"' if quote == b'"' => {
                return Some((Value::Unescaped(Secret::from(text)), &body[at + 1..]));
            }
            b'\\' if quote == b'"' => match rest.next()?.1 {
                b'\\' => '\\',
                b'"' => '"',
                b'/' => '/',
                b'n' => '\n',
                b't' => '\t',
                b'r' => '\r',
                _ => return None,
            },
            other => char::from(other),
        };
        text.push(unescaped);
    }
    None
}

/// The text of a literal block whose header is on a line indented by `indent`: the lines below
/// that are indented more, less the indentation of the first of them, each ending in a line
/// break; trailing line breaks but one are dropped (all with `strip`). Blank lines must be
/// empty before the text and no wider than its indentation inside it (YAML is subtle there).
fn literal_block<'t>(
    raw: &mut std::iter::Peekable<impl Iterator<Item = &'t str>>,
    indent: usize,
    strip: bool,
) -> Option<Secret> {
    let mut lines = Vec::new();
    let mut width = None;
    while let Some(&line) = raw.peek() {
        let content = line.trim_start_matches(' ');
        let spaces = line.len() - content.len();
        match width {
            _ if content.is_empty() && spaces > width.unwrap_or(0) => return None,
            _ if content.is_empty() => lines.push(""),
            None if spaces > indent => {
                width = Some(spaces);
                lines.push(content);
            }
            Some(width) if spaces >= width => lines.push(&line[width..]),
            _ => break,
        }
        raw.next();
    }
    // Sized once: a buffer that grew would leave copies of the secret behind, unwiped.
    let mut text = String::with_capacity(lines.iter().map(|line| line.len() + 1).sum());
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    let kept = text.trim_end_matches('\n').len();
    let line_break = usize::from(!strip && kept > 0);
    text.truncate(kept + line_break);
    Some(Secret::from(text))
}

struct Reader<'l, 't> {
    lines: &'l [Line<'t>],
    at: usize,
    wanted: &'l dyn Fn(&str) -> bool,
    /// The key path of the mapping being read.
    key_path: String,
}

impl Reader<'_, '_> {
    /// The mapping whose keys are at `indent`, from the current line on; built when `keep`.
    fn mapping(&mut self, indent: usize, keep: bool) -> Option<Node> {
        let mut entries = Vec::new();
        let mut keys = Vec::new();
        while let Some(line) = self.lines.get(self.at) {
            if line.indent < indent {
                break;
            }
            if line.indent > indent {
                return None;
            }
            self.at += 1;
            keys.push(line.key);
            let outer = self.key_path.len();
            if outer > 0 {
                self.key_path.push('.');
            }
            self.key_path.push_str(line.key);
            let keep_value = keep && (self.wanted)(&self.key_path);
            let below = self.lines.get(self.at).map(|next| next.indent);
            let nested = below.filter(|&below| below > indent);
            let value = match (&line.value, nested) {
                // A scalar with more-indented lines below it: a continuation, or an error.
                (
                    Value::Plain(_) | Value::Quoted(_) | Value::Unescaped(_) | Value::Block { .. },
                    Some(_),
                ) => {
                    return None;
                }
                (Value::Empty, Some(child)) => self.mapping(child, keep_value)?,
                (Value::Empty | Value::Plain("~" | "null" | "Null" | "NULL"), None) => Node::Null,
                (
                    Value::Plain(_) | Value::Quoted(_) | Value::Unescaped(_) | Value::Block { .. },
                    None,
                ) if !keep_value => Node::Null,
                (Value::Plain(text) | Value::Quoted(text), None) => {
                    Node::Scalar(Secret::copy_from(text.as_bytes()))
                }
                (Value::Unescaped(text) | Value::Block { text, .. }, None) => {
                    Node::Scalar(text.clone())
                }
            };
            self.key_path.truncate(outer);
            if keep_value {
                entries.push((line.key.to_owned(), value));
            }
        }
        keys.sort_unstable();
        if keys.windows(2).any(|pair| pair[0] == pair[1]) {
            return None;
        }
        Some(Node::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::parse;

    /// What the general parser reads.
    fn general(text: &str) -> crate::tree::Node {
        super::super::parse_general(text, Path::new("f"), &|_| true).unwrap()
    }

    #[test]
    fn the_simple_shape_reads_as_the_general_parser_reads_it() {
        let documents = [
            "",
            "# only a comment\n\n",
            "a: 1\nb: yes\nc: 1e3\nd: 0x1F\ne: ~\nf: null\ng:\nh: NULL\n",
            "secret_key_base: abc123\n\nlitestream:\n  replica_bucket: my-bucket\n  access_key_id: \"AKIA x\"\n  secret: 'it is # not a comment'\n",
            "a:\n    b:\n        c: deep # comment\n    d: 'x'   # comment\n  # an indented comment\ne: \"\"\nf: ''\n",
            "url: http://x.example/a?b=c&d=[e]{f},g\nhash: a#b\nspaces: a b  c   \ntrailing: x # y: z\n",
            "with-dash: 1\n_under: 2\n0012: 3\ntrue: 4\nno-newline-at-end: 5",
            "a: \"quote 'inside' #not comment\"\nb: 'double \"inside\"'\n",
            "a: \"es\\\"cape\\\\ \\n\\t\\r\\/\" # c\nb: 'it''s '' \\n'\nc: ''''\nd: \"\\\\\"\n",
            "pem: |\n  -----BEGIN KEY-----\n  abc\n    indented # kept\n\n  def  \n  -----END KEY-----\n\n\nnext: 1\n",
            "a:\n  json: |- # a comment\n    {\"k\": \"v\"}\n\n  b: |\n  c: |-\n\n  d: |\n\n\n    after blank lines\ne: |\n x\n",
        ];
        for text in documents {
            let simple = parse(text, &|_| true);
            assert_eq!(simple.as_ref(), Some(&general(text)), "{text:?}");
        }
    }

    #[test]
    fn anything_else_is_left_to_the_general_parser() {
        let documents = [
            "a:\tb\n",
            "a: b\r\n",
            "a: caf\u{e9}\n",
            "\u{feff}a: b\n",
            "  a: b\n",
            "---\na: b\n",
            "a: b\n...\n",
            "a: \"x\"# tight comment\n",
            "a: \"\\x41\"\n",
            "a: \"\\u00e9\"\n",
            "a: \"\\ \"\n",
            "a: \"unclosed \\\"\n",
            "a: 'it''s\n",
            "a: \"multi\n  line\"\n",
            "a: plain\n  continued\n",
            "a: - item\n",
            "a:\n- item\n",
            "a: [1, 2]\n",
            "a: {b: 1}\n",
            "a: &anchor x\nb: *anchor\n",
            "<<: {a: 1}\n",
            "a: !tag x\n",
            "a: >\n  folded\n",
            "a: |+\n  kept\n\n",
            "a: |2\n   indented\n",
            "a: |#tight\n  x\n",
            "a: |\n  \n  x\n",
            "a: |\n  x\n     \n  y\n",
            "a: |\n /\n ",
            "a: |\n    x\n  y: 1\n",
            "a: | x\n",
            "a: b: c\n",
            "a: b:\n",
            "a:b\n",
            "a : b\n",
            "\"a\": b\n",
            "just text\n",
            "a: 1\na: 2\n",
            "a:\n    b: 1\n  c: 2\n",
            "a: 1\n  b: 2\n",
            "%YAML 1.2\n---\na: b\n",
            "a: -1\n",
            "a: @x\n",
            "a: `x`\n",
        ];
        for text in documents {
            assert_eq!(parse(text, &|_| true), None, "{text:?}");
        }
    }

    #[test]
    fn only_wanted_entries_are_built() {
        let text = "big:\n  a: 1\n  b: 2\nlitestream:\n  bucket: b\n";
        let wanted = |path: &str| path == "litestream" || path.starts_with("litestream.");
        let node = parse(text, &wanted).unwrap();
        assert_eq!(
            node,
            super::super::parse_general(text, Path::new("f"), &wanted).unwrap()
        );
        assert!(node.get("big").is_none());
        assert!(node.get("litestream.bucket").is_some());
        // Duplicates are found in what is not built too.
        assert_eq!(parse("big:\n  a: 1\n  a: 2\n", &wanted), None);
    }
}
