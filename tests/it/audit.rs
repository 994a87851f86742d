//! The decrypt audit log: one JSON line per successful decryption in the user's state directory
//! (here a temporary home, never the real one), none for a failure, never a value; bounded with
//! rotation; a log that cannot be written is a warning; only the user's own config moves it or
//! turns it off, a project's cannot; `lsenv audit` reads it.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::Digest as _;

use crate::case::Case;
use crate::support::{CANARY, Project};

struct Audit {
    project: Project,
    home: tempfile::TempDir,
}

impl Audit {
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
    fn lsenv(&self, args: &[&str]) -> Case {
        Case::new(&self.project)
            .env("HOME", self.home.path())
            .env("USER", "tester")
            .args(args)
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

#[test]
fn each_successful_decryption_leaves_one_line_and_a_failed_one_none() {
    let case = Audit::new();
    case.lsenv(&["exec", "--", "true"]).run();
    let entries = Audit::entries(&case.log());
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

    case.lsenv(&["credentials", "show"]).reveals().run();
    assert_eq!(Audit::entries(&case.log()).len(), 2);
    // A wrong key: nothing decrypted, nothing logged.
    Case::new(&case.project)
        .env("HOME", case.home.path())
        .env("RAILS_MASTER_KEY", "00000000000000000000000000000000")
        .args(["exec", "--", "true"])
        .status(5)
        .run();
    let entries = Audit::entries(&case.log());
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["command"], "credentials show");
    assert_eq!(entries[1]["variables"], serde_json::json!([]));

    // `lsenv audit` reads it, as text or JSON, from a time on.
    let shown = case
        .lsenv(&["audit"])
        .stdout_has("tester@")
        .stdout_has("exec true: ")
        .stdout_has("key from config/master.key")
        .run();
    let text = String::from_utf8(shown.stdout).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    let json = case.lsenv(&["audit", "--json", "--since", "1h"]).run();
    let lines: Vec<Value> = String::from_utf8(json.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines, entries);
    case.lsenv(&["audit", "--since", "2999-01-01"])
        .stdout_is("")
        .run();
    case.lsenv(&["audit", "--since", "yesterday"])
        .status(2)
        .said("--since yesterday: expected")
        .run();
}

#[test]
fn the_log_is_rotated_at_its_bound() {
    let case = Audit::new();
    case.user_config("[audit]\nmax_bytes = 1024\n");
    for _ in 0..12 {
        case.lsenv(&["exec", "--", "true"]).run();
    }
    let rotated = case.log().with_file_name("audit.jsonl.1");
    for path in [case.log(), rotated.clone()] {
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size > 0 && size <= 1024, "{}: {size} bytes", path.display());
    }
    let kept = Audit::entries(&rotated).len() + Audit::entries(&case.log()).len();
    assert!(kept < 12, "{kept} entries kept of 12");
    let shown = case.lsenv(&["audit"]).run();
    assert_eq!(
        String::from_utf8(shown.stdout).unwrap().lines().count(),
        kept
    );
}

#[test]
fn a_log_that_cannot_be_written_is_a_warning_only() {
    // The state directory is a file: no directory can be made in it (whoever runs the test).
    let case = Audit::new();
    let state = case.home.path().join("state");
    std::fs::write(&state, "not a directory").unwrap();
    Case::new(&case.project)
        .env("HOME", case.home.path())
        .env("XDG_STATE_HOME", &state)
        .args(["exec", "--", "true"])
        .said("warning: cannot write the audit log")
        .run();
    // A symlink where the log should be is not followed.
    let case = Audit::new();
    let elsewhere = case.home.path().join("elsewhere");
    std::fs::write(&elsewhere, "").unwrap();
    std::fs::create_dir_all(case.log().parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&elsewhere, case.log()).unwrap();
    case.lsenv(&["exec", "--", "true"])
        .said("warning: cannot write the audit log")
        .run();
    assert_eq!(std::fs::read(&elsewhere).unwrap(), b"");
}

#[test]
fn only_the_users_own_config_moves_the_log_or_turns_it_off() {
    // A project cannot: its config is refused before anything is decrypted.
    let case = Audit::new();
    case.project
        .file("config/lsenv.toml", "[audit]\nenabled = false\n");
    case.lsenv(&["exec", "--", "true"])
        .status(3)
        .said("the audit log is set only in the user's own config, never by a project")
        .run();
    assert!(!case.log().exists());
    let case = Audit::new();
    let moved = case.home.path().join("logs/decrypts.jsonl");
    case.user_config(&format!("[audit]\nfile = \"{}\"\n", moved.display()));
    case.lsenv(&["exec", "--", "true"]).run();
    assert_eq!(Audit::entries(&moved).len(), 1);
    assert!(!case.log().exists());
    case.user_config("[audit]\nenabled = false\n");
    case.lsenv(&["exec", "--", "true"]).run();
    assert_eq!(Audit::entries(&moved).len(), 1);
    assert!(!case.log().exists());
    case.lsenv(&["audit"])
        .said("the audit log is off (audit.enabled = false in")
        .run();
    // A user config lsenv cannot make sense of leaves the log on, with a warning.
    case.user_config("[audit]\nenabled = \"no\"\n");
    case.lsenv(&["exec", "--", "true"])
        .said("the audit log stays on")
        .run();
    assert_eq!(Audit::entries(&case.log()).len(), 1);
}
