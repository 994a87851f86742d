//! The decrypt audit log (`lsenv audit` reads it).
//!
//! Every successful decryption of a credentials file appends one JSON line to a log in the user's
//! state directory: when, who, on which host, which command, which project and file (with the
//! SHA-256 of the encrypted bytes), where the key came from (never the key) and the names of the
//! variables delivered (never a value). Its place and whether it is on are read only from the
//! user's own `config.toml` (`$XDG_CONFIG_HOME/lsenv/config.toml`, else
//! `~/.config/lsenv/config.toml`), so a cloned repository can neither switch it off nor redirect
//! it. The log is bounded: past `max_bytes` it becomes `audit.jsonl.1` (replacing the previous
//! one) and a new one starts. Writing it never makes a command fail: a problem is a warning.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::env::Env;
use crate::error::{Error, Result};

/// The log's size before it is rotated, unless the user's config says otherwise.
const DEFAULT_MAX_BYTES: u64 = 1 << 20;
const USER_CONFIG_BYTES: u64 = 64 * 1024;

/// A decryption of this run, not logged yet.
struct Decryption {
    file: PathBuf,
    sha256: String,
    key_source: String,
}

/// Filled by the store as files decrypt, emptied by [`record`]. A process decrypts a handful of
/// files at most, one run at a time.
static PENDING: Mutex<Vec<Decryption>> = Mutex::new(Vec::new());

/// The user's settings as [`prepare`] read them before anything decrypted: `None` without a
/// user directory; with them, the problem of a config that could not be used, said only if
/// something decrypts.
type Prepared = Option<(Settings, Option<String>)>;

/// Set by [`prepare`], taken by [`record`]: the store takes a file's digest (0.8 ms for a 1 MB
/// file) only when a log will be written. Not prepared (a test, a fuzz target): every
/// decryption is noted and [`record`] reads the settings itself.
static PREPARED: Mutex<Option<Prepared>> = Mutex::new(None);

/// Reads the user's audit settings for the decryptions that follow, without a word.
pub(crate) fn prepare(env: &Env) {
    if let Ok(mut prepared) = PREPARED.lock() {
        *prepared = Some(Settings::read(env));
    }
}

/// The hex SHA-256 of a file's encrypted bytes, as the log names them; `None` when this run
/// writes no log.
pub(crate) fn sha256(encrypted: &[u8]) -> Option<String> {
    use sha2::Digest as _;
    let logging = PREPARED.lock().map_or(true, |prepared| {
        prepared.as_ref().is_none_or(|settings| {
            settings
                .as_ref()
                .is_some_and(|(settings, _)| settings.enabled)
        })
    });
    logging.then(|| format!("{:x}", sha2::Sha256::digest(encrypted)))
}

/// Called by the store after `file` (whose encrypted bytes have the digest `sha256`, from
/// [`sha256`]) decrypted with the key from `key_source` (a path or a variable's name, never key
/// material).
pub(crate) fn decrypted(file: &Path, sha256: String, key_source: String) {
    let file = fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    if let Ok(mut pending) = PENDING.lock() {
        pending.push(Decryption {
            file,
            sha256,
            key_source,
        });
    }
}

/// Appends a line for each decryption of this run not logged yet, with the names of the
/// variables it delivered. Never fails: a log that cannot be written is a warning.
pub(crate) fn record<'a>(
    env: &Env,
    command: &str,
    project: &Path,
    variables: impl Iterator<Item = &'a str>,
) {
    let pending = match PENDING.lock() {
        Ok(mut pending) => std::mem::take(&mut *pending),
        Err(_) => return,
    };
    if pending.is_empty() {
        return;
    }
    let prepared = PREPARED
        .lock()
        .ok()
        .and_then(|mut prepared| prepared.take());
    let Some((settings, problem)) = prepared.unwrap_or_else(|| Settings::read(env)) else {
        return;
    };
    if let Some(problem) = problem {
        settings.warn(&problem);
    }
    if !settings.enabled {
        return;
    }
    let variables: Vec<&str> = variables.collect();
    let project = fs::canonicalize(if project.as_os_str().is_empty() {
        Path::new(".")
    } else {
        project
    })
    .unwrap_or_else(|_| project.to_path_buf());
    let time = utc(SystemTime::now());
    let (user, host) = (user(env), host());
    let project = project.to_string_lossy();
    let mut lines = Vec::new();
    for decryption in &pending {
        let line = Line {
            time: &time,
            user: &user,
            host: &host,
            command,
            project: &project,
            file: &decryption.file.to_string_lossy(),
            sha256: &decryption.sha256,
            key_source: &decryption.key_source,
            variables: &variables,
        };
        // Written straight into the buffer: a `json!` value would copy every name first.
        if serde_json::to_writer(&mut lines, &line).is_ok() {
            lines.push(b'\n');
        }
    }
    if let Err(err) = append(&settings.file, &lines, settings.max_bytes) {
        crate::terminal::say(&format!(
            "warning: cannot write the audit log {}: {err}",
            settings.file.display()
        ));
    }
}

/// One line of the log, as `lsenv audit` reads it back.
#[derive(Serialize)]
struct Line<'a> {
    time: &'a str,
    user: &'a str,
    host: &'a str,
    command: &'a str,
    project: &'a str,
    file: &'a str,
    sha256: &'a str,
    key_source: &'a str,
    variables: &'a [&'a str],
}

/// What the user's own config says about the log.
pub(crate) struct Settings {
    pub(crate) enabled: bool,
    pub(crate) file: PathBuf,
    max_bytes: u64,
    /// The config file it was read from, for messages.
    pub(crate) config: PathBuf,
}

impl Settings {
    /// `None` when there is no user directory at all (neither `XDG_STATE_HOME` nor `HOME`): no
    /// place for a log. A user config that cannot be read or understood is a warning, and the log
    /// stays on where it is by default.
    pub(crate) fn load(env: &Env) -> Option<Self> {
        let (settings, problem) = Self::read(env)?;
        if let Some(problem) = problem {
            settings.warn(&problem);
        }
        Some(settings)
    }

    /// Says that the user's config could not be used (`problem`) and these defaults are.
    fn warn(&self, problem: &str) {
        crate::terminal::say(&format!(
            "warning: {}: {problem}; the audit log stays on, at {}",
            self.config.display(),
            self.file.display()
        ));
    }

    /// [`Self::load`], with the problem of a user config that cannot be read or understood
    /// returned, not said.
    fn read(env: &Env) -> Option<(Self, Option<String>)> {
        let var = |name| env.get_non_empty(name).map(|v| os_path(v.expose()));
        let home = var("HOME");
        let config = var("XDG_CONFIG_HOME")
            .or_else(|| home.as_ref().map(|home| home.join(".config")))?
            .join("lsenv/config.toml");
        let file = var("XDG_STATE_HOME")
            .or_else(|| home.as_ref().map(|home| home.join(".local/state")))?
            .join("lsenv/audit.jsonl");
        let defaults = Self {
            enabled: true,
            file,
            max_bytes: DEFAULT_MAX_BYTES,
            config,
        };
        Some(match defaults.read_user_config(home.as_deref()) {
            Ok(settings) => (settings, None),
            Err(problem) => (defaults, Some(problem)),
        })
    }

    /// These settings with the `[audit]` table of the user's config applied.
    fn read_user_config(&self, home: Option<&Path>) -> Result<Self, String> {
        let mut settings = Self {
            enabled: self.enabled,
            file: self.file.clone(),
            max_bytes: self.max_bytes,
            config: self.config.clone(),
        };
        let text = match crate::os::read_capped(&self.config, USER_CONFIG_BYTES) {
            Ok(text) => text,
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Ok(settings);
            }
            Err(err) => return Err(err.to_string()),
        };
        let table: toml::Table = std::str::from_utf8(&text)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or("not valid TOML")?;
        let Some(audit) = table.get("audit") else {
            return Ok(settings);
        };
        let audit = audit.as_table().ok_or("`audit` is not a table")?;
        for (key, value) in audit {
            match (key.as_str(), value) {
                ("enabled", toml::Value::Boolean(on)) => settings.enabled = *on,
                ("file", toml::Value::String(path)) if Path::new(path).is_absolute() => {
                    settings.file = PathBuf::from(path);
                }
                ("file", toml::Value::String(path)) if path.starts_with("~/") && home.is_some() => {
                    settings.file = home.unwrap_or(Path::new("/")).join(&path[2..]);
                }
                ("max_bytes", toml::Value::Integer(n)) if *n >= 1024 => {
                    settings.max_bytes = n.unsigned_abs();
                }
                _ => {
                    return Err(format!(
                        "`audit.{key}`: expected enabled = true|false, file = \"/absolute/path\" or \"~/path\", max_bytes = 1024 or more"
                    ));
                }
            }
        }
        Ok(settings)
    }
}

/// Appends `lines` with one write, under an `flock`, rotating first when they would take the
/// log past `max_bytes`. The directory is made 0700 and the log 0600; a symlink is refused.
fn append(path: &Path, lines: &[u8], max_bytes: u64) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    // Another run may rotate between our open and our lock: then write to the new file.
    for _ in 0..3 {
        let file = open_log(path)?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)?;
        let meta = file.metadata()?;
        let current = fs::symlink_metadata(path)?;
        if (current.dev(), current.ino()) != (meta.dev(), meta.ino()) {
            continue;
        }
        if meta.len() > 0 && meta.len() + lines.len() as u64 > max_bytes {
            fs::rename(path, rotated(path))?;
            continue;
        }
        return (&file).write_all(lines);
    }
    Err(io::Error::other("the log kept being rotated by other runs"))
}

fn open_log(path: &Path) -> io::Result<fs::File> {
    use rustix::fs::{Mode, OFlags};
    let flags =
        OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let file = fs::File::from(rustix::fs::open(path, flags, Mode::from_raw_mode(0o600))?);
    if !file.metadata()?.file_type().is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(file)
}

pub(crate) fn rotated(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

fn user(env: &Env) -> String {
    ["USER", "LOGNAME"]
        .into_iter()
        .find_map(|name| env.get_non_empty(name))
        .map_or_else(
            || format!("uid {}", rustix::process::getuid().as_raw()),
            |name| String::from_utf8_lossy(name.expose()).into_owned(),
        )
}

fn host() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map_or_else(|_| "unknown".into(), |name| name.trim().to_owned())
}

fn os_path(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(bytes))
}

/// `2026-12-06T20:51:07Z`.
fn utc(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let (year, month, day) = civil_from_days(days);
    let rest = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// Seconds since the epoch of `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn parse_time(text: &str) -> Option<i64> {
    let (date, clock) = text
        .split_once('T')
        .map_or((text, None), |(date, clock)| (date, Some(clock)));
    let mut parts = date.splitn(3, '-').map(str::parse::<i64>);
    let (year, month, day) = (
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next()?.ok()?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut secs = days_from_civil(year, month, day) * 86_400;
    if let Some(clock) = clock {
        let mut parts = clock
            .strip_suffix('Z')?
            .splitn(3, ':')
            .map(str::parse::<i64>);
        let (h, m, s) = (
            parts.next()?.ok()?,
            parts.next()?.ok()?,
            parts.next()?.ok()?,
        );
        if h > 23 || m > 59 || s > 60 {
            return None;
        }
        secs += h * 3600 + m * 60 + s;
    }
    Some(secs)
}

/// Howard Hinnant's `civil_from_days`: the proleptic Gregorian date of a day since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::{PREPARED, days_from_civil, parse_time, prepare, sha256, utc};
    use crate::env::Env;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn a_digest_is_taken_only_when_a_log_will_be_written() {
        let home = tempfile::tempdir().unwrap();
        let with_home: Env = [("HOME", home.path().as_os_str())].into_iter().collect();
        assert!(
            sha256(b"x").is_some(),
            "not prepared: every decryption is noted"
        );
        prepare(&with_home);
        assert_eq!(
            sha256(b"x").as_deref(),
            Some("2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881")
        );
        prepare(&Env::from_iter::<[(&str, &str); 0]>([]));
        assert_eq!(sha256(b"x"), None, "no user directory: no log");
        std::fs::create_dir_all(home.path().join(".config/lsenv")).unwrap();
        std::fs::write(
            home.path().join(".config/lsenv/config.toml"),
            "[audit]\nenabled = false\n",
        )
        .unwrap();
        prepare(&with_home);
        assert_eq!(sha256(b"x"), None, "turned off: no log");
        *PREPARED.lock().unwrap() = None;
    }

    #[test]
    fn times_round_trip() {
        for secs in [0, 951_782_400, 1_796_500_000, 4_102_444_799] {
            let text = utc(UNIX_EPOCH + Duration::from_secs(secs));
            assert_eq!(
                parse_time(&text),
                Some(i64::try_from(secs).unwrap()),
                "{text}"
            );
        }
        assert_eq!(
            utc(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(parse_time("2026-13-01"), None);
    }
}
