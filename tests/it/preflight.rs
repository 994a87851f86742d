//! `lsenv replicate`'s pre-flight: `$VAR`s of the Litestream config that nothing sets are an
//! error naming each (with line and column) before litestream runs, unless `--no-preflight`.

use crate::case::Case;
use crate::support::Project;

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
    Case::new(&project).arg("replicate").status(3).said("config/litestream.yml:6:22: $LITESTREAM_ACCESS_KEY_ID (6:22), \
         $LITESTREAM_SECRET_ACCESS_KEY (7:26) are set by nothing; litestream would read them as empty").said("--no-preflight")
.run();
    assert!(!project.path("ran").exists(), "litestream ran");

    // Set by the environment (empty counts as set): nothing is missing.
    Case::new(&project)
        .arg("replicate")
        .env("LITESTREAM_ACCESS_KEY_ID", "")
        .env("LITESTREAM_SECRET_ACCESS_KEY", "x")
        .run();
}

#[test]
fn no_preflight_and_an_own_config_skip_it() {
    let project = project();
    Case::new(&project)
        .args(["replicate", "--no-preflight", "-exec", "true"])
        .run();
    assert_eq!(
        std::fs::read_to_string(project.path("ran")).unwrap(),
        "replicate\n-config\nconfig/litestream.yml\n-exec\ntrue\n"
    );
    Case::new(&project)
        .args(["replicate", "-config", "config/litestream.yml"])
        .run();
}
