//! Leak checks: a planted canary secret never reaches stdout or stderr of any failing command
//! (every kind of bad input × every command that reads credentials), nor the argv of a child;
//! and while lsenv holds decrypted credentials it cannot dump core and is closed to /proc
//! inspection (`PR_SET_DUMPABLE` 0 makes its /proc files root's, `RLIMIT_CORE` is 0).

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::case::Case;
use crate::support::{CANARY, KEY, Project, said, send_signal, wait_until};

/// Every command that decrypts, with the arguments it needs. The last three handle the text as
/// it is (they show, edit or re-encrypt it) and do not fail on what it says.
const COMMANDS: &[&[&str]] = &[
    &["exec", "--", "env"],
    &["exec", "--redact", "--", "env"],
    &["replicate"],
    &["env", "--reveal"],
    &["env", "--format", "json"],
    &["explain"],
    &["explain", "--json"],
    &["check"],
    &["check", "--json"],
    &["credentials", "show"],
    &["credentials", "edit"],
    &["credentials", "rotate-key"],
];

const TEXT_AS_IS: usize = 3;

/// Bad input with the canary in the credentials: its name, whether it breaks even the commands
/// that handle the text as it is, the exit code every command must give, and how to make it.
type Scenario = (&'static str, bool, i32, Box<dyn Fn(&Project)>);

/// Each breaks a different stage.
fn scenarios() -> Vec<Scenario> {
    vec![
        (
            "wrong key",
            true,
            5,
            Box::new(|p: &Project| {
                p.file("config/master.key", "ffffffffffffffffffffffffffffffff");
            }),
        ),
        (
            "tampered",
            true,
            5,
            Box::new(|p: &Project| {
                let mut text = std::fs::read(p.path("config/credentials.yml.enc")).unwrap();
                text[3] = if text[3] == b'A' { b'B' } else { b'A' };
                p.file("config/credentials.yml.enc", text);
            }),
        ),
        (
            "invalid YAML",
            false,
            3,
            Box::new(|p: &Project| {
                p.credentials(&format!(
                    "litestream:\n  replica_access_key: {CANARY}\n bad: [{CANARY}\n"
                ));
            }),
        ),
        (
            "a list",
            false,
            3,
            Box::new(|p: &Project| {
                p.credentials(&format!(
                    "litestream:\n  replica_access_key: [{CANARY}, {CANARY}]\n"
                ));
            }),
        ),
        (
            "alias conflict",
            false,
            3,
            Box::new(|p: &Project| {
                p.credentials(&format!(
                    "litestream:\n  replica_key_id: {CANARY}\n  access_key_id: {CANARY}\n"
                ));
            }),
        ),
        (
            "bad TOML",
            true,
            3,
            Box::new(|p: &Project| {
                p.file(
                    "config/lsenv.toml",
                    format!("[litestream]\nx = \"{CANARY}\n"),
                );
            }),
        ),
        (
            "TOML type",
            false,
            3,
            Box::new(|p: &Project| {
                p.file("config/lsenv.toml", format!("[env]\nPATH = \"{CANARY}\"\n"));
            }),
        ),
        (
            "key in the environment too short",
            true,
            4,
            Box::new(|_: &Project| {}),
        ),
    ]
}

#[test]
fn no_failing_command_ever_prints_the_canary() {
    let mut runs = 0;
    for (name, breaks_all, code, setup) in scenarios() {
        let commands = if breaks_all {
            COMMANDS
        } else {
            &COMMANDS[..COMMANDS.len() - TEXT_AS_IS]
        };
        for args in commands {
            let project = Project::new();
            project
                .credentials(&format!("litestream:\n  replica_access_key: {CANARY}\n"))
                .file("config/litestream.yml", "dbs: []\n");
            setup(&project);
            let case = Case::offline(&project)
                .named(format!("{name} {args:?}"))
                .args(*args)
                .env("EDITOR", "true");
            let case = if name == "key in the environment too short" {
                case.env("RAILS_MASTER_KEY", &KEY[..20])
            } else {
                case
            };
            // lsenv itself ran and refused: its exit code, and its own words on stderr (not
            // unshare's, nor a shell's); never the canary (checked by every case) nor the key.
            let output = case.status(code).lacks(KEY).run();
            assert!(
                String::from_utf8_lossy(&output.stderr).starts_with("lsenv: "),
                "{name} {args:?}: lsenv did not run: {}",
                said(&output)
            );
            runs += 1;
        }
    }
    assert_eq!(runs, 8 * COMMANDS.len() - 4 * TEXT_AS_IS);
}

/// No child ever gets a secret in its argv: the exec'd command, the supervised one, litestream
/// and the editor record their own command lines.
#[test]
fn no_child_gets_a_secret_in_argv() {
    let project = Project::new();
    project.credentials(&format!("litestream:\n  replica_access_key: {CANARY}\n"));
    let record = project.script(
        "record.sh",
        "#!/bin/sh\ncat /proc/$$/cmdline >> \"$(dirname \"$0\")/argv.log\"\n",
    );
    for args in [&["exec", "--"][..], &["exec", "--redact", "--"][..]] {
        Case::new(&project).args(args).arg(&record).arg("arg").run();
    }
    Case::new(&project)
        .env("EDITOR", &record)
        .args(["credentials", "edit"])
        .run();
    project.file(
        "config/lsenv.toml",
        format!(
            "[replicate]\nlitestream = {:?}\n",
            record.display().to_string()
        ),
    );
    project.file("config/litestream.yml", "dbs: []\n");
    Case::offline(&project).arg("replicate").run();
    let argv = std::fs::read(project.path("argv.log")).unwrap();
    let argv = String::from_utf8_lossy(&argv);
    assert_eq!(
        argv.matches("record.sh").count(),
        4,
        "every child recorded itself: {argv:?}"
    );
    assert!(
        argv.contains("replicate\0-config\0config/litestream.yml"),
        "{argv:?}"
    );
    assert!(!argv.contains(CANARY), "a secret in argv: {argv:?}");
}

/// While the editor is open, lsenv holds the decrypted credentials: it runs here as an
/// unprivileged user, so its /proc files would be that user's, unless it is undumpable, which
/// hands them to root; and its core limit is 0.
#[test]
fn lsenv_holding_secrets_is_undumpable_and_has_no_core_limit() {
    let shared = tempfile::tempdir().unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let root = shared.path();
    let write = |relative: &str, contents: &[u8], mode: u32| {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let key = lsenv::store::rails::MasterKey::parse(KEY.as_bytes(), "test").unwrap();
    write(
        "config/credentials.yml.enc",
        lsenv::store::rails::encrypt(b"litestream:\n  x: y\n", &key).as_bytes(),
        0o666,
    );
    write("config/master.key", KEY.as_bytes(), 0o644);
    std::fs::set_permissions(root.join("config"), std::fs::Permissions::from_mode(0o777)).unwrap();
    write(
        "editor.sh",
        b"#!/bin/sh\ntouch \"$(dirname \"$0\")/ready\"\nexec sleep 30\n",
        0o755,
    );
    let scratch = root.join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    std::fs::set_permissions(&scratch, std::fs::Permissions::from_mode(0o777)).unwrap();
    let lsenv = assert_cmd::cargo::cargo_bin!("lsenv");
    // The built binary must be reachable by the unprivileged user.
    let copy = root.join("lsenv");
    std::fs::copy(lsenv, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&copy)
        .args(["credentials", "edit"])
        .current_dir(root)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("EDITOR", root.join("editor.sh"))
        .env("XDG_RUNTIME_DIR", &scratch)
        .stdin(Stdio::null())
        .spawn()
        .expect("setpriv must be installed (util-linux)");
    wait_until("the editor to start", || {
        assert!(child.try_wait().unwrap().is_none(), "lsenv exited early");
        root.join("ready").exists()
    });
    let proc = Path::new("/proc").join(child.id().to_string());
    let status = std::fs::read_to_string(proc.join("status")).unwrap();
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.contains("65534")),
        "lsenv runs unprivileged: {status}"
    );
    let owner = std::fs::metadata(proc.join("environ")).unwrap().uid();
    let limits = std::fs::read_to_string(proc.join("limits")).unwrap();
    send_signal(child.id(), "TERM");
    child.wait().unwrap();
    assert_eq!(
        owner, 0,
        "an undumpable process's /proc files belong to root"
    );
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert!(
        core.split_whitespace().nth(4) == Some("0"),
        "soft core limit 0: {core}"
    );
}
