//! File secrets (`[files]`): the command gets `/proc/self/fd/N` of a sealed memfd holding the
//! value, through `exec`, `replicate` and `exec --redact`; the bytes are in no file on any
//! filesystem, in no environment, argv or lsenv output, and `env`, `explain` and `check` show
//! the variable as a file.

use sha2::Digest as _;

use crate::case::Case;
use crate::support::{CANARY, Project, said};

/// A multi-line value like a private key, with the canary inside.
fn key_text() -> String {
    format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{CANARY}\nline: two # not a comment\n-----END OPENSSH PRIVATE KEY-----\n"
    )
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .fold(String::new(), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// Two file secrets (one inside the section, one elsewhere) and one plain variable.
fn project() -> Project {
    let project = Project::new();
    let key = key_text().replace('\n', "\n    ");
    project.credentials(&format!(
        "litestream:\n  replica_bucket: bucket\n  sftp_private_key: |\n    {}\ngcp:\n  service_account: '{{\"type\": \"service_account\"}}'\n",
        key.trim_end()
    ));
    project.file(
        "config/lsenv.toml",
        "[files]\nLITESTREAM_SFTP_KEY_PATH = \"litestream.sftp_private_key\"\n\
         GOOGLE_APPLICATION_CREDENTIALS = \"gcp.service_account\"\n",
    );
    project
}

/// What the command finds at each path: the advertised path, the link count (0: in no
/// directory), what the kernel calls the file, its digest by path and by the inherited
/// descriptor, and whether writing or truncating it fails.
const PROBE: &str = r#"#!/bin/sh
p="$LITESTREAM_SFTP_KEY_PATH"
fd="${p##*/}"
echo "path=$p"
echo "gcp=$GOOGLE_APPLICATION_CREDENTIALS"
echo "links=$(stat -L -c %h "$p")"
echo "target=$(readlink "$p")"
echo "sha=$(sha256sum < "$p" | cut -d' ' -f1)"
echo "fdsha=$(eval "sha256sum <&$fd" | cut -d' ' -f1)"
if printf x >> "$p" 2>/dev/null; then echo write=done; else echo write=refused; fi
if truncate -s 0 "$p" 2>/dev/null; then echo truncate=done; else echo truncate=refused; fi
if truncate -s 100000 "$p" 2>/dev/null; then echo grow=done; else echo grow=refused; fi
echo "after=$(sha256sum < "$p" | cut -d' ' -f1)"
echo "gcpsha=$(sha256sum < "$GOOGLE_APPLICATION_CREDENTIALS" | cut -d' ' -f1)"
env | grep -c BEGIN || true
tr '\0' ' ' < /proc/$$/cmdline; echo
"#;

fn assert_probe(stdout: &str) {
    let digest = sha256_hex(key_text().as_bytes());
    for expected in [
        // Name order: GOOGLE_… before LITESTREAM_…, from 3 up.
        "gcp=/proc/self/fd/3\n".to_owned(),
        "path=/proc/self/fd/4\n".to_owned(),
        "links=0\n".to_owned(),
        "target=/memfd:lsenv:LITESTREAM_SFTP_KEY_PATH (deleted)\n".to_owned(),
        format!("sha={digest}\n"),
        format!("fdsha={digest}\n"),
        "write=refused\n".to_owned(),
        "truncate=refused\n".to_owned(),
        "grow=refused\n".to_owned(),
        format!("after={digest}\n"),
        format!("gcpsha={}\n", sha256_hex(br#"{"type": "service_account"}"#)),
        // No variable holds the key's text.
        "\n0\n".to_owned(),
    ] {
        assert!(stdout.contains(&expected), "{expected:?} in:\n{stdout}");
    }
    assert!(!stdout.contains(CANARY), "{stdout}");
}

#[test]
fn exec_gives_the_command_a_sealed_memfd() {
    let project = project();
    let probe = project.script("probe.sh", PROBE);
    let output = Case::new(&project).arg("exec").arg(&probe).run();
    assert_probe(&String::from_utf8(output.stdout).unwrap());
    assert!(!String::from_utf8_lossy(&output.stderr).contains(CANARY));
    // The section's key became the file only, not also a variable with the text.
    let env = Case::new(&project).args(["exec", "env"]).run();
    let env = String::from_utf8(env.stdout).unwrap();
    assert!(env.contains("LITESTREAM_REPLICA_BUCKET=bucket\n"), "{env}");
    assert!(!env.contains("SFTP_PRIVATE_KEY"), "{env}");
    assert!(!env.contains(CANARY), "{env}");
}

#[test]
fn replicate_and_redact_deliver_it_too() {
    let project = project();
    let probe = project.script("probe.sh", PROBE);
    project.file("config/litestream.yml", "dbs: []\n");
    let toml = std::fs::read_to_string(project.path("config/lsenv.toml")).unwrap();
    project.file(
        "config/lsenv.toml",
        format!("{toml}[replicate]\nlitestream = \"{}\"\n", probe.display()),
    );
    let output = Case::new(&project).arg("replicate").run();
    assert_probe(&String::from_utf8(output.stdout).unwrap());

    // Supervised: the same descriptors, and the bytes are secrets to redact.
    let output = Case::new(&project)
        .args(["exec", "--redact", "--"])
        .arg(&probe)
        .run();
    assert_probe(&String::from_utf8(output.stdout).unwrap());
    let output = Case::new(&project)
        .args([
            "exec",
            "--redact",
            "--",
            "sh",
            "-c",
            "cat \"$LITESTREAM_SFTP_KEY_PATH\"",
        ])
        .run();
    let shown = said(&output);
    assert!(output.status.success(), "{shown}");
    assert!(
        shown.contains("[redacted LITESTREAM_SFTP_KEY_PATH]"),
        "{shown}"
    );
    assert!(!shown.contains(CANARY), "{shown}");
}

#[test]
fn env_explain_and_check_show_a_file_never_its_bytes() {
    let project = project();
    project.file(
        "config/litestream.yml",
        "dbs:\n  - path: db.sqlite3\n    replica:\n      type: sftp\n      host: 127.0.0.1:22\n      user: backup\n      path: /backups\n      key-path: $LITESTREAM_SFTP_KEY_PATH\n",
    );
    // Keyed, so not computable here: the same in every output.
    let prefix = format!("file, {} bytes, hmac ", key_text().len());
    let env = said(&Case::new(&project).arg("env").run());
    let at = env
        .find(&prefix)
        .unwrap_or_else(|| panic!("no file fingerprint: {env}"));
    let fingerprint = env[at..at + prefix.len() + 8].to_owned();
    for args in [
        &["env"][..],
        &["env", "--format", "json"],
        &["explain"],
        &["explain", "--json"],
        &["check"],
    ] {
        let output = Case::new(&project)
            .args(args)
            .status(if args[0] == "check" { 6 } else { 0 })
            .run();
        let shown = said(&output);
        assert!(shown.contains(&fingerprint), "{args:?}: {shown}");
        assert!(!shown.contains(CANARY), "{args:?}: {shown}");
        assert!(!shown.contains("PRIVATE KEY"), "{args:?}: {shown}");
    }
    for args in [
        &["env", "--reveal"][..],
        &["env", "--format", "json", "--reveal"],
        &["env", "--format", "gitlab", "-o", "build.env"],
    ] {
        Case::new(&project)
            .args(args)
            .status(3)
            .said("GOOGLE_APPLICATION_CREDENTIALS is a file secret")
            .run();
    }
    assert!(!project.path("build.env").exists());
}

#[test]
fn a_name_in_both_env_and_files_is_refused() {
    let project = project();
    project.file(
        "config/lsenv.toml",
        "[env]\nX_KEY = \"gcp.service_account\"\n[files]\nX_KEY = \"gcp.service_account\"\n",
    );
    Case::new(&project)
        .args(["exec", "true"])
        .status(3)
        .said("declared in both [env] and [files]")
        .run();
    // An environment's table may turn a base [env] name into a file.
    project.file(
        "config/lsenv.toml",
        "[env]\nX_KEY = \"gcp.service_account\"\n[environments.production.files]\nX_KEY = \"gcp.service_account\"\n",
    );
    Case::new(&project)
        .args(["-e", "production", "exec", "printenv", "X_KEY"])
        .stdout_is("/proc/self/fd/3\n")
        .run();
}
