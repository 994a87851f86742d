//! How Ruby's Psych (YAML 1.1, what Rails reads credentials with) reads what lsenv keeps as
//! written text: plain scalars that Ruby turns into numbers, booleans, symbols or dates, symbol
//! keys that Rails' `deep_symbolize_keys` makes the same as the word, and `!!binary`.

use base64::Engine as _;

use super::syntax::BOOLEAN_WORDS;

/// What Ruby makes of a plain scalar, when its text as Ruby prints it is not `text`: `None`
/// when both read the same string.
pub(crate) fn reading(text: &str) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    if BOOLEAN_WORDS.contains(&lower.as_str()) {
        return (text != "true" && text != "false").then_some("a boolean");
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let digits = |s: &str, radix: u32| {
        !s.is_empty() && s.chars().all(|c| c.is_digit(radix) || c == '_' || c == ',')
    };
    let integer = unsigned.strip_prefix("0b").is_some_and(|s| digits(s, 2))
        || unsigned.strip_prefix("0x").is_some_and(|s| digits(s, 16))
        || (unsigned.starts_with('0') && unsigned.len() > 1 && digits(&unsigned[1..], 8))
        || (digits(unsigned, 10) && unsigned.starts_with(|c: char| c.is_ascii_digit()));
    if integer {
        let canonical = text.strip_prefix('-').unwrap_or(text);
        let plain_decimal = canonical == "0"
            || (canonical.bytes().all(|b| b.is_ascii_digit()) && !canonical.starts_with('0'));
        return (!plain_decimal || text.starts_with('+')).then_some("an integer");
    }
    let sexagesimal = unsigned.split(':').count() > 1
        && unsigned
            .split(':')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit() || b == b'_'));
    if sexagesimal {
        return Some("a base-60 number");
    }
    let float = unsigned.contains('.')
        && unsigned.split(['e', 'E']).next().is_some_and(|mantissa| {
            mantissa
                .replace(['.', '_', ','], "")
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        && !unsigned.starts_with('.');
    if float || [".inf", ".nan"].contains(&lower.trim_start_matches(['-', '+'])) {
        return (!is_float_text(text)).then_some("a float");
    }
    if symbol(text).is_some() {
        return Some("a symbol (without the colon)");
    }
    let date = text.len() >= 10
        && text.as_bytes()[4] == b'-'
        && text[..4].bytes().all(|b| b.is_ascii_digit());
    date.then_some("a date or time")
}

/// Whether `text` is already how Ruby prints the float it reads (`1.5`, `100.0`).
fn is_float_text(text: &str) -> bool {
    text.parse::<f64>().is_ok_and(|value| {
        let printed = value.to_string();
        let printed = if printed.contains('.') {
            printed
        } else {
            format!("{printed}.0")
        };
        printed == text && value.abs() < 1e16
    })
}

/// The name of the symbol a plain scalar is to Psych (`:name`, `:"name"`, `:'name'`), else
/// `None`. As a key, Rails' `deep_symbolize_keys` makes `:name` and `name` the same key.
pub(crate) fn symbol(text: &str) -> Option<&str> {
    let name = text.strip_prefix(':').filter(|name| !name.is_empty())?;
    // Psych: /^:(["'])(.*)\1/, the longest quoted part, then one more colon off.
    let quoted = name
        .chars()
        .next()
        .filter(|q| matches!(q, '"' | '\''))
        .and_then(|q| name[1..].rfind(q).map(|end| &name[1..=end]));
    Some(match quoted {
        Some(inner) => inner.strip_prefix(':').unwrap_or(inner),
        None => name,
    })
}

/// The bytes of a `!!binary` scalar (base64, line breaks and spaces ignored, as Ruby's
/// `unpack("m")` does); `None` when it is not base64.
pub(crate) fn binary(text: &str) -> Option<Vec<u8>> {
    let mut compact = zeroize::Zeroizing::new(text.as_bytes().to_vec());
    compact.retain(|b| !b.is_ascii_whitespace());
    base64::engine::general_purpose::STANDARD
        .decode(&*compact)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::{binary, reading, symbol};

    #[test]
    fn readings() {
        for (text, ruby) in [
            ("yes", Some("a boolean")),
            ("Off", Some("a boolean")),
            ("true", None),
            ("0012345", Some("an integer")),
            ("1_000", Some("an integer")),
            ("+5", Some("an integer")),
            ("0x1F", Some("an integer")),
            ("12", None),
            ("0", None),
            ("12:30:00", Some("a base-60 number")),
            ("1.50", Some("a float")),
            ("1.5", None),
            ("1e3", None),
            (":sym", Some("a symbol (without the colon)")),
            ("2024-01-02", Some("a date or time")),
            ("AKIAIOSFODNN7EXAMPLE", None),
            ("my-bucket", None),
            ("us-east-1", None),
        ] {
            assert_eq!(reading(text), ruby, "{text}");
        }
    }

    #[test]
    fn symbols_and_binary() {
        for (text, name) in [
            (":litestream", Some("litestream")),
            (":\"quoted\"", Some("quoted")),
            (":'a:b'", Some("a:b")),
            (":", None),
            ("plain", None),
        ] {
            assert_eq!(symbol(text), name, "{text}");
        }
        assert_eq!(binary("aGk=").as_deref(), Some(&b"hi"[..]));
        assert_eq!(binary("aG\n  k=\n").as_deref(), Some(&b"hi"[..]));
        assert_eq!(binary("not base64!"), None);
    }
}
