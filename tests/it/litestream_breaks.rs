//! Values that change `litestream.yml` once Litestream pastes them in: `check` reports each at
//! its reference, and the real litestream proves the finding real by failing on the config or
//! reading a different value from it; a clean value passes both.

use crate::case::Case;
use crate::support::{Project, litestream, said};

const PLAIN: &str =
    "dbs:\n  - path: $LITESTREAM_REPLICA_PATH\n    replica:\n      type: s3\n      bucket: b\n";
const DOUBLE: &str =
    "dbs:\n  - path: \"$LITESTREAM_REPLICA_PATH\"\n    replica:\n      type: s3\n      bucket: b\n";
const FLOW: &str = "dbs:\n  - {path: $LITESTREAM_REPLICA_PATH, replica: {type: s3, bucket: b}}\n";

/// The credentials' value as a YAML double-quoted string (its escapes), the config, and where
/// the reference sits.
const BREAKING: [(&str, &str, &str); 16] = [
    ("app\\u2028.db", PLAIN, "2:11"),
    ("app\\u2029.db", PLAIN, "2:11"),
    ("app\\x85.db", PLAIN, "2:11"),
    ("app\\u2028.db", DOUBLE, "2:12"),
    ("app,x.db", FLOW, "2:12"),
    ("app}.db", FLOW, "2:12"),
    ("app].db", FLOW, "2:12"),
    ("app[.db", FLOW, "2:12"),
    ("null", PLAIN, "2:11"),
    ("Null", PLAIN, "2:11"),
    ("NULL", PLAIN, "2:11"),
    ("~", PLAIN, "2:11"),
    ("app.db\\t#x", PLAIN, "2:11"),
    ("\\tapp.db", PLAIN, "2:11"),
    ("app.db\\t", PLAIN, "2:11"),
    ("app:\\t.db", PLAIN, "2:11"),
];

/// The value the escapes in `escaped` stand for.
fn unescape(escaped: &str) -> String {
    escaped
        .replace("\\u2028", "\u{2028}")
        .replace("\\u2029", "\u{2029}")
        .replace("\\x85", "\u{85}")
        .replace("\\t", "\t")
}

/// A project whose credentials hold the value and whose Litestream config is `config`.
fn project(escaped: &str, config: &str) -> Project {
    let project = Project::new();
    project.credentials(&format!("litestream:\n  replica_path: \"{escaped}\"\n"));
    project.file("config/litestream.yml", config);
    project
}

/// What `lsenv check` says, asserting that it never shows the value.
fn check(project: &Project, value: &str) -> (Option<i32>, String) {
    let output = Case::new(project).arg("check").any_status().run();
    let shown = said(&output);
    // The one `~` lsenv writes itself, in the AWS chain's note: not the value.
    let own = shown.replace("~/.aws", "");
    assert!(!own.contains(value), "{value:?} shown: {shown}");
    (output.status.code(), shown)
}

/// Whether the real litestream, run through `lsenv exec` on the pasted config, reads the
/// database path as the value: it lists it, on a row of its own with the replica type.
fn litestream_reads(project: &Project, value: &str) -> (bool, String) {
    // Litestream may refuse the pasted config: what it says is the verdict.
    let output = Case::offline(project)
        .args(["exec", "--"])
        .arg(litestream())
        .args(["databases", "-config", "config/litestream.yml"])
        .any_status()
        .run();
    let shown = said(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .skip(1)
        .map(|row| row.split_whitespace().collect())
        .collect();
    let reads = output.status.success()
        && matches!(rows.as_slice(), [row] if row.len() == 2
            && row[0].ends_with(&format!("/{value}"))
            && row[1] == "s3");
    (reads, shown)
}

#[test]
fn each_breaking_value_is_reported_and_breaks_the_real_litestream() {
    for (escaped, config, position) in BREAKING {
        let value = unescape(escaped);
        let project = project(escaped, config);
        let (code, shown) = check(&project, &value);
        let expected = format!(
            "config/litestream.yml:{position}: the value of $LITESTREAM_REPLICA_PATH (from"
        );
        assert_eq!(code, Some(3), "{escaped}: {shown}");
        assert!(shown.contains(&expected), "{escaped}: {expected}\n{shown}");
        let (reads, shown) = litestream_reads(&project, &value);
        assert!(!reads, "{escaped}: litestream read it as written: {shown}");
    }
}

#[test]
fn a_clean_value_passes_check_and_the_real_litestream() {
    for config in [PLAIN, DOUBLE, FLOW] {
        let value = "app_1-ok.db";
        let project = project(value, config);
        let (code, shown) = check(&project, "no value to hide");
        assert!(!shown.contains("would change this YAML"), "{shown}");
        assert_ne!(code, Some(3), "{shown}");
        let (reads, shown) = litestream_reads(&project, value);
        assert!(reads, "{config}: {shown}");
    }
}
