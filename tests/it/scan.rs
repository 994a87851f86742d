//! `lsenv scan`: secret values planted as they are, base64- and URL-encoded, in a tracked file,
//! an untracked file and a past commit of a real git repository are found and reported by place
//! and name, never by value; the exit status tells CI what happened; what must not be read is not.

use std::process::Output;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::case::Case;
use crate::support::{KEY, Project, git, said};

const ACCESS: &str = "AKIA-canary-7f3e9a";
const SECRET: &str = "canary/7f3e+9a secret=x";
const SECRET_URL_ENCODED: &str = "canary%2F7f3e%2B9a%20secret%3Dx";

/// A repository with credentials (the key ignored), and one commit.
fn repository() -> Project {
    let project = Project::new();
    project.credentials(&format!(
        "litestream:\n  replica_key_id: {ACCESS}\n  replica_access_key: \"{SECRET}\"\n  region: eu-1\n"
    ));
    project.file(".gitignore", "/config/master.key\n.env\n");
    git(project.root(), &["init", "-q"]);
    git(project.root(), &["add", "-A"]);
    git(project.root(), &["commit", "-qm", "credentials"]);
    project
}

/// `lsenv scan ARGS` with the key in the environment.
fn scan(project: &Project, args: &[&str]) -> Case {
    Case::new(project)
        .env("RAILS_MASTER_KEY", KEY)
        .arg("scan")
        .args(args)
}

/// Every form of every value, none of which lsenv may print.
#[track_caller]
fn assert_no_value(output: &Output) {
    let said = said(output);
    for value in [
        ACCESS.to_owned(),
        SECRET.to_owned(),
        SECRET_URL_ENCODED.to_owned(),
        STANDARD.encode(SECRET),
        STANDARD.encode(ACCESS),
        "eu-1".to_owned(),
    ] {
        assert!(!said.contains(&value), "printed a value: {said}");
    }
}

/// `leak.txt` with the access key as is, committed and then removed; `config.js` (tracked) with the
/// secret base64-encoded on line 3; `notes.md` (untracked) with it URL-encoded on line 2; `.env`
/// (ignored) with both.
fn leaky_repository() -> (Project, String) {
    let project = repository();
    let root = project.root();
    project.file("leak.txt", format!("key = {ACCESS}\n"));
    git(root, &["add", "leak.txt"]);
    git(root, &["commit", "-qm", "leak"]);
    let leak = String::from_utf8(git(root, &["rev-parse", "HEAD"]).stdout).unwrap();
    git(root, &["rm", "-q", "leak.txt"]);
    git(root, &["commit", "-qm", "unleak"]);
    project.file(
        "app/config.js",
        format!(
            "// settings\nconst a = 1;\nconst blob = \"{}\";\n",
            STANDARD.encode(format!("{SECRET}\n"))
        ),
    );
    git(root, &["add", "app/config.js"]);
    git(root, &["commit", "-qm", "config"]);
    project.file(
        "notes.md",
        format!("# Notes\ns3://bucket?secret={SECRET_URL_ENCODED}&x=1\n"),
    );
    project.file(".env", format!("A={ACCESS}\nB={SECRET}\n"));
    (project, leak.trim()[..12].to_owned())
}

#[test]
fn values_in_tracked_and_untracked_files_are_found_by_name_and_line() {
    let (project, _) = leaky_repository();
    let output = scan(&project, &[])
        .status(9)
        .said("found 2 secret value(s)")
        .run();
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(
        stdout,
        "app/config.js:3: LITESTREAM_SECRET_ACCESS_KEY (base64)\n\
         notes.md:2: LITESTREAM_SECRET_ACCESS_KEY (URL-encoded)\n"
    );
    // The short value is named as not searched for.
    assert!(
        said(&output).contains("not searched for (shorter than 8 bytes): LITESTREAM_REGION"),
        "{}",
        said(&output)
    );
    assert_no_value(&output);
}

#[test]
fn history_finds_a_value_in_a_removed_file_and_names_the_commit() {
    let (project, leak) = leaky_repository();
    let output = scan(&project, &["--history"])
        .status(9)
        .said("found 4 secret value(s)")
        .run();
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    assert!(
        stdout.contains(&format!(
            "{leak}:leak.txt:1: LITESTREAM_ACCESS_KEY_ID (as is)\n"
        )),
        "{stdout}"
    );
    // The committed blob of config.js too, besides the work tree's copy.
    assert!(
        stdout.contains(":app/config.js:3: LITESTREAM_SECRET_ACCESS_KEY (base64)\n"),
        "{stdout}"
    );
    assert_no_value(&output);
    // Without --history the removed file is not seen.
    scan(&project, &[]).any_status().lacks("leak.txt").run();
}

#[test]
fn paths_limit_the_scan() {
    let (project, _) = leaky_repository();
    let output = scan(&project, &["notes.md"])
        .status(9)
        .said("found 1 secret value(s)")
        .run();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "notes.md:2: LITESTREAM_SECRET_ACCESS_KEY (URL-encoded)\n"
    );
    scan(&project, &["--history", "app"])
        .status(9)
        .said("found 2 secret value(s)")
        .lacks("leak.txt")
        .run();
}

#[test]
fn a_clean_repository_exits_0_and_says_what_it_scanned() {
    let project = repository();
    project.file("README", "nothing to see\n");
    scan(&project, &["--history"])
        .said("scanned 3 file(s) and 2 blob(s) of the history for 2 secret value(s): none found")
        .stdout_is("")
        .run();
}

#[test]
fn symlinks_fifos_large_and_ignored_files_are_not_read() {
    let project = repository();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("secret.txt");
    std::fs::write(&target, ACCESS).unwrap();
    std::os::unix::fs::symlink(&target, project.path("link.txt")).unwrap();
    // A tracked file that became a FIFO in the work tree: opening it must not wait for a writer.
    project.file("pipe", "tracked\n");
    git(project.root(), &["add", "pipe"]);
    git(project.root(), &["commit", "-qm", "pipe"]);
    std::fs::remove_file(project.path("pipe")).unwrap();
    let fifo = std::process::Command::new("mkfifo")
        .arg(project.path("pipe"))
        .status()
        .unwrap();
    assert!(fifo.success());
    project.file(".env", format!("A={ACCESS}\n"));
    // Over the bound (16 MiB): named and skipped, not read.
    let mut big = ACCESS.as_bytes().to_vec();
    big.resize((16 << 20) + 1, b'x');
    project.file("big.bin", big);
    let output = scan(&project, &[])
        .said("skipped 2 symlink(s) and other non-regular file(s)")
        .run();
    let said = said(&output);
    assert!(
        said.contains("big.bin: skipped: larger than 16 MiB"),
        "{said}"
    );
    assert!(said.contains("none found"), "{said}");
}

#[test]
fn when_the_scan_cannot_run_the_exit_status_says_why() {
    // Not in a git work tree: usage (2).
    let project = Project::new();
    project.credentials(&format!("litestream:\n  replica_key_id: {ACCESS}\n"));
    let output = scan(&project, &[])
        .status(2)
        .said("not in a git work tree")
        .run();
    assert_no_value(&output);
    // No key: 4; a wrong key: 5. Neither is mistaken for "clean".
    let project = repository();
    std::fs::remove_file(project.path("config/master.key")).unwrap();
    Case::new(&project).arg("scan").status(4).run();
    Case::new(&project)
        .env("RAILS_MASTER_KEY", "00000000000000000000000000000000")
        .arg("scan")
        .status(5)
        .run();
}
