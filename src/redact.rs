//! The redactor of `exec --redact`: finds every resolved secret value, and the other forms output
//! commonly carries it in, in a stream of bytes and replaces each by `[redacted NAME]`. Pure: no
//! I/O, no process, so that it is unit-tested and fuzzed (`fuzz/fuzz_targets/redact.rs`) on its own;
//! the supervisor pumps the command's output through a [`Filter`] per stream.

use std::fmt;

use aho_corasick::{AhoCorasick, MatchKind};
use zeroize::Zeroizing;

use crate::secret::Secret;

/// Values shorter than this are not redacted. Every YAML spelling of a boolean (`true`, `false`,
/// `yes`, `off`…), small numbers and words like `auto` fit below it: such a value is a setting
/// that happens to live in the credentials, and replacing it wherever it occurs in ordinary text
/// would garble the output, while masking would not protect a value that short anyway.
pub const MIN_REDACTED: usize = 6;

/// The other forms in which output commonly carries a value: with its line breaks as a pty
/// prints them (`\r\n`, the terminal's `onlcr`), URL-encoded (either case of hex digits),
/// JSON-escaped (with and without `\/`), and each of its lines on its own, trimmed (as
/// `--format github` masks them; lines shorter than [`MIN_REDACTED`] are left out). Not: base64, hex, other
/// cases, or a value broken up by terminal escape codes.
fn other_forms(value: &[u8]) -> Vec<Secret> {
    const HEX: [&[u8; 16]; 2] = [b"0123456789ABCDEF", b"0123456789abcdef"];
    let mut forms: Vec<Secret> = Vec::new();
    let mut add = |form: Zeroizing<Vec<u8>>| {
        if form.len() >= MIN_REDACTED
            && *form != value
            && !forms.iter().any(|known| known.expose() == form.as_slice())
        {
            forms.push(Secret::copy_from(&form));
        }
    };
    if value.contains(&b'\n') {
        let mut printed = Zeroizing::new(Vec::with_capacity(value.len() * 2));
        for &byte in value {
            if byte == b'\n' {
                printed.push(b'\r');
            }
            printed.push(byte);
        }
        add(printed);
        for line in value.split(|&byte| byte == b'\n') {
            // Trimmed: output indents lines its own way, and a pattern that began with a blank
            // would hold back the blank at the end of every prompt.
            add(Zeroizing::new(line.trim_ascii().to_vec()));
        }
    }
    for hex in HEX {
        let mut encoded = Zeroizing::new(Vec::with_capacity(value.len() * 3));
        for &byte in value {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                encoded.push(byte);
            } else {
                encoded.extend_from_slice(&[
                    b'%',
                    hex[usize::from(byte >> 4)],
                    hex[usize::from(byte & 15)],
                ]);
            }
        }
        add(encoded);
    }
    for slash in [false, true] {
        let mut escaped = Zeroizing::new(Vec::with_capacity(value.len() * 6));
        for &byte in value {
            match byte {
                b'"' => escaped.extend_from_slice(b"\\\""),
                b'\\' => escaped.extend_from_slice(b"\\\\"),
                b'/' if slash => escaped.extend_from_slice(b"\\/"),
                b'\n' => escaped.extend_from_slice(b"\\n"),
                b'\r' => escaped.extend_from_slice(b"\\r"),
                b'\t' => escaped.extend_from_slice(b"\\t"),
                0..0x20 => escaped.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[1][usize::from(byte >> 4)],
                    HEX[1][usize::from(byte & 15)],
                ]),
                _ => escaped.push(byte),
            }
        }
        add(escaped);
    }
    forms
}

/// Finds secret values in output and says what replaces each. Holds the values as [`Secret`]s;
/// the automaton's own tables are ordinary memory.
pub struct Redactor {
    matcher: AhoCorasick,
    /// The values searched for, by pattern index.
    patterns: Vec<Secret>,
    /// `[redacted NAME]`, by pattern index.
    replacements: Vec<Vec<u8>>,
    /// Which bytes begin some pattern: most output bytes cannot, and one lookup rules them out.
    starts: [bool; 256],
    longest: usize,
}

impl Redactor {
    /// One pattern per value, and one per other form of it ([`other_forms`]).
    pub fn new<'a>(
        secrets: impl IntoIterator<Item = (&'a str, &'a Secret)>,
    ) -> Result<Self, aho_corasick::BuildError> {
        let mut patterns = Vec::new();
        let mut replacements = Vec::new();
        for (name, value) in secrets {
            let replacement = format!("[redacted {name}]").into_bytes();
            for form in other_forms(value.expose()) {
                patterns.push(form);
                replacements.push(replacement.clone());
            }
            patterns.push(value.clone());
            replacements.push(replacement);
        }
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(patterns.iter().map(Secret::expose))?;
        let mut starts = [false; 256];
        for pattern in &patterns {
            starts[usize::from(pattern.expose()[0])] = true;
        }
        let longest = patterns.iter().map(Secret::len).max().unwrap_or(0);
        Ok(Self {
            matcher,
            patterns,
            replacements,
            starts,
            longest,
        })
    }

    /// Appends the redacted form of `text` to `out` as far as it is decided, and returns how far
    /// that is. When `more` input may follow, the tail that could still grow into a secret is
    /// left undecided: from the earliest position where the rest of `text` is a proper prefix of
    /// some value. A match that starts before that position is final — neither a longer match
    /// from the same start nor an earlier match can appear — so the result is the same as
    /// redacting the whole stream at once, leftmost match first, the longest one on overlaps.
    fn redact(&self, text: &[u8], more: bool, out: &mut Vec<u8>) -> usize {
        let undecided_from = |at: usize| {
            if !more {
                return text.len();
            }
            let from = at.max(text.len().saturating_sub(self.longest.saturating_sub(1)));
            (from..text.len())
                .find(|&start| {
                    let tail = &text[start..];
                    self.starts[usize::from(tail[0])]
                        && self.patterns.iter().any(|pattern| {
                            pattern.len() > tail.len() && pattern.expose().starts_with(tail)
                        })
                })
                .unwrap_or(text.len())
        };
        let mut at = 0;
        let mut undecided = undecided_from(0);
        for found in self.matcher.find_iter(text) {
            if found.start() >= undecided {
                break;
            }
            out.extend_from_slice(&text[at..found.start()]);
            out.extend_from_slice(&self.replacements[found.pattern().as_usize()]);
            at = found.end();
            // Unchanged while `at` has not passed it: nothing before it qualified.
            if at > undecided {
                undecided = undecided_from(at);
            }
        }
        out.extend_from_slice(&text[at..undecided]);
        undecided
    }
}

/// The filter state of one output stream: the bytes held back because they may begin a secret.
pub struct Filter<'a> {
    redactor: &'a Redactor,
    held: Zeroizing<Vec<u8>>,
}

impl<'a> Filter<'a> {
    pub fn new(redactor: &'a Redactor) -> Self {
        Self {
            redactor,
            held: Zeroizing::new(Vec::new()),
        }
    }

    /// Appends to `out` everything that `input` decides.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.held.extend_from_slice(input);
        let decided = self.redactor.redact(&self.held, true, out);
        self.held.drain(..decided);
    }

    /// The end of the stream: nothing can complete a secret any more, so the rest is decided.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.redactor.redact(&self.held, false, out);
        self.held.clear();
    }
}

// Neither prints a value nor the bytes held back (which may begin one).
impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("patterns", &self.patterns.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Filter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("held", &self.held.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::{Filter, Redactor};
    use crate::secret::Secret;

    fn redactor(secrets: &[(&str, &str)]) -> Redactor {
        let values: Vec<_> = secrets
            .iter()
            .map(|(name, value)| (*name, Secret::copy_from(value.as_bytes())))
            .collect();
        Redactor::new(values.iter().map(|(name, value)| (*name, value))).unwrap()
    }

    /// Feeds `text` in pieces that end at `cuts`, then finishes.
    fn streamed(redactor: &Redactor, text: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut filter = Filter::new(redactor);
        let mut out = Vec::new();
        let mut start = 0;
        for &cut in cuts.iter().chain([text.len()].iter()) {
            filter.feed(&text[start..cut], &mut out);
            start = cut;
        }
        filter.finish(&mut out);
        out
    }

    fn whole(redactor: &Redactor, text: &str) -> String {
        String::from_utf8(streamed(redactor, text.as_bytes(), &[])).unwrap()
    }

    #[test]
    fn replaces_every_occurrence_and_keeps_the_rest() {
        let r = redactor(&[("A", "abcdef"), ("B", "s3cr3t-value")]);
        assert_eq!(
            whole(&r, "x abcdef y abcdefabcdef\n\x1b[31ms3cr3t-value\x1b[0m"),
            "x [redacted A] y [redacted A][redacted A]\n\x1b[31m[redacted B]\x1b[0m"
        );
        assert_eq!(whole(&r, "abcde"), "abcde");
        assert_eq!(whole(&r, ""), "");
    }

    #[test]
    fn the_longest_overlapping_secret_wins() {
        let r = redactor(&[
            ("SHORT", "abcdef"),
            ("LONG", "abcdefgh"),
            ("MID", "cdefgh-x"),
        ]);
        assert_eq!(whole(&r, "abcdefgh"), "[redacted LONG]");
        assert_eq!(whole(&r, "abcdefg"), "[redacted SHORT]g");
        // Leftmost first: LONG starts before MID.
        assert_eq!(whole(&r, "abcdefgh-x"), "[redacted LONG]-x");
        assert_eq!(whole(&r, "zcdefgh-x"), "z[redacted MID]");
    }

    #[test]
    fn url_encoded_json_escaped_and_per_line_forms_are_redacted() {
        let pem = "-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34/x+\n-----END KEY-----";
        let r = redactor(&[("URL", "p@ss w/rd"), ("PEM", pem)]);
        assert_eq!(whole(&r, "u=p%40ss%20w%2Frd"), "u=[redacted URL]");
        assert_eq!(whole(&r, "u=p%40ss%20w%2frd"), "u=[redacted URL]");
        assert_eq!(
            whole(
                &r,
                r#"{"k":"-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34\/x+\n-----END KEY-----"}"#
            ),
            r#"{"k":"[redacted PEM]"}"#
        );
        assert_eq!(
            whole(&r, "::add-mask::MIIBOgIBAAJBAKj34/x+\n"),
            "::add-mask::[redacted PEM]\n"
        );
        // What is not masked: other encodings.
        assert_eq!(whole(&r, "cEBzcyB3L3Jk"), "cEBzcyB3L3Jk");
    }

    #[test]
    fn line_breaks_match_as_a_terminal_prints_them() {
        let r = redactor(&[("JSON", "{\n  \"k\": 1\n}")]);
        assert_eq!(whole(&r, "<{\n  \"k\": 1\n}>"), "<[redacted JSON]>");
        assert_eq!(whole(&r, "<{\r\n  \"k\": 1\r\n}>"), "<[redacted JSON]>");
    }

    #[test]
    fn holds_back_only_what_may_begin_a_secret() {
        let r = redactor(&[("A", "abcdef")]);
        let mut filter = Filter::new(&r);
        let mut out = Vec::new();
        filter.feed(b"prompt> ab", &mut out);
        assert_eq!(out, b"prompt> ");
        filter.feed(b"cx", &mut out);
        assert_eq!(out, b"prompt> abcx");
        filter.feed(b"abcab", &mut out);
        assert_eq!(out, b"prompt> abcxabc");
        filter.feed(b"cdef!", &mut out);
        assert_eq!(out, b"prompt> abcxabc[redacted A]!");
        filter.feed(b"abcde", &mut out);
        filter.finish(&mut out);
        assert_eq!(out, b"prompt> abcxabc[redacted A]!abcde");
    }

    /// Any split of the stream gives what redacting it whole gives.
    #[test]
    fn streaming_equals_redacting_at_once() {
        let r = redactor(&[
            ("A", "abab-ab"),
            ("B", "ab-aba"),
            ("C", "bab-abab"),
            ("D", "aaaaaa"),
        ]);
        // A small linear congruential generator: deterministic, no dependency.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |bound: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            usize::try_from(state >> 33).unwrap() % bound
        };
        for _ in 0..2000 {
            let text: Vec<u8> = (0..next(40)).map(|_| b"ab-"[next(3)]).collect();
            let expected = streamed(&r, &text, &[]);
            let mut cuts: Vec<usize> = (0..next(6)).map(|_| next(text.len() + 1)).collect();
            cuts.sort_unstable();
            assert_eq!(
                String::from_utf8(streamed(&r, &text, &cuts)).unwrap(),
                String::from_utf8(expected).unwrap(),
                "{:?} cut at {cuts:?}",
                String::from_utf8_lossy(&text)
            );
            let bytewise: Vec<usize> = (1..text.len()).collect();
            assert_eq!(streamed(&r, &text, &bytewise), streamed(&r, &text, &[]));
        }
    }

    #[test]
    fn without_secrets_everything_passes_at_once() {
        let r = redactor(&[]);
        let mut filter = Filter::new(&r);
        let mut out = Vec::new();
        filter.feed(b"anything", &mut out);
        assert_eq!(out, b"anything");
    }
}
