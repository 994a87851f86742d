//! Ambient cloud identity: `explain` and `check` say when a replica is left to the cloud SDK's
//! default chain, and the `@aws`/`@gcp`/`@azure` presets pass exactly what that chain reads.

use crate::case::Case;
use crate::support::{Project, child_env, map};

#[test]
fn a_replica_without_a_static_key_is_said_to_use_the_default_chain() {
    let project = Project::new();
    project.file(
        "config/lsenv.toml",
        "[litestream]\nreplica_bucket = \"b\"\n",
    );
    project.file(
        "config/litestream.yml",
        "dbs:\n  - path: db.sqlite3\n    replica:\n      type: s3\n      bucket: $LITESTREAM_REPLICA_BUCKET\n",
    );
    let note = "config/litestream.yml:4:7: an s3 replica without a static key: the AWS SDK's default chain";
    for args in [&["explain"][..], &["check"]] {
        Case::new(&project)
            .args(args)
            .any_status()
            .said(note)
            .said("add \"@aws\" to `pass`")
            .run();
    }
    let output = Case::new(&project).args(["explain", "--json"]).run();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["ambient_identity"][0]["line"], 4, "{json}");

    // With the preset passed, it says so; with a static key, nothing is said.
    project.file(
        "config/lsenv.toml",
        "[litestream]\nreplica_bucket = \"b\"\n[exec]\npass = [\"@aws\"]\n",
    );
    Case::new(&project)
        .arg("explain")
        .said("the pass-list gives it the 15 variables")
        .run();
    Case::new(&project)
        .arg("explain")
        .env("LITESTREAM_ACCESS_KEY_ID", "AKID")
        .lacks("default chain")
        .run();
}

#[test]
fn presets_pass_exactly_the_chain_variables() {
    let project = Project::new();
    let env = child_env(
        Case::new(&project)
            .env("AWS_PROFILE", "prod")
            .env("AWS_ROLE_ARN", "arn:aws:iam::1:role/r")
            .env("AWS_SECRET_ACCESS_KEY", "stray")
            .env("GOOGLE_CLOUD_PROJECT", "not-asked-for"),
        &["exec", "--pass", "@aws"],
    );
    assert_eq!(
        env,
        map(&[
            ("AWS_PROFILE", "prod"),
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
        ])
    );
    Case::new(&project)
        .args(["exec", "--pass", "@gpc", "true"])
        .status(2)
        .said("@gpc: no such preset (known: @aws, @gcp, @azure)")
        .run();
    project.file("config/lsenv.toml", "[exec]\npass = [\"@azur\"]\n");
    Case::new(&project)
        .args(["exec", "true"])
        .status(3)
        .said("exec.pass")
        .run();
}
