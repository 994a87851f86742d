//! `lsenv init --type TYPE` for every Litestream 0.5 replica type: the config it writes is read
//! by the real litestream as that type, every `$VAR` it references resolves from the untouched
//! templates, and file-valued secrets are files.

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
        let output = project
            .lsenv()
            .args(["init", "--type", replica_type, "--db", "app.sqlite3"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{replica_type}: {}", said(&output));

        let output = project
            .lsenv()
            .args(["explain", "--json"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{replica_type}: {}", said(&output));
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

        let output = project
            .lsenv()
            .arg("exec")
            .arg(litestream())
            .args(["databases", "-config", "config/litestream.yml"])
            .output()
            .unwrap();
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
