//! The age store against the real `age` and `age-keygen` (Debian's Go reference implementation):
//! files age wrote are read by lsenv with each identity and from each identity source; files
//! lsenv writes open with `age -d` for every recipient and for nobody else; recipients come and
//! go; bad input is refused clearly.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::case::{Case, problem};
use crate::support::{CANARY, Project, child_env, map};

const ENC: &str = "config/credentials.yml.age";
const YAML: &str =
    "litestream:\n  replica_bucket: age-bucket\n  replica_access_key: canary-7f3e9a-secret\n";

/// An identity made by `age-keygen`: its file and its recipient.
struct Identity {
    file: PathBuf,
    recipient: String,
}

impl Identity {
    fn new(dir: &Path, name: &str) -> Self {
        let file = dir.join(format!("{name}.txt"));
        let age_keygen = |flag: &str| {
            let mut command = Command::new("age-keygen");
            command.arg(flag).arg(&file);
            Case::of(command).run().stdout
        };
        age_keygen("-o");
        let recipient = String::from_utf8(age_keygen("-y")).unwrap();
        Self {
            file,
            recipient: recipient.trim().to_owned(),
        }
    }

    fn secret(&self) -> String {
        std::fs::read_to_string(&self.file).unwrap()
    }

    /// The `AGE-SECRET-KEY-1…` line itself.
    fn key_line(&self) -> String {
        self.secret()
            .lines()
            .find(|line| line.starts_with("AGE-SECRET-KEY-1"))
            .unwrap()
            .to_owned()
    }

    /// What `age -d -i` makes of `file`: the text, or `None` when it cannot open it.
    fn decrypts(&self, file: &Path) -> Option<String> {
        let output = Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(&self.file)
            .arg(file)
            .output()
            .unwrap();
        output
            .status
            .success()
            .then(|| String::from_utf8(output.stdout).unwrap())
    }
}

/// `age -r … -r …` (armored with `-a`) writes the credentials of `project`.
fn age_encrypt(project: &Project, recipients: &[&Identity], armored: bool) {
    let mut command = Command::new("age");
    if armored {
        command.arg("-a");
    }
    for identity in recipients {
        command.arg("-r").arg(&identity.recipient);
    }
    std::fs::create_dir_all(project.path("config")).unwrap();
    command.arg("-o").arg(project.path(ENC));
    Case::of(command).stdin(YAML).run();
}

struct Keys {
    dir: tempfile::TempDir,
    alice: Identity,
    bob: Identity,
    stranger: Identity,
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let alice = Identity::new(dir.path(), "alice");
    let bob = Identity::new(dir.path(), "bob");
    let stranger = Identity::new(dir.path(), "stranger");
    Keys {
        dir,
        alice,
        bob,
        stranger,
    }
}

#[test]
fn files_age_wrote_are_read_with_each_identity_from_each_source() {
    let keys = keys();
    for armored in [false, true] {
        let project = Project::new();
        age_encrypt(&project, &[&keys.alice, &keys.bob], armored);
        let expected = map(&[
            ("LITESTREAM_REPLICA_BUCKET", "age-bucket"),
            ("LITESTREAM_SECRET_ACCESS_KEY", CANARY),
        ]);
        for identity in [&keys.alice, &keys.bob] {
            let by_text = child_env(
                Case::new(&project).env("LSENV_AGE_IDENTITY", identity.secret()),
                &["exec"],
            );
            assert_eq!(by_text, expected, "armored {armored}: LSENV_AGE_IDENTITY");
            let by_file = child_env(
                Case::new(&project).env("LSENV_AGE_IDENTITY_FILE", &identity.file),
                &["exec"],
            );
            assert_eq!(
                by_file, expected,
                "armored {armored}: LSENV_AGE_IDENTITY_FILE"
            );
        }
        // A configured identity file (several allowed: the first that opens it wins), and the
        // default one that `lsenv keygen` writes.
        project.file(
            "config/lsenv.toml",
            format!(
                "[credentials]\nidentity = [{:?}, {:?}]\n",
                keys.stranger.file, keys.bob.file
            ),
        );
        assert_eq!(child_env(Case::new(&project), &["exec"]), expected);
        std::fs::remove_file(project.path("config/lsenv.toml")).unwrap();
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".config/lsenv")).unwrap();
        std::fs::copy(
            &keys.alice.file,
            home.path().join(".config/lsenv/identity.txt"),
        )
        .unwrap();
        assert_eq!(
            child_env(Case::new(&project).env("HOME", home.path()), &["exec"]),
            expected
        );
    }
}

/// An editor script that replaces the bucket.
fn editor(project: &Project, bucket: &str) -> PathBuf {
    project.script(
        "editor.sh",
        format!("#!/bin/sh\nsed -i 's/replica_bucket: .*/replica_bucket: {bucket}/' \"$1\"\n"),
    )
}

#[test]
fn files_lsenv_writes_open_for_every_recipient_and_nobody_else() {
    let keys = keys();
    let project = Project::new();
    age_encrypt(&project, &[&keys.alice], true);
    project.file(
        "config/credentials.recipients",
        format!(
            "# the team\n{}\n{}\n",
            keys.alice.recipient, keys.bob.recipient
        ),
    );
    let scratch = tempfile::tempdir().unwrap();
    Case::new(&project)
        .env("LSENV_AGE_IDENTITY_FILE", &keys.alice.file)
        .env("EDITOR", editor(&project, "edited-by-lsenv"))
        .env("XDG_RUNTIME_DIR", scratch.path())
        .args(["credentials", "edit"])
        .run();
    let expected = YAML.replace("age-bucket", "edited-by-lsenv");
    let file = project.path(ENC);
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .starts_with("-----BEGIN AGE ENCRYPTED FILE-----")
    );
    assert_eq!(
        keys.alice.decrypts(&file).as_deref(),
        Some(expected.as_str())
    );
    assert_eq!(keys.bob.decrypts(&file).as_deref(), Some(expected.as_str()));
    assert_eq!(keys.stranger.decrypts(&file), None);
}

#[test]
fn recipients_come_and_go() {
    let keys = keys();
    let project = Project::new();
    age_encrypt(&project, &[&keys.alice], false);
    project.file(
        "config/credentials.recipients",
        format!("{}\n", keys.alice.recipient),
    );
    let lsenv = |args: &[&str]| {
        Case::new(&project)
            .env("LSENV_AGE_IDENTITY_FILE", &keys.alice.file)
            .args(args)
    };
    let file = project.path(ENC);

    lsenv(&["credentials", "recipients", "add", &keys.bob.recipient]).run();
    assert_eq!(keys.bob.decrypts(&file).as_deref(), Some(YAML));
    lsenv(&["credentials", "recipients", "list"])
        .stdout_is(format!(
            "{}  (config/credentials.recipients)\n{}  (config/credentials.recipients)\n",
            keys.alice.recipient, keys.bob.recipient
        ))
        .run();
    // A binary file stays binary.
    assert!(
        std::fs::read(&file)
            .unwrap()
            .starts_with(b"age-encryption.org/v1\n")
    );

    lsenv(&["credentials", "recipients", "remove", &keys.bob.recipient])
        .said("may still hold older copies")
        .run();
    assert_eq!(
        keys.bob.decrypts(&file),
        None,
        "a removed recipient can no longer decrypt"
    );
    assert_eq!(keys.alice.decrypts(&file).as_deref(), Some(YAML));

    // The last recipient stays; a bad one is refused, named by its text.
    let before = project.snapshot();
    lsenv(&["credentials", "recipients", "remove", &keys.alice.recipient])
        .status(2)
        .run();
    lsenv(&["credentials", "recipients", "add", "age1notarecipient"])
        .status(2)
        .said("`age1notarecipient`: not an age X25519 recipient")
        .run();
    assert_eq!(project.snapshot(), before);
}

#[test]
fn bad_input_is_refused_clearly_without_secrets_or_changes() {
    let keys = keys();
    let cases = vec![
        problem(
            "wrong identity",
            |p: &Project| {
                p.file("identity.txt", keys.stranger.secret());
            },
            5,
            "config/credentials.yml.age: none of the age identities opens this file",
        ),
        problem(
            "corrupted header MAC",
            |p: &Project| {
                let mut bytes = std::fs::read(p.path(ENC)).unwrap();
                let mac_line = bytes.windows(4).position(|w| w == b"\n---").unwrap() + 5;
                bytes[mac_line] = if bytes[mac_line] == b'A' { b'B' } else { b'A' };
                p.file(ENC, bytes);
            },
            5,
            "the age header's MAC is wrong",
        ),
        problem(
            "truncated payload",
            |p: &Project| {
                let bytes = std::fs::read(p.path(ENC)).unwrap();
                p.file(ENC, &bytes[..bytes.len() - 20]);
            },
            5,
            "the payload is damaged or truncated",
        ),
        problem(
            "malformed identity file",
            |p: &Project| {
                p.file(
                    "identity.txt",
                    format!("# mine\n{}AGE-SECRET-KEY-1BROKEN\n", keys.alice.secret()),
                );
            },
            4,
            "identity.txt: line 5 is not an age X25519 identity",
        ),
        problem(
            "malformed recipient line",
            |p: &Project| {
                p.file("config/credentials.recipients", "age1broken\n");
            },
            3,
            "config/credentials.recipients:1:1: not an age X25519 recipient",
        ),
        problem(
            "no identity at all",
            |p: &Project| {
                std::fs::remove_file(p.path("identity.txt")).unwrap();
                p.file("config/lsenv.toml", "");
            },
            4,
            "no age identity to decrypt this file with",
        ),
    ];
    for case in cases {
        let project = Project::new();
        age_encrypt(&project, &[&keys.alice], false);
        project.file("identity.txt", keys.alice.secret());
        project.file(
            "config/lsenv.toml",
            "[credentials]\nidentity = \"identity.txt\"\n",
        );
        project.file(
            "config/credentials.recipients",
            format!("{}\n", keys.alice.recipient),
        );
        case.set_up(&project);
        let before = project.snapshot();
        // `recipients add` reads the recipients too, so every case meets the bad input.
        for args in [
            &["exec", "env"][..],
            &["credentials", "recipients", "add", &keys.bob.recipient][..],
        ] {
            if case.name == "malformed recipient line" && args[0] == "exec" {
                // Reading needs no recipient.
                Case::new(&project).args(args).reveals().run();
                continue;
            }
            case.expect(Case::new(&project))
                .args(args)
                .lacks(keys.alice.key_line())
                .lacks(keys.stranger.key_line())
                .stdout_is("")
                .run();
        }
        assert_eq!(project.snapshot(), before, "{}: files changed", case.name);
    }
}

#[test]
fn convert_to_age_and_back_keeps_the_text_byte_identical() {
    let keys = keys();
    let project = Project::new();
    let text = "# comment kept\nlitestream:\n  replica_bucket: \"bück\"\n  port: 0012\n";
    project.credentials(text);
    project.file(
        "config/credentials.recipients",
        format!("{}\n", keys.bob.recipient),
    );
    Case::new(&project)
        .env("LSENV_AGE_IDENTITY_FILE", &keys.bob.file)
        .args(["credentials", "convert", "--to", "age"])
        .run();
    assert!(!project.path("config/credentials.yml.enc").exists());
    assert_eq!(keys.bob.decrypts(&project.path(ENC)).as_deref(), Some(text));

    Case::new(&project)
        .env("LSENV_AGE_IDENTITY_FILE", &keys.bob.file)
        .args(["credentials", "convert", "--to", "rails"])
        .run();
    assert!(!project.path(ENC).exists());
    let enc = project.path("config/credentials.yml.enc");
    let back = crate::support::ruby_oracle(
        "read",
        &[&enc, &project.path("config/master.key")],
        &[],
        b"",
    );
    assert_eq!(back, text.as_bytes(), "real Rails reads the converted file");
}

#[test]
fn keygen_and_init_age() {
    let home = tempfile::tempdir().unwrap();
    let project = Project::new();
    let output = Case::new(&project)
        .env("HOME", home.path())
        .arg("keygen")
        .run();
    let identity = home.path().join(".config/lsenv/identity.txt");
    assert_eq!(
        std::fs::metadata(&identity).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let recipient = String::from_utf8(output.stdout).unwrap();
    let mut age_keygen = Command::new("age-keygen");
    age_keygen.arg("-y").arg(&identity);
    let by_age = Case::of(age_keygen).run().stdout;
    assert_eq!(
        recipient.as_bytes(),
        by_age,
        "age-keygen reads lsenv's identity file"
    );
    // Never overwrites.
    Case::new(&project)
        .named("keygen again")
        .env("HOME", home.path())
        .arg("keygen")
        .status(3)
        .run();

    Case::new(&project)
        .env("HOME", home.path())
        .args(["init", "--age", "--db", "storage/app.sqlite3"])
        .run();
    assert!(
        !project.path("config/master.key").exists(),
        "an age setup has no master key"
    );
    assert_eq!(
        std::fs::read_to_string(project.path("config/credentials.recipients"))
            .unwrap()
            .lines()
            .last(),
        Some(recipient.trim())
    );
    let opened = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&identity)
        .arg(project.path(ENC))
        .output()
        .unwrap();
    assert!(
        String::from_utf8(opened.stdout)
            .unwrap()
            .contains("litestream:")
    );
}

#[test]
fn a_passphrase_file_needs_a_terminal() {
    let project = Project::new();
    std::fs::create_dir_all(project.path("config")).unwrap();
    // `age -p` only reads a passphrase from a terminal: the file is made with age's library
    // format by lsenv's own dependency instead, which the age CLI reads the same way.
    let file = age_passphrase_file(YAML.as_bytes(), "correct horse");
    project.file(ENC, file);
    let before = project.snapshot();
    // `setsid`: no controlling terminal, even when the tests run in one.
    let mut setsid = Command::new("setsid");
    setsid
        .arg("-w")
        .arg(assert_cmd::cargo::cargo_bin!("lsenv"))
        .args(["exec", "env"])
        .current_dir(project.root())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap());
    Case::of(setsid)
        .status(4)
        .said("encrypted with a passphrase, and there is no terminal to ask for it")
        .run();
    assert_eq!(project.snapshot(), before);
}

/// At a terminal, the passphrase is asked for (echo off) and the file opens; the passphrase
/// never shows on the screen.
#[test]
fn a_passphrase_file_opens_at_a_terminal() {
    let project = Project::new();
    std::fs::create_dir_all(project.path("config")).unwrap();
    project.file(ENC, age_passphrase_file(YAML.as_bytes(), "correct horse"));
    let script = format!(
        "cd {} && env -i PATH=\"$PATH\" {} credentials show; echo LSENV-EXIT=$?; sleep 60",
        shell_words::quote(&project.root().to_string_lossy()),
        shell_words::quote(&assert_cmd::cargo::cargo_bin!("lsenv").to_string_lossy()),
    );
    let terminal = crate::support::Terminal::start(&script);
    terminal.wait_for("lsenv: passphrase for config/credentials.yml.age:");
    terminal.keys(&["correct horse", "Enter"]);
    terminal.wait_for("LSENV-EXIT=0");
    let screen = terminal.screen();
    assert!(screen.contains("replica_bucket: age-bucket"), "{screen}");
    assert!(
        !screen.contains("correct horse"),
        "echo must be off: {screen}"
    );
}

fn age_passphrase_file(plaintext: &[u8], passphrase: &str) -> Vec<u8> {
    let encryptor = age::Encryptor::with_user_passphrase(age::secrecy::SecretString::from(
        passphrase.to_owned(),
    ));
    let mut out = Vec::new();
    let mut writer = encryptor.wrap_output(&mut out).unwrap();
    std::io::Write::write_all(&mut writer, plaintext).unwrap();
    writer.finish().unwrap();
    out
}

#[test]
fn check_and_explain_name_the_identity_source() {
    let keys = keys();
    let project = Project::new();
    age_encrypt(&project, &[&keys.alice], true);
    Case::offline(&project)
        .env("LSENV_AGE_IDENTITY", keys.alice.secret())
        .arg("check")
        .any_status()
        .said("ok       config/credentials.yml.age: decrypts with an age identity from $LSENV_AGE_IDENTITY")
        .lacks(keys.alice.key_line())
        .run();
    drop(keys.dir);
}

/// git's textconv on an age file: decrypted with the identity at hand, raw without one.
#[test]
fn diff_shows_an_age_file_decrypted_when_an_identity_opens_it() {
    let keys = keys();
    let project = Project::new();
    age_encrypt(&project, &[&keys.alice], true);
    let blob = project.path("production.yml.age");
    std::fs::copy(project.path(ENC), &blob).unwrap();
    Case::new(&project)
        .env("LSENV_AGE_IDENTITY_FILE", &keys.alice.file)
        .args(["credentials", "diff"])
        .arg(&blob)
        .stdout_is(YAML)
        .reveals()
        .run();
    // git must never see the driver fail.
    let output = Case::new(&project)
        .env("LSENV_AGE_IDENTITY_FILE", &keys.stranger.file)
        .args(["credentials", "diff"])
        .arg(&blob)
        .run();
    assert_eq!(output.stdout, std::fs::read(&blob).unwrap());
}
