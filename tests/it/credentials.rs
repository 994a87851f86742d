//! `lsenv credentials edit|show|diff|rotate-key` with scripted editors (small shell scripts as
//! `$EDITOR`) for every branch. After each: the credentials file is byte-identical or correctly
//! updated (and readable by Ruby's ActiveSupport), no plaintext is left in the scratch or temp
//! directories, and the lock is gone.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use crate::case::Case;
use crate::support::{
    CANARY, KEY, Project, Terminal, git, ruby_oracle, said, send_signal, wait_until,
};

pub(crate) const ENC: &str = "config/credentials.yml.enc";
pub(crate) const ORIGINAL: &str =
    "litestream:\n  replica_bucket: original\n  replica_access_key: canary-7f3e9a-secret\n";

/// A project with credentials, private scratch and temp directories, and editor scripts.
pub(crate) struct EditCase {
    pub(crate) project: Project,
    pub(crate) scratch: tempfile::TempDir,
    pub(crate) temp: tempfile::TempDir,
}

impl EditCase {
    pub(crate) fn new() -> Self {
        let case = Self::empty();
        case.project.credentials(ORIGINAL);
        case
    }

    fn empty() -> Self {
        Self {
            project: Project::new(),
            scratch: tempfile::tempdir().unwrap(),
            temp: tempfile::tempdir().unwrap(),
        }
    }

    /// An executable editor script; `$1` is the scratch file.
    pub(crate) fn editor(&self, name: &str, body: &str) -> PathBuf {
        self.project
            .script(&format!("editors/{name}"), format!("#!/bin/sh\n{body}\n"))
    }

    pub(crate) fn edit_command(&self, editor: &Path, args: &[&str]) -> std::process::Command {
        let mut command = self.project.process();
        command
            .args(["credentials", "edit"])
            .args(args)
            .env("EDITOR", editor)
            .env("XDG_RUNTIME_DIR", self.scratch.path())
            .env("TMPDIR", self.temp.path());
        command
    }

    /// `lsenv credentials edit` with `editor`, to be checked and run.
    pub(crate) fn edit(&self, editor: &Path) -> Case {
        Case::of(self.edit_command(editor, &[]))
    }

    /// lsenv editing in the background, for tests that signal it or race it.
    pub(crate) fn spawn_edit(&self, editor: &Path) -> Child {
        self.edit_command(editor, &[])
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The edit kept in the recovery file, as real Rails reads it with the project's key.
    pub(crate) fn recovered(&self) -> String {
        let recovery = self.project.path("config/credentials.yml.enc.recovery");
        let key = self.project.path("config/master.key");
        String::from_utf8(ruby_oracle("read", &[&recovery, &key], &[], b"")).unwrap()
    }

    pub(crate) fn bytes(&self) -> Vec<u8> {
        std::fs::read(self.project.path(ENC)).unwrap()
    }

    /// What real Rails reads from the credentials file.
    pub(crate) fn ruby_reads(&self, key_file: &str) -> String {
        let enc = self.project.path(ENC);
        let key = self.project.path(key_file);
        String::from_utf8(ruby_oracle("read", &[&enc, &key], &[], b"")).unwrap()
    }

    /// No plaintext anywhere lsenv may have put it, and no lock left.
    pub(crate) fn assert_clean(&self) {
        for dir in [self.scratch.path(), self.temp.path()] {
            let left: Vec<_> = walk(dir);
            assert!(
                left.is_empty(),
                "left behind in {}: {left:?}",
                dir.display()
            );
        }
        assert!(
            !self
                .project
                .path("config/credentials.yml.enc.lock")
                .exists(),
            "lock left behind"
        );
        for file in walk(self.project.root()) {
            if file.is_dir()
                || file.starts_with(self.project.path("editors"))
                || file.starts_with(self.project.path(".git"))
            {
                continue;
            }
            let bytes = std::fs::read(&file).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(CANARY),
                "plaintext in {}",
                file.display()
            );
        }
    }
}

/// Every file and directory under `dir`.
pub(crate) fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}

#[test]
fn a_changed_file_is_encrypted_again_and_rails_reads_it() {
    let case = EditCase::new();
    let editor = case.editor("change", "sed -i 's/original/changed/' \"$1\"");
    case.edit(&editor)
        .said("updated config/credentials.yml.enc")
        .run();
    assert_eq!(
        case.ruby_reads("config/master.key"),
        ORIGINAL.replace("original", "changed")
    );
    case.assert_clean();
}

#[test]
fn unchanged_text_writes_nothing_and_a_quick_editor_is_questioned() {
    let case = EditCase::new();
    let before = case.bytes();
    case.edit(&case.editor("noop", "true"))
        .said("no changes; nothing written")
        .said("does it need a wait flag")
        .run();
    assert_eq!(case.bytes(), before, "no spurious re-encryption");
    case.assert_clean();
}

#[test]
fn the_editor_sees_the_decrypted_text_in_a_private_0600_file() {
    let case = EditCase::new();
    let editor = case.editor(
        "inspect",
        "cp \"$1\" \"$(dirname \"$0\")/seen.yml\"\nstat -c '%a' \"$1\" > \"$(dirname \"$0\")/mode\"\nstat -c '%a' \"$(dirname \"$1\")\" > \"$(dirname \"$0\")/dirmode\"\necho \"$1\" > \"$(dirname \"$0\")/path\"",
    );
    case.edit(&editor).run();
    let read = |name: &str| {
        std::fs::read_to_string(case.project.path(&format!("editors/{name}"))).unwrap()
    };
    assert_eq!(read("seen.yml"), ORIGINAL);
    assert_eq!(read("mode").trim(), "600");
    assert_eq!(read("dirmode").trim(), "700");
    let scratch = PathBuf::from(read("path").trim());
    assert!(
        scratch.starts_with(case.scratch.path()),
        "scratch file {scratch:?} not in XDG_RUNTIME_DIR"
    );
    assert!(scratch.to_string_lossy().ends_with("credentials.yml"));
    case.assert_clean();
}

#[test]
fn invalid_yaml_keeps_the_edit_encrypted_and_the_next_edit_continues_from_it() {
    let case = EditCase::new();
    let before = case.bytes();
    let broken = case.editor(
        "break",
        &format!("printf 'litestream:\\n  replica_access_key: {CANARY}\\n bad: [\\n' > \"$1\""),
    );
    case.edit(&broken)
        .status(3)
        .said("config/credentials.yml.enc:3:")
        .said("your edit is kept, encrypted, in config/credentials.yml.enc.recovery")
        .run();
    assert_eq!(case.bytes(), before);
    // The recovery file is ordinary Rails ciphertext: Ruby opens it with the same key.
    assert!(case.recovered().contains(" bad: ["));
    case.assert_clean();

    // The next edit starts from the kept text; fixing it saves and removes the recovery file.
    let fix = case.editor(
        "fix",
        "grep -q 'bad: \\[' \"$1\" && sed -i '/bad: \\[/d' \"$1\"",
    );
    case.edit(&fix)
        .said("continuing from the edit kept in")
        .run();
    assert!(
        !case
            .project
            .path("config/credentials.yml.enc.recovery")
            .exists()
    );
    assert_eq!(
        case.ruby_reads("config/master.key"),
        format!("litestream:\n  replica_access_key: {CANARY}\n")
    );
    case.assert_clean();
}

#[test]
fn a_failing_editor_writes_nothing() {
    let case = EditCase::new();
    let before = case.bytes();
    case.edit(&case.editor("fail", "exit 3"))
        .status(1)
        .said("the editor exited with status 3; nothing written")
        .run();
    assert_eq!(case.bytes(), before);
    assert!(
        !case
            .project
            .path("config/credentials.yml.enc.recovery")
            .exists()
    );
    case.assert_clean();

    // With a change made before failing, the change is kept (encrypted), not written.
    case.edit(&case.editor(
        "change-then-fail",
        "sed -i 's/original/changed/' \"$1\"; exit 1",
    ))
    .status(1)
    .said("your edit is kept, encrypted")
    .run();
    assert_eq!(case.bytes(), before);
    case.assert_clean();
}

#[test]
fn an_editor_killed_by_a_signal_writes_nothing() {
    let case = EditCase::new();
    let before = case.bytes();
    case.edit(&case.editor("killed", "kill -KILL $$"))
        .status(1)
        .said("the editor was killed by a signal")
        .run();
    assert_eq!(case.bytes(), before);
    case.assert_clean();
}

#[test]
fn a_missing_editor_is_an_error() {
    let case = EditCase::new();
    let before = case.bytes();
    case.edit(Path::new("/nonexistent/editor"))
        .status(127)
        .run();
    case.edit(Path::new("x"))
        .env_remove("EDITOR")
        .env("VISUAL", "")
        .status(2)
        .said("no editor: VISUAL and EDITOR are not set")
        .run();
    assert_eq!(case.bytes(), before);
    case.assert_clean();
}

#[test]
fn visual_wins_and_is_split_like_a_shell_would() {
    let case = EditCase::new();
    let editor = case.editor(
        "args",
        "[ \"$1\" = '--wait' ] && [ \"$2\" = 'two words' ] && sed -i 's/original/split/' \"$3\"",
    );
    case.edit(Path::new("/nonexistent/editor"))
        .env("VISUAL", format!("{} --wait 'two words'", editor.display()))
        .run();
    assert!(
        case.ruby_reads("config/master.key")
            .contains("replica_bucket: split")
    );
}

/// Waits until the editor script has written `editors/ready`, i.e. it is running.
pub(crate) fn wait_ready(case: &EditCase, child: &mut Child) {
    wait_until("the editor to start", || {
        assert!(child.try_wait().unwrap().is_none(), "lsenv exited early");
        case.project.path("editors/ready").exists()
    });
}

#[test]
fn lsenv_stopped_by_a_signal_while_the_editor_is_open_cleans_up() {
    for (name, code) in [("TERM", 143), ("INT", 130), ("HUP", 129)] {
        let case = EditCase::new();
        let before = case.bytes();
        let editor = case.editor("wait", "touch \"$(dirname \"$0\")/ready\"\nexec sleep 30");
        let mut child = case.spawn_edit(&editor);
        wait_ready(&case, &mut child);
        send_signal(child.id(), name);
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(status.code(), Some(code), "{name}: {stderr}");
        assert!(stderr.contains("nothing was written"), "{name}: {stderr}");
        assert_eq!(case.bytes(), before, "{name}");
        case.assert_clean();
    }
}

#[test]
fn an_edit_in_progress_when_lsenv_is_stopped_is_kept() {
    let case = EditCase::new();
    let editor = case.editor(
        "change-and-wait",
        "sed -i 's/original/in-progress/' \"$1\"\ntouch \"$(dirname \"$0\")/ready\"\nexec sleep 30",
    );
    let mut child = case.spawn_edit(&editor);
    wait_ready(&case, &mut child);
    send_signal(child.id(), "TERM");
    assert_eq!(child.wait().unwrap().code(), Some(143));
    assert!(case.recovered().contains("in-progress"));
    case.assert_clean();
}

#[test]
fn a_second_concurrent_edit_is_refused_and_nothing_is_lost() {
    let case = EditCase::new();
    let slow = case.editor(
        "slow",
        "sed -i 's/original/first/' \"$1\"\ntouch \"$(dirname \"$0\")/ready\"\nwhile [ ! -e \"$(dirname \"$0\")/go\" ]; do sleep 0.05; done",
    );
    let mut first = case.spawn_edit(&slow);
    wait_ready(&case, &mut first);
    case.edit(&case.editor("second", "sed -i 's/original/second/' \"$1\""))
        .status(3)
        .said(format!(
            "another edit is in progress (process {}",
            first.id()
        ))
        .run();
    case.project.file("editors/go", "");
    assert!(first.wait().unwrap().success());
    assert!(
        case.ruby_reads("config/master.key")
            .contains("replica_bucket: first")
    );
    case.assert_clean();
}

#[test]
fn a_stale_lock_is_reported_and_taken_over() {
    let case = EditCase::new();
    case.project
        .file("config/credentials.yml.enc.lock", "999999\n");
    case.edit(&case.editor("change", "sed -i 's/original/after-stale/' \"$1\""))
        .said("took over a stale lock config/credentials.yml.enc.lock left by process 999999")
        .run();
    assert!(case.ruby_reads("config/master.key").contains("after-stale"));
    case.assert_clean();
}

#[test]
fn a_file_changed_on_disk_meanwhile_is_not_overwritten() {
    let case = EditCase::new();
    // Someone else saves the credentials (here: Ruby) while our editor is open.
    let oracle = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/drivers/rails_oracle.rb");
    let editor = case.editor(
        "race",
        &format!(
            "sed -i 's/original/ours/' \"$1\"\nprintf 'litestream:\\n  replica_bucket: theirs\\n' | env -u RAILS_MASTER_KEY ruby {} write config/credentials.yml.enc config/master.key",
            oracle.display()
        ),
    );
    case.edit(&editor)
        .status(3)
        .said("the file changed on disk while the editor was open")
        .run();
    assert_eq!(
        case.ruby_reads("config/master.key"),
        "litestream:\n  replica_bucket: theirs\n"
    );
    assert!(case.recovered().contains("replica_bucket: ours"));
    case.assert_clean();
}

#[test]
fn a_new_file_gets_a_new_key_and_rails_reads_it() {
    let case = EditCase::empty();
    let output = case
        .edit(&case.editor(
            "write",
            "printf 'litestream:\\n  replica_bucket: brand-new\\n' > \"$1\"",
        ))
        .run();
    let key = std::fs::read_to_string(case.project.path("config/master.key")).unwrap();
    assert_eq!(key.len(), 32);
    assert!(
        key.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    let mode = std::fs::metadata(case.project.path("config/master.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        std::fs::read_to_string(case.project.path(".gitignore"))
            .unwrap()
            .contains("/config/master.key")
    );
    assert!(
        !said(&output).contains(&key),
        "the key is not printed by edit"
    );
    assert_eq!(
        case.ruby_reads("config/master.key"),
        "litestream:\n  replica_bucket: brand-new\n"
    );

    // Per environment: config/credentials/ENV.yml.enc with its own key.
    case.edit(&case.editor(
        "write",
        "printf 'litestream:\\n  replica_bucket: staging\\n' > \"$1\"",
    ))
    .args(["-e", "staging"])
    .run();
    assert!(case.project.path("config/credentials/staging.key").exists());
    let enc = case.project.path("config/credentials/staging.yml.enc");
    let text = ruby_oracle(
        "read",
        &[&enc, &case.project.path("config/credentials/staging.key")],
        &[],
        b"",
    );
    assert_eq!(text, b"litestream:\n  replica_bucket: staging\n");
}

#[test]
fn a_file_without_its_key_never_gets_a_new_one() {
    let case = EditCase::new();
    std::fs::remove_file(case.project.path("config/master.key")).unwrap();
    let editor = case.editor("never-run", "touch \"$(dirname \"$0\")/ran\"");
    let before = case.project.snapshot();
    case.edit(&editor)
        .status(4)
        .said("no key found to decrypt this file")
        .run();
    assert_eq!(case.project.snapshot(), before);
    case.assert_clean();
}

#[test]
fn a_rails_made_change_is_editable_by_lsenv() {
    let case = EditCase::empty();
    let (enc, key) = (
        case.project.path(ENC),
        case.project.path("config/master.key"),
    );
    std::fs::create_dir_all(enc.parent().unwrap()).unwrap();
    ruby_oracle(
        "write",
        &[&enc, &key],
        &["--framing", "utf8"],
        "litestream:\n  replica_bucket: from-ruby\n".as_bytes(),
    );
    case.edit(&case.editor("change", "sed -i 's/from-ruby/from-lsenv/' \"$1\""))
        .run();
    assert_eq!(
        case.ruby_reads("config/master.key"),
        "litestream:\n  replica_bucket: from-lsenv\n"
    );
}

#[test]
fn conflict_markers_are_refused_and_reencrypt_recovers() {
    let case = EditCase::new();
    case.project.file(ENC, "<<<<<<< HEAD\nlitestream:\n  replica_bucket: ours\n=======\nlitestream:\n  replica_bucket: theirs\n>>>>>>> topic\n");
    Case::new(&case.project)
        .args(["credentials", "show"])
        .status(5)
        .said("lsenv credentials edit --reencrypt")
        .run();

    // Saving with the markers still in is refused too.
    case.edit(&case.editor("noop", "true"))
        .arg("--reencrypt")
        .status(3)
        .said("conflict markers")
        .run();
    std::fs::remove_file(case.project.path("config/credentials.yml.enc.recovery")).unwrap();

    let resolve = case.editor(
        "resolve",
        "printf 'litestream:\\n  replica_bucket: resolved\\n' > \"$1\"",
    );
    case.edit(&resolve).arg("--reencrypt").run();
    assert_eq!(
        case.ruby_reads("config/master.key"),
        "litestream:\n  replica_bucket: resolved\n"
    );
}

#[test]
fn show_prints_the_decrypted_yaml() {
    let case = EditCase::new();
    Case::new(&case.project)
        .args(["credentials", "show"])
        .stdout_is(ORIGINAL)
        .reveals()
        .run();
    let empty = EditCase::empty();
    Case::new(&empty.project)
        .args(["credentials", "show"])
        .status(3)
        .run();
}

#[test]
fn diff_enroll_makes_git_show_decrypted_yaml() {
    let case = EditCase::new();
    let root = case.project.root();
    git(root, &["init", "-q"]);
    case.project
        .file(".gitignore", "/config/master.key\n/editors/\n");
    Case::new(&case.project)
        .args(["credentials", "diff", "--enroll"])
        .run();
    let attributes = std::fs::read_to_string(case.project.path(".gitattributes")).unwrap();
    assert!(attributes.contains("config/credentials.yml.enc diff=rails_credentials"));
    assert!(attributes.contains("config/credentials/*.yml.enc diff=rails_credentials"));
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "one"]);
    case.edit(&case.editor("change", "sed -i 's/original/second/' \"$1\""))
        .run();

    let diff = String::from_utf8(git(root, &["diff"]).stdout).unwrap();
    assert!(diff.contains("-  replica_bucket: original"), "{diff}");
    assert!(diff.contains("+  replica_bucket: second"), "{diff}");
    git(root, &["commit", "-qam", "two"]);
    let log = String::from_utf8(git(root, &["log", "-p"]).stdout).unwrap();
    assert!(log.contains("+  replica_bucket: second"), "{log}");

    // Without the key, git still works and shows the raw file.
    std::fs::rename(
        case.project.path("config/master.key"),
        case.project.path("master.key.away"),
    )
    .unwrap();
    let log = String::from_utf8(git(root, &["log", "-p"]).stdout).unwrap();
    assert!(!log.contains("replica_bucket"), "{log}");
    assert!(log.contains("--"), "{log}");

    // Enrolling again is idempotent; a driver someone else configured is kept; disenroll undoes.
    std::fs::rename(
        case.project.path("master.key.away"),
        case.project.path("config/master.key"),
    )
    .unwrap();
    Case::new(&case.project)
        .args(["credentials", "diff", "--enroll"])
        .run();
    assert_eq!(
        std::fs::read_to_string(case.project.path(".gitattributes")).unwrap(),
        attributes
    );
    git(
        root,
        &[
            "config",
            "diff.rails_credentials.textconv",
            "bin/rails credentials:diff",
        ],
    );
    Case::new(&case.project)
        .args(["credentials", "diff", "--enroll"])
        .said("kept: diff.rails_credentials.textconv is already set")
        .run();
    let configured = git(root, &["config", "diff.rails_credentials.textconv"]).stdout;
    assert_eq!(configured, b"bin/rails credentials:diff\n");
    git(
        root,
        &[
            "config",
            "diff.rails_credentials.textconv",
            "lsenv credentials diff",
        ],
    );
    Case::new(&case.project)
        .args(["credentials", "diff", "--disenroll"])
        .run();
    assert!(
        !std::fs::read_to_string(case.project.path(".gitattributes"))
            .unwrap()
            .contains("rails_credentials")
    );
}

#[test]
fn diff_of_a_blob_named_for_an_environment_uses_that_environments_key() {
    let case = EditCase::new();
    case.project.credentials_at(
        "config/credentials/production.yml.enc",
        "config/credentials/production.key",
        "prod: yes\n",
    );
    // git hands the driver a temporary copy that keeps the file name.
    let blob = case.temp.path().join("XYZ_production.yml.enc");
    std::fs::copy(
        case.project.path("config/credentials/production.yml.enc"),
        &blob,
    )
    .unwrap();
    let renamed = case.temp.path().join("production.yml.enc");
    std::fs::rename(&blob, &renamed).unwrap();
    Case::new(&case.project)
        .args(["credentials", "diff"])
        .arg(&renamed)
        .stdout_is("prod: yes\n")
        .run();
    // Garbage is printed as it is, and git still gets exit 0.
    case.project.file("garbage.yml.enc", "not credentials");
    Case::new(&case.project)
        .args(["credentials", "diff", "garbage.yml.enc"])
        .stdout_is("not credentials")
        .run();
}

#[test]
fn rotate_key_reencrypts_keeps_the_old_key_and_prints_the_new_one_once() {
    let case = EditCase::new();
    // A per-environment file that shares config/master.key is re-encrypted too.
    case.project.credentials_at(
        "config/credentials/staging.yml.enc",
        "config/master.key",
        "staging: shared-key\n",
    );
    let output = Case::new(&case.project)
        .args(["credentials", "rotate-key"])
        .run();
    let new_key = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(new_key.len(), 33, "the key and a newline: {new_key:?}");
    let new_key = new_key.trim_end();
    assert_ne!(new_key, KEY);
    assert_eq!(
        std::fs::read_to_string(case.project.path("config/master.key")).unwrap(),
        new_key
    );
    assert_eq!(
        std::fs::read_to_string(case.project.path("config/master.key.old")).unwrap(),
        KEY
    );
    let mode = std::fs::metadata(case.project.path("config/master.key.old"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(case.ruby_reads("config/master.key"), ORIGINAL);
    let staging = case.project.path("config/credentials/staging.yml.enc");
    assert_eq!(
        ruby_oracle(
            "read",
            &[&staging, &case.project.path("config/master.key")],
            &[],
            b""
        ),
        b"staging: shared-key\n"
    );
    // The old key no longer opens the file.
    Case::new(&case.project)
        .env("RAILS_MASTER_KEY", KEY)
        .args(["credentials", "show"])
        .status(5)
        .run();

    // A second rotation waits until the old key is removed.
    let before = case.project.snapshot();
    Case::new(&case.project)
        .args(["credentials", "rotate-key"])
        .status(3)
        .stdout_is("")
        .run();
    assert_eq!(case.project.snapshot(), before);
}

#[test]
fn an_interrupted_rotation_is_finished_by_running_it_again() {
    let case = EditCase::new();
    // The state a crash between writing the new key and re-encrypting leaves behind.
    let new_key = "fedcba9876543210fedcba9876543210";
    case.project.file("config/master.key.old", KEY);
    case.project.file("config/master.key", new_key);
    Case::new(&case.project)
        .args(["credentials", "rotate-key"])
        .said("finished an interrupted key rotation")
        .run();
    assert_eq!(case.ruby_reads("config/master.key"), ORIGINAL);
}

#[test]
fn rotate_key_refuses_a_key_from_a_variable() {
    let case = EditCase::new();
    let before = case.project.snapshot();
    Case::new(&case.project)
        .env("RAILS_MASTER_KEY", KEY)
        .args(["credentials", "rotate-key"])
        .status(4)
        .lacks(KEY)
        .run();
    assert_eq!(case.project.snapshot(), before);
}

/// `lsenv credentials edit` with `editor` in a real terminal, and the editor's HOME, which must
/// stay empty (no viminfo, swap or backup with plaintext). lsenv's audit log goes to the project,
/// whose files are checked for plaintext too.
fn edit_in_terminal(case: &EditCase, editor: &str) -> (Terminal, tempfile::TempDir) {
    let home = tempfile::tempdir().unwrap();
    let script = format!(
        "cd {root} && env -i PATH=\"$PATH\" TERM=xterm HOME={home} XDG_STATE_HOME={root}/state XDG_RUNTIME_DIR={scratch} TMPDIR={temp} EDITOR={editor} {lsenv} credentials edit; echo LSENV-EXIT=$?; sleep 60",
        root = shell_words::quote(&case.project.root().to_string_lossy()),
        home = shell_words::quote(&home.path().to_string_lossy()),
        scratch = shell_words::quote(&case.scratch.path().to_string_lossy()),
        temp = shell_words::quote(&case.temp.path().to_string_lossy()),
        editor = shell_words::quote(editor),
        lsenv = shell_words::quote(&assert_cmd::cargo::cargo_bin!("lsenv").to_string_lossy()),
    );
    (Terminal::start(&script), home)
}

/// A real terminal editor (Debian's vi) under tmux: type an edit, save, and Rails reads it.
#[test]
fn a_real_vi_in_a_terminal_edits_and_saves() {
    let case = EditCase::new();
    // No vimrc, no viminfo, no swap file: nothing of the plaintext outside the scratch directory.
    let (terminal, home) = edit_in_terminal(&case, "vi -u NONE -i NONE -n");
    terminal.wait_for("replica_bucket: original");
    terminal.keys(&[
        "/original",
        "Enter",
        "cw",
        "typed-in-vi",
        "Escape",
        ":wq",
        "Enter",
    ]);
    terminal.wait_for("LSENV-EXIT=0");
    assert!(
        case.ruby_reads("config/master.key")
            .contains("replica_bucket: typed-in-vi")
    );
    case.assert_clean();
    assert_eq!(walk(home.path()), Vec::<PathBuf>::new());
}

/// At a terminal, invalid YAML offers to re-open the editor on the same text.
#[test]
fn at_a_terminal_invalid_yaml_reopens_the_editor() {
    let case = EditCase::new();
    let editor = case.editor(
        "twice",
        "if [ ! -e \"$(dirname \"$0\")/once\" ]; then touch \"$(dirname \"$0\")/once\"; echo 'a: [' >> \"$1\"; else grep -q 'a: \\[' \"$1\" && sed -i 's/a: \\[/a: fixed/' \"$1\"; fi",
    );
    let (terminal, _home) = edit_in_terminal(&case, &editor.to_string_lossy());
    terminal.wait_for("Re-open the editor on the same text? [Y/n]");
    terminal.keys(&["y", "Enter"]);
    terminal.wait_for("LSENV-EXIT=0");
    assert!(case.ruby_reads("config/master.key").ends_with("a: fixed\n"));
    assert!(
        !case
            .project
            .path("config/credentials.yml.enc.recovery")
            .exists()
    );
    case.assert_clean();
}
