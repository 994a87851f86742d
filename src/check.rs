//! `lsenv check`: everything that would make `lsenv replicate` fail or do the wrong thing, found
//! before it runs — the credentials decrypt, every `$VAR` of the Litestream config resolves, no
//! value changes that config once Litestream pastes it in, unquoted credentials scalars that Ruby
//! (Rails, the litestream gem) reads differently, names that look like typos of known ones, key
//! and identity files open to other users or not ignored by git, and litestream itself.
//!
//! Exit status: 0 when all is well, 6 when there are only warnings, else the code of the first
//! error's kind (3 configuration, 4 key, 5 decryption). No finding ever quotes a value.

use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::json;

use crate::env::Env;
use crate::error::{Error, Location, Position, Result, exit};
use crate::exec;
use crate::explain;
use crate::project::Project;
use crate::resolve::{self, Resolution};
use crate::store::keys::{AgeKeys, KeySource};
use crate::{litestream, litestream_schema};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Ok,
    Warning,
    Error,
}

struct Finding {
    level: Level,
    /// The exit code an error stands for.
    code: u8,
    location: Option<Location>,
    message: String,
}

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn ok(&mut self, location: Option<Location>, message: impl Into<String>) {
        self.push(Level::Ok, exit::CONFIG, location, message);
    }

    fn warn(&mut self, location: Option<Location>, message: impl Into<String>) {
        self.push(Level::Warning, exit::CONFIG, location, message);
    }

    fn error(&mut self, location: Option<Location>, message: impl Into<String>) {
        self.push(Level::Error, exit::CONFIG, location, message);
    }

    /// An error lsenv raised elsewhere (a key or decryption failure), with its own exit code.
    fn failed(&mut self, err: &Error) {
        let mut message = err.to_string();
        if let Some(hint) = err.hint() {
            let _ = write!(message, " (hint: {hint})");
        }
        self.push(Level::Error, err.exit_code(), None, message);
    }

    fn push(
        &mut self,
        level: Level,
        code: u8,
        location: Option<Location>,
        message: impl Into<String>,
    ) {
        self.0.push(Finding {
            level,
            code,
            location,
            message: message.into(),
        });
    }

    fn count(&self, level: Level) -> usize {
        self.0.iter().filter(|f| f.level == level).count()
    }
}

pub fn run(project: &Project, env: &Env, json: bool) -> Result<()> {
    let mut findings = Findings::default();
    let resolution = check_credentials(project, env, &mut findings);
    if let Some(resolution) = &resolution {
        check_litestream_config(project, env, resolution, &mut findings)?;
    }
    check_key_files(project, env, &mut findings);
    check_litestream_binary(project, env, &mut findings);
    print(&findings, json)?;
    let (errors, warnings) = (findings.count(Level::Error), findings.count(Level::Warning));
    let summary = format!("check found {errors} error(s) and {warnings} warning(s)");
    match findings.0.iter().find(|f| f.level == Level::Error) {
        Some(first) => Err(Error::Findings {
            summary,
            code: first.code,
        }),
        None if warnings > 0 => Err(Error::Findings {
            summary,
            code: exit::WARNINGS,
        }),
        None => Ok(()),
    }
}

/// Decrypts and resolves, reporting instead of stopping; `None` when there is nothing to resolve.
fn check_credentials(project: &Project, env: &Env, findings: &mut Findings) -> Option<Resolution> {
    let credentials = match project.credentials(env) {
        Ok(credentials) => credentials,
        Err(err) => {
            findings.failed(&err);
            return None;
        }
    };
    let mut document = match &credentials {
        None => {
            findings.ok(
                None,
                "no credentials file: the values come from config/lsenv.toml and the environment",
            );
            None
        }
        Some(credentials) => {
            let opened = credentials.read_text(env).and_then(|text| {
                let document = crate::yaml::parse(&text, &credentials.file)?;
                Ok((text, document))
            });
            match opened {
                Ok((text, document)) => {
                    findings.ok(
                        Some(Location::file(&credentials.file)),
                        format!("decrypts with {}", credentials.access),
                    );
                    if document.get(&project.config.section).is_none() {
                        findings.warn(
                            Some(Location::file(&credentials.file).key(&project.config.section)),
                            "there is no such section, so the credentials set no LITESTREAM_* variable",
                        );
                    }
                    check_ruby_reading(project, &credentials.file, &text, findings);
                    Some(document)
                }
                Err(err) => {
                    findings.failed(&err);
                    return None;
                }
            }
        }
    };
    let layer = document
        .as_mut()
        .zip(credentials.as_ref())
        .map(|(document, credentials)| (document, credentials.file.as_path()));
    match resolve::resolve(&project.config, layer, env) {
        Ok(resolution) => {
            for (location, message) in litestream_schema::placeholders(&resolution) {
                findings.error(Some(location), message);
            }
            for (location, message) in litestream_schema::shadowed(&resolution) {
                findings.warn(Some(location), message);
            }
            for (name, variable) in resolution.iter().filter(|(_, variable)| variable.file) {
                findings.ok(
                    None,
                    format!(
                        "{name} is a file secret ({}) from {}",
                        variable.fingerprint(),
                        variable.source
                    ),
                );
            }
            Some(resolution)
        }
        Err(err) => {
            findings.failed(&err);
            None
        }
    }
}

/// Unquoted scalars that become variables and that Ruby's YAML 1.1 reads as something whose text
/// differs from what is written (`0012345` is 5349 to Ruby, `yes` is true, `1.50` is 1.5).
fn check_ruby_reading(project: &Project, file: &Path, text: &str, findings: &mut Findings) {
    let config = &project.config;
    let becomes_variable = |path: &str| {
        path.strip_prefix(config.section.as_str())
            .is_some_and(|rest| rest.starts_with('.'))
            || config
                .mappings
                .iter()
                .any(|mapping| mapping.key_path == path)
    };
    for (path, position, ruby) in plain_scalars(text) {
        if becomes_variable(&path) {
            findings.warn(
                Some(Location::file(file).at(Some(position)).key(&path)),
                format!(
                    "unquoted, Ruby (Rails, the litestream gem) reads it as {ruby}, lsenv as the text written; quote it so both read the same"
                ),
            );
        }
    }
}

/// Key path, position and Ruby's reading of every plain scalar value that Ruby would turn into
/// something else than its text.
fn plain_scalars(text: &str) -> Vec<(String, Position, &'static str)> {
    enum Frame {
        Map { key: Option<String> },
        Seq { index: usize },
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut found = Vec::new();
    let path = |stack: &[Frame]| {
        stack
            .iter()
            .filter_map(|frame| match frame {
                Frame::Map { key } => key.clone(),
                Frame::Seq { index } => Some(index.to_string()),
            })
            .collect::<Vec<_>>()
            .join(".")
    };
    // A value ends: the enclosing map expects a key again, the enclosing list moves on.
    let value_done = |stack: &mut Vec<Frame>| match stack.last_mut() {
        Some(Frame::Map { key }) => *key = None,
        Some(Frame::Seq { index }) => *index += 1,
        None => {}
    };
    for item in Parser::new_from_str(text) {
        let Ok((event, span)) = item else {
            break;
        };
        match event {
            Event::MappingStart(..) => stack.push(Frame::Map { key: None }),
            Event::SequenceStart(..) => stack.push(Frame::Seq { index: 0 }),
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                value_done(&mut stack);
            }
            Event::Scalar(value, style, ..) => {
                if let Some(Frame::Map { key: key @ None }) = stack.last_mut() {
                    *key = Some(value.into_owned());
                    continue;
                }
                if style == ScalarStyle::Plain
                    && let Some(ruby) = ruby_reading(&value)
                {
                    let position = Position {
                        line: span.start.line(),
                        column: span.start.col() + 1,
                    };
                    found.push((path(&stack), position, ruby));
                }
                value_done(&mut stack);
            }
            Event::Alias(_) => value_done(&mut stack),
            _ => {}
        }
    }
    found
}

/// What Ruby's Psych (YAML 1.1) makes of a plain scalar, when its text as Ruby prints it is not
/// `text`: `None` when both read the same string.
fn ruby_reading(text: &str) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    if ["yes", "no", "on", "off", "true", "false"].contains(&lower.as_str()) {
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
        return (!is_ruby_float_text(text)).then_some("a float");
    }
    if text.len() > 1 && text.starts_with(':') && !text[1..].starts_with([' ', ':']) {
        return Some("a symbol (without the colon)");
    }
    let date = text.len() >= 10
        && text.as_bytes()[4] == b'-'
        && text[..4].bytes().all(|b| b.is_ascii_digit());
    date.then_some("a date or time")
}

/// Whether `text` is already how Ruby prints the float it reads (`1.5`, `100.0`).
fn is_ruby_float_text(text: &str) -> bool {
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

/// The Litestream config: it exists, each `$VAR` resolves, and no value breaks it.
fn check_litestream_config(
    project: &Project,
    env: &Env,
    resolution: &Resolution,
    findings: &mut Findings,
) -> Result<()> {
    let path = project.path(&project.config.litestream_config);
    let Some(text) = litestream::read_config(&path)? else {
        findings.warn(
            Some(Location::file(&path)),
            "there is no Litestream config, so `lsenv replicate` cannot run (lsenv init --db PATH writes one)",
        );
        return Ok(());
    };
    let unresolved = explain::unresolved_references(&path, project, env, resolution)?;
    for (position, note) in crate::ambient::notes(&text, resolution, &project.config.pass) {
        findings.ok(Some(Location::file(&path).at(Some(position))), note);
    }
    for finding in litestream_schema::findings(&text, resolution) {
        let location = Some(Location::file(&path).at(Some(finding.position)));
        match finding.level {
            litestream_schema::Level::Warning => findings.warn(location, finding.message),
            litestream_schema::Level::Error => findings.error(location, finding.message),
        }
    }
    let mut reported = Vec::new();
    for reference in litestream::references(&text) {
        let location = Location::file(&path).at(Some(reference.position));
        if unresolved.contains(&reference) {
            // Once per name, listing its other places.
            if reported.contains(&reference.name) {
                continue;
            }
            reported.push(reference.name.clone());
            let mut message = format!(
                "${} is set by nothing; Litestream would read it as empty",
                reference.name
            );
            if let Some(near) = nearest(&reference.name, resolution.names()) {
                let _ = write!(message, " (did you mean {near}?)");
            }
            message.push_str(&litestream_schema::unresolved_detail(
                &text,
                &unresolved,
                &reference.name,
                &project.config.section,
            ));
            findings.error(Some(location), message);
        } else if let Some(variable) = resolution.get(&reference.name)
            && !variable.file
            && let Some(problem) =
                litestream::breaks_yaml(variable.value.expose(), reference.quoting)
        {
            findings.error(
                Some(location),
                format!(
                    "the value of ${} (from {}) would change this YAML once Litestream pastes it in: {problem}",
                    reference.name, variable.source
                ),
            );
        }
    }
    let referenced: Vec<String> = litestream::references(&text)
        .into_iter()
        .map(|r| r.name)
        .collect();
    for (name, variable) in resolution.iter() {
        if referenced.iter().any(|referenced| referenced == name)
            || litestream::KNOWN_VARIABLES.contains(&name)
            || !name.starts_with(crate::names::PREFIX)
        {
            continue;
        }
        let candidates = litestream::KNOWN_VARIABLES
            .iter()
            .copied()
            .chain(referenced.iter().map(String::as_str));
        if let Some(near) = nearest(name, candidates) {
            findings.warn(
                None,
                format!(
                    "{name} (from {}) is used by neither Litestream nor {}; did you mean {near}?",
                    variable.source,
                    path.display()
                ),
            );
        }
    }
    Ok(())
}

/// The candidate closest to `name` by edit distance, if it is close enough to be a typo.
fn nearest<'c>(name: &str, candidates: impl Iterator<Item = &'c str>) -> Option<&'c str> {
    candidates
        .filter(|candidate| *candidate != name)
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance with transpositions (optimal string alignment), over bytes.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// Key files: not readable by others, ignored (and not committed) by git.
/// Key and age identity files: not readable by others; ignored (and not committed) by git when
/// they are inside the project.
fn check_key_files(project: &Project, env: &Env, findings: &mut Findings) {
    let mut keys: Vec<PathBuf> = vec![
        project.path("config/master.key"),
        project.path("config/master.key.old"),
    ];
    if let Ok(entries) = std::fs::read_dir(project.path("config/credentials")) {
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                path.extension()
                    .is_some_and(|ext| ext == "key" || ext == "old")
            })
            .collect();
        found.sort();
        keys.extend(found);
    }
    let age = AgeKeys::find(env, &project.root, &project.config, Path::new(""));
    keys.extend(
        age.identities
            .into_iter()
            .filter_map(|source| match source {
                KeySource::File(path) => Some(path),
                KeySource::Variable(_) => None,
            }),
    );
    let git = GitView::open(project);
    let root = std::fs::canonicalize(if project.root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &project.root
    })
    .ok();
    for key in keys.iter().filter(|key| key.is_file()) {
        let in_project = root
            .as_ref()
            .is_some_and(|root| std::fs::canonicalize(key).is_ok_and(|key| key.starts_with(root)));
        let location = Some(Location::file(key));
        if let Ok(meta) = std::fs::metadata(key) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                findings.warn(
                    location.clone(),
                    format!(
                        "the key file is readable by other users (mode {mode:04o}); chmod 600 it"
                    ),
                );
            }
        }
        match git.as_ref().filter(|_| in_project).map(|git| git.status(key)) {
            Some(GitStatus::Tracked) => findings.error(location, "the key file is committed to git: rotate the key (lsenv credentials rotate-key) and remove the file from the repository"),
            Some(GitStatus::NotIgnored) => findings.warn(location, "the key file is not ignored by git; add it to .gitignore"),
            Some(GitStatus::Ignored) | None => {}
        }
    }
}

enum GitStatus {
    Tracked,
    Ignored,
    NotIgnored,
}

/// git's own answers about files of the project, when it is in a work tree.
struct GitView {
    dir: PathBuf,
}

impl GitView {
    fn open(project: &Project) -> Option<Self> {
        let dir = if project.root.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            project.root.clone()
        };
        let inside = Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args(["rev-parse", "--is-inside-work-tree"])
            .output()
            .ok()?;
        (inside.status.success() && inside.stdout.starts_with(b"true")).then_some(Self { dir })
    }

    fn status(&self, path: &Path) -> GitStatus {
        let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let asks = |args: &[&str]| {
            Command::new("git")
                .arg("-C")
                .arg(&self.dir)
                .args(args)
                .arg(&absolute)
                .output()
                .is_ok_and(|output| output.status.success())
        };
        if asks(&["ls-files", "--error-unmatch", "--"]) {
            GitStatus::Tracked
        } else if asks(&["check-ignore", "-q", "--"]) {
            GitStatus::Ignored
        } else {
            GitStatus::NotIgnored
        }
    }
}

/// litestream is found where `replicate` would look, and says its version.
fn check_litestream_binary(project: &Project, env: &Env, findings: &mut Findings) {
    let program = &project.config.litestream_bin;
    let base = if project.root_given {
        project.root.as_path()
    } else {
        Path::new("")
    };
    match exec::find_program(
        program,
        env.get("PATH")
            .map(|p| std::ffi::OsStr::from_bytes(p.expose())),
        base,
    ) {
        Ok(path) => {
            let version = Command::new(&path).arg("version").env_clear().output();
            match version {
                Ok(output) if output.status.success() => findings.ok(
                    Some(Location::file(&path)),
                    format!(
                        "litestream {}",
                        String::from_utf8_lossy(&output.stdout).trim()
                    ),
                ),
                _ => findings.warn(
                    Some(Location::file(&path)),
                    "`litestream version` failed: is this litestream?",
                ),
            }
        }
        Err(err) => findings.warn(
            None,
            format!(
                "litestream: {err} (set `litestream` in the [replicate] table of config/lsenv.toml)"
            ),
        ),
    }
}

fn print(findings: &Findings, json: bool) -> Result<()> {
    let text = if json {
        let items: Vec<_> = findings
            .0
            .iter()
            .map(|f| {
                json!({
                    "level": match f.level { Level::Ok => "ok", Level::Warning => "warning", Level::Error => "error" },
                    "file": f.location.as_ref().map(|l| l.path.display().to_string()),
                    "line": f.location.as_ref().and_then(|l| l.position).map(|p| p.line),
                    "column": f.location.as_ref().and_then(|l| l.position).map(|p| p.column),
                    "key": f.location.as_ref().and_then(|l| l.key.clone()),
                    "message": f.message,
                })
            })
            .collect();
        let report = json!({
            "errors": findings.count(Level::Error),
            "warnings": findings.count(Level::Warning),
            "findings": items,
        });
        format!("{report:#}\n")
    } else {
        let mut out = String::new();
        for f in &findings.0 {
            let level = match f.level {
                Level::Ok => "ok     ",
                Level::Warning => "warning",
                Level::Error => "error  ",
            };
            match &f.location {
                Some(location) => {
                    let _ = writeln!(out, "{level}  {location}: {}", f.message);
                }
                None => {
                    let _ = writeln!(out, "{level}  {}", f.message);
                }
            }
        }
        out
    };
    crate::print(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::{edit_distance, nearest, plain_scalars, ruby_reading};

    #[test]
    fn ruby_readings() {
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
            assert_eq!(ruby_reading(text), ruby, "{text}");
        }
    }

    #[test]
    fn plain_scalars_only_with_their_paths() {
        let found = plain_scalars(
            "litestream:\n  port: 0012\n  quoted: '0012'\n  list: [yes, 'no']\n  ok: text\n",
        );
        let paths: Vec<_> = found
            .iter()
            .map(|(path, position, _)| (path.as_str(), position.line))
            .collect();
        assert_eq!(paths, [("litestream.port", 2), ("litestream.list.0", 4)]);
    }

    #[test]
    fn typos_are_near() {
        assert_eq!(
            edit_distance("LITESTREAM_ACESS_KEY_ID", "LITESTREAM_ACCESS_KEY_ID"),
            1
        );
        assert_eq!(edit_distance("ab", "ba"), 1);
        let known = ["LITESTREAM_ACCESS_KEY_ID", "LITESTREAM_REPLICA_BUCKET"];
        assert_eq!(
            nearest("LITESTREAM_ACESS_KEY_ID", known.into_iter()),
            Some("LITESTREAM_ACCESS_KEY_ID")
        );
        assert_eq!(
            nearest("LITESTREAM_SOMETHING_ELSE", known.into_iter()),
            None
        );
    }
}
