//! `lsenv replicate`'s pre-flight: `$VAR`s of the Litestream config that nothing sets are an
//! error naming each (with line and column) before litestream runs, unless `--no-preflight`.

use crate::support::{Project, assert_said, said};

/// A project whose stand-in litestream records that it ran, and with which arguments.
fn project() -> Project {
    let project = Project::new();
    project.credentials("litestream:\n  replica_bucket: bucket\n");
    let litestream = project.script("bin/litestream", "#!/bin/sh\nprintf '%s\\n' \"$@\" > ran\n");
    project.file(
        "config/lsenv.toml",
        format!("[replicate]\nlitestream = \"{}\"\n", litestream.display()),
    );
    project.file(
        "config/litestream.yml",
        "dbs:\n  - path: db.sqlite3\n    replica:\n      type: s3\n      bucket: $LITESTREAM_REPLICA_BUCKET\n      \
         access-key-id: $LITESTREAM_ACCESS_KEY_ID\n      secret-access-key: ${LITESTREAM_SECRET_ACCESS_KEY}\n      \
         region: $LITESTREAM_ACCESS_KEY_ID\n",
    );
    project
}

#[test]
fn unresolved_references_stop_replicate_by_name() {
    let project = project();
    let output = project.lsenv().arg("replicate").output().unwrap();
    assert_said(
        &output,
        3,
        "config/litestream.yml:6:22: $LITESTREAM_ACCESS_KEY_ID (6:22), \
         $LITESTREAM_SECRET_ACCESS_KEY (7:26) are set by nothing; litestream would read them as empty",
    );
    assert!(
        said(&output).contains("--no-preflight"),
        "{}",
        said(&output)
    );
    assert!(!project.path("ran").exists(), "litestream ran");

    // Set by the environment (empty counts as set): nothing is missing.
    let output = project
        .lsenv()
        .arg("replicate")
        .env("LITESTREAM_ACCESS_KEY_ID", "")
        .env("LITESTREAM_SECRET_ACCESS_KEY", "x")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", said(&output));
}

#[test]
fn no_preflight_and_an_own_config_skip_it() {
    let project = project();
    let output = project
        .lsenv()
        .args(["replicate", "--no-preflight", "-exec", "true"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", said(&output));
    assert_eq!(
        std::fs::read_to_string(project.path("ran")).unwrap(),
        "replicate\n-config\nconfig/litestream.yml\n-exec\ntrue\n"
    );
    let output = project
        .lsenv()
        .args(["replicate", "-config", "config/litestream.yml"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", said(&output));
}
