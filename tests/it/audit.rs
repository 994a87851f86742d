//! The decrypt audit log: one JSON line per successful decryption in the user's state directory
//! (here a temporary home, never the real one), none for a failure, never a value; bounded with
//! rotation; a log that cannot be written is a warning; only the user's own config moves it or
//! turns it off, a project's cannot; `lsenv audit` reads it.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use sha2::Digest as _;

use crate::support::{CANARY, Project, assert_said, said};

struct Case {
    project: Project,
    home: tempfile::TempDir,
}

impl Case {
    fn new() -> Self {
        let project = Project::new();
        project.credentials(&format!(
            "litestream:\n  replica_key_id: AKID\n  replica_access_key: {CANARY}\n"
        ));
        Self {
            project,
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// lsenv with `HOME` in the temporary home.
    fn lsenv(&self, args: &[&str]) -> Output {
        self.project
            .lsenv()
            .env("HOME", self.home.path())
            .env("USER", "tester")
            .args(args)
            .output()
            .unwrap()
    }

    fn log(&self) -> PathBuf {
        self.home.path().join(".local/state/lsenv/audit.jsonl")
    }

    fn user_config(&self, text: &str) {
        let path = self.home.path().join(".config/lsenv/config.toml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// The entries of `path`, each checked to be JSON and to hold no value.
    fn entries(path: &Path) -> Vec<Value> {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        assert!(!text.contains(CANARY), "a value in the log: {text}");
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

#[track_caller]
fn ok(output: &Output) {
    assert!(output.status.success(), "{}", said(output));
}

#[test]
fn each_successful_decryption_leaves_one_line_and_a_failed_one_none() {
    let case = Case::new();
    ok(&case.lsenv(&["exec", "--", "true"]));
    let entries = Case::entries(&case.log());
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry["command"], "exec true");
    assert_eq!(entry["user"], "tester");
    let file = case.project.path("config/credentials.yml.enc");
    assert_eq!(
        entry["file"],
        std::fs::canonicalize(&file).unwrap().to_str().unwrap()
    );
    let sha256 = format!("{:x}", sha2::Sha256::digest(std::fs::read(&file).unwrap()));
    assert_eq!(entry["sha256"], sha256);
    assert_eq!(entry["key_source"], "config/master.key");
    assert_eq!(
        entry["variables"],
        serde_json::json!(["LITESTREAM_ACCESS_KEY_ID", "LITESTREAM_SECRET_ACCESS_KEY"])
    );
    assert!(entry["time"].as_str().unwrap().ends_with('Z'));
    assert!(!entry["host"].as_str().unwrap().is_empty());

    ok(&case.lsenv(&["credentials", "show"]));
    assert_eq!(Case::entries(&case.log()).len(), 2);
    // A wrong key: nothing decrypted, nothing logged.
    let failed = case
        .project
        .lsenv()
        .env("HOME", case.home.path())
        .env("RAILS_MASTER_KEY", "00000000000000000000000000000000")
        .args(["exec", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(5), "{}", said(&failed));
    let entries = Case::entries(&case.log());
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["command"], "credentials show");
    assert_eq!(entries[1]["variables"], serde_json::json!([]));

    // `lsenv audit` reads it, as text or JSON, from a time on.
    let shown = case.lsenv(&["audit"]);
    ok(&shown);
    let text = String::from_utf8(shown.stdout.clone()).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("tester@"), "{text}");
    assert!(
        text.contains("exec true: ") && text.contains("key from config/master.key"),
        "{text}"
    );
    assert!(!said(&shown).contains(CANARY));
    let json = case.lsenv(&["audit", "--json", "--since", "1h"]);
    ok(&json);
    let lines: Vec<Value> = String::from_utf8(json.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines, entries);
    let later = case.lsenv(&["audit", "--since", "2999-01-01"]);
    ok(&later);
    assert!(later.stdout.is_empty());
    assert_said(
        &case.lsenv(&["audit", "--since", "yesterday"]),
        2,
        "--since yesterday: expected",
    );
}

#[test]
fn the_log_is_rotated_at_its_bound() {
    let case = Case::new();
    case.user_config("[audit]\nmax_bytes = 1024\n");
    for _ in 0..12 {
        ok(&case.lsenv(&["exec", "--", "true"]));
    }
    let rotated = case.log().with_file_name("audit.jsonl.1");
    for path in [case.log(), rotated.clone()] {
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size > 0 && size <= 1024, "{}: {size} bytes", path.display());
    }
    let kept = Case::entries(&rotated).len() + Case::entries(&case.log()).len();
    assert!(kept < 12, "{kept} entries kept of 12");
    let shown = case.lsenv(&["audit"]);
    ok(&shown);
    assert_eq!(
        String::from_utf8(shown.stdout).unwrap().lines().count(),
        kept
    );
}

#[test]
fn a_log_that_cannot_be_written_is_a_warning_only() {
    // The state directory is a file: no directory can be made in it (whoever runs the test).
    let case = Case::new();
    let state = case.home.path().join("state");
    std::fs::write(&state, "not a directory").unwrap();
    let output = case
        .project
        .lsenv()
        .env("HOME", case.home.path())
        .env("XDG_STATE_HOME", &state)
        .args(["exec", "--", "true"])
        .output()
        .unwrap();
    assert_said(&output, 0, "warning: cannot write the audit log");
    // A symlink where the log should be is not followed.
    let case = Case::new();
    let elsewhere = case.home.path().join("elsewhere");
    std::fs::write(&elsewhere, "").unwrap();
    std::fs::create_dir_all(case.log().parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&elsewhere, case.log()).unwrap();
    let output = case.lsenv(&["exec", "--", "true"]);
    assert_said(&output, 0, "warning: cannot write the audit log");
    assert_eq!(std::fs::read(&elsewhere).unwrap(), b"");
    assert!(!said(&output).contains(CANARY));
}

#[test]
fn only_the_users_own_config_moves_the_log_or_turns_it_off() {
    // A project cannot: its config is refused before anything is decrypted.
    let case = Case::new();
    case.project
        .file("config/lsenv.toml", "[audit]\nenabled = false\n");
    let output = case.lsenv(&["exec", "--", "true"]);
    assert_said(
        &output,
        3,
        "the audit log is set only in the user's own config, never by a project",
    );
    assert!(!case.log().exists());
    let case = Case::new();
    let moved = case.home.path().join("logs/decrypts.jsonl");
    case.user_config(&format!("[audit]\nfile = \"{}\"\n", moved.display()));
    ok(&case.lsenv(&["exec", "--", "true"]));
    assert_eq!(Case::entries(&moved).len(), 1);
    assert!(!case.log().exists());
    case.user_config("[audit]\nenabled = false\n");
    ok(&case.lsenv(&["exec", "--", "true"]));
    assert_eq!(Case::entries(&moved).len(), 1);
    assert!(!case.log().exists());
    assert_said(
        &case.lsenv(&["audit"]),
        0,
        "the audit log is off (audit.enabled = false in",
    );
    // A user config lsenv cannot make sense of leaves the log on, with a warning.
    case.user_config("[audit]\nenabled = \"no\"\n");
    let output = case.lsenv(&["exec", "--", "true"]);
    assert_said(&output, 0, "the audit log stays on");
    assert_eq!(Case::entries(&case.log()).len(), 1);
}
