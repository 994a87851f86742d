//! `lsenv env`: the resolved variables in the syntax of their consumer, sorted by name. Without
//! `--reveal` each value is replaced by its fingerprint (`40 bytes, hmac 1a2b3c4d`) where the
//! value goes, so the output stays valid; `github` and `gitlab` write the real values to their
//! files, which is their purpose, and print none.
//!
//! Every format writes a value exactly as its consumer reads it back, or refuses it, naming the
//! variable and the file and key it came from (exit 3). What is written is checked, not what is
//! shown: a fingerprint fits every format, so a redacted listing never fails. No format takes a
//! NUL byte: no environment variable can hold one.
//!
//! * `shell`: `export NAME='…'`, POSIX single quotes with `'\''` for a quote; any other byte,
//!   line breaks included, stands for itself. Read back exactly by `sh`, `dash` and `bash`.
//! * `dotenv`: no quoting is read alike by python-dotenv, Ruby's dotenv and node's dotenv, so this
//!   is the part they agree on, each checked against its parser (python-dotenv 1.x, Ruby's dotenv
//!   2.x as Debian ships it and 3.x, node's dotenv 16 and later):
//!   - one line only: Ruby's dotenv 2.x reads one line at a time and decodes `\n` in double
//!     quotes, 3.x reads line breaks inside quotes and leaves `\n` alone, and both, like node's,
//!     turn a carriage return into a line feed. Values with line breaks are refused.
//!   - `NAME='…'` when the value has no `'`, no `\\` and no trailing `\`: all three read single
//!     quotes literally, but for python-dotenv decoding `\\` and `\'`.
//!   - otherwise `NAME="…"` when the value has no `"`, no `\` (node keeps `\"` and `\\` as they
//!     are) and no `$` before a name, `{` or `(` (Ruby's dotenv substitutes variables and runs
//!     commands in double quotes, and python-dotenv has no escape for `$`).
//!   - refused otherwise, and whenever the value holds `${…}`: python-dotenv expands that even in
//!     single quotes. Values must be UTF-8 (dotenv files are text).
//! * `json`: one object of strings (`serde_json`); a value that is not UTF-8 is refused rather
//!   than escaped in some private way that no consumer would undo.
//! * `systemd`: `NAME="…"` as `EnvironmentFile=` reads it (systemd's `env-file.c`): inside double
//!   quotes `\` escapes `"`, `\`, `` ` `` and `$`, and line breaks stand for themselves. `sh` reads
//!   the same file to the same values. systemd ignores values that are not UTF-8: refused.
//! * `docker`: `NAME=value`, taken verbatim by `docker run --env-file` (the CLI's
//!   `parseKeyValueFile`), which cannot carry a line feed, drops a carriage return that ends a
//!   line, refuses invalid UTF-8 and lines of 64 KiB or more: such values are refused.
//!   `docker compose`'s `env_file` is a dotenv dialect: use `dotenv` there.
//! * `github`: `::add-mask::` on stdout for every secret and for every line of a multi-line
//!   secret (the runner masks log lines one by one), then each variable appended to the file
//!   named by `$GITHUB_ENV` as a `NAME<<DELIMITER` block with a random delimiter that does not
//!   occur in the value, the only form the runner reads back for any value.
//! * `gitlab`: an `artifacts:reports:dotenv` file (`-o FILE`): `NAME=value` lines, which GitLab
//!   splits at the first `=` and strips of surrounding whitespace, with no quotes and no line
//!   breaks. Values it would change are refused; secrets that GitLab could not mask, and values
//!   with a `$` that GitLab would expand, get a warning that names the variable.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal as _, Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore as _;
use zeroize::Zeroizing;

use crate::env::Env;
use crate::error::{ConfigProblem, Error, Hint, Location, Result, UsageProblem, ValueProblem};
use crate::os;
use crate::resolve::{Resolution, Variable};

/// `docker run --env-file` reads lines with Go's `bufio.Scanner`, whose token limit is 64 KiB.
const DOCKER_MAX_LINE: usize = 64 * 1024 - 1;

/// Where to turn when a format cannot hold a value.
/// How one variable becomes one entry of a line-based format, or why it cannot.
type Entry = fn(&mut Vec<u8>, &str, &[u8]) -> Result<(), ValueProblem>;

/// The output formats of `lsenv env`. The doc comments are the `--help` text.
#[allow(clippy::doc_markdown)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// NAME='value' lines, as dotenv libraries read them
    Dotenv,
    /// export NAME='value' lines for a POSIX shell
    Shell,
    /// one JSON object
    Json,
    /// systemd EnvironmentFile= syntax
    Systemd,
    /// docker --env-file syntax (no newlines possible)
    Docker,
    /// GitHub Actions: masks, then the values appended to $GITHUB_ENV
    Github,
    /// GitLab CI: a dotenv report file
    Gitlab,
}

pub fn run(
    resolution: &Resolution,
    env: &Env,
    format: Format,
    reveal: bool,
    output: Option<&Path>,
) -> Result<()> {
    // `-o -` is stdout, as `-o /dev/stdout` used to seem to be.
    let output = output.filter(|path| *path != Path::new("-"));
    let fingerprints = !reveal && !matches!(format, Format::Github | Format::Gitlab);
    if fingerprints {
        if let Some(path) = output {
            return Err(Error::usage(UsageProblem::OutputWithoutReveal {
                path: path.to_owned(),
            }));
        }
        if !io::stdout().is_terminal() {
            crate::terminal::say(
                "the values are fingerprints (length and a short hash); --reveal prints the values",
            );
        }
    }
    // A file secret's value is a file for the command lsenv runs; no format can carry that.
    if (reveal || matches!(format, Format::Github | Format::Gitlab))
        && let Some((name, variable)) = resolution.iter().find(|(_, variable)| variable.file)
    {
        return Err(variable
            .refusal(name, ValueProblem::FileSecret)
            .with_hint(Hint::FileSecret));
    }
    let entry: Entry = match format {
        Format::Dotenv => dotenv,
        Format::Shell => |out, name, value| {
            shell(out, name, value);
            Ok(())
        },
        Format::Systemd => systemd,
        Format::Docker => docker,
        Format::Json => return emit(&json(resolution, reveal)?, output),
        Format::Github | Format::Gitlab if reveal => {
            return Err(Error::usage(UsageProblem::RevealWithCiFormat));
        }
        Format::Github if output.is_some() => {
            return Err(Error::usage(UsageProblem::OutputWithGithub));
        }
        Format::Github => return github(resolution, env),
        Format::Gitlab => {
            let path = output.ok_or_else(|| Error::usage(UsageProblem::GitlabWithoutOutput))?;
            return gitlab(resolution, path);
        }
    };
    let mut out = buffer(resolution);
    for (name, variable) in resolution.iter() {
        let fingerprint;
        let value = if reveal {
            variable.env_value(name)?
        } else {
            fingerprint = variable.fingerprint();
            fingerprint.as_bytes()
        };
        entry(&mut out, name, value).map_err(|problem| {
            variable
                .refusal(name, problem)
                .with_hint(if format == Format::Docker {
                    Hint::Docker
                } else {
                    Hint::AnyValue
                })
        })?;
    }
    emit(&out, output)
}

/// A buffer for text that holds values, wiped on drop. Its capacity covers the worst case of
/// every format (JSON writes at most 6 bytes for a byte of a value; `github`'s masks, the whole
/// value and then each of its lines, `%`-escaped, less than 12), so it never reallocates and
/// leaves no unwiped copy behind.
fn buffer(resolution: &Resolution) -> Zeroizing<Vec<u8>> {
    let worst = resolution
        .iter()
        .map(|(name, variable)| name.len() + 12 * variable.value.len() + 160)
        .sum();
    Zeroizing::new(Vec::with_capacity(worst))
}

/// The value of a variable about to be written to a consumer that reads UTF-8 only.
fn checked_text<'a>(name: &str, variable: &'a Variable, consumer: &'static str) -> Result<&'a str> {
    utf8(variable.env_value(name)?, consumer)
        .map_err(|problem| variable.refusal(name, problem).with_hint(Hint::AnyValue))
}

/// The value as text, for consumers that read UTF-8 only.
fn utf8<'a>(value: &'a [u8], consumer: &'static str) -> Result<&'a str, ValueProblem> {
    std::str::from_utf8(value).map_err(|_| ValueProblem::NotUtf8 { consumer })
}

/// Writes to `-o FILE` (0600 when lsenv creates it, replaced atomically), else to stdout.
fn emit(bytes: &[u8], output: Option<&Path>) -> Result<()> {
    let Some(path) = output else {
        return crate::terminal::print(bytes);
    };
    // A new file is 0600 from the start, so the values are never readable by others; a device,
    // a FIFO or a link there is refused, never replaced by a file of secrets.
    os::replace(path, bytes, 0o600, os::Link::Refuse)
}

fn shell(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(b"export ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"='");
    for &byte in value {
        if byte == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(byte);
        }
    }
    out.extend_from_slice(b"'\n");
}

fn dotenv(out: &mut Vec<u8>, name: &str, value: &[u8]) -> Result<(), ValueProblem> {
    let text = utf8(value, "a dotenv file")?;
    if text.contains(['\n', '\r']) {
        return Err(ValueProblem::DotenvLineBreak);
    }
    if let Some(start) = text.find("${")
        && text[start..].contains('}')
    {
        return Err(ValueProblem::DotenvExpansion);
    }
    // Ruby's dotenv matches names with `[A-Z0-9_]` case-insensitively, which also takes the long
    // s (U+017F) and the Kelvin sign (U+212A) for letters.
    let substitution = text.match_indices('$').any(|(at, _)| {
        text[at + 1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || "_{(\u{17f}\u{212a}".contains(c))
    });
    let quote = if !text.contains('\'') && !text.contains("\\\\") && !text.ends_with('\\') {
        b'\''
    } else if !text.contains(['"', '\\']) && !substitution {
        b'"'
    } else {
        return Err(ValueProblem::DotenvQuoting);
    };
    for part in [
        name.as_bytes(),
        b"=",
        &[quote],
        text.as_bytes(),
        &[quote],
        b"\n",
    ] {
        out.extend_from_slice(part);
    }
    Ok(())
}

fn systemd(out: &mut Vec<u8>, name: &str, value: &[u8]) -> Result<(), ValueProblem> {
    let text = utf8(value, "systemd")?;
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    for &byte in text.as_bytes() {
        if b"\"\\`$".contains(&byte) {
            out.push(b'\\');
        }
        out.push(byte);
    }
    out.extend_from_slice(b"\"\n");
    Ok(())
}

fn docker(out: &mut Vec<u8>, name: &str, value: &[u8]) -> Result<(), ValueProblem> {
    let text = utf8(value, "docker --env-file")?;
    if text.contains('\n') {
        return Err(ValueProblem::DockerLineBreak);
    }
    if text.ends_with('\r') {
        return Err(ValueProblem::DockerCarriageReturn);
    }
    if name.len() + 1 + text.len() > DOCKER_MAX_LINE {
        return Err(ValueProblem::DockerTooLong);
    }
    out.extend_from_slice(name.as_bytes());
    out.push(b'=');
    out.extend_from_slice(text.as_bytes());
    out.push(b'\n');
    Ok(())
}

fn json(resolution: &Resolution, reveal: bool) -> Result<Zeroizing<Vec<u8>>> {
    let mut object = BTreeMap::new();
    for (name, variable) in resolution.iter() {
        let text = if reveal {
            Cow::Borrowed(checked_text(name, variable, "a JSON string")?)
        } else {
            Cow::Owned(variable.fingerprint())
        };
        object.insert(name, text);
    }
    let mut out = buffer(resolution);
    // Straight into the wiped buffer: no intermediate `String` holds the values.
    serde_json::to_writer_pretty(&mut *out, &object)
        .map_err(|err| Error::io("-", "write JSON to", err.into()))?;
    out.push(b'\n');
    Ok(out)
}

/// GitHub Actions: masks on stdout first, then every variable appended to `$GITHUB_ENV`.
fn github(resolution: &Resolution, env: &Env) -> Result<()> {
    let path = env
        .get("GITHUB_ENV")
        .map(|value| Path::new(std::ffi::OsStr::from_bytes(value.expose())))
        .filter(|path| !path.as_os_str().is_empty())
        .ok_or_else(|| Error::config(Location::file("environment"), ConfigProblem::NoGithubEnv))?;
    let mut masks = buffer(resolution);
    let mut blocks = buffer(resolution);
    for (name, variable) in resolution.iter() {
        let value = checked_text(name, variable, "the GitHub Actions runner")?;
        if variable.is_secret() {
            add_masks(&mut masks, value);
        }
        let delimiter = delimiter_for(value);
        for part in [name, "<<", &delimiter, "\n", value, "\n", &delimiter, "\n"] {
            blocks.extend_from_slice(part.as_bytes());
        }
    }
    // The runner learns what to mask from these lines before any value reaches the file that
    // later steps read.
    crate::terminal::print(&masks)?;
    append(path, &blocks).map_err(|err| Error::io(path, "append to", err))
}

/// `::add-mask::` for the whole value and, when it has several lines, for each line: the
/// runner masks log lines one by one. Blank ones are skipped: the runner refuses to mask them.
fn add_masks(out: &mut Vec<u8>, value: &str) {
    let lines = value.split(['\r', '\n']).filter(|line| *line != value);
    for mask in std::iter::once(value).chain(lines) {
        if mask.trim().is_empty() {
            continue;
        }
        out.extend_from_slice(b"::add-mask::");
        // The runner's workflow-command unescaping of data, reversed.
        for &byte in mask.as_bytes() {
            match byte {
                b'%' => out.extend_from_slice(b"%25"),
                b'\r' => out.extend_from_slice(b"%0D"),
                b'\n' => out.extend_from_slice(b"%0A"),
                _ => out.push(byte),
            }
        }
        out.push(b'\n');
    }
}

/// A heredoc delimiter that does not occur in `value`, like `@actions/core`'s.
fn delimiter_for(value: &str) -> String {
    loop {
        let mut random = [0u8; 16];
        OsRng.fill_bytes(&mut random);
        let mut delimiter = String::from("ghadelimiter_");
        for byte in random {
            // Writing to a `String` cannot fail.
            let _ = write!(delimiter, "{byte:02x}");
        }
        if !value.contains(&delimiter) {
            return delimiter;
        }
    }
}

/// Appends to the runner's file (created 0600 if missing), starting on a line of its own.
fn append(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    if ends_mid_line(path)? {
        file.write_all(b"\n")?;
    }
    file.write_all(bytes)
}

/// Whether a regular file's last byte is not a line feed (so a block appended to it would join
/// its last line). Anything else, a FIFO say, is not read.
fn ends_mid_line(path: &Path) -> io::Result<bool> {
    let meta = fs::metadata(path)?;
    if !meta.is_file() || meta.len() == 0 {
        return Ok(false);
    }
    let mut file = File::open(path)?;
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    file.read_exact(&mut last)?;
    Ok(last != *b"\n")
}

/// GitLab CI: the dotenv report, then a warning for each value GitLab would mask badly.
fn gitlab(resolution: &Resolution, path: &Path) -> Result<()> {
    let mut out = buffer(resolution);
    let mut warnings = Vec::new();
    for (name, variable) in resolution.iter() {
        let value = checked_text(name, variable, "GitLab")?;
        if value.contains('\n') {
            return Err(variable.refusal(name, ValueProblem::GitlabLineBreak));
        }
        // GitLab strips what Ruby's `String#strip` strips (NUL aside, refused above).
        if value.trim_matches(['\t', '\n', '\x0b', '\x0c', '\r', ' ']) != value {
            return Err(variable.refusal(name, ValueProblem::GitlabWhitespace));
        }
        if variable.is_secret() && !gitlab_maskable(value) {
            warnings.push(format!(
                "{name}: GitLab cannot mask this value (a masked value is one line of at least 8 \
                 characters from A-Z a-z 0-9 + / = - _ @ : . ~), so it can show in job logs"
            ));
        }
        if value.contains('$') {
            warnings.push(format!(
                "{name}: the value holds `$`, which GitLab expands as a variable reference in \
                 the jobs that receive it"
            ));
        }
        for part in [name.as_bytes(), b"=", value.as_bytes(), b"\n"] {
            out.extend_from_slice(part);
        }
    }
    emit(&out, Some(path))?;
    for warning in warnings {
        crate::terminal::say(&format!("warning: {warning}"));
    }
    Ok(())
}

/// GitLab's rule for masking a variable that is expanded, as dotenv variables are
/// (`Ci::Maskable::REGEX`): `\A[a-zA-Z0-9_+=/@:.~-]{8,}\z`, the Base64 alphabets of RFC 4648
/// plus `@`, `:`, `.` and `~`.
fn gitlab_maskable(value: &str) -> bool {
    value.len() >= 8
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"_+=/@:.~-".contains(&byte))
}

#[cfg(test)]
mod tests {
    use super::{add_masks, buffer, json, shell, systemd};
    use crate::resolve::{Resolution, Source, Variable};
    use crate::secret::Secret;

    #[test]
    fn the_worst_values_fit_the_buffer_without_a_reallocation() {
        let worst = ["%\n".repeat(500), "\u{1}".repeat(1000), "'$".repeat(500)];
        for value in worst {
            let variable = Variable {
                value: Secret::copy_from(value.as_bytes()),
                source: Source::Environment {
                    name: "LITESTREAM_X".into(),
                },
                overridden: Vec::new(),
                file: false,
            };
            let resolution: Resolution = [("LITESTREAM_X".to_owned(), variable)]
                .into_iter()
                .collect();
            let capacity = buffer(&resolution).capacity();

            let mut masks = buffer(&resolution);
            add_masks(&mut masks, &value);
            assert_eq!(json(&resolution, true).unwrap().capacity(), capacity);
            let mut lines = buffer(&resolution);
            shell(&mut lines, "LITESTREAM_X", value.as_bytes());
            systemd(&mut lines, "LITESTREAM_X", value.as_bytes()).unwrap();
            assert_eq!((masks.capacity(), lines.capacity()), (capacity, capacity));
        }
    }
}
