//! YAML where parsers differ, read by the real Ruby and by lsenv: each case is encrypted by the
//! real ActiveSupport, then read by Psych the way Rails >= 7.0.2 reads credentials
//! (`YAML.unsafe_load`, `deep_symbolize_keys`; `tests/drivers/rails_oracle.rb section`) and by
//! `lsenv exec`. Both must give the same variables or both refuse the file — except where the
//! README's design notes say why lsenv refuses what Ruby reads, which is asserted as such.

use std::collections::BTreeMap;
use std::path::Path;

use crate::case::Case;
use crate::support::{Project, env_of, said};

/// What the two readers must do with a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The same variables, or both refuse.
    Agree,
    /// Ruby reads it (a libyaml leniency YAML 1.2 forbids), lsenv refuses it with exit 3 at
    /// the given line.
    LsenvRefusesAtLine(usize),
}

const CASES: &[(&str, &str, Expect)] = &[
    (
        "merge key after the mapping's own keys: the merge wins",
        "defaults: &d\n  replica_region: r1\n  replica_path: p1\nlitestream:\n  replica_region: r2\n  <<: *d\n  replica_path: p2\n",
        Expect::Agree,
    ),
    (
        "merge of a list: earlier mappings win; a quoted << merges too",
        "a: &a {replica_region: a}\nb: &b {replica_region: b, replica_path: b}\nlitestream:\n  <<: [*a, *b]\n  '<<': {replica_bucket: quoted}\n",
        Expect::Agree,
    ),
    (
        "a literal block (a PEM key) last, without a final line break",
        "litestream:\n  replica_bucket: b\n  private_key: |\n    -----BEGIN KEY-----\n    abc\n    -----END KEY-----",
        Expect::Agree,
    ),
    (
        "a folded block with trailing blanks, last",
        "litestream:\n  note: >\n    one\n    two\n  ",
        Expect::Agree,
    ),
    (
        "a duplicate key: the last",
        "litestream:\n  replica_bucket: one\n  replica_bucket: two\n",
        Expect::Agree,
    ),
    (
        "two litestream sections: the last",
        "litestream:\n  replica_bucket: one\n  replica_region: r\nlitestream:\n  replica_bucket: two\n",
        Expect::Agree,
    ),
    (
        "symbol keys, which Rails symbolizes",
        ":litestream:\n  :replica_bucket: sym\n  replica_region: r\n  :\"replica_path\": q\n",
        Expect::Agree,
    ),
    (
        "a symbol key and a string key for the same name: the last",
        "litestream:\n  replica_bucket: string\n  :replica_bucket: symbol\n",
        Expect::Agree,
    ),
    (
        "!!binary and other tags",
        "litestream:\n  replica_bucket: !!binary YmluYXJ5LWJ1Y2tldA==\n  access_key_id: !secret abc\n  replica_path: !!str 0012\n",
        Expect::Agree,
    ),
    (
        "null in any case is unset",
        "litestream:\n  replica_bucket: b\n  replica_region: NuLL\n  replica_path: ~\n",
        Expect::Agree,
    ),
    (
        "a second document: the first is read",
        "litestream:\n  replica_bucket: first\n---\nlitestream:\n  replica_bucket: second\n",
        Expect::Agree,
    ),
    (
        "a second document that is not valid YAML is not read",
        "litestream:\n  replica_bucket: first\n---\nlitestream: [\n",
        Expect::Agree,
    ),
    (
        "BEL in a plain value: refused",
        "litestream:\n  replica_bucket: a\u{7}b\n",
        Expect::Agree,
    ),
    (
        "DEL in a plain value: refused",
        "litestream:\n  replica_bucket: a\u{7f}b\n",
        Expect::Agree,
    ),
    (
        "NEL in a plain value: a line break to Ruby, refused",
        "litestream:\n  replica_bucket: a\u{85}b\n",
        Expect::Agree,
    ),
    (
        "a comment right after a quoted value",
        "litestream:\n  replica_bucket: 'x'#c\n",
        Expect::LsenvRefusesAtLine(2),
    ),
    (
        "a tab after the colon",
        "litestream:\n  replica_bucket:\tx\n",
        Expect::LsenvRefusesAtLine(2),
    ),
    (
        "a tab at the start of a quoted continuation line",
        "litestream:\n  replica_bucket: \"x\n\ty\"\n",
        Expect::LsenvRefusesAtLine(3),
    ),
    (
        "a quoted value continued at the key's indentation",
        "litestream:\n  replica_bucket: 'x\n  y'\n",
        Expect::LsenvRefusesAtLine(2),
    ),
];

/// Ruby's reading of the `litestream` section as the variables lsenv would set (null: unset),
/// or its error.
fn ruby_reads(project: &Project) -> Result<BTreeMap<String, String>, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/drivers/rails_oracle.rb");
    let output = std::process::Command::new("ruby")
        .arg(script)
        .arg("section")
        .arg(project.path("config/credentials.yml.enc"))
        .arg(project.path("config/master.key"))
        .arg("litestream")
        .env_remove("RAILS_MASTER_KEY")
        .output()
        .expect("ruby must be installed (apt-get install ruby ruby-activesupport)");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    match output.status.code() {
        Some(0) => {}
        // A YAML error (exit 1) or no section (exit 3): Ruby refuses; anything else is a
        // broken oracle, which must not pass for a refusal.
        Some(1) if stderr.contains("Psych::SyntaxError") => return Err(stderr),
        _ => panic!("the oracle failed: {stderr}"),
    }
    let section: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&output.stdout).unwrap();
    Ok(section
        .into_iter()
        .filter_map(|(key, value)| match value {
            serde_json::Value::String(text) => {
                Some((format!("LITESTREAM_{}", key.to_uppercase()), text))
            }
            other if other["class"] == "NilClass" => None,
            other => panic!("the case must hold only values and nulls: {key} is {other}"),
        })
        .collect())
}

#[test]
fn lsenv_reads_yaml_as_ruby_reads_credentials() {
    for &(name, yaml, expect) in CASES {
        let project = Project::new();
        std::fs::create_dir_all(project.path("config")).unwrap();
        // --raw: ActiveSupport encrypts the text as it is, without parsing it first.
        crate::support::ruby_oracle(
            "write",
            &[
                &project.path("config/credentials.yml.enc"),
                &project.path("config/master.key"),
            ],
            &["--raw"],
            yaml.as_bytes(),
        );
        let ruby = ruby_reads(&project);
        let case = Case::new(&project)
            .named(name)
            .args(["exec", "--", "env", "-0"]);
        match expect {
            Expect::Agree => match &ruby {
                Ok(variables) => {
                    // The child prints the environment: values on purpose.
                    let output = case.reveals().run();
                    let lsenv: BTreeMap<String, String> = env_of(&output)
                        .into_iter()
                        .filter(|(key, _)| key.starts_with("LITESTREAM_"))
                        .collect();
                    assert!(!variables.is_empty(), "{name}: Ruby set nothing");
                    assert_eq!(&lsenv, variables, "{name}");
                }
                Err(_) => {
                    case.status(3).said("config/credentials.yml.enc").run();
                }
            },
            Expect::LsenvRefusesAtLine(line) => {
                let variables = ruby.unwrap_or_else(|err| panic!("{name}: Ruby refused: {err}"));
                assert_eq!(variables.len(), 1, "{name}: {variables:?}");
                case.status(3)
                    .said(format!("config/credentials.yml.enc:{line}:"))
                    .run();
            }
        }
    }
}

/// Duplicate keys are read as Ruby reads them, and `check` says which one is ignored.
#[test]
fn check_warns_of_duplicate_keys() {
    let project = Project::new();
    project.credentials(
        "litestream:\n  replica_bucket: one\nlitestream:\n  replica_bucket: two\n  replica_region: r\n  replica_region: s\n",
    );
    let output = Case::new(&project).arg("check").status(6).run();
    let said = said(&output);
    for key in [
        ":3:1: key `litestream`",
        ":6:3: key `litestream.replica_region`",
    ] {
        assert!(
            said.contains(&format!("config/credentials.yml.enc{key}"))
                && said.contains("written twice"),
            "{key}: {said}"
        );
    }
}
