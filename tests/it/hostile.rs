//! A hostile repository: lsenv's paths made into what a commit can carry or a careless shell can
//! leave — a symbolic link, a FIFO, a device node, a crafted age file, a kill at a bad moment.
//! Each case is set up as an attacker would, and asserts the exit code, the message and the
//! file system afterwards: nothing outside the project touched, the key intact, no plaintext
//! left in the scratch or temp directories, and every edit kept.
//!
//! Device nodes and mount namespaces need root, as CI runs these tests; elsewhere those cases
//! fail, saying why.

use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _, symlink};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::credentials::{EditCase, ORIGINAL, walk};
use crate::support::{CANARY, KEY, Project, assert_said, said, send_signal};

const LOCK: &str = "config/credentials.yml.enc.lock";
const RECOVERY: &str = "config/credentials.yml.enc.recovery";

/// Runs `command`, which must finish within `limit` (a hang is killed and fails the test).
fn within(command: &mut Command, limit: Duration) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let started = Instant::now();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    while !waiter.is_finished() {
        if started.elapsed() > limit {
            send_signal(pid, "KILL");
            panic!("{command:?} still running after {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    waiter.join().unwrap()
}

fn require_root(why: &str) {
    assert!(
        rustix_uid_is_root(),
        "this test needs root ({why}); CI runs the suite as root"
    );
}

fn rustix_uid_is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// No file anywhere under the scratch and temp directories.
fn assert_no_scratch(case: &EditCase) {
    for dir in [case.scratch.path(), case.temp.path()] {
        assert!(
            walk(dir).is_empty(),
            "left in {}: {:?}",
            dir.display(),
            walk(dir)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 1. The edit lock

#[test]
fn an_edit_lock_linked_to_the_key_is_refused_and_the_key_kept() {
    let case = EditCase::new();
    symlink("master.key", case.project.path(LOCK)).unwrap();
    let before = case.bytes();
    let output = case.edit(&case.editor("change", "sed -i 's/original/changed/' \"$1\""));
    assert_said(
        &output,
        2,
        &format!("{LOCK}: is a symbolic link; refusing to use it"),
    );
    assert!(!said(&output).contains(KEY), "{}", said(&output));
    assert_eq!(
        std::fs::read_to_string(case.project.path("config/master.key")).unwrap(),
        KEY
    );
    assert!(
        std::fs::symlink_metadata(case.project.path(LOCK))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(case.bytes(), before);
    assert_no_scratch(&case);

    // A hard link to the key would be truncated just the same.
    std::fs::remove_file(case.project.path(LOCK)).unwrap();
    std::fs::hard_link(
        case.project.path("config/master.key"),
        case.project.path(LOCK),
    )
    .unwrap();
    let output = case.edit(&case.editor("change", "sed -i 's/original/changed/' \"$1\""));
    assert_said(&output, 2, "a file with other names (hard links)");
    assert_eq!(
        std::fs::read_to_string(case.project.path("config/master.key")).unwrap(),
        KEY
    );
}

#[test]
fn a_lock_holding_anything_but_a_pid_is_never_quoted() {
    let case = EditCase::new();
    case.project.file(LOCK, format!("{KEY}\n"));
    let output = case.edit(&case.editor("change", "sed -i 's/original/after/' \"$1\""));
    assert!(output.status.success(), "{}", said(&output));
    assert!(!said(&output).contains(KEY), "{}", said(&output));
    assert!(case.ruby_reads("config/master.key").contains("after"));
    case.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// 2. `env -o`

fn env_project() -> Project {
    let project = Project::new();
    project.credentials(ORIGINAL);
    project
}

fn env_o(project: &Project, target: &Path, extra: &[&str]) -> Output {
    within(
        project
            .process()
            .args(["env", "--format", "dotenv"])
            .args(extra)
            .arg("-o")
            .arg(target),
        Duration::from_secs(20),
    )
}

#[test]
fn env_output_onto_a_device_a_fifo_or_a_link_is_refused_and_left_as_it_is() {
    require_root("mknod");
    let project = env_project();
    let outside = tempfile::tempdir().unwrap();

    // A character device like /dev/full, made in the project.
    let device = project.path("full");
    let status = Command::new("mknod")
        .arg(&device)
        .args(["c", "1", "7"])
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::set_permissions(&device, std::fs::Permissions::from_mode(0o666)).unwrap();
    let output = env_o(&project, &device, &["--reveal"]);
    assert_said(
        &output,
        2,
        "full: is a character device, not a regular file; refusing to replace it",
    );
    let meta = std::fs::symlink_metadata(&device).unwrap();
    assert!(meta.file_type().is_char_device());
    assert_eq!(meta.rdev(), std::fs::metadata("/dev/full").unwrap().rdev());

    let fifo = project.path("fifo");
    mkfifo(&fifo);
    let output = env_o(&project, &fifo, &["--reveal"]);
    assert_said(&output, 2, "fifo: is a FIFO, not a regular file");
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );

    let target = outside.path().join("elsewhere");
    std::fs::write(&target, "untouched").unwrap();
    let link = project.path("vars.env");
    symlink(&target, &link).unwrap();
    let output = env_o(&project, &link, &["--reveal"]);
    assert_said(
        &output,
        2,
        "vars.env: is a symbolic link, not a regular file",
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert!(!String::from_utf8_lossy(&output.stderr).contains(CANARY));
}

#[test]
fn env_output_needs_reveal_and_dash_is_stdout() {
    let project = env_project();
    let output = env_o(&project, &project.path("vars.env"), &[]);
    assert_said(&output, 2, "-o");
    assert!(said(&output).contains("--reveal"), "{}", said(&output));
    assert!(!project.path("vars.env").exists());

    let output = env_o(&project, Path::new("-"), &["--reveal"]);
    assert!(output.status.success(), "{}", said(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains(CANARY));
    assert!(!project.path("-").exists());

    // Fingerprints into a pipe say that they are fingerprints.
    let output = within(project.process().arg("env"), Duration::from_secs(20));
    assert!(output.status.success(), "{}", said(&output));
    assert!(
        said(&output).contains("the values are fingerprints"),
        "{}",
        said(&output)
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains(CANARY));

    // A new file is 0600.
    let path = project.path("new.env");
    let output = env_o(&project, &path, &["--reveal"]);
    assert!(output.status.success(), "{}", said(&output));
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

// ---------------------------------------------------------------------------------------------
// 3. rotate-key against an edit

#[test]
fn rotate_key_waits_for_an_open_edit_and_takes_a_kept_edit_along() {
    let case = EditCase::new();
    let key_before = std::fs::read(case.project.path("config/master.key")).unwrap();
    let slow = case.editor(
        "slow",
        "sed -i 's/original/first/' \"$1\"\ntouch \"$(dirname \"$0\")/ready\"\nwhile [ ! -e \"$(dirname \"$0\")/go\" ]; do sleep 0.05; done",
    );
    let mut edit = case.spawn_edit(&slow);
    crate::credentials::wait_ready(&case, &mut edit);
    let rotate = within(
        case.project.process().args(["credentials", "rotate-key"]),
        Duration::from_secs(20),
    );
    assert_said(
        &rotate,
        3,
        &format!("another edit is in progress (process {}", edit.id()),
    );
    assert_eq!(
        std::fs::read(case.project.path("config/master.key")).unwrap(),
        key_before
    );
    assert!(!case.project.path("config/master.key.old").exists());
    case.project.file("editors/go", "");
    assert!(edit.wait().unwrap().success());

    // An edit kept in the recovery file is re-encrypted with the new key.
    let broken = case.editor("broken", "printf 'litestream: [kept-edit\\n' > \"$1\"");
    let output = case.edit(&broken);
    assert_eq!(output.status.code(), Some(3), "{}", said(&output));
    let rotate = within(
        case.project.process().args(["credentials", "rotate-key"]),
        Duration::from_secs(20),
    );
    assert!(rotate.status.success(), "{}", said(&rotate));
    assert!(case.recovered().contains("kept-edit"));
}

// ---------------------------------------------------------------------------------------------
// 4. Crafted age headers

/// A binary age file whose header is `stanzas` and a MAC line.
fn crafted_age(stanzas: &[u8]) -> Vec<u8> {
    let mut file = b"age-encryption.org/v1\n".to_vec();
    file.extend_from_slice(stanzas);
    file.extend_from_slice(b"--- AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n");
    file.extend_from_slice(&[0; 64]);
    file
}

#[test]
fn a_crafted_age_header_is_refused_quickly_everywhere() {
    let identity = tempfile::tempdir().unwrap();
    let identity = identity.path().join("identity.txt");
    let keygen = Project::new()
        .process()
        .args(["keygen", "-o"])
        .arg(&identity)
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{}", said(&keygen));
    let long_argument = [b"-> X25519 ".as_slice(), &vec![b'A'; 300_000], b"\n\n"].concat();
    let many_stanzas = b"-> a\n\n".repeat(20_000);
    for (name, stanzas, problem) in [
        (
            "300 KB argument",
            long_argument,
            "a line longer than 256 bytes",
        ),
        (
            "20 000 stanzas",
            many_stanzas,
            "more than 128 recipient stanzas",
        ),
    ] {
        let project = Project::new();
        let file = crafted_age(&stanzas);
        project.file("config/credentials.yml.age", &file);
        for args in [&["check"][..], &["env"]] {
            let started = Instant::now();
            let output = within(
                project
                    .process()
                    .args(args)
                    .env("LSENV_AGE_IDENTITY_FILE", &identity),
                Duration::from_secs(30),
            );
            let took = started.elapsed();
            assert_eq!(
                output.status.code(),
                Some(5),
                "{name} {args:?}: {}",
                said(&output)
            );
            assert!(
                said(&output).contains(problem),
                "{name} {args:?}: {}",
                said(&output)
            );
            assert!(
                took < Duration::from_secs(2),
                "{name} {args:?} took {took:?}"
            );
        }
        // git's textconv driver shows such a file as it is, at once.
        let started = Instant::now();
        let output = within(
            project
                .process()
                .args(["credentials", "diff", "config/credentials.yml.age"])
                .env("LSENV_AGE_IDENTITY_FILE", &identity),
            Duration::from_secs(30),
        );
        assert!(output.status.success(), "{name}: {}", said(&output));
        assert_eq!(output.stdout, file);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{name} textconv"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 5. FIFOs where inputs belong

#[test]
fn a_fifo_in_place_of_any_input_is_refused_at_once() {
    for (fifo, code) in [
        ("config/master.key", 4),
        ("config/credentials.yml.enc", 3),
        ("config/lsenv.toml", 3),
    ] {
        let project = env_project();
        std::fs::remove_file(project.path(fifo)).ok();
        mkfifo(&project.path(fifo));
        let output = within(project.process().arg("env"), Duration::from_secs(20));
        assert_said(
            &output,
            code,
            &format!("{fifo}: is a FIFO, not a regular file"),
        );
    }
    let project = Project::new();
    project.file("config/credentials.yml.age", b"age-encryption.org/v1\n");
    let identity = project.path("identity.txt");
    mkfifo(&identity);
    let output = within(
        project
            .process()
            .arg("env")
            .env("LSENV_AGE_IDENTITY_FILE", &identity),
        Duration::from_secs(20),
    );
    assert_said(&output, 4, "identity.txt: is a FIFO, not a regular file");
}

// ---------------------------------------------------------------------------------------------
// 6. Edits that cannot be saved are kept

#[test]
fn an_edit_that_is_not_utf8_is_kept() {
    let case = EditCase::new();
    let before = case.bytes();
    let editor = case.editor(
        "latin1",
        "printf 'litestream:\\n  replica_bucket: caf\\351-typed\\n' > \"$1\"",
    );
    let output = case.edit(&editor);
    assert_said(&output, 3, "the edited text is not valid UTF-8");
    assert!(
        said(&output).contains("your edit is kept, encrypted, in"),
        "{}",
        said(&output)
    );
    assert_eq!(case.bytes(), before);
    assert!(case.recovered().contains("caf\u{fffd}-typed"));
    case.assert_clean();
}

#[test]
fn an_edit_over_the_size_limit_is_kept() {
    let case = EditCase::new();
    let before = case.bytes();
    let editor = case.editor(
        "huge",
        "echo '# marker-of-the-huge-edit' >> \"$1\"\nhead -c 17000000 /dev/zero | tr '\\0' '#' >> \"$1\"",
    );
    let output = case.edit(&editor);
    assert_said(&output, 3, "the edited text is larger than 16 MiB");
    assert!(
        said(&output).contains("your edit is kept, encrypted, in"),
        "{}",
        said(&output)
    );
    assert_eq!(case.bytes(), before);
    assert!(case.project.path(RECOVERY).exists());
    // The next edit continues from it: an editor that cuts it back saves it.
    let trim = case.editor("trim", "sed -i '/^#####/d' \"$1\"");
    let output = case.edit(&trim);
    assert!(output.status.success(), "{}", said(&output));
    assert!(
        case.ruby_reads("config/master.key")
            .contains("marker-of-the-huge-edit")
    );
    case.assert_clean();
}

#[test]
fn an_edit_on_a_full_disk_is_kept_in_the_ram_directory() {
    require_root("a tmpfs in a private mount namespace");
    let case = EditCase::new();
    let before = case.bytes();
    let seen = tempfile::tempdir().unwrap();
    let editor = case.editor(
        "grow",
        "echo '# marker-of-the-full-disk-edit' >> \"$1\"\nhead -c 300000 /dev/urandom | base64 -w 0 | sed 's/^/# /' >> \"$1\"",
    );
    // `config/` becomes a 256 KiB tmpfs holding the credentials: the larger file does not fit.
    let script = format!(
        "set -e\ncp -a config {seen}/config\nmount -t tmpfs -o size=256k none config\ncp -a {seen}/config/. config/\n\
         set +e\n\"$0\" credentials edit; echo $? > {seen}/code\ncp config/{ENC_NAME} {seen}/after",
        seen = seen.path().display(),
        ENC_NAME = "credentials.yml.enc",
    );
    let output = within(
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .arg(assert_cmd::cargo::cargo_bin!("lsenv"))
            .current_dir(case.project.root())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap())
            .env("EDITOR", &editor)
            .env("XDG_RUNTIME_DIR", case.scratch.path())
            .env("TMPDIR", case.temp.path()),
        Duration::from_secs(60),
    );
    let code = std::fs::read_to_string(seen.path().join("code"))
        .unwrap_or_else(|_| panic!("unshare/mount failed: {}", said(&output)));
    assert_eq!(code.trim(), "1", "{}", said(&output));
    assert!(
        said(&output).contains("nothing written"),
        "{}",
        said(&output)
    );
    assert_eq!(std::fs::read(seen.path().join("after")).unwrap(), before);
    // The edit went, encrypted, to the RAM-backed directory; moved back, the next edit has it.
    let kept: Vec<_> = walk(case.scratch.path());
    assert_eq!(kept.len(), 1, "{kept:?}: {}", said(&output));
    assert!(
        said(&output).contains(&kept[0].display().to_string()),
        "{}",
        said(&output)
    );
    assert!(!String::from_utf8_lossy(&std::fs::read(&kept[0]).unwrap()).contains("marker"));
    std::fs::rename(&kept[0], case.project.path(RECOVERY)).unwrap();
    assert!(case.recovered().contains("marker-of-the-full-disk-edit"));
    assert_eq!(case.bytes(), before);
}

// ---------------------------------------------------------------------------------------------
// 7. Plaintext left by a killed lsenv

#[test]
fn the_scratch_of_a_killed_edit_is_wiped_by_the_next_one() {
    let case = EditCase::new();
    let editor = case.editor(
        "wait",
        "echo $$ > \"$(dirname \"$0\")/pid\"\ntouch \"$(dirname \"$0\")/ready\"\nexec sleep 30",
    );
    let mut child = case.spawn_edit(&editor);
    crate::credentials::wait_ready(&case, &mut child);
    send_signal(child.id(), "KILL");
    child.wait().unwrap();
    // The editor dies with lsenv.
    let editor_pid = std::fs::read_to_string(case.project.path("editors/pid")).unwrap();
    let proc = format!("/proc/{}", editor_pid.trim());
    crate::support::wait_until("the editor to die with lsenv", || {
        std::fs::read_to_string(format!("{proc}/stat")).map_or(true, |stat| stat.contains(") Z "))
    });
    assert!(
        !walk(case.scratch.path()).is_empty(),
        "SIGKILL leaves the scratch"
    );
    let check = within(
        case.project
            .process()
            .arg("check")
            .env("XDG_RUNTIME_DIR", case.scratch.path()),
        Duration::from_secs(20),
    );
    assert!(
        said(&check).contains("an edit's scratch directory left by a killed lsenv"),
        "{}",
        said(&check)
    );

    let output = case.edit(&case.editor("change", "sed -i 's/original/after-kill/' \"$1\""));
    assert!(output.status.success(), "{}", said(&output));
    assert!(
        said(&output).contains("the scratch directory of an edit whose lsenv was killed"),
        "{}",
        said(&output)
    );
    case.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// 8. Linked credentials and keys (a deployment's shared directory)

#[test]
fn linked_credentials_and_keys_are_written_through_keeping_owner_and_mode() {
    let case = EditCase::new();
    let shared = tempfile::tempdir().unwrap();
    for name in ["credentials.yml.enc", "master.key"] {
        let real = shared.path().join(name);
        std::fs::rename(case.project.path(&format!("config/{name}")), &real).unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        if rustix_uid_is_root() {
            std::os::unix::fs::chown(&real, Some(1234), Some(2345)).unwrap();
        }
        symlink(&real, case.project.path(&format!("config/{name}"))).unwrap();
    }
    let output = case.edit(&case.editor("change", "sed -i 's/original/through-the-link/' \"$1\""));
    assert!(output.status.success(), "{}", said(&output));
    assert!(
        said(&output).contains("is a symbolic link: writing"),
        "{}",
        said(&output)
    );
    let output = within(
        case.project.process().args(["credentials", "rotate-key"]),
        Duration::from_secs(20),
    );
    assert!(output.status.success(), "{}", said(&output));
    for name in ["credentials.yml.enc", "master.key"] {
        let link = case.project.path(&format!("config/{name}"));
        assert!(
            std::fs::symlink_metadata(&link).unwrap().is_symlink(),
            "{name}"
        );
        let meta = std::fs::metadata(shared.path().join(name)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o640, "{name}");
        if rustix_uid_is_root() {
            assert_eq!((meta.uid(), meta.gid()), (1234, 2345), "{name}");
        }
    }
    assert!(
        case.ruby_reads("config/master.key")
            .contains("through-the-link")
    );
    assert_ne!(
        std::fs::read_to_string(shared.path().join("master.key")).unwrap(),
        KEY
    );
    assert_no_scratch(&case);
}

// ---------------------------------------------------------------------------------------------
// 15. A `.gitignore` linked out of the project

#[test]
fn init_does_not_append_to_a_linked_gitignore() {
    let project = Project::new();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("ignored");
    std::fs::write(&target, "node_modules\n").unwrap();
    symlink(&target, project.path(".gitignore")).unwrap();
    let editor = project.script("editor", "#!/bin/sh\necho 'litestream: {}' > \"$1\"\n");
    let output = within(
        project
            .process()
            .args(["credentials", "edit"])
            .env("EDITOR", editor),
        Duration::from_secs(20),
    );
    assert_said(
        &output,
        2,
        ".gitignore: is a symbolic link; refusing to use it",
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "node_modules\n");
    assert!(!project.path("config/master.key").exists());
}

// ---------------------------------------------------------------------------------------------
// 9. Unreadable is not absent

#[test]
fn an_unreadable_config_directory_is_an_error_not_an_absence() {
    require_root("setpriv to run lsenv as nobody");
    let project = env_project();
    std::fs::set_permissions(project.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir(project.path("sub")).unwrap();
    std::fs::set_permissions(project.path("sub"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        project.path("config"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    // From the root, and from below it: the search upwards does not skip what it cannot see.
    for dir in [project.root().to_path_buf(), project.path("sub")] {
        let output = within(
            Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(assert_cmd::cargo::cargo_bin!("lsenv"))
                .arg("env")
                .current_dir(&dir)
                .env_clear(),
            Duration::from_secs(20),
        );
        assert_said(
            &output,
            1,
            "config/lsenv.toml: cannot look for: Permission denied",
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 15. Names that load code

#[test]
fn env_mappings_to_code_loading_names_are_refused() {
    let project = env_project();
    for name in [
        "PYTHONPATH",
        "GCONV_PATH",
        "JAVA_TOOL_OPTIONS",
        "PERL5LIB",
        "SHELLOPTS",
        "PS4",
    ] {
        project.file(
            "config/lsenv.toml",
            format!("[env]\n{name} = \"litestream.replica_bucket\"\n"),
        );
        let output = within(
            project.process().args(["exec", "true"]),
            Duration::from_secs(20),
        );
        assert_said(&output, 3, &format!("key `env.{name}`"));
    }
}

// ---------------------------------------------------------------------------------------------
// 13. Fingerprints that reveal nothing

#[test]
fn fingerprints_are_keyed_by_the_credentials_key() {
    use sha2::Digest as _;
    let fingerprint = |project: &Project| {
        let output = within(project.process().arg("env"), Duration::from_secs(20));
        assert!(output.status.success(), "{}", said(&output));
        let text = String::from_utf8(output.stdout).unwrap();
        text.lines()
            .find(|line| line.starts_with("LITESTREAM_REPLICA_REGION="))
            .unwrap()
            .to_owned()
    };
    let yaml = "litestream:\n  replica_region: auto\n";
    let project = Project::new();
    project.credentials(yaml);
    let first = fingerprint(&project);
    assert_eq!(fingerprint(&project), first, "stable for the same key");
    let digest = sha2::Sha256::digest(b"auto");
    let plain = format!(
        "{:02x}{:02x}{:02x}{:02x}",
        digest[0], digest[1], digest[2], digest[3]
    );
    assert!(
        first.starts_with("LITESTREAM_REPLICA_REGION='4 bytes, hmac "),
        "{first}"
    );
    assert!(
        !first.contains(&plain),
        "an unkeyed hash of `auto`: {first}"
    );

    // Another key, the same value: another fingerprint.
    let other = Project::new();
    other.file("config/master.key", "fedcba9876543210fedcba9876543210");
    let key =
        lsenv::store::rails::MasterKey::parse(b"fedcba9876543210fedcba9876543210", "test").unwrap();
    other.file(
        "config/credentials.yml.enc",
        lsenv::store::rails::encrypt(yaml.as_bytes(), &key),
    );
    assert_ne!(fingerprint(&other), first);
}

// ---------------------------------------------------------------------------------------------
// 11. `exec --redact` and a command that leaves a process holding its output

#[test]
fn exec_redact_returns_when_the_command_exits_not_when_its_output_ends() {
    let project = env_project();
    let started = Instant::now();
    let output = within(
        project.process().args([
            "exec",
            "--redact",
            "--pass",
            "PATH",
            "--",
            "/bin/sh",
            "-c",
            "sleep 20 & echo now; echo \"$LITESTREAM_SECRET_ACCESS_KEY\"; exit 3",
        ]),
        Duration::from_secs(30),
    );
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(3), "{}", said(&output));
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout, "now\n[redacted LITESTREAM_SECRET_ACCESS_KEY]\n");
}

// ---------------------------------------------------------------------------------------------
// 10. Settings that would silently do nothing, or everything

#[test]
fn a_mapping_to_a_missing_key_and_an_empty_section_are_errors() {
    let project = env_project();
    project.file(
        "config/lsenv.toml",
        "[env]\nGCP_JSON = \"gcp.service_acount\"\n",
    );
    for args in [&["env"][..], &["check"], &["exec", "true"]] {
        let output = within(project.process().args(args), Duration::from_secs(20));
        assert_said(
            &output,
            3,
            "key `gcp.service_acount`: no such key, and GCP_JSON in [env] of config/lsenv.toml maps to it",
        );
    }
    project.file(
        "config/lsenv.toml",
        "[env]\nGCP_JSON = { key = \"gcp.service_acount\", optional = true }\n",
    );
    let output = within(project.process().arg("env"), Duration::from_secs(20));
    assert!(output.status.success(), "{}", said(&output));

    project.file("config/lsenv.toml", "[credentials]\nsection = \"\"\n");
    let output = within(
        project.process().args(["exec", "true"]),
        Duration::from_secs(20),
    );
    assert_said(
        &output,
        3,
        "an empty section makes every secret in the credentials file a variable",
    );
    project.file(
        "config/lsenv.toml",
        "[credentials]\nsection = \"\"\nwhole_file = true\n",
    );
    let output = within(
        project.process().args(["exec", "true"]),
        Duration::from_secs(20),
    );
    assert!(output.status.success(), "{}", said(&output));
}

// ---------------------------------------------------------------------------------------------
// 15. A credentials file outside the project, and keys that would break an error's line

#[test]
fn a_credentials_file_outside_the_project_needs_an_opt_in() {
    let project = env_project();
    let outside = tempfile::tempdir().unwrap();
    std::fs::copy(
        project.path("config/credentials.yml.enc"),
        outside.path().join("shared.yml.enc"),
    )
    .unwrap();
    let file = outside.path().join("shared.yml.enc");
    project.file(
        "config/lsenv.toml",
        format!("[credentials]\nfile = \"{}\"\n", file.display()),
    );
    let output = within(project.process().arg("env"), Duration::from_secs(20));
    assert_said(&output, 3, "this file is outside the project");
    project.file(
        "config/lsenv.toml",
        format!(
            "[credentials]\nfile = \"{}\"\nfile_outside_project = true\n",
            file.display()
        ),
    );
    let output = within(project.process().arg("env"), Duration::from_secs(20));
    assert!(output.status.success(), "{}", said(&output));
}

#[test]
fn a_key_with_line_breaks_is_named_on_one_line() {
    let project = Project::new();
    project.credentials("litestream:\n  \"bad\\nkey\\u001b[2J\": [1]\n");
    let output = within(project.process().arg("env"), Duration::from_secs(20));
    assert_eq!(output.status.code(), Some(3), "{}", said(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad\\nkey\\u{1b}[2J"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
}

/// A genuine file at the header bound (128 recipients, written by the real `age`) opens at once;
/// one more recipient is refused by the bound.
#[test]
fn an_age_file_for_128_recipients_opens_quickly_and_129_are_refused() {
    let keys = tempfile::tempdir().unwrap();
    let identity = keys.path().join("identity.txt");
    let keygen = |path: &Path| {
        let made = Command::new("age-keygen")
            .arg("-o")
            .arg(path)
            .output()
            .expect("age-keygen must be installed (apt-get install age)");
        assert!(made.status.success());
        let public = Command::new("age-keygen")
            .arg("-y")
            .arg(path)
            .output()
            .unwrap();
        String::from_utf8(public.stdout).unwrap().trim().to_owned()
    };
    let mut recipients = vec![keygen(&identity)];
    for number in 1..129 {
        recipients.push(keygen(&keys.path().join(format!("{number}.txt"))));
    }
    for (count, code) in [(128, 0), (129, 5)] {
        let project = Project::new();
        std::fs::create_dir_all(project.path("config")).unwrap();
        let mut age = Command::new("age");
        for recipient in &recipients[..count] {
            age.arg("-r").arg(recipient);
        }
        let mut child = age
            .arg("-o")
            .arg(project.path("config/credentials.yml.age"))
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(
            &mut child.stdin.take().unwrap(),
            b"litestream:\n  replica_bucket: many\n",
        )
        .unwrap();
        assert!(child.wait().unwrap().success());
        let started = Instant::now();
        let output = within(
            project
                .process()
                .args(["env", "--reveal"])
                .env("LSENV_AGE_IDENTITY_FILE", &identity),
            Duration::from_secs(30),
        );
        let took = started.elapsed();
        assert_eq!(
            output.status.code(),
            Some(code),
            "{count}: {}",
            said(&output)
        );
        assert!(
            took < Duration::from_secs(3),
            "{count} recipients took {took:?}"
        );
        if code == 5 {
            assert!(said(&output).contains("more than 128 recipient stanzas"));
        }
    }
}

#[test]
fn init_and_enroll_never_write_through_a_linked_procfile_or_gitattributes() {
    let project = env_project();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("bashrc");
    std::fs::write(&target, "# mine\n").unwrap();
    symlink(&target, project.path("Procfile")).unwrap();
    project.file("config/litestream.yml", "dbs:\n  - path: db.sqlite3\n");
    let before = project.snapshot();
    let output = within(
        project.process().args(["init", "--procfile"]),
        Duration::from_secs(20),
    );
    assert_eq!(output.status.code(), Some(2), "{}", said(&output));
    assert!(
        said(&output).contains("Procfile: is a symbolic link, not a regular file"),
        "{}",
        said(&output)
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "# mine\n");
    // Refused before anything was written: no config, no key, no credentials.
    assert_eq!(project.snapshot(), before);
}

/// A crafted Litestream config (a line of megabytes, thousands of `$`) is refused at once by
/// every command that reads it, never parsed for minutes.
#[test]
fn a_crafted_litestream_config_is_refused_quickly() {
    let project = Project::new();
    project.credentials("litestream:\n  replica_bucket: b\n");
    for (config, problem) in [
        (
            format!("dbs:\n  - path: {}\n", "a".repeat(20_000)),
            "line 2 is over 16 KiB",
        ),
        (
            format!(
                "dbs:\n{}",
                format!("  x: {}\n", "$A ".repeat(5000)).repeat(3)
            ),
            "15000 `$` characters",
        ),
    ] {
        project.file("config/litestream.yml", &config);
        for args in [&["check"][..], &["explain"], &["replicate"]] {
            let output = within(
                project.offline().args(args).stdin(Stdio::null()),
                Duration::from_secs(5),
            );
            assert_said(&output, 3, problem);
        }
    }
}
