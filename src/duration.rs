//! Durations as users and Litestream write them: Go's `time.ParseDuration` syntax, or a plain
//! number of seconds for lsenv's own options and settings.

use std::time::Duration;

/// A Go duration (`time.ParseDuration`, which Litestream uses): `100ms`, `1s`, `1m30s`, `1.5h`.
pub(crate) fn go_duration(text: &str) -> Option<Duration> {
    const UNITS: [(&str, f64); 8] = [
        ("ns", 1e-9),
        ("us", 1e-6),
        ("µs", 1e-6),
        ("μs", 1e-6),
        ("ms", 1e-3),
        ("s", 1.0),
        ("m", 60.0),
        ("h", 3600.0),
    ];
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text;
    let mut seconds = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&end| end > 0)?;
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let (unit, scale) = UNITS
            .iter()
            .filter(|(unit, _)| rest.starts_with(unit))
            .max_by_key(|(unit, _)| unit.len())?;
        seconds += number * scale;
        rest = &rest[unit.len()..];
    }
    (seconds.is_finite() && !text.is_empty()).then(|| Duration::from_secs_f64(seconds))
}

/// `--timeout`: a Go duration, or a number of seconds.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    text.parse::<u64>()
        .ok()
        .map(Duration::from_secs)
        .or_else(|| go_duration(text))
        .ok_or_else(|| "expected seconds or a duration such as 30s, 2m, 1m30s".to_owned())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{go_duration, parse};

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(go_duration("0"), Some(Duration::ZERO));
        assert_eq!(go_duration("10"), None);
        assert_eq!(go_duration("s"), None);
        assert_eq!(go_duration(""), None);
        assert_eq!(parse("30"), Ok(Duration::from_secs(30)));
        assert!(parse("soon").is_err());
    }
}
