//! `check` against Litestream 0.5's schema: the untouched `init` output fails (placeholders), a
//! filled-in one passes for every replica type, and each mistake of the config is reported at
//! its line.

use crate::case::Case;
use crate::support::{Project, said};

const TYPES: [&str; 6] = ["s3", "gs", "abs", "sftp", "nats", "webdav"];

fn errors(shown: &str) -> Vec<&str> {
    shown
        .lines()
        .filter(|line| line.starts_with("error"))
        .collect()
}

#[test]
fn init_output_fails_until_filled_in_then_passes_for_every_type() {
    for replica_type in TYPES {
        let project = Project::new();
        Case::new(&project)
            .args(["init", "--type", replica_type, "--db", "app.sqlite3"])
            .run();
        let output = Case::new(&project)
            .named(replica_type)
            .arg("check")
            .status(3)
            .run();
        let shown = said(&output);
        assert!(
            errors(&shown)
                .iter()
                .all(|line| line.contains("is still the placeholder `lsenv init` wrote")),
            "{replica_type}: {shown}"
        );
        assert!(!errors(&shown).is_empty(), "{replica_type}: {shown}");

        let template = Case::new(&project).args(["credentials", "show"]).run();
        let filled = String::from_utf8(template.stdout)
            .unwrap()
            .replace("REPLACE-WITH-", "filled-in-");
        project.credentials(&filled);
        let output = Case::new(&project).arg("check").run();
        let shown = said(&output);
        assert!(errors(&shown).is_empty(), "{replica_type}: {shown}");
    }
}

#[test]
fn each_mistake_is_reported_at_its_line() {
    let project = Project::new();
    project.credentials(
        "litestream:\n  sftp_private_key: |\n    -----BEGIN KEY-----\n    abc\n  key_text: |\n    line one\n    line two\n",
    );
    project.file(
        "config/lsenv.toml",
        "[litestream]\nkey_text = \"committed\"\n[files]\nLITESTREAM_SFTP_KEY_PATH = \"litestream.sftp_private_key\"\n",
    );
    project.file(
        "config/litestream.yml",
        "dbs:\n  - path: a.db\n    replicas:\n      - type: sftp\n        host: h:22\n        user: u\n        password: $LITESTREAM_SFTP_KEY_PATH\n      - type: sftp\n        host: h:22\n        user: u\n        key-path: $LITESTREAM_KEY_TEXT\n        host-key: k\n  - dir: data\n    replica:\n      type: s3\n      bukcet: ${LITESTREAM_BUCKET:-b}\n  - path: b.db\n    replica:\n      type: s3\n      bucket: b\n      endpoint: https://s3.eu-central-003.backblazeb2.com\n      force-path-style: false\n",
    );
    let output = Case::new(&project).args(["check"]).status(3).run();
    let shown = said(&output);
    for expected in [
        "config/litestream.yml:3:5: 2 replicas for one database",
        "config/litestream.yml:4:9: this sftp replica has no host-key",
        "config/litestream.yml:7:9: password: $LITESTREAM_SFTP_KEY_PATH is a file secret",
        "config/litestream.yml:11:9: key-path: Litestream wants the path of a file here, but $LITESTREAM_KEY_TEXT",
        "config/litestream.yml:13:5: directory replication (dir:) needs pattern:",
        "config/litestream.yml:16:7: `bukcet` is not a replica setting of Litestream 0.5; did you mean `bucket`?",
        "config/litestream.yml:14:5: this s3 replica sets no bucket or url",
        "config/litestream.yml:16:15: ${LITESTREAM_BUCKET:-b}: Litestream does not expand shell defaults",
        "config/litestream.yml:22:7: Backblaze B2 needs path-style addressing",
        "sets LITESTREAM_KEY_TEXT, but config/credentials.yml.enc `litestream.key_text` overrides it",
    ] {
        assert!(shown.contains(expected), "{expected}\n{shown}");
    }
    let output = Case::new(&project)
        .args(["check", "--json"])
        .status(3)
        .run();
    let shown = String::from_utf8(output.stdout).unwrap();
    assert!(shown.contains("did you mean `bucket`?"), "{shown}");
}

#[test]
fn a_name_unresolved_in_several_databases_is_reported_once() {
    let project = Project::new();
    project.credentials("litestream:\n  replica_region: r\n");
    project.file(
        "config/litestream.yml",
        "dbs:\n  - path: a.db\n    replica:\n      type: s3\n      bucket: $LITESTREAM_REPLICA_BUCKET\n  - path: b.db\n    replica:\n      type: s3\n      bucket: $LITESTREAM_REPLICA_BUCKET\n",
    );
    let output = Case::new(&project).arg("check").any_status().run();
    let shown = said(&output);
    let reports: Vec<&str> = errors(&shown)
        .into_iter()
        .filter(|line| line.contains("$LITESTREAM_REPLICA_BUCKET"))
        .collect();
    assert_eq!(
        reports,
        [
            "error    config/litestream.yml:5:15: $LITESTREAM_REPLICA_BUCKET is set by nothing; Litestream would read it as empty; also at 9:15 (databases a.db, b.db); to set it, add `replica_bucket: …` under `litestream:` with lsenv credentials edit"
        ],
        "{shown}"
    );
}
