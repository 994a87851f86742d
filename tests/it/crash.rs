//! Crash safety: lsenv killed with SIGKILL at random moments while `credentials edit` saves and
//! while `rotate-key` re-encrypts, many times. Afterwards the credentials always open (with the
//! old content or the new, with the key file or the kept old key), and no plaintext is left
//! outside the RAM-backed scratch directory.

use std::hash::{BuildHasher as _, RandomState};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use lsenv::store::rails::{self, MasterKey};

use crate::case::Case;
use crate::support::{CANARY, Project, send_signal};

const ORIGINAL: &str =
    "litestream:\n  replica_bucket: old\n  replica_access_key: canary-7f3e9a-secret\n";
const RUNS: u32 = 40;

/// Random delays without a random-number crate: std's hasher keys are random per process.
fn random_below(limit: u128, round: u32) -> u64 {
    let hashed = RandomState::new().hash_one(round);
    u64::try_from(u128::from(hashed) % limit.max(1)).unwrap()
}

/// Every file under `dir` that holds the plaintext canary.
fn plaintext_in(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(plaintext_in(&path));
        } else if std::fs::read(&path)
            .is_ok_and(|bytes| String::from_utf8_lossy(&bytes).contains(CANARY))
        {
            found.push(path.display().to_string());
        }
    }
    found
}

/// How long a whole run of `command` takes, to spread the kills over it.
fn duration_of(mut command: std::process::Command) -> Duration {
    let started = Instant::now();
    let status = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    started.elapsed()
}

fn opens_with(file: &Path, key_file: &Path) -> Option<String> {
    let key = MasterKey::parse(&std::fs::read(key_file).ok()?, "test").ok()?;
    rails::read(file, &key).ok().map(|text| text.to_string())
}

/// Kills `command` with SIGKILL after a random delay within `window`; with `marker`, the delay
/// starts when that file appears (the editor has saved and is about to exit), so the kills land
/// while lsenv validates, encrypts and saves, the part of the edit that must be crash-safe.
fn kill_at_random(
    mut command: std::process::Command,
    marker: Option<&Path>,
    window: Duration,
    round: u32,
) {
    if let Some(marker) = marker {
        let _ = std::fs::remove_file(marker);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    if let Some(marker) = marker {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !marker.exists() && child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "round {round}: the editor never ran"
            );
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    std::thread::sleep(Duration::from_micros(random_below(
        window.as_micros(),
        round,
    )));
    if child.try_wait().unwrap().is_none() {
        send_signal(child.id(), "KILL");
    }
    child.wait().unwrap();
}

#[test]
fn edit_killed_while_saving_leaves_old_or_new_credentials() {
    let project = Project::new();
    project.credentials(ORIGINAL);
    let scratch = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    let marker = project.path("edited");
    let editor = project.script(
        "editor.sh",
        "#!/bin/sh\nsed -i 's/replica_bucket: .*/replica_bucket: new/' \"$1\"\ntouch \"$(dirname \"$0\")/edited\"\n",
    );
    let edit = || {
        let mut command = project.process();
        command
            .args(["credentials", "edit"])
            .env("EDITOR", &editor)
            .env("XDG_RUNTIME_DIR", scratch.path())
            .env("TMPDIR", temp.path());
        command
    };
    // How long lsenv runs after the editor has saved: the window the kills are spread over.
    let started = Instant::now();
    let mut calibration = edit()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while !marker.exists() {
        std::thread::sleep(Duration::from_micros(50));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the editor never ran"
        );
    }
    let edited = Instant::now();
    assert!(calibration.wait().unwrap().success());
    let window = edited.elapsed() * 2;
    let enc = project.path("config/credentials.yml.enc");
    let key = project.path("config/master.key");
    let lock = project.path("config/credentials.yml.enc.lock");
    // Rounds in which lsenv died before it finished: the kill landed during the save.
    let mut midway = 0;
    for round in 0..RUNS {
        project.credentials(ORIGINAL);
        let _ = std::fs::remove_file(&lock);
        kill_at_random(edit(), Some(&marker), window, round);
        if lock.exists() {
            midway += 1;
        }
        let text = opens_with(&enc, &key)
            .unwrap_or_else(|| panic!("round {round}: the credentials no longer open"));
        assert!(
            text == ORIGINAL || text == ORIGINAL.replace("bucket: old", "bucket: new"),
            "round {round}: neither the old nor the new content"
        );
        let outside = [plaintext_in(project.root()), plaintext_in(temp.path())].concat();
        assert!(
            outside.is_empty(),
            "round {round}: plaintext outside RAM-backed storage: {outside:?}"
        );
    }
    assert!(
        midway > 0,
        "no kill landed before the edit was saved; the test proved nothing"
    );
    // A lock left by a killed edit is taken over: the next edit works.
    Case::of(edit()).run();
}

#[test]
fn rotate_key_killed_at_any_moment_leaves_a_key_that_opens_every_file() {
    let project = Project::new();
    let rotate = || {
        let mut command = project.process();
        command.args(["credentials", "rotate-key"]);
        command
    };
    let setup = || {
        for leftover in [
            "config/master.key.old",
            "config/credentials/staging.yml.enc",
        ] {
            let _ = std::fs::remove_file(project.path(leftover));
        }
        project.credentials(ORIGINAL);
        project.credentials_at(
            "config/credentials/staging.yml.enc",
            "config/master.key",
            "staging: shared\n",
        );
    };
    setup();
    let window = duration_of(rotate());
    let files = [
        (project.path("config/credentials.yml.enc"), ORIGINAL),
        (
            project.path("config/credentials/staging.yml.enc"),
            "staging: shared\n",
        ),
    ];
    let key = project.path("config/master.key");
    let old = project.path("config/master.key.old");
    // Rounds killed after the old key was saved: the states worth testing.
    let mut midway = 0;
    for round in 0..RUNS {
        setup();
        kill_at_random(rotate(), None, window, round);
        for (file, text) in &files {
            let opened = opens_with(file, &key).or_else(|| opens_with(file, &old));
            assert_eq!(
                opened.as_deref(),
                Some(*text),
                "round {round}: {} opens with no key",
                file.display()
            );
        }
        // Running it again finishes an interrupted rotation (or starts after a clean one).
        if old.exists() {
            midway += 1;
            // Either finishes it or says why not: checked below.
            let output = Case::of(rotate())
                .named(format!("round {round}: again"))
                .any_status()
                .run();
            let finished = output.status.success()
                || crate::support::said(&output)
                    .contains("an old key from an earlier rotation is still here");
            assert!(finished, "round {round}: {}", crate::support::said(&output));
            for (file, text) in &files {
                assert_eq!(
                    opens_with(file, &key).as_deref(),
                    Some(*text),
                    "round {round}: after finishing"
                );
            }
        }
        assert!(
            plaintext_in(project.root()).is_empty(),
            "round {round}: plaintext on disk"
        );
    }
    assert!(
        midway > 0,
        "no kill landed after the rotation began; the test proved nothing"
    );
}
