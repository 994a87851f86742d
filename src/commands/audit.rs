//! `lsenv audit [--since WHEN] [--json]`: reads the decrypt audit log ([`crate::audit`]).

use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::audit::{Settings, parse_time, rotated};
use crate::env::Env;
use crate::error::{Error, Result, UsageProblem};
use crate::terminal::printable;

/// The most of a log that `lsenv audit` reads (a `max_bytes` set larger is read up to this).
const MAX_READ_BYTES: u64 = 64 << 20;

/// `lsenv audit [--since WHEN] [--json]`: the log's lines, oldest first.
pub(crate) fn run(env: &Env, since: Option<&str>, json: bool) -> Result<()> {
    let since = since.map(parse_since).transpose()?;
    let Some(settings) = Settings::load(env) else {
        return Err(Error::usage(UsageProblem::NoAuditLog));
    };
    if !settings.enabled {
        crate::terminal::say(&format!(
            "the audit log is off (audit.enabled = false in {})",
            settings.config.display()
        ));
    }
    let mut out = String::new();
    let mut bad = 0;
    for path in [rotated(&settings.file), settings.file.clone()] {
        let text = match crate::os::read_capped(&path, MAX_READ_BYTES) {
            Ok(text) => text,
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        };
        for line in text.split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
            let Ok(entry) = serde_json::from_slice::<Value>(line) else {
                bad += 1;
                continue;
            };
            let time = entry["time"].as_str().and_then(parse_time);
            if since.is_some_and(|since| time.is_none_or(|time| time < since)) {
                continue;
            }
            if json {
                out.push_str(&entry.to_string());
                out.push('\n');
            } else {
                out.push_str(&describe(&entry));
            }
        }
    }
    if bad > 0 {
        crate::terminal::say(&format!(
            "warning: {bad} line(s) of {} are not JSON",
            settings.file.display()
        ));
    }
    if out.is_empty() {
        crate::terminal::say(&format!("no entries in {}", settings.file.display()));
    }
    crate::terminal::print(out.as_bytes())
}

/// One entry as a line of text; every field escaped, as the log could have been edited.
fn describe(entry: &Value) -> String {
    let field = |name: &str| printable(entry[name].as_str().unwrap_or("?").as_bytes());
    let variables: Vec<String> = entry["variables"]
        .as_array()
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(|name| printable(name.as_bytes()))
                .collect()
        })
        .unwrap_or_default();
    format!(
        "{} {}@{} {}: {} (sha256 {}, key from {}){}\n",
        field("time"),
        field("user"),
        field("host"),
        field("command"),
        field("file"),
        &field("sha256").chars().take(12).collect::<String>(),
        field("key_source"),
        if variables.is_empty() {
            String::new()
        } else {
            format!(" -> {}", variables.join(" "))
        }
    )
}

/// `--since`: a date, a UTC time, or an age such as `30m`, `12h`, `7d`.
fn parse_since(text: &str) -> Result<i64> {
    let relative = text
        .strip_suffix(['s', 'm', 'h', 'd'])
        .and_then(|n| n.parse::<i64>().ok())
        .map(|n| {
            let unit = match text.as_bytes()[text.len() - 1] {
                b's' => 1,
                b'm' => 60,
                b'h' => 3600,
                _ => 86_400,
            };
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            now - n * unit
        });
    relative.or_else(|| parse_time(text)).ok_or_else(|| {
        Error::usage(UsageProblem::BadSince {
            given: text.to_owned(),
        })
    })
}
