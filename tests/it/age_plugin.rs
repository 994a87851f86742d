//! age plugins end to end: a real plugin (tests/plugin/age-plugin-lsenvtest, written with the
//! age-plugin crate, so the protocol is age's own) on `PATH`, its recipient in the recipients
//! file and its identity in each identity source, through `exec`, `credentials edit` and
//! `recipients add/remove`; files the Debian `age` CLI made for it are read by lsenv and the
//! other way round; a plugin that is missing or fails is named and changes nothing; a plugin's
//! question is refused at once without a terminal and answered at one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use crate::case::Case;
use crate::support::{CANARY, Project, Terminal, child_env, map, said};

const ENC: &str = "config/credentials.yml.age";
const RECIPIENTS: &str = "config/credentials.recipients";
const YAML: &str =
    "litestream:\n  replica_bucket: plugin-bucket\n  replica_access_key: canary-7f3e9a-secret\n";
const PLUGIN: &str = "age-plugin-lsenvtest";

/// The directory holding the test plugin, built once (`scripts/test.sh` builds it first, so this
/// is then a no-op); a build that fails fails every test that needs it.
fn plugin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target = root.join("target/age-plugin-lsenvtest");
        let output = Command::new(env!("CARGO"))
            .args(["build", "--locked", "--quiet", "--manifest-path"])
            .arg(root.join("tests/plugin/age-plugin-lsenvtest/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .output()
            .expect("cargo must run to build the test plugin");
        assert!(
            output.status.success(),
            "building the test plugin failed: {}",
            said(&output)
        );
        let dir = target.join("debug");
        assert!(
            dir.join(PLUGIN).is_file(),
            "no {PLUGIN} in {}",
            dir.display()
        );
        dir
    })
}

/// `PATH` with the test plugin's directory first.
pub(crate) fn path_with_plugin() -> std::ffi::OsString {
    std::env::join_paths(
        std::iter::once(plugin_dir().to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap()
}

/// An identity: its file and its recipient.
pub(crate) struct Key {
    pub(crate) file: PathBuf,
    recipient: String,
}

impl Key {
    /// A new identity of the test plugin, made by the plugin (`--generate`).
    fn plugin(dir: &Path, name: &str) -> Self {
        let output = ok(Command::new(plugin_dir().join(PLUGIN)).arg("--generate"));
        let text = String::from_utf8(output.stdout).unwrap();
        let recipient = text
            .lines()
            .find_map(|line| line.strip_prefix("# recipient: "))
            .expect("the plugin prints its recipient")
            .to_owned();
        assert!(recipient.starts_with("age1lsenvtest1"), "{recipient}");
        assert!(
            text.contains("\nAGE-PLUGIN-LSENVTEST-1"),
            "an identity line"
        );
        let file = dir.join(format!("{name}.txt"));
        std::fs::write(&file, text).unwrap();
        Self { file, recipient }
    }

    /// A new X25519 identity, made by `age-keygen`.
    fn x25519(dir: &Path, name: &str) -> Self {
        let file = dir.join(format!("{name}.txt"));
        ok(Command::new("age-keygen").arg("-o").arg(&file));
        let recipient =
            String::from_utf8(ok(Command::new("age-keygen").arg("-y").arg(&file)).stdout)
                .unwrap()
                .trim()
                .to_owned();
        Self { file, recipient }
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.file).unwrap()
    }

    /// What the Debian `age -d -i` makes of `file` (the plugin on its `PATH`): the text, or
    /// `None` when it cannot open it.
    fn age_decrypts(&self, file: &Path) -> Option<String> {
        let output = Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(&self.file)
            .arg(file)
            .env("PATH", path_with_plugin())
            .output()
            .expect("age must be installed (apt-get install age)");
        output
            .status
            .success()
            .then(|| String::from_utf8(output.stdout).unwrap())
    }
}

/// Runs `command`, which must succeed.
fn ok(command: &mut Command) -> Output {
    let output = command.stdin(Stdio::null()).output().unwrap_or_else(|err| {
        panic!("{command:?}: {err} (age must be installed: apt-get install age)")
    });
    assert!(output.status.success(), "{command:?}: {}", said(&output));
    output
}

/// The credentials file, encrypted by the Debian `age` CLI (armored) to `recipients`, which
/// finds the plugin of a plugin recipient on its `PATH`.
fn age_encrypt(project: &Project, recipients: &[&Key]) {
    std::fs::create_dir_all(project.path("config")).unwrap();
    let mut command = Command::new("age");
    command.arg("-a").arg("-o").arg(project.path(ENC));
    for key in recipients {
        command.arg("-r").arg(&key.recipient);
    }
    let mut child = command
        .env("PATH", path_with_plugin())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("age must be installed (apt-get install age)");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), YAML.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "age -r: {}", said(&output));
}

/// A project whose credentials the Debian `age` encrypted for a new plugin identity alone; the
/// directory holding the identity lives as long as the first of the three.
pub(crate) fn plugin_project() -> (tempfile::TempDir, Key, Project) {
    let keys = tempfile::tempdir().unwrap();
    let plugin = Key::plugin(keys.path(), "plugin");
    let project = Project::new();
    age_encrypt(&project, &[&plugin]);
    (keys, plugin, project)
}

fn expected(bucket: &str) -> std::collections::BTreeMap<String, String> {
    map(&[
        ("LITESTREAM_REPLICA_BUCKET", bucket),
        ("LITESTREAM_SECRET_ACCESS_KEY", CANARY),
    ])
}

/// lsenv in `project`, the test plugin on its `PATH`.
fn lsenv(project: &Project) -> Case {
    Case::new(project).env("PATH", path_with_plugin())
}

/// An editor that sets the bucket to `bucket`.
fn editor(project: &Project, bucket: &str) -> PathBuf {
    project.script(
        "editor.sh",
        format!("#!/bin/sh\nsed -i 's/replica_bucket: .*/replica_bucket: {bucket}/' \"$1\"\n"),
    )
}

#[test]
fn a_file_age_made_for_a_plugin_recipient_is_read_with_its_identity_from_every_source() {
    let (keys, key, project) = plugin_project();
    let expected = expected("plugin-bucket");
    assert_eq!(
        child_env(
            lsenv(&project).env("LSENV_AGE_IDENTITY", key.text()),
            &["exec"]
        ),
        expected,
        "LSENV_AGE_IDENTITY"
    );
    assert_eq!(
        child_env(
            lsenv(&project).env("LSENV_AGE_IDENTITY_FILE", &key.file),
            &["exec"]
        ),
        expected,
        "LSENV_AGE_IDENTITY_FILE"
    );
    let delivered = tempfile::tempdir().unwrap();
    std::fs::copy(&key.file, delivered.path().join("age-identity")).unwrap();
    assert_eq!(
        child_env(
            lsenv(&project).env("CREDENTIALS_DIRECTORY", delivered.path()),
            &["exec"]
        ),
        expected,
        "$CREDENTIALS_DIRECTORY/age-identity"
    );
    // After an X25519 identity that does not open the file: each identity is tried.
    let other = Key::x25519(keys.path(), "other");
    project.file(
        "config/lsenv.toml",
        format!(
            "[credentials]\nidentity = [{:?}, {:?}]\n",
            other.file, key.file
        ),
    );
    assert_eq!(
        child_env(lsenv(&project), &["exec"]),
        expected,
        "[credentials] identity"
    );
    std::fs::remove_file(project.path("config/lsenv.toml")).unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".config/lsenv")).unwrap();
    std::fs::copy(&key.file, home.path().join(".config/lsenv/identity.txt")).unwrap();
    assert_eq!(
        child_env(lsenv(&project).env("HOME", home.path()), &["exec"]),
        expected,
        "the default identity file"
    );
    // Without the plugin's identity, the file does not open: the plugin did the work.
    lsenv(&project)
        .env("LSENV_AGE_IDENTITY_FILE", &other.file)
        .args(["exec", "true"])
        .status(5)
        .said("none of the age identities opens this file")
        .run();
}

#[test]
fn credentials_edit_reads_with_the_plugin_and_writes_a_file_age_opens_for_each_recipient() {
    let keys = tempfile::tempdir().unwrap();
    let (plugin, alice, stranger) = (
        Key::plugin(keys.path(), "plugin"),
        Key::x25519(keys.path(), "alice"),
        Key::x25519(keys.path(), "stranger"),
    );
    let project = Project::new();
    age_encrypt(&project, &[&plugin]);
    project.file(
        RECIPIENTS,
        format!("{}\n{}\n", plugin.recipient, alice.recipient),
    );
    let scratch = tempfile::tempdir().unwrap();
    lsenv(&project)
        .env("LSENV_AGE_IDENTITY_FILE", &plugin.file)
        .env("EDITOR", editor(&project, "edited-by-lsenv"))
        .env("XDG_RUNTIME_DIR", scratch.path())
        .args(["credentials", "edit"])
        .run();
    let edited = YAML.replace("plugin-bucket", "edited-by-lsenv");
    let file = project.path(ENC);
    assert_eq!(plugin.age_decrypts(&file).as_deref(), Some(edited.as_str()));
    assert_eq!(alice.age_decrypts(&file).as_deref(), Some(edited.as_str()));
    assert_eq!(stranger.age_decrypts(&file), None);
    // And lsenv reads what it wrote, with the plugin.
    assert_eq!(
        child_env(
            lsenv(&project).env("LSENV_AGE_IDENTITY_FILE", &plugin.file),
            &["exec"]
        ),
        expected("edited-by-lsenv")
    );
}

#[test]
fn a_plugin_recipient_is_added_and_removed() {
    let keys = tempfile::tempdir().unwrap();
    let (plugin, alice) = (
        Key::plugin(keys.path(), "plugin"),
        Key::x25519(keys.path(), "alice"),
    );
    let project = Project::new();
    age_encrypt(&project, &[&alice]);
    project.file(RECIPIENTS, format!("{}\n", alice.recipient));
    let file = project.path(ENC);
    let recipients = |args: &[&str]| {
        lsenv(&project)
            .env("LSENV_AGE_IDENTITY_FILE", &alice.file)
            .args(["credentials", "recipients"])
            .args(args)
    };
    recipients(&["add", &plugin.recipient])
        .said("re-encrypted")
        .run();
    assert_eq!(plugin.age_decrypts(&file).as_deref(), Some(YAML));
    assert_eq!(alice.age_decrypts(&file).as_deref(), Some(YAML));
    assert_eq!(
        child_env(
            lsenv(&project).env("LSENV_AGE_IDENTITY_FILE", &plugin.file),
            &["exec"]
        ),
        expected("plugin-bucket")
    );
    recipients(&["list"])
        .stdout_has(plugin.recipient.as_str())
        .run();
    recipients(&["remove", &plugin.recipient])
        .said("re-encrypted")
        .run();
    assert_eq!(plugin.age_decrypts(&file), None);
    assert_eq!(alice.age_decrypts(&file).as_deref(), Some(YAML));
    assert_eq!(
        std::fs::read_to_string(project.path(RECIPIENTS)).unwrap(),
        format!("{}\n", alice.recipient)
    );
}

/// How a case sets up lsenv's run.
type Setup<'a> = &'a dyn Fn(Case) -> Case;

/// Each command, once with the plugin missing from `PATH` and once with the plugin failing:
/// exit 4, the plugin and the file named, every file byte for byte as it was.
#[test]
fn a_missing_or_failing_plugin_is_named_and_changes_nothing() {
    let keys = tempfile::tempdir().unwrap();
    let (plugin, alice) = (
        Key::plugin(keys.path(), "plugin"),
        Key::x25519(keys.path(), "alice"),
    );
    let without_plugin = std::env::var_os("PATH").unwrap();
    let failing = |case: Case| case.env("LSENVTEST_MODE", "fail");
    let missing = |case: Case| case.env("PATH", &without_plugin);
    let cases: [(&str, Setup, &str); 2] = [
        (
            "missing",
            &missing,
            "needs the age plugin age-plugin-lsenvtest, which is not on PATH",
        ),
        (
            "failing",
            &failing,
            "lsenvtest was told to fail (LSENVTEST_MODE=fail)",
        ),
    ];
    for (name, setup, says) in cases {
        // Reading with the plugin's identity.
        let project = Project::new();
        age_encrypt(&project, &[&plugin]);
        project.file(RECIPIENTS, format!("{}\n", plugin.recipient));
        let scratch = tempfile::tempdir().unwrap();
        let edit = editor(&project, "never");
        let before = project.snapshot();
        for args in [
            &["exec", "true"][..],
            &["credentials", "edit"],
            &["credentials", "recipients", "add", &alice.recipient],
        ] {
            setup(
                lsenv(&project)
                    .named(format!("{name} plugin, {args:?}"))
                    .env("LSENV_AGE_IDENTITY_FILE", &plugin.file)
                    .env("EDITOR", &edit)
                    .env("XDG_RUNTIME_DIR", scratch.path())
                    .args(args),
            )
            .status(4)
            .said(says)
            .said(ENC)
            .run();
            assert_eq!(
                project.snapshot(),
                before,
                "{name} plugin, {args:?}: files changed"
            );
        }
        // Writing to the plugin's recipient, reading with an X25519 identity.
        let project = Project::new();
        age_encrypt(&project, &[&alice]);
        project.file(RECIPIENTS, format!("{}\n", alice.recipient));
        let before = project.snapshot();
        setup(
            lsenv(&project)
                .named(format!("{name} plugin, recipients add"))
                .env("LSENV_AGE_IDENTITY_FILE", &alice.file)
                .args(["credentials", "recipients", "add", &plugin.recipient]),
        )
        .status(4)
        .said(says)
        .run();
        assert_eq!(
            project.snapshot(),
            before,
            "{name} plugin, recipients add: files changed"
        );
        project.file(
            RECIPIENTS,
            format!("{}\n{}\n", alice.recipient, plugin.recipient),
        );
        let edit = editor(&project, "never");
        let before = project.snapshot();
        setup(
            lsenv(&project)
                .named(format!("{name} plugin, edit"))
                .env("LSENV_AGE_IDENTITY_FILE", &alice.file)
                .env("EDITOR", &edit)
                .env("XDG_RUNTIME_DIR", scratch.path())
                .args(["credentials", "edit"]),
        )
        .status(4)
        .said(says)
        .run();
        assert_eq!(
            project.snapshot(),
            before,
            "{name} plugin, edit: files changed"
        );
    }
}

/// A plugin that asks (a confirmation, a PIN) with no terminal to ask on: refused at once (no
/// hang: `timeout` would end it with 124), exit 4, saying what was asked.
#[test]
fn a_plugin_question_without_a_terminal_is_refused_at_once() {
    let (_keys, plugin, project) = plugin_project();
    let before = project.snapshot();
    for (mode, asked) in [
        ("confirm", "a confirmation"),
        ("pin", "a secret (PIN or passphrase)"),
    ] {
        // `setsid`: no controlling terminal, even when the tests run in one.
        let mut command = Command::new("timeout");
        command
            .args(["30", "setsid", "-w"])
            .arg(assert_cmd::cargo::cargo_bin!("lsenv"))
            .args(["exec", "true"])
            .current_dir(project.root())
            .env_clear()
            .env("PATH", path_with_plugin())
            .env("LSENV_AGE_IDENTITY_FILE", &plugin.file)
            .env("LSENVTEST_MODE", mode)
            .env("LSENVTEST_PIN", "4321");
        Case::of(command)
            .named(mode)
            .status(4)
            .said(format!(
                "age-plugin-lsenvtest asked for {asked} to decrypt this file, and there is no terminal to answer on"
            ))
            .run();
        assert_eq!(project.snapshot(), before);
    }
}

/// At a terminal, the plugin's PIN request (echo off) and its confirmation are asked and
/// answered, and the file opens.
#[test]
fn a_plugin_question_is_answered_at_a_terminal() {
    let (_keys, plugin, project) = plugin_project();
    let quote = |path: &Path| shell_words::quote(&path.to_string_lossy()).into_owned();
    for (mode, prompt, answer) in [
        ("pin", "age-plugin-lsenvtest: lsenvtest PIN:", "4321"),
        ("confirm", "unwrap the file key? [yes/no]", "yes"),
    ] {
        let script = format!(
            "cd {} && env -i PATH={} LSENV_AGE_IDENTITY_FILE={} LSENVTEST_MODE={mode} LSENVTEST_PIN=4321 {} credentials show; echo LSENV-EXIT=$?; sleep 60",
            quote(project.root()),
            shell_words::quote(&path_with_plugin().to_string_lossy()),
            quote(&plugin.file),
            quote(Path::new(assert_cmd::cargo::cargo_bin!("lsenv"))),
        );
        let terminal = Terminal::start(&script);
        terminal.wait_for(prompt);
        terminal.keys(&[answer, "Enter"]);
        terminal.wait_for("LSENV-EXIT=");
        let screen = terminal.screen();
        assert!(screen.contains("LSENV-EXIT=0"), "{mode}: {screen}");
        assert!(
            screen.contains("replica_bucket: plugin-bucket"),
            "{mode}: {screen}"
        );
        if mode == "pin" {
            assert!(!screen.contains("4321"), "echo must be off: {screen}");
        }
    }
}

/// `keygen --plugin`: a plugin whose key generation lsenv does not know is not run, and lsenv
/// says how; a known one that is not installed is named (exit 4). (The known plugins need their
/// hardware, which the tests do not have: the README's walk-throughs are not exercised here.)
#[test]
fn keygen_for_a_plugin_hands_over_or_says_how() {
    let project = Project::new();
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("plugin-ran.log");
    lsenv(&project)
        .env("HOME", home.path())
        .env("LSENVTEST_LOG", &log)
        .args(["keygen", "--plugin", "lsenvtest"])
        .status(2)
        .said("lsenv does not know how age-plugin-lsenvtest makes keys")
        .said("lsenv credentials recipients add age1lsenvtest1…")
        .run();
    assert!(!log.exists(), "the plugin must not have run");
    assert!(!home.path().join(".config").exists(), "nothing written");
    Case::new(&project)
        .env("HOME", home.path())
        .args(["keygen", "--plugin", "yubikey"])
        .status(4)
        .said("needs the age plugin age-plugin-yubikey, which is not on PATH")
        .run();
    assert!(!home.path().join(".config").exists(), "nothing written");
}
