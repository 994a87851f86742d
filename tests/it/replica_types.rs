//! `lsenv init --type TYPE` for every Litestream 0.5 replica type: the config it writes is read
//! by the real litestream as that type, every `$VAR` it references resolves from the untouched
//! templates, and file-valued secrets are files.

use crate::case::Case;
use crate::support::{Project, litestream, said};

/// Each type and the file secrets its templates declare.
const TYPES: [(&str, &[&str]); 6] = [
    ("s3", &[]),
    ("gs", &["GOOGLE_APPLICATION_CREDENTIALS"]),
    ("abs", &[]),
    ("sftp", &["LITESTREAM_SFTP_KEY_PATH"]),
    ("nats", &["LITESTREAM_NATS_CREDS_PATH"]),
    ("webdav", &[]),
];

#[test]
fn init_writes_a_config_litestream_reads_as_each_type() {
    for (replica_type, files) in TYPES {
        let project = Project::new();
        Case::new(&project)
            .args(["init", "--type", replica_type, "--db", "app.sqlite3"])
            .run();

        let output = Case::new(&project).args(["explain", "--json"]).run();
        let explained: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(
            explained["unresolved_references"],
            serde_json::json!([]),
            "{replica_type}: {explained}"
        );
        for name in files {
            assert_eq!(
                explained["variables"][name]["file"],
                serde_json::Value::Bool(true),
                "{replica_type} {name}: {explained}"
            );
        }

        let output = Case::new(&project)
            .arg("exec")
            .arg(litestream())
            .args(["databases", "-config", "config/litestream.yml"])
            .run();
        let shown = said(&output);
        assert!(output.status.success(), "{replica_type}: {shown}");
        assert!(
            shown
                .lines()
                .any(|line| line.ends_with(&format!("app.sqlite3  {replica_type}"))),
            "{replica_type}: {shown}"
        );
    }
}

/// `credentials edit` of a file that does not exist yet starts from the S3 template, as
/// `init` writes it.
#[test]
fn a_new_credentials_file_starts_from_the_s3_template() {
    let project = Project::new();
    let editor = project.script("editor.sh", "#!/bin/sh\ncp \"$1\" seen.yml\n");
    let output = Case::new(&project)
        .args(["credentials", "edit"])
        .env("EDITOR", &editor)
        .run();
    let seen = std::fs::read_to_string(project.path("seen.yml"))
        .unwrap_or_else(|_| panic!("the editor did not run: {}", said(&output)));
    assert!(
        seen.contains("\nlitestream:\n")
            && seen.contains("  replica_key_id: REPLACE-WITH-ACCESS-KEY-ID\n"),
        "{seen}"
    );
}
