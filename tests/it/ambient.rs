//! Ambient cloud identity: `explain` and `check` say when a replica is left to the cloud SDK's
//! default chain, and the `@aws`/`@gcp`/`@azure` presets pass exactly what that chain reads.

use crate::case::Case;
use crate::support::{Project, assert_said, child_env, map, said};

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
        let output = project.lsenv().args(args).output().unwrap();
        let shown = said(&output);
        assert!(shown.contains(note), "{args:?}: {shown}");
        assert!(
            shown.contains("add \"@aws\" to `pass`"),
            "{args:?}: {shown}"
        );
    }
    let output = project
        .lsenv()
        .args(["explain", "--json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["ambient_identity"][0]["line"], 4, "{json}");

    // With the preset passed, it says so; with a static key, nothing is said.
    project.file(
        "config/lsenv.toml",
        "[litestream]\nreplica_bucket = \"b\"\n[exec]\npass = [\"@aws\"]\n",
    );
    let shown = said(&project.lsenv().arg("explain").output().unwrap());
    assert!(
        shown.contains("the pass-list gives it the 15 variables"),
        "{shown}"
    );
    let output = project
        .lsenv()
        .arg("explain")
        .env("LITESTREAM_ACCESS_KEY_ID", "AKID")
        .output()
        .unwrap();
    assert!(
        !said(&output).contains("default chain"),
        "{}",
        said(&output)
    );
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
    let output = project
        .lsenv()
        .args(["exec", "--pass", "@gpc", "true"])
        .output()
        .unwrap();
    assert_said(
        &output,
        2,
        "@gpc: no such preset (known: @aws, @gcp, @azure)",
    );
    project.file("config/lsenv.toml", "[exec]\npass = [\"@azur\"]\n");
    let output = project.lsenv().args(["exec", "true"]).output().unwrap();
    assert_said(&output, 3, "exec.pass");
}
