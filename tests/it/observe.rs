//! `lsenv explain` and `lsenv check`: which source won, what it overrode, what maps to nothing,
//! and every problem `check` knows, each in a project made to contain it. Neither ever prints a
//! value. `check` runs litestream (`litestream version`), so it runs in a private network
//! namespace.

use std::os::unix::fs::PermissionsExt as _;

use crate::support::{CANARY, Problem, Project, litestream, said};

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
    let output = project
        .lsenv()
        .env("LITESTREAM_REPLICA_BUCKET", "env-bucket")
        .arg("explain")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", said(&output));
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    let expected_bucket = "LITESTREAM_REPLICA_BUCKET  (10 bytes, hmac ";
    assert!(text.contains(expected_bucket), "{text}");
    assert!(
        text.contains(
            "  from  environment $LITESTREAM_REPLICA_BUCKET\n  over  config/credentials.yml.enc `litestream.replica_bucket`\n  over  config/lsenv.toml `litestream.replica_bucket`\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("LITESTREAM_REPLICA_REGION  (11 bytes"),
        "{text}"
    );
    assert!(
        text.contains("  from  config/lsenv.toml `litestream.replica_region`\nLITESTREAM_SECRET"),
        "{text}"
    );
    assert!(
        text.contains("  from  config/credentials.yml.enc `litestream.replica_access_key`\n"),
        "{text}"
    );
    assert!(
        text.contains("credentials keys that become no variable: secret_key_base, aws.unused_id"),
        "{text}"
    );
    assert!(!said(&output).contains(CANARY));
    assert!(!said(&output).contains("env-bucket") && !said(&output).contains("toml-region"));
}

#[test]
fn explain_json_and_what_resolves_to_nothing() {
    let project = layered();
    project.file(
        "config/litestream.yml",
        format!("{LITESTREAM_YML}      endpoint: $LITESTREAM_REPLICA_ENDPOINT\n"),
    );
    let output = project
        .lsenv()
        .args([
            "explain",
            "--json",
            "LITESTREAM_ACCESS_KEY_ID",
            "LITESTREAM_NOPE",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", said(&output));
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

fn check(project: &Project, json: bool) -> std::process::Output {
    let mut command = project.offline();
    command.arg("check");
    if json {
        command.arg("--json");
    }
    command.output().expect("cannot run `unshare` (util-linux)")
}

#[test]
fn a_clean_setup_passes_check() {
    let project = unshadowed();
    project.file(
        "config/litestream.yml",
        LITESTREAM_YML.replace("\"${LITESTREAM_REPLICA_REGION}\"", "us-east-1"),
    );
    let output = check(&project, false);
    let text = said(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains(
            "ok       config/credentials.yml.enc: decrypts with the key from config/master.key"
        ),
        "{text}"
    );
    assert!(text.contains("litestream 0.5"), "{text}");
    assert!(!text.contains(CANARY));
}

/// Each problem in a project made to contain it: the exit code, and what check says.
#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one table of cases reads best as one list"
)]
fn check_finds_each_problem() {
    let cases: Vec<Problem<'static>> = vec![
        (
            "unresolved variable",
            Box::new(|p: &Project| {
                p.file(
                    "config/litestream.yml",
                    format!("{LITESTREAM_YML}      endpoint: $LITESTREAM_REPLICA_ENDPONT\n"),
                );
            }),
            3,
            "config/litestream.yml:9:17: $LITESTREAM_REPLICA_ENDPONT is set by nothing",
        ),
        (
            "typo in a reference",
            Box::new(|p: &Project| {
                p.file(
                    "config/litestream.yml",
                    LITESTREAM_YML.replace("$LITESTREAM_ACCESS_KEY_ID", "$LITESTREAM_ACESS_KEY_ID"),
                );
            }),
            3,
            "(did you mean LITESTREAM_ACCESS_KEY_ID?)",
        ),
        (
            "value that breaks the YAML",
            Box::new(|p: &Project| {
                p.credentials(&format!(
                    "litestream:\n  replica_access_key: \"{CANARY} #x\"\n"
                ));
            }),
            3,
            "the value of $LITESTREAM_SECRET_ACCESS_KEY (from config/credentials.yml.enc `litestream.replica_access_key`) would change this YAML once Litestream pastes it in: it has ` #`",
        ),
        (
            "quote inside a quoted reference",
            Box::new(|p: &Project| {
                p.file("config/litestream.yml", LITESTREAM_YML);
                p.file(
                    "config/lsenv.toml",
                    format!(
                        "[litestream]\nreplica_region = 'a\"b'\n[replicate]\nlitestream = \"{}\"\n",
                        litestream().display()
                    ),
                );
            }),
            3,
            "inside a double-quoted scalar",
        ),
        (
            "newline in a value",
            Box::new(|p: &Project| {
                p.credentials("litestream:\n  replica_bucket: \"a\\nb\"\n  replica_key_id: y\n  replica_access_key: s\n");
            }),
            3,
            "it has a line break",
        ),
        (
            "unquoted scalar Ruby reads otherwise",
            Box::new(|p: &Project| {
                p.credentials("litestream:\n  replica_bucket: b\n  replica_key_id: 0012345\n  replica_access_key: s\n");
            }),
            6,
            "config/credentials.yml.enc:3:19: key `litestream.replica_key_id`: unquoted, Ruby (Rails, the litestream gem) reads it as an integer",
        ),
        (
            "typo in a credentials key",
            Box::new(|p: &Project| {
                p.credentials("litestream:\n  replica_bucket: b\n  acess_key_id: x\n  replica_key_id: y\n  replica_access_key: s\n");
            }),
            6,
            "LITESTREAM_ACESS_KEY_ID (from config/credentials.yml.enc `litestream.acess_key_id`) is used by neither Litestream nor config/litestream.yml; did you mean LITESTREAM_ACCESS_KEY_ID?",
        ),
        (
            "key readable by others",
            Box::new(|p: &Project| {
                std::fs::set_permissions(
                    p.path("config/master.key"),
                    std::fs::Permissions::from_mode(0o644),
                )
                .unwrap();
            }),
            6,
            "config/master.key: the key file is readable by other users (mode 0644)",
        ),
        (
            "key not ignored by git",
            Box::new(|p: &Project| {
                git(p, &["init", "-q"]);
                std::fs::remove_file(p.path(".gitignore")).unwrap();
            }),
            6,
            "config/master.key: the key file is not ignored by git",
        ),
        (
            "key committed to git",
            Box::new(|p: &Project| {
                git(p, &["init", "-q"]);
                git(p, &["add", "-f", "config/master.key"]);
            }),
            3,
            "config/master.key: the key file is committed to git",
        ),
        (
            "no litestream",
            Box::new(|p: &Project| {
                p.file(
                    "config/lsenv.toml",
                    "[replicate]\nlitestream = \"/nonexistent/litestream\"\n",
                );
            }),
            6,
            "litestream: /nonexistent/litestream: no such file",
        ),
        (
            "wrong key",
            Box::new(|p: &Project| {
                p.file("config/master.key", "ffffffffffffffffffffffffffffffff");
            }),
            5,
            "config/credentials.yml.enc: cannot decrypt",
        ),
        (
            "no key",
            Box::new(|p: &Project| {
                std::fs::remove_file(p.path("config/master.key")).unwrap();
            }),
            4,
            "no key found to decrypt this file",
        ),
    ];
    for (name, setup, code, says) in cases {
        let project = layered();
        project.file(
            "config/litestream.yml",
            LITESTREAM_YML.replace("\"${LITESTREAM_REPLICA_REGION}\"", "us-east-1"),
        );
        setup(&project);
        let output = check(&project, false);
        let text = said(&output);
        assert_eq!(output.status.code(), Some(code), "{name}: {text}");
        assert!(text.contains(says), "{name}: expected {says:?} in\n{text}");
        assert!(!text.contains(CANARY), "{name}: {text}");
    }
}

#[test]
fn check_json_for_ci() {
    let project = unshadowed();
    let output = check(&project, true);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", said(&output));
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
    let output = check(&project, true);
    assert_eq!(output.status.code(), Some(3));
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
