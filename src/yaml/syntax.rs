//! YAML's own characters and words, in one place for everything that reads or writes YAML: the
//! credentials reader, the values `check` tests against the Litestream config, and the YAML
//! `init` writes.

/// The characters a plain scalar may not start with (YAML's indicators, the quotes included).
pub const INDICATORS: &[u8] = b"-?:,[]{}#&*!|>'\"%@`";

/// The plain words Ruby's Psych (YAML 1.1) reads as booleans, compared without case.
pub const BOOLEAN_WORDS: [&str; 6] = ["true", "false", "yes", "no", "on", "off"];

/// Whether some YAML reader takes the plain word `text` for null or a boolean rather than text:
/// Psych's booleans and nulls, and YAML 1.1's `y` and `n` (Go's yaml.v2 reads them too).
pub fn is_reserved_word(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    BOOLEAN_WORDS.contains(&lower.as_str()) || lower == "y" || lower == "n" || is_null_word(text)
}

/// Whether `text`, written plain, is null to Ruby's Psych (Rails): nothing, `~`, or `null` in
/// any case (the YAML core schema takes only `null`, `Null` and `NULL`; Psych is laxer).
pub fn is_null_word(text: &str) -> bool {
    text.is_empty() || text == "~" || text.eq_ignore_ascii_case("null")
}

/// The byte offset of the first character libyaml (so Ruby) refuses or reads as a line break
/// where YAML 1.2 sees text: C0 controls other than tab, line feed and carriage return, DEL, the
/// C1 controls, U+2028, U+2029 and the non-characters U+FFFE and U+FFFF. NEL (U+0085) is a line
/// break to libyaml, text to the parser lsenv uses, so lsenv refuses it rather than read it
/// differently.
pub fn refused_character(text: &str) -> Option<usize> {
    // Checked a block at a time without stopping early (vector instructions); the exact place
    // is looked for only when a block holds a suspect byte.
    let suspect = |b: u8| {
        (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) | matches!(b, 0x7F | 0xC2 | 0xE2 | 0xEF)
    };
    let clean = |block: &[u8]| !block.iter().fold(false, |any, &b| any | suspect(b));
    if text.as_bytes().chunks(64).all(clean) {
        return None;
    }
    text.char_indices()
        .find(|&(_, c)| {
            (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FFFE}' | '\u{FFFF}')
        })
        .map(|(at, _)| at)
}

#[cfg(test)]
mod tests {
    use super::{is_null_word, is_reserved_word, refused_character};

    #[test]
    fn characters_ruby_refuses() {
        for (text, at) in [
            ("a: x\u{7}y\n", Some(4)),
            ("a: x\u{7f}y\n", Some(4)),
            ("a: x\u{85}y\n", Some(4)),
            ("# \u{2028}\n", Some(2)),
            ("a: \"x\ty\"\r\n", None),
            ("a: bück-😀-桶 \u{a0}\u{e9}\n", None),
        ] {
            assert_eq!(refused_character(text), at, "{text:?}");
        }
    }

    #[test]
    fn null_words() {
        for (text, null) in [
            ("", true),
            ("~", true),
            ("nULl", true),
            ("nil", false),
            ("None", false),
        ] {
            assert_eq!(is_null_word(text), null, "{text}");
        }
        for (text, reserved) in [
            ("Y", true),
            ("Off", true),
            ("NULL", true),
            ("yes-no", false),
        ] {
            assert_eq!(is_reserved_word(text), reserved, "{text}");
        }
    }
}
