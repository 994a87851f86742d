//! `lsenv check`: everything that would make `lsenv replicate` fail or do the wrong thing, found
//! before it runs — the credentials decrypt, every `$VAR` of the Litestream config resolves, no
//! value changes that config once Litestream pastes it in, unquoted credentials scalars that Ruby
//! (Rails, the litestream gem) reads differently, names that look like typos of known ones, key
//! and identity files open to other users or not ignored by git, and litestream itself.
//!
//! Exit status: 0 when all is well, 6 when there are only warnings, else the code of the first
//! error's kind (3 configuration, 4 key, 5 decryption). No finding ever quotes a value.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::env::Env;
use crate::error::{Error, Location, Result, Status, exit};
use crate::names;
use crate::project::Project;
use crate::resolve::{self, Resolution};
use crate::store::keys::{AgeKeys, KeySource};
use crate::terminal::say;
use crate::yaml::{Remark, RemarkKind};
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

pub(crate) fn run(project: &Project, env: &Env, json: bool) -> Result<Status> {
    let mut findings = Findings::default();
    if let Some(message) = project.none_found() {
        findings.warn(None, message);
    }
    let resolution = check_credentials(project, env, &mut findings);
    check_recovery(project, env, &mut findings);
    if let Some(resolution) = &resolution {
        check_litestream_config(project, env, resolution, &mut findings)?;
    }
    check_key_files(project, env, &mut findings);
    check_litestream_binary(project, env, &mut findings);
    for dir in crate::commands::edit::stale_scratch(env) {
        findings.warn(
            Some(Location::file(dir)),
            "an edit's scratch directory left by a killed lsenv: it may hold plaintext; the next `lsenv credentials edit` wipes it",
        );
    }
    print(&findings, json)?;
    let (errors, warnings) = (findings.count(Level::Error), findings.count(Level::Warning));
    if errors + warnings > 0 {
        say(&format!(
            "check found {errors} error(s) and {warnings} warning(s)"
        ));
    }
    Ok(match findings.0.iter().find(|f| f.level == Level::Error) {
        Some(first) => Status(first.code),
        None if warnings > 0 => Status(exit::WARNINGS),
        None => Status::SUCCESS,
    })
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
            let opened = credentials
                .read_text(env)
                .and_then(|text| crate::yaml::parse_with_remarks(&text, &credentials.file));
            match opened {
                Ok((document, remarks)) => {
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
                    check_remarks(project, &credentials.file, &remarks, findings);
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

/// An edit that could not be saved, kept encrypted next to the credentials: the next `edit`
/// continues from it, which is worth knowing before it happens.
fn check_recovery(project: &Project, env: &Env, findings: &mut Findings) {
    let Ok(target) = project.writable_credentials_target(env) else {
        return;
    };
    let recovery = crate::commands::edit::recovery_path(&target.file);
    if recovery.exists() {
        findings.warn(
            Some(Location::file(&recovery)),
            format!(
                "{}; {}",
                crate::commands::edit::PENDING,
                crate::error::KEPT_CHOICES
            ),
        );
    }
}

/// Unquoted scalars that become variables and that Ruby's YAML 1.1 reads as something whose text
/// differs from what is written (`0012345` is 5349 to Ruby, `yes` is true, `1.50` is 1.5), and
/// keys written twice in one mapping.
fn check_remarks(project: &Project, file: &Path, remarks: &[Remark], findings: &mut Findings) {
    let config = &project.config;
    let becomes_variable = |path: &str| {
        path.strip_prefix(config.section.as_str())
            .is_some_and(|rest| rest.starts_with('.'))
            || config
                .mappings
                .iter()
                .any(|mapping| mapping.key_path == path)
    };
    for remark in remarks {
        let location = Some(
            Location::file(file)
                .at(Some(remark.position))
                .key(&remark.path),
        );
        match remark.kind {
            RemarkKind::RubyReads(ruby) if becomes_variable(&remark.path) => findings.warn(
                location,
                format!(
                    "unquoted, Ruby (Rails, the litestream gem) reads it as {ruby}, lsenv as the text written; quote it so both read the same"
                ),
            ),
            RemarkKind::RubyReads(_) => {}
            RemarkKind::Duplicate => findings.warn(
                location,
                "the key is written twice in one mapping; Ruby (Rails) and lsenv take the last value, so the earlier one is ignored",
            ),
        }
    }
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
    let unresolved = litestream::unresolved_references(&path, project, env, resolution)?;
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
        .map(|candidate| (names::edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, candidate)| candidate)
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
            Some(GitStatus::Tracked) if is_old_key(key) => findings.error(location, "this old key is committed to git: it opens every version of the credentials encrypted with it, in git history too; remove it from the repository (git rm --cached), and change the secrets those versions hold (rotating the key again does not help)"),
            Some(GitStatus::Tracked) => findings.error(location, "the key file is committed to git: rotate the key (lsenv credentials rotate-key) and remove the file from the repository"),
            Some(GitStatus::NotIgnored) => findings.warn(location, "the key file is not ignored by git; add it to .gitignore"),
            Some(GitStatus::Ignored) | None => {}
        }
    }
}

/// `KEY.old`, which `rotate-key` leaves behind.
fn is_old_key(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "old")
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
    match litestream::locate(project, env) {
        Ok(path) => match litestream::version(&path) {
            Some(version) => findings.ok(
                Some(Location::file(&path)),
                format!("litestream {version} will run"),
            ),
            None => findings.warn(
                Some(Location::file(&path)),
                "`litestream version` failed: is this litestream?",
            ),
        },
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
    crate::terminal::print(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::nearest;

    #[test]
    fn typos_are_near() {
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
