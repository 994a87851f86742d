//! Rails credentials both ways with the real ActiveSupport: files Ruby wrote (committed fixtures
//! and fresh ones) are read by lsenv, and files lsenv writes are read by Ruby.

use std::path::Path;

use lsenv::store::rails::{self, MasterKey};

use crate::case::Case;
use crate::support::{KEY, Project, child_env, map, ruby_oracle};

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/rails"))
}

/// Every fixture in MANIFEST.tsv that Rails can read decrypts to exactly its plaintext.
#[test]
fn every_committed_fixture_reads_byte_for_byte() {
    let manifest = std::fs::read_to_string(fixtures().join("MANIFEST.tsv")).unwrap();
    let mut widths = std::collections::BTreeSet::new();
    let mut checked = 0;
    for line in manifest.lines().skip(1) {
        let [enc, key, plain, framing, width, _note] = line.split('\t').collect::<Vec<_>>()[..]
        else {
            panic!("bad manifest line {line:?}");
        };
        let key = MasterKey::parse(&std::fs::read(fixtures().join(key)).unwrap(), key).unwrap();
        let result = rails::read(&fixtures().join(enc), &key);
        if framing == "latin1" {
            let err = result.unwrap_err().to_string();
            assert!(err.contains("ISO-8859-1 encoding"), "{err}");
            continue;
        }
        let text = result.unwrap_or_else(|err| panic!("{enc}: {err}"));
        assert_eq!(
            text.as_bytes(),
            std::fs::read(fixtures().join(plain)).unwrap(),
            "{enc}"
        );
        widths.insert((framing.to_owned(), width.to_owned()));
        checked += 1;
    }
    assert!(checked >= 28, "only {checked} fixtures checked");
    for framing in ["binary", "utf8"] {
        for width in ["1", "2", "3", "4"] {
            assert!(
                widths.contains(&(framing.into(), width.into())),
                "{framing} {width}"
            );
        }
    }
}

/// The committed Rails app tree, through the binary: global and per-environment credentials.
#[test]
fn fixture_app_global_and_production() {
    let app = fixtures().join("app");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin!("lsenv"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap())
            .current_dir(&app);
        child_env(Case::of(command).envs(env.iter().copied()), args)
    };
    let dev = run(&["exec", "--"], &[]);
    assert_eq!(dev["LITESTREAM_REPLICA_BUCKET"], "myapp-dev-backups");
    assert_eq!(dev["LITESTREAM_ACCESS_KEY_ID"], "AKIATESTONLYDEV00001");
    assert_eq!(
        dev["LITESTREAM_SECRET_ACCESS_KEY"],
        "testonly-dev-access-key"
    );
    assert_eq!(dev.len(), 5, "{dev:?}");
    for (args, env) in [
        (&["-e", "production", "exec"][..], &[][..]),
        (&["exec", "-e", "production"][..], &[][..]),
        (&["exec"][..], &[("RAILS_ENV", "production")][..]),
        (
            &["exec"][..],
            &[("LSENV_ENV", "production"), ("RAILS_ENV", "development")][..],
        ),
    ] {
        let prod = run(args, env);
        assert_eq!(
            prod["LITESTREAM_REPLICA_BUCKET"], "myapp-prod-backups",
            "{args:?} {env:?}"
        );
        assert_eq!(
            prod["LITESTREAM_SECRET_ACCESS_KEY"],
            "testonly-prod-access-key"
        );
    }
}

/// The section every live case writes: a unicode value, a multi-line value, padding to a size.
fn litestream_yaml(padding: usize) -> String {
    format!(
        "# written by Ruby\nlitestream:\n  replica_bucket: \"bück-😀-桶\"\n  replica_key_id: AKID\n  note: |\n    line one\n    line two\n  padding: {}\n",
        "x".repeat(padding)
    )
}

/// Ruby writes each framing at sizes that need 1-, 2-, 3- and 4-byte lengths; lsenv reads them.
#[test]
fn files_written_by_ruby_are_read_by_lsenv() {
    for framing in ["binary", "utf8", "usascii"] {
        for padding in [1, 150, 2_000, 70_000] {
            let project = Project::new();
            let (enc, key) = (
                project.path("config/credentials.yml.enc"),
                project.path("config/master.key"),
            );
            std::fs::create_dir_all(enc.parent().unwrap()).unwrap();
            let mut yaml = litestream_yaml(padding);
            if framing == "usascii" {
                yaml = yaml.replace("bück-😀-桶", "plain-ascii");
            }
            ruby_oracle(
                "write",
                &[&enc, &key],
                &["--framing", framing],
                yaml.as_bytes(),
            );
            let env = child_env(Case::new(&project), &["exec", "--"]);
            let expected_bucket = if framing == "usascii" {
                "plain-ascii"
            } else {
                "bück-😀-桶"
            };
            assert_eq!(
                env["LITESTREAM_REPLICA_BUCKET"], expected_bucket,
                "{framing} {padding}"
            );
            assert_eq!(
                env["LITESTREAM_NOTE"], "line one\nline two\n",
                "{framing} {padding}"
            );
            assert_eq!(
                env["LITESTREAM_PADDING"].len(),
                padding,
                "{framing} {padding}"
            );
        }
    }
}

/// lsenv writes (the `credentials:edit` framing, fresh IV); Ruby's EncryptedConfiguration reads
/// the exact bytes back and parses the YAML as Rails would.
#[test]
fn files_written_by_lsenv_are_read_by_ruby() {
    let key = MasterKey::parse(KEY.as_bytes(), "test").unwrap();
    for padding in [1, 150, 2_000, 70_000] {
        let project = Project::new();
        project.file("config/master.key", KEY);
        let (enc, key_file) = (
            project.path("config/credentials.yml.enc"),
            project.path("config/master.key"),
        );
        let yaml = litestream_yaml(padding);
        rails::write(&enc, yaml.as_bytes(), &key).unwrap();
        let written = std::fs::read(&enc).unwrap();
        assert!(
            !written.ends_with(b"\n"),
            "lsenv must not write a trailing newline"
        );
        assert_eq!(
            ruby_oracle("read", &[&enc, &key_file], &[], b""),
            yaml.as_bytes()
        );
        let bucket = ruby_oracle(
            "config",
            &[&enc, &key_file],
            &["litestream.replica_bucket"],
            b"",
        );
        assert_eq!(String::from_utf8(bucket).unwrap().trim_end(), "bück-😀-桶");
        // A second write of the same text differs: the IV is fresh every time.
        rails::write(&enc, yaml.as_bytes(), &key).unwrap();
        assert_ne!(std::fs::read(&enc).unwrap(), written);
    }
}

/// Rails 7.1+: the per-environment content and key are chosen independently.
#[test]
fn environment_key_is_chosen_independently_of_the_content() {
    let project = Project::new();
    // Only the global content exists, but a production key sits next to where its file would be.
    project.credentials_at(
        "config/credentials.yml.enc",
        "config/credentials/production.key",
        "litestream:\n  replica_bucket: global-file-production-key\n",
    );
    let env = child_env(Case::new(&project), &["-e", "production", "exec"]);
    assert_eq!(
        env,
        map(&[("LITESTREAM_REPLICA_BUCKET", "global-file-production-key")])
    );
    // Without the environment, that key is not looked at.
    Case::new(&project)
        .args(["exec", "true"])
        .status(4)
        .said("config/master.key")
        .run();
}
