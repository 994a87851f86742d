//! `lsenv verify [DB]...`: the restore drill. For each database of the Litestream config (or
//! those named), a sentinel — a random token and the time — is written into lsenv's own small
//! table in that database through SQLite itself (the database may be in WAL mode and open by the
//! app); then the replica is restored with `litestream restore`, run with the resolved
//! environment, into a private temporary directory, again until the restored copy holds the
//! sentinel or the deadline passes. The copy is opened read-only, checked and removed (also when
//! a signal stops lsenv).
//!
//! The table, [`TABLE`], keeps the newest [`KEPT`] sentinels; older ones are deleted by the write
//! that adds a new one, so it stays a few hundred bytes.

use std::fs::File;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use saphyr_parser::{Event, Parser, StrInput};
use serde_json::json;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::env::Env;
use crate::error::{ConfigProblem, Error, Location, Result, Status, UsageProblem, exit};
use crate::launch;
use crate::launch::CommandPlan;
use crate::litestream;
use crate::os::NoCoreDumps;
use crate::plan::VerifyOptions;
use crate::project::Project;
use crate::resolve::{self, Resolution};

/// lsenv's table in each verified database.
pub(crate) const TABLE: &str = "lsenv_verify";
/// How many sentinels the table keeps.
pub(crate) const KEPT: i64 = 10;

/// Litestream's defaults for how often it looks at a database and how often it uploads.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// The default deadline is this many rounds of looking and uploading…
const DEFAULT_ROUNDS: u32 = 10;
/// …and never shorter than this.
const MIN_DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// What `litestream restore` says when the replica holds nothing for the database yet.
const NO_BACKUP: &str = "no matching backup files available";

/// A database of the Litestream config, and how often Litestream replicates it.
#[derive(Debug, PartialEq, Eq)]
struct Database {
    path: String,
    interval: Duration,
}

/// The verdict for one database.
enum Outcome {
    Verified,
    /// The replica does not have the sentinel (yet): replication is behind or stopped.
    Behind(String),
    /// The drill could not be carried out.
    Failed(String),
}

/// Runs the drill on every chosen database, printing one line (or, with `--json`, one object)
/// per database. Exit 0 when all are verified, else [`exit::VERIFY_FAILED`] when any could not be
/// checked, else [`exit::VERIFY_BEHIND`].
pub(crate) fn run(
    project: &Project,
    env: &Env,
    options: &VerifyOptions,
    core_dumps: &NoCoreDumps,
) -> Result<Status> {
    let config_path = project.path(&project.config.litestream_config);
    let text = litestream::read_config(&config_path)?.ok_or_else(|| {
        Error::config(
            Location::file(&config_path),
            ConfigProblem::NoLitestreamConfig { lsenv_config: None },
        )
    })?;
    let databases = choose(databases(&text, &config_path)?, &options.databases, project)?;
    let pass = crate::plan::pass_list(&project.config, Vec::new())?;
    let resolved = resolve::resolve_project(project, env, false)?;
    let stop = Stop::watch()?;
    let scratch_parent = env.get_non_empty("TMPDIR").map_or_else(
        || PathBuf::from("/tmp"),
        |dir| PathBuf::from(std::ffi::OsStr::from_bytes(dir.expose())),
    );
    let scratch = tempfile::Builder::new()
        .prefix("lsenv-verify-")
        .tempdir_in(&scratch_parent)
        .map_err(|err| {
            Error::io(
                &scratch_parent,
                "create a private temporary directory in",
                err,
            )
        })?;
    let drill = Drill {
        project,
        env,
        resolution: &resolved.resolution,
        core_dumps,
        stop: &stop,
        scratch: scratch.path(),
        pass,
    };
    let mut results = Vec::new();
    for database in &databases {
        let started = Instant::now();
        let timeout = options.timeout.unwrap_or_else(|| default_timeout(database));
        let outcome = drill.verify(database, timeout)?;
        let seconds = started.elapsed().as_secs_f64();
        if !options.json {
            crate::terminal::print(line(database, &outcome, seconds).as_bytes())?;
        }
        results.push((database, outcome, seconds));
    }
    drop(scratch);
    if options.json {
        crate::terminal::print(report(&results).as_bytes())?;
    }
    let failed = results
        .iter()
        .filter(|(_, outcome, _)| matches!(outcome, Outcome::Failed(_)))
        .count();
    let behind = results
        .iter()
        .filter(|(_, outcome, _)| matches!(outcome, Outcome::Behind(_)))
        .count();
    let total = results.len();
    Ok(match (failed, behind) {
        (0, 0) => Status::SUCCESS,
        (0, _) => {
            crate::terminal::say(&format!(
                "{behind} of {total} databases behind: the replica lacks the sentinel"
            ));
            Status(exit::VERIFY_BEHIND)
        }
        _ => {
            crate::terminal::say(&format!(
                "{failed} of {total} databases could not be verified"
            ));
            Status(exit::VERIFY_FAILED)
        }
    })
}

/// Ten rounds of Litestream's monitor and sync intervals, at least ten seconds.
fn default_timeout(database: &Database) -> Duration {
    (database.interval * DEFAULT_ROUNDS).max(MIN_DEFAULT_TIMEOUT)
}

/// What the drill needs for every database.
struct Drill<'a> {
    project: &'a Project,
    env: &'a Env,
    resolution: &'a Resolution,
    core_dumps: &'a NoCoreDumps,
    stop: &'a Stop,
    scratch: &'a Path,
    /// `[exec] pass`, as `replicate` passes it to litestream.
    pass: Vec<String>,
}

impl Drill<'_> {
    /// Writes the sentinel, then restores until the copy has it or `timeout` has passed. Only a
    /// signal makes this an `Err`.
    fn verify(&self, database: &Database, timeout: Duration) -> Result<Outcome> {
        let token = match write_sentinel(&self.project.path(&database.path)) {
            Ok(token) => token,
            Err(problem) => return Ok(Outcome::Failed(problem)),
        };
        let deadline = Instant::now() + timeout;
        let pause = database
            .interval
            .clamp(Duration::from_millis(100), DEFAULT_INTERVAL);
        let mut missing = None;
        for attempt in 0.. {
            self.stop.check()?;
            let output = self.scratch.join(format!("attempt-{attempt}"));
            let verdict = match self.restore(database, &output, deadline)? {
                Restore::Failed(problem) => Some(Outcome::Failed(problem)),
                Restore::Nothing => {
                    missing = Some("the replica has no backup of it");
                    None
                }
                Restore::Copy(copy) => match holds(&copy, &token) {
                    Err(problem) => Some(Outcome::Failed(problem)),
                    Ok(true) => Some(Outcome::Verified),
                    Ok(false) => {
                        missing = Some("the restored copy lacks the sentinel");
                        None
                    }
                },
                Restore::Unfinished => Some(match missing {
                    Some(_) => behind(missing, timeout),
                    None => Outcome::Failed(format!(
                        "`litestream restore` did not finish within {timeout:?}"
                    )),
                }),
            };
            let _ = std::fs::remove_dir_all(&output);
            if let Some(verdict) = verdict {
                return Ok(verdict);
            }
            if Instant::now() + pause >= deadline {
                break;
            }
            self.stop.sleep(pause)?;
        }
        Ok(behind(missing, timeout))
    }

    /// `litestream restore -config CONFIG -o DIR/restored.sqlite3 DB`, with the resolved
    /// environment, its output in a log file beside the copy. `Ok(Some(copy))` restored,
    /// `Ok(None)` nothing to restore yet, `Err(problem)` it failed or passed the deadline.
    fn restore(&self, database: &Database, dir: &Path, deadline: Instant) -> Result<Restore> {
        let config = &self.project.config;
        if let Err(err) = std::fs::create_dir(dir) {
            return Ok(Restore::Failed(format!(
                "cannot create {}: {err}",
                dir.display()
            )));
        }
        let copy = dir.join("restored.sqlite3");
        let log_path = dir.join("restore.log");
        let plan = CommandPlan {
            program: litestream::program(config, self.env),
            args: vec![
                "restore".into(),
                "-config".into(),
                config.litestream_config.clone().into(),
                "-o".into(),
                copy.clone().into(),
                database.path.clone().into(),
            ],
            cwd: (!self.project.root.as_os_str().is_empty()).then(|| self.project.root.clone()),
            pass: self.pass.clone(),
            redact: false,
            watch: false,
            serve: false,
            preflight: None,
        };
        // The file secrets stay open while the restore runs: it inherited the same descriptors.
        let (mut command, program, _files) = match launch::command(&plan, self.resolution, self.env)
        {
            Ok(ready) => ready,
            Err(err) => return Ok(Restore::Failed(err.to_string())),
        };
        let log = File::create(&log_path)
            .and_then(|log| Ok((log.try_clone()?, log)))
            .map_err(|err| Error::io(&log_path, "create", err))?;
        command.stdin(Stdio::null()).stdout(log.0).stderr(log.1);
        let mut child = match self.core_dumps.around_spawn(|| command.spawn()) {
            Ok(child) => child,
            Err(err) => {
                return Ok(Restore::Failed(
                    launch::cannot_execute(program, &err).to_string(),
                ));
            }
        };
        let status: ExitStatus = loop {
            if let Some(status) = child
                .try_wait()
                .map_err(|err| Error::io(&program, "wait for", err))?
            {
                break status;
            }
            let stopped = self.stop.check();
            if stopped.is_err() || Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                stopped?;
                return Ok(Restore::Unfinished);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if status.success() {
            return Ok(Restore::Copy(copy));
        }
        let said = std::fs::read(&log_path).unwrap_or_default();
        let said = String::from_utf8_lossy(&said);
        let last = said
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("");
        if last.contains(NO_BACKUP) {
            return Ok(Restore::Nothing);
        }
        Ok(Restore::Failed(format!(
            "`litestream restore` failed ({status}): {}",
            scrub(last, self.resolution)
        )))
    }
}

/// What one `litestream restore` came to.
enum Restore {
    Copy(PathBuf),
    /// The replica holds nothing for the database.
    Nothing,
    /// Still running at the deadline (then killed).
    Unfinished,
    Failed(String),
}

/// The verdict when the deadline passed with restores that lacked the sentinel.
fn behind(missing: Option<&str>, timeout: Duration) -> Outcome {
    Outcome::Behind(format!(
        "{} after {timeout:?}: is `lsenv replicate` running?",
        missing.unwrap_or("the replica lacks the sentinel")
    ))
}

/// Inserts a new sentinel and prunes the old ones, in one immediate transaction (waiting for the
/// app's writers, as any writer would); returns its token.
fn write_sentinel(path: &Path) -> Result<String, String> {
    let fail = |err: rusqlite::Error| format!("cannot write the sentinel: {err}");
    if !path.is_file() {
        return Err("the database file does not exist".into());
    }
    let mut db = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(fail)?;
    db.busy_timeout(Duration::from_secs(10)).map_err(fail)?;
    let tx = db
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fail)?;
    tx.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY, token TEXT NOT NULL, written_at TEXT NOT NULL)"
    ))
    .map_err(fail)?;
    let token: String = tx
        .query_row(
            &format!(
                "INSERT INTO {TABLE} (token, written_at) VALUES (lower(hex(randomblob(16))), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) RETURNING token"
            ),
            [],
            |row| row.get(0),
        )
        .map_err(fail)?;
    tx.execute(
        &format!("DELETE FROM {TABLE} WHERE id <= (SELECT max(id) FROM {TABLE}) - ?1"),
        [KEPT],
    )
    .map_err(fail)?;
    tx.commit().map_err(fail)?;
    Ok(token)
}

/// Whether the restored copy, opened read-only, passes `PRAGMA quick_check` and holds `token`.
fn holds(copy: &Path, token: &str) -> Result<bool, String> {
    let fail = |err: rusqlite::Error| format!("cannot read the restored copy: {err}");
    let db = Connection::open_with_flags(
        copy,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(fail)?;
    let check: String = db
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(fail)?;
    if check != "ok" {
        return Err("the restored copy fails PRAGMA quick_check".into());
    }
    let has_table: bool = db
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [TABLE],
            |row| row.get(0),
        )
        .map_err(fail)?;
    if !has_table {
        return Ok(false);
    }
    db.query_row(
        &format!("SELECT count(*) > 0 FROM {TABLE} WHERE token = ?1"),
        [token],
        |row| row.get(0),
    )
    .map_err(fail)
}

/// The databases to verify: all of the config's, or those named (as in the config, or the same
/// file by another path).
fn choose(all: Vec<Database>, named: &[PathBuf], project: &Project) -> Result<Vec<Database>> {
    if named.is_empty() {
        return Ok(all);
    }
    let same = |database: &Database, name: &Path| {
        Path::new(&database.path) == name
            || std::path::absolute(project.path(&database.path)).ok()
                == std::path::absolute(name).ok()
    };
    for name in named {
        if !all.iter().any(|database| same(database, name)) {
            return Err(Error::usage(UsageProblem::NotADatabase {
                name: shown(&name.to_string_lossy()),
                config: project.config.litestream_config.clone(),
            }));
        }
    }
    Ok(all
        .into_iter()
        .filter(|database| named.iter().any(|name| same(database, name)))
        .collect())
}

/// The Litestream config as a tree: scalars as their text, lists, mappings.
enum Yaml {
    Scalar(String),
    List(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
    Other,
}

impl Yaml {
    fn get(&self, key: &str) -> Option<&Yaml> {
        match self {
            Yaml::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            Yaml::Scalar(text) => Some(text),
            _ => None,
        }
    }
}

/// How deep the config may nest; Litestream's own goes four levels.
const MAX_DEPTH: usize = 32;

/// The `dbs:` of a Litestream config: each `path`, with the larger of its `monitor-interval` and
/// its replicas' `sync-interval`s (Litestream's default of 1 s where they are not set).
fn databases(text: &str, file: &Path) -> Result<Vec<Database>> {
    let invalid = |problem| Error::config(Location::file(file), problem);
    let mut parser = Parser::new_from_str(text);
    let mut root = Yaml::Other;
    while let Some(event) = parser.next_event() {
        let (event, _) = event.map_err(|err| {
            invalid(ConfigProblem::InvalidYaml {
                message: err.info().to_owned(),
            })
        })?;
        if matches!(
            event,
            Event::MappingStart(..) | Event::SequenceStart(..) | Event::Scalar(..)
        ) {
            root = node(&mut parser, event, 0).map_err(invalid)?;
            break;
        }
    }
    let Some(Yaml::List(dbs)) = root
        .get("dbs")
        .filter(|dbs| !matches!(dbs, Yaml::List(list) if list.is_empty()))
    else {
        return Err(invalid(ConfigProblem::NoDatabases));
    };
    let mut found = Vec::new();
    for db in dbs {
        let Some(path) = db.get("path").and_then(Yaml::text) else {
            return Err(invalid(ConfigProblem::DatabaseWithoutPath));
        };
        if path.contains('$') {
            return Err(invalid(ConfigProblem::DatabasePathWithVariable {
                path: shown(path),
            }));
        }
        let replicas = match (db.get("replica"), db.get("replicas")) {
            (Some(one), _) => vec![one],
            (None, Some(Yaml::List(many))) => many.iter().collect(),
            _ => Vec::new(),
        };
        let interval = std::iter::once(db.get("monitor-interval"))
            .chain(replicas.iter().map(|replica| replica.get("sync-interval")))
            .map(|value| {
                value
                    .and_then(Yaml::text)
                    .map_or(Some(DEFAULT_INTERVAL), crate::duration::go_duration)
                    .ok_or_else(|| invalid(ConfigProblem::BadInterval { path: shown(path) }))
            })
            .try_fold(Duration::ZERO, |longest, interval| {
                Ok::<_, Error>(longest.max(interval?))
            })?;
        found.push(Database {
            path: path.to_owned(),
            interval,
        });
    }
    Ok(found)
}

/// The value that starts with `event`, read to its end.
fn node<'a>(
    parser: &mut Parser<'a, StrInput<'a>>,
    event: Event<'a>,
    depth: usize,
) -> Result<Yaml, ConfigProblem> {
    if depth > MAX_DEPTH {
        return Err(ConfigProblem::TooDeep { limit: MAX_DEPTH });
    }
    Ok(match event {
        Event::Scalar(text, ..) => Yaml::Scalar(text.into_owned()),
        Event::SequenceStart(..) => {
            let mut items = Vec::new();
            loop {
                match next(parser)? {
                    Event::SequenceEnd => break Yaml::List(items),
                    event => items.push(node(parser, event, depth + 1)?),
                }
            }
        }
        Event::MappingStart(..) => {
            let mut entries = Vec::new();
            loop {
                let key = match next(parser)? {
                    Event::MappingEnd => break Yaml::Map(entries),
                    Event::Scalar(text, ..) => text.into_owned(),
                    event => {
                        node(parser, event, depth + 1)?;
                        String::new()
                    }
                };
                let value = next(parser)?;
                entries.push((key, node(parser, value, depth + 1)?));
            }
        }
        _ => Yaml::Other,
    })
}

fn next<'a>(parser: &mut Parser<'a, StrInput<'a>>) -> Result<Event<'a>, ConfigProblem> {
    match parser.next_event() {
        Some(Ok((event, _))) => Ok(event),
        Some(Err(err)) => Err(ConfigProblem::InvalidYaml {
            message: err.info().to_owned(),
        }),
        None => Err(ConfigProblem::YamlEndsEarly),
    }
}

/// A line litestream printed, with every resolved secret value replaced by its name and anything
/// but printable ASCII replaced by `?`, at most 300 characters.
fn scrub(line: &str, resolution: &Resolution) -> String {
    let mut line = line.to_owned();
    for (name, variable) in resolution.iter() {
        let value = String::from_utf8_lossy(variable.value.expose());
        if variable.is_secret() && !value.is_empty() {
            line = line.replace(value.as_ref(), &format!("[redacted {name}]"));
        }
    }
    shown(&line).chars().take(300).collect()
}

/// Text from the config or a tool, safe for a terminal: control characters become `?`.
fn shown(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn line(database: &Database, outcome: &Outcome, seconds: f64) -> String {
    let path = shown(&database.path);
    match outcome {
        Outcome::Verified => {
            format!("verified {path}: the sentinel came back from the replica ({seconds:.1} s)\n")
        }
        Outcome::Behind(why) => format!("behind   {path}: {why} ({seconds:.1} s)\n"),
        Outcome::Failed(why) => format!("failed   {path}: {why} ({seconds:.1} s)\n"),
    }
}

fn report(results: &[(&Database, Outcome, f64)]) -> String {
    let databases: Vec<_> = results
        .iter()
        .map(|(database, outcome, seconds)| {
            let (status, message) = match outcome {
                Outcome::Verified => ("verified", None),
                Outcome::Behind(why) => ("behind", Some(why.as_str())),
                Outcome::Failed(why) => ("failed", Some(why.as_str())),
            };
            json!({
                "database": shown(&database.path),
                "status": status,
                "message": message,
                "seconds": (seconds * 1000.0).round() / 1000.0,
            })
        })
        .collect();
    let ok = results
        .iter()
        .all(|(_, outcome, _)| matches!(outcome, Outcome::Verified));
    format!("{}\n", json!({ "ok": ok, "databases": databases }))
}

/// SIGTERM, SIGINT and SIGHUP, caught so that the temporary copy is removed before lsenv stops.
struct Stop(Arc<AtomicUsize>);

impl Stop {
    fn watch() -> Result<Self> {
        let arrived = Arc::new(AtomicUsize::new(0));
        for signal in [SIGTERM, SIGINT, SIGHUP] {
            #[allow(clippy::cast_sign_loss)] // signal numbers are small and positive
            signal_hook::flag::register_usize(signal, Arc::clone(&arrived), signal as usize)
                .map_err(|err| Error::io("signals", "watch", err))?;
        }
        Ok(Self(arrived))
    }

    /// `Err(Interrupted)` once a signal has arrived.
    fn check(&self) -> Result<()> {
        match self.0.load(Ordering::SeqCst) {
            0 => Ok(()),
            signal => Err(Error::Interrupted {
                signal: i32::try_from(signal).unwrap_or(SIGTERM),
                outcome: crate::error::Cleanup::RestoredCopyRemoved,
            }),
        }
    }

    fn sleep(&self, pause: Duration) -> Result<()> {
        let until = Instant::now() + pause;
        while Instant::now() < until {
            self.check()?;
            std::thread::sleep(Duration::from_millis(20));
        }
        self.check()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::{Database, databases};

    #[test]
    fn databases_and_their_intervals() {
        let text = "logging:\n  level: info\ndbs:\n  - path: /a.db\n    monitor-interval: 100ms\n    replica:\n      type: file\n      path: /r\n      sync-interval: 2s\n  - path: b.db\n    replicas:\n      - url: s3://x/y\n";
        assert_eq!(
            databases(text, Path::new("l.yml")).unwrap(),
            [
                Database {
                    path: "/a.db".into(),
                    interval: Duration::from_secs(2)
                },
                Database {
                    path: "b.db".into(),
                    interval: Duration::from_secs(1)
                },
            ]
        );
        let refused = databases("dbs:\n  - path: $DB\n", Path::new("l.yml")).unwrap_err();
        assert!(
            refused.to_string().contains("without variables"),
            "{refused}"
        );
        assert!(databases("a: b\n", Path::new("l.yml")).is_err());
        assert!(databases("dbs: []\n", Path::new("l.yml")).is_err());
    }
}
