//! `lsenv explain` and `lsenv check`: which source won, what it overrode, what maps to nothing,
//! and every problem `check` knows, each in a project made to contain it. Neither ever prints a
//! value. `check` runs litestream (`litestream version`), so it runs in a private network
//! namespace.

use std::os::unix::fs::PermissionsExt as _;

use crate::case::{Case, problem};
use crate::support::{CANARY, Project, litestream};

const LITESTREAM_YML: &str = "dbs:\n  - path: db.sqlite3\n    replica:\n      type: s3\n      bucket: $LITESTREAM_REPLICA_BUCKET\n      region: \"${LITESTREAM_REPLICA_REGION}\"\n      access-key-id: $LITESTREAM_ACCESS_KEY_ID\n      secret-access-key: $LITESTREAM_SECRET_ACCESS_KEY\n";

/// TOML, credentials and environment each winning somewhere.
fn layered() -> Project {
    let project = Project::new();
    project
        .file(
            "config/lsenv.toml",
            format!(
                "[litestream]\nreplica_bucket = \"toml-bucket\"\nreplica_region = \"toml-region\"\n[replicate]\nlitestream = \"{}\"\n",
                litestream().display()
            ),
        )
        .file("config/litestream.yml", LITESTREAM_YML)
        .file(".gitignore", "/config/master.key\n")
        .credentials(&format!(
            "secret_key_base: {CANARY}\naws:\n  unused_id: x\nlitestream:\n  replica_bucket: cred-bucket\n  replica_key_id: AKID\n  replica_access_key: {CANARY}\n"
        ));
    std::fs::set_permissions(
        project.path("config/master.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    project
}

/// [`layered`] without the TOML bucket that the credentials override, which `check` warns about.
fn unshadowed() -> Project {
    let project = layered();
    let toml = std::fs::read_to_string(project.path("config/lsenv.toml")).unwrap();
    project.file(
        "config/lsenv.toml",
        toml.replace("replica_bucket = \"toml-bucket\"\n", ""),
    );
    project
}

#[test]
fn explain_names_the_winner_and_what_it_overrode() {
    let project = layered();
    Case::new(&project)
        .env("LITESTREAM_REPLICA_BUCKET", "env-bucket")
        .arg("explain")
        .stdout_has("LITESTREAM_REPLICA_BUCKET  (10 bytes, hmac ")
        .stdout_has("  from  environment $LITESTREAM_REPLICA_BUCKET\n  over  config/credentials.yml.enc `litestream.replica_bucket`\n  over  config/lsenv.toml `litestream.replica_bucket`\n")
        .stdout_has("LITESTREAM_REPLICA_REGION  (11 bytes")
        .stdout_has("  from  config/lsenv.toml `litestream.replica_region`\nLITESTREAM_SECRET")
        .stdout_has("  from  config/credentials.yml.enc `litestream.replica_access_key`\n")
        .stdout_has("credentials keys that become no variable: secret_key_base, aws.unused_id")
        .lacks("env-bucket")
        .lacks("toml-region")
        .run();
}

#[test]
fn explain_json_and_what_resolves_to_nothing() {
    let project = layered();
    project.file(
        "config/litestream.yml",
        format!("{LITESTREAM_YML}      endpoint: $LITESTREAM_REPLICA_ENDPOINT\n"),
    );
    let output = Case::new(&project)
        .args([
            "explain",
            "--json",
            "LITESTREAM_ACCESS_KEY_ID",
            "LITESTREAM_NOPE",
        ])
        .run();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let variable = &report["variables"]["LITESTREAM_ACCESS_KEY_ID"];
    assert_eq!(variable["source"]["layer"], "credentials");
    assert_eq!(variable["source"]["key"], "litestream.replica_key_id");
    assert_eq!(variable["overridden"], serde_json::json!([]));
    assert!(
        variable["fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("4 bytes, hmac ")
    );
    assert_eq!(report["not_set"], serde_json::json!(["LITESTREAM_NOPE"]));
    assert_eq!(
        report["unresolved_references"][0]["name"],
        "LITESTREAM_REPLICA_ENDPOINT"
    );
    assert_eq!(report["unresolved_references"][0]["line"], 9);
    assert_eq!(report["variables"].as_object().unwrap().len(), 1);
}

/// `lsenv check` (with `--json`), in a private network namespace.
fn check(project: &Project, json: bool) -> Case {
    let case = Case::offline(project).arg("check");
    if json { case.arg("--json") } else { case }
}

#[test]
fn a_clean_setup_passes_check() {
    let project = unshadowed();
    project.file(
        "config/litestream.yml",
        LITESTREAM_YML.replace("\"${LITESTREAM_REPLICA_REGION}\"", "us-east-1"),
    );
    check(&project, false)
        .said("ok       config/credentials.yml.enc: decrypts with the key from config/master.key")
        .said("litestream 0.5")
        .run();
}

/// Each problem in a project made to contain it: the exit code, and what check says.
#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one table of cases reads best as one list"
)]
fn check_finds_each_problem() {
    let cases = vec![
        problem(
            "unresolved variable",
            |p: &Project| {
                p.file(
                    "config/litestream.yml",
                    format!("{LITESTREAM_YML}      endpoint: $LITESTREAM_REPLICA_ENDPONT\n"),
                );
            },
            3,
            "config/litestream.yml:9:17: $LITESTREAM_REPLICA_ENDPONT is set by nothing",
        ),
        problem(
            "typo in a reference",
            |p: &Project| {
                p.file(
                    "config/litestream.yml",
                    LITESTREAM_YML.replace("$LITESTREAM_ACCESS_KEY_ID", "$LITESTREAM_ACESS_KEY_ID"),
                );
            },
            3,
            "(did you mean LITESTREAM_ACCESS_KEY_ID?)",
        ),
        problem(
            "value that breaks the YAML",
            |p: &Project| {
                p.credentials(&format!(
                    "litestream:\n  replica_access_key: \"{CANARY} #x\"\n"
                ));
            },
            3,
            "the value of $LITESTREAM_SECRET_ACCESS_KEY (from config/credentials.yml.enc `litestream.replica_access_key`) would change this YAML once Litestream pastes it in: it has ` #`",
        ),
        problem(
            "quote inside a quoted reference",
            |p: &Project| {
                p.file("config/litestream.yml", LITESTREAM_YML);
                p.file(
                    "config/lsenv.toml",
                    format!(
                        "[litestream]\nreplica_region = 'a\"b'\n[replicate]\nlitestream = \"{}\"\n",
                        litestream().display()
                    ),
                );
            },
            3,
            "inside a double-quoted scalar",
        ),
        problem(
            "newline in a value",
            |p: &Project| {
                p.credentials("litestream:\n  replica_bucket: \"a\\nb\"\n  replica_key_id: y\n  replica_access_key: s\n");
            },
            3,
            "it has a line break",
        ),
        problem(
            "unquoted scalar Ruby reads otherwise",
            |p: &Project| {
                p.credentials("litestream:\n  replica_bucket: b\n  replica_key_id: 0012345\n  replica_access_key: s\n");
            },
            6,
            "config/credentials.yml.enc:3:19: key `litestream.replica_key_id`: unquoted, Ruby (Rails, the litestream gem) reads it as an integer",
        ),
        problem(
            "typo in a credentials key",
            |p: &Project| {
                p.credentials("litestream:\n  replica_bucket: b\n  acess_key_id: x\n  replica_key_id: y\n  replica_access_key: s\n");
            },
            6,
            "LITESTREAM_ACESS_KEY_ID (from config/credentials.yml.enc `litestream.acess_key_id`) is used by neither Litestream nor config/litestream.yml; did you mean LITESTREAM_ACCESS_KEY_ID?",
        ),
        problem(
            "key readable by others",
            |p: &Project| {
                std::fs::set_permissions(
                    p.path("config/master.key"),
                    std::fs::Permissions::from_mode(0o644),
                )
                .unwrap();
            },
            6,
            "config/master.key: the key file is readable by other users (mode 0644)",
        ),
        problem(
            "key not ignored by git",
            |p: &Project| {
                git(p, &["init", "-q"]);
                std::fs::remove_file(p.path(".gitignore")).unwrap();
            },
            6,
            "config/master.key: the key file is not ignored by git",
        ),
        problem(
            "key committed to git",
            |p: &Project| {
                git(p, &["init", "-q"]);
                git(p, &["add", "-f", "config/master.key"]);
            },
            3,
            "config/master.key: the key file is committed to git",
        ),
        problem(
            "no litestream",
            |p: &Project| {
                p.file(
                    "config/lsenv.toml",
                    "[replicate]\nlitestream = \"/nonexistent/litestream\"\n",
                );
            },
            6,
            "litestream: /nonexistent/litestream: no such file",
        ),
        problem(
            "wrong key",
            |p: &Project| {
                p.file("config/master.key", "ffffffffffffffffffffffffffffffff");
            },
            5,
            "config/credentials.yml.enc: cannot decrypt",
        ),
        problem(
            "no key",
            |p: &Project| {
                std::fs::remove_file(p.path("config/master.key")).unwrap();
            },
            4,
            "no key found to decrypt this file",
        ),
    ];
    for case in cases {
        let project = layered();
        project.file(
            "config/litestream.yml",
            LITESTREAM_YML.replace("\"${LITESTREAM_REPLICA_REGION}\"", "us-east-1"),
        );
        case.set_up(&project);
        case.expect(check(&project, false)).run();
    }
}

#[test]
fn check_json_for_ci() {
    let project = unshadowed();
    let output = check(&project, true).run();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["errors"], 0);
    let findings = report["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["level"] == "ok" && f["file"] == "config/credentials.yml.enc")
    );

    project.file(
        "config/litestream.yml",
        format!("{LITESTREAM_YML}      endpoint: $MISSING\n"),
    );
    let output = check(&project, true).status(3).run();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["errors"], 1);
    let error = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["level"] == "error")
        .unwrap();
    assert_eq!(error["file"], "config/litestream.yml");
    assert_eq!(error["line"], 9);
}

fn git(project: &Project, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args(args)
        .current_dir(project.root())
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}
