//! `--watch`: a change to the credentials (made by `lsenv credentials edit`), the settings or a
//! burst of writes restarts the command once, with the new environment; a change it does not see
//! restarts nothing; a tampered file is refused and the command kept; the stop waits for
//! Litestream's `shutdown-sync-timeout` before SIGKILL; signals and exit codes are the command's,
//! a signal during a restart ends it, SIGKILL of lsenv leaves no orphan, and with `--redact` each
//! command's output is filtered with its own secrets. With the real
//! litestream and S3 (moto) on loopback, in a private network namespace: its final sync before a
//! restart completes (`tests/drivers/watch.py`).

use std::io::{BufRead as _, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use crate::age_plugin::{path_with_plugin, plugin_project};
use crate::case::Case;
use crate::support::{CANARY, Project, Terminal, lsenv_at_terminal, run_driver, send_signal};

/// The command under watch: prints `start PID BUCKET SECRET-LENGTH` and, on SIGTERM, `stopped`.
/// (The trap is set first: a SIGTERM right after `start` must find it.)
const CHILD: &str = r#"trap 'echo stopped; exit 0' TERM; echo "start $$ $LITESTREAM_REPLICA_BUCKET ${#LITESTREAM_SECRET_ACCESS_KEY}"; while :; do sleep 0.05; done"#;

fn project() -> Project {
    let project = Project::new();
    project.credentials(&format!(
        "litestream:\n  replica_access_key: {CANARY}\n  replica_bucket: bkt\nother: 1\n"
    ));
    project
}

/// lsenv under watch with its stdout and stderr read line by line.
struct Watched {
    lsenv: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    /// Every stderr line read so far.
    said: Vec<String>,
}

fn lines(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

impl Watched {
    fn start(project: &Project, args: &[&str]) -> Self {
        let mut command = project.process();
        command.args(args);
        Self::spawn(command)
    }

    fn spawn(mut command: std::process::Command) -> Self {
        let mut lsenv = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Self {
            stdout: lines(lsenv.stdout.take().unwrap()),
            stderr: lines(lsenv.stderr.take().unwrap()),
            lsenv,
            said: Vec::new(),
        }
    }

    fn exec(project: &Project, script: &str) -> Self {
        Self::start(project, &["exec", "--watch", "--", "sh", "-c", script])
    }

    /// The next stdout line, failing after `within`.
    fn line(&self, within: Duration) -> String {
        self.stdout
            .recv_timeout(within)
            .unwrap_or_else(|_| panic!("no line from the command; lsenv said {:?}", self.said))
    }

    /// The command's `start PID BUCKET LENGTH` line, as (PID, BUCKET, LENGTH).
    fn started(&self) -> (u32, String, String) {
        let line = self.line(Duration::from_secs(10));
        let words: Vec<&str> = line.split(' ').collect();
        assert_eq!(words.len(), 4, "{line}");
        assert_eq!(words[0], "start", "{line}");
        (words[1].parse().unwrap(), words[2].into(), words[3].into())
    }

    /// Reads stderr until a line containing `needle`; fails after 10 s.
    fn wait_said(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .stderr
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("lsenv never said {needle:?}; it said {:?}", self.said));
            self.said.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// The stderr lines that arrive within `window`.
    fn said_within(&mut self, window: Duration) -> Vec<String> {
        let deadline = Instant::now() + window;
        let mut lines = Vec::new();
        while let Ok(line) = self
            .stderr
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.said.push(line.clone());
            lines.push(line);
        }
        lines
    }

    /// Nothing more on stdout for `window`.
    fn quiet(&self, window: Duration) {
        if let Ok(line) = self.stdout.recv_timeout(window) {
            panic!(
                "unexpected output from the command: {line}; lsenv said {:?}",
                self.said
            );
        }
    }

    fn stop(mut self) -> i32 {
        send_signal(self.lsenv.id(), "TERM");
        let code = self.lsenv.wait().unwrap().code().unwrap();
        let all = self.said.join("\n") + &self.said_within(Duration::from_millis(200)).join("\n");
        assert!(!all.contains(CANARY), "{all}");
        code
    }
}

/// Runs `lsenv credentials edit` with an editor running `script` on the scratch file `$1`.
fn edit(project: &Project, script: &str) {
    let editor = project.script("editor.sh", format!("#!/bin/sh\n{script}\n"));
    let scratch = tempfile::tempdir().unwrap();
    let output = project
        .process()
        .args(["credentials", "edit"])
        .env("EDITOR", editor)
        .env("XDG_RUNTIME_DIR", scratch.path())
        .env("TMPDIR", scratch.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_changed_credential_restarts_the_command_once_and_a_burst_is_one_restart() {
    let project = project();
    let mut watched = Watched::exec(&project, CHILD);
    let (first, bucket, length) = watched.started();
    assert_eq!((bucket.as_str(), length.as_str()), ("bkt", "20"));

    edit(
        &project,
        "sed -i 's/canary-7f3e9a-secret/a-new-secret/' \"$1\"",
    );
    let restart = watched.wait_said("watch: ");
    assert!(
        restart.ends_with(
            "config/credentials.yml.enc changed: restarting the command (LITESTREAM_SECRET_ACCESS_KEY changed; SIGTERM, SIGKILL after 35s)"
        ),
        "{restart}"
    );
    assert_eq!(watched.line(Duration::from_secs(5)), "stopped");
    let (second, bucket, length) = watched.started();
    assert_ne!(first, second);
    assert_eq!((bucket.as_str(), length.as_str()), ("bkt", "12"));
    watched.quiet(Duration::from_secs(1));

    // Five writes 50 ms apart, then quiet: one restart, with the last of them.
    for round in 1..=5 {
        project.file(
            "config/lsenv.toml",
            format!("[litestream]\nreplica_bucket = \"toml-{round}\"\n"),
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The TOML is the lowest layer: the credentials' bucket still wins. A TOML-only name shows.
    project.file(
        "config/lsenv.toml",
        "[litestream]\nreplica_bucket = \"toml\"\nreplica_region = \"r\"\n",
    );
    let restart = watched.wait_said("watch: ");
    assert!(
        restart.contains(
            "config/lsenv.toml changed: restarting the command (LITESTREAM_REPLICA_REGION changed;"
        ),
        "{restart}"
    );
    assert_eq!(watched.line(Duration::from_secs(5)), "stopped");
    let (third, _, _) = watched.started();
    assert_ne!(third, second);
    watched.quiet(Duration::from_secs(1));
    let later = watched.said_within(Duration::from_millis(100));
    assert!(
        !later.iter().any(|line| line.starts_with("lsenv:")),
        "one restart only: {later:?}"
    );
    assert_eq!(watched.stop(), 0);
}

#[test]
fn a_change_the_command_does_not_see_restarts_nothing() {
    let project = project();
    let mut watched = Watched::exec(&project, CHILD);
    let (first, _, _) = watched.started();
    edit(&project, "sed -i 's/other: 1/other: 2/' \"$1\"");
    let line = watched.wait_said("watch: ");
    assert!(
        line.ends_with(
            "config/credentials.yml.enc changed, nothing the command gets did: it keeps running"
        ),
        "{line}"
    );
    watched.quiet(Duration::from_secs(1));
    assert!(std::path::Path::new(&format!("/proc/{first}")).exists());
    assert_eq!(watched.stop(), 0);
}

#[test]
fn an_invalid_change_is_refused_and_the_command_kept() {
    let project = project();
    let mut watched = Watched::exec(&project, CHILD);
    let (first, _, _) = watched.started();

    // One byte of the ciphertext flipped, written in place as a careless tool would.
    let path = project.path("config/credentials.yml.enc");
    let original = std::fs::read(&path).unwrap();
    let mut tampered = original.clone();
    tampered[3] ^= 1;
    std::fs::write(&path, &tampered).unwrap();
    let line = watched.wait_said("watch: ");
    assert!(
        line.starts_with(
            "lsenv: watch: config/credentials.yml.enc changed, but the change is refused and the command keeps running: config/credentials.yml.enc"
        ),
        "{line}"
    );
    std::fs::write(&path, &original).unwrap();
    watched.wait_said("nothing the command gets did");

    // A wrong key, and settings that are not TOML: refused too.
    project.file("config/master.key", "ffffffffffffffffffffffffffffffff");
    watched.wait_said("watch: config/master.key changed, but the change is refused");
    project.file("config/master.key", crate::support::KEY);
    watched.wait_said("nothing the command gets did");
    project.file("config/lsenv.toml", "[litestream\n");
    watched.wait_said("watch: config/lsenv.toml changed, but the change is refused");
    watched.quiet(Duration::from_secs(1));
    assert!(std::path::Path::new(&format!("/proc/{first}")).exists());

    // The watch goes on: a good file again is taken.
    project.file(
        "config/lsenv.toml",
        "[litestream]\nreplica_region = \"r\"\n",
    );
    project.credentials("litestream:\n  replica_access_key: fixed-secret\n  replica_bucket: bkt\n");
    watched.wait_said("restarting the command");
    assert_eq!(watched.line(Duration::from_secs(5)), "stopped");
    let (second, _, length) = watched.started();
    assert_ne!(first, second);
    assert_eq!(length, "12");
    assert_eq!(watched.stop(), 0);
}

#[test]
fn signals_and_exit_codes_are_the_commands() {
    let project = project();
    for (script, code) in [("exit 0", 0), ("exit 7", 7), ("kill -TERM $$", 143)] {
        Case::new(&project)
            .args(["exec", "--watch", "--", "sh", "-c", script])
            .status(code)
            .run();
    }

    let mut watched = Watched::exec(
        &project,
        "trap 'echo usr1' USR1; trap 'echo term; exit 4' TERM; echo start; while :; do sleep 0.05; done",
    );
    assert_eq!(watched.line(Duration::from_secs(10)), "start");
    send_signal(watched.lsenv.id(), "USR1");
    assert_eq!(watched.line(Duration::from_secs(5)), "usr1");
    send_signal(watched.lsenv.id(), "TERM");
    assert_eq!(watched.line(Duration::from_secs(5)), "term");
    assert_eq!(watched.lsenv.wait().unwrap().code(), Some(4));

    // The command exits on its own while watched: lsenv exits with its status.
    let mut watched = Watched::exec(&project, "echo start; sleep 0.5; exit 9");
    assert_eq!(watched.line(Duration::from_secs(10)), "start");
    assert_eq!(watched.lsenv.wait().unwrap().code(), Some(9));
}

/// TERM during a restart stops everything: the old command's status is lsenv's, nothing new starts.
#[test]
fn a_signal_during_a_restart_ends_it() {
    let project = project();
    let mut watched = Watched::exec(
        &project,
        // Deaf to a second TERM (an ignored signal is ignored by its `sleep` too).
        "trap 'trap \"\" TERM; echo stopping; sleep 1; echo stopped; exit 5' TERM; echo start; while :; do sleep 0.05; done",
    );
    assert_eq!(watched.line(Duration::from_secs(10)), "start");
    project.file(
        "config/lsenv.toml",
        "[litestream]\nreplica_region = \"r\"\n",
    );
    watched.wait_said("restarting the command");
    assert_eq!(watched.line(Duration::from_secs(5)), "stopping");
    send_signal(watched.lsenv.id(), "TERM");
    assert_eq!(watched.line(Duration::from_secs(5)), "stopped");
    assert_eq!(watched.lsenv.wait().unwrap().code(), Some(5));
    watched.quiet(Duration::from_millis(500));
}

/// age: the identity file named by `LSENV_AGE_IDENTITY_FILE` is watched too, replaced by a
/// rename as an editor saves it. Another identity cannot open the credentials: refused; the
/// credentials encrypted to it (by the real `age`) then restart the command.
#[test]
fn age_identities_are_watched() {
    let project = Project::new();
    let keygen = |name: &str| {
        let file = project.path(&format!("keys/{name}.txt"));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let made = std::process::Command::new("age-keygen")
            .arg("-o")
            .arg(&file)
            .output()
            .expect("age-keygen must be installed (apt-get install age)");
        assert!(made.status.success());
        let recipient = std::process::Command::new("age-keygen")
            .arg("-y")
            .arg(&file)
            .output()
            .unwrap();
        String::from_utf8(recipient.stdout)
            .unwrap()
            .trim()
            .to_owned()
    };
    let encrypt = |recipient: &str, secret: &str| {
        let mut age = std::process::Command::new("age")
            .args(["-a", "-r", recipient, "-o"])
            .arg(project.path("config/credentials.yml.age"))
            .stdin(Stdio::piped())
            .spawn()
            .expect("age must be installed (apt-get install age)");
        std::io::Write::write_all(
            &mut age.stdin.take().unwrap(),
            format!("litestream:\n  replica_access_key: {secret}\n  replica_bucket: bkt\n")
                .as_bytes(),
        )
        .unwrap();
        assert!(age.wait().unwrap().success());
    };
    std::fs::create_dir_all(project.path("config")).unwrap();
    let first = keygen("identity");
    let second = keygen("other");
    encrypt(&first, CANARY);
    let mut command = project.process();
    command
        .env("LSENV_AGE_IDENTITY_FILE", "keys/identity.txt")
        .args(["exec", "--watch", "--", "sh", "-c", CHILD]);
    let mut watched = Watched::spawn(command);
    let (pid, _, length) = watched.started();
    assert_eq!(length, "20");

    std::fs::rename(
        project.path("keys/other.txt"),
        project.path("keys/identity.txt"),
    )
    .unwrap();
    watched.wait_said("watch: keys/identity.txt changed, but the change is refused");
    encrypt(&second, "a-new-secret");
    watched.wait_said("config/credentials.yml.age changed: restarting the command (LITESTREAM_SECRET_ACCESS_KEY changed;");
    assert_eq!(watched.line(Duration::from_secs(5)), "stopped");
    let (again, _, length) = watched.started();
    assert_ne!(pid, again);
    assert_eq!(length, "12");
    assert_eq!(watched.stop(), 0);
}

/// The files are watched from before the first resolution: a change made while lsenv reads them
/// (here by the age plugin that opens the credentials, rewriting `config/lsenv.toml`) restarts
/// the command with it.
#[test]
fn a_change_made_while_lsenv_reads_is_seen() {
    let (_keys, plugin, project) = plugin_project();
    let settings = |region: &str| format!("[litestream]\nregion = \"{region}\"\n");
    project.file("config/lsenv.toml", settings("before"));
    let mut command = project.process();
    command
        .env("PATH", path_with_plugin())
        .env("LSENV_AGE_IDENTITY_FILE", &plugin.file)
        .env("LSENVTEST_WRITE", project.path("config/lsenv.toml"))
        .env("LSENVTEST_WRITE_TEXT", settings("after"))
        .args(["exec", "--watch", "--", "sh", "-c"])
        .arg(r#"trap 'echo stopped; exit 0' TERM; echo "start $LITESTREAM_REGION"; while :; do sleep 0.05; done"#);
    let mut watched = Watched::spawn(command);
    assert_eq!(watched.line(Duration::from_secs(10)), "start before");
    watched.wait_said(
        "watch: config/lsenv.toml changed: restarting the command (LITESTREAM_REGION changed;",
    );
    assert_eq!(watched.line(Duration::from_secs(5)), "stopped");
    assert_eq!(watched.line(Duration::from_secs(10)), "start after");
    assert_eq!(watched.stop(), 0);
}

/// `-e production` with only the global credentials: a first `config/credentials/` (directory,
/// file and key) is seen, and its credentials are then the command's.
#[test]
fn a_new_per_environment_file_is_seen() {
    let project = project();
    let mut watched = Watched::start(
        &project,
        &[
            "-e",
            "production",
            "exec",
            "--watch",
            "--",
            "sh",
            "-c",
            CHILD,
        ],
    );
    let (first, bucket, _) = watched.started();
    assert_eq!(bucket, "bkt");
    project.credentials_at(
        "config/credentials/production.yml.enc",
        "config/credentials/production.key",
        "litestream:\n  replica_access_key: production-secret\n  replica_bucket: prod\n",
    );
    let restart = watched.wait_said("restarting the command");
    assert!(
        restart.contains("(LITESTREAM_REPLICA_BUCKET, LITESTREAM_SECRET_ACCESS_KEY changed;"),
        "{restart}"
    );
    assert_eq!(watched.line(Duration::from_secs(5)), "stopped");
    let (second, bucket, length) = watched.started();
    assert_ne!(first, second);
    assert_eq!((bucket.as_str(), length.as_str()), ("prod", "17"));
    assert_eq!(watched.stop(), 0);
}

/// SIGKILL of lsenv: its command gets SIGTERM from the kernel (parent-death signal).
#[test]
fn no_orphan_after_sigkill_of_lsenv() {
    let project = project();
    let mut watched = Watched::exec(&project, CHILD);
    let (command, _, _) = watched.started();
    send_signal(watched.lsenv.id(), "KILL");
    watched.lsenv.wait().unwrap();
    assert_eq!(watched.line(Duration::from_secs(5)), "stopped");
    let deadline = Instant::now() + Duration::from_secs(5);
    while process_running(command) {
        assert!(
            Instant::now() < deadline,
            "the command {command} outlived lsenv"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Running, not a zombie waiting for a reaper.
fn process_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat[stat.rfind(')').unwrap() + 1..]
            .split_whitespace()
            .next()
            != Some("Z")
    })
}

/// `replicate --watch` stops the command as Litestream wants: SIGTERM, then SIGKILL once its
/// config's `shutdown-sync-timeout` (for each database) and 5 s have passed.
#[test]
fn a_command_that_ignores_sigterm_is_killed_after_litestreams_shutdown_timeout() {
    let project = project();
    project.script(
        "fake-litestream",
        "#!/bin/sh\ntrap 'echo ignored' TERM\necho \"start $$ $LITESTREAM_REPLICA_BUCKET ${#LITESTREAM_SECRET_ACCESS_KEY}\"\nwhile :; do sleep 0.05; done\n",
    );
    project.file(
        "config/lsenv.toml",
        "[replicate]\nlitestream = \"./fake-litestream\"\n",
    );
    project.file(
        "config/litestream.yml",
        "shutdown-sync-timeout: 1s\ndbs:\n  - path: a.db\n  - path: b.db\n",
    );
    let mut watched = Watched::start(&project, &["replicate", "--watch"]);
    let (first, _, _) = watched.started();
    project.file(
        "config/lsenv.toml",
        "[replicate]\nlitestream = \"./fake-litestream\"\n[litestream]\nreplica_region = \"r\"\n",
    );
    let restart = watched.wait_said("restarting the command");
    let asked = Instant::now();
    assert!(restart.ends_with("SIGKILL after 7s)"), "{restart}");
    assert_eq!(watched.line(Duration::from_secs(5)), "ignored");
    watched.wait_said("did not stop within 7s of SIGTERM: SIGKILL");
    let waited = asked.elapsed();
    assert!(
        waited >= Duration::from_millis(6500) && waited < Duration::from_secs(9),
        "{waited:?}"
    );
    let (second, _, _) = watched.started();
    assert_ne!(first, second);
    // This one ignores TERM too: stop it by force.
    send_signal(watched.lsenv.id(), "KILL");
    send_signal(second, "KILL");
}

/// At a terminal: what is typed reaches the command (copied through a pipe: in a process group
/// of its own it would be stopped reading the terminal), and Ctrl-C reaches it once.
#[test]
fn at_a_terminal_the_command_reads_what_is_typed_and_ctrl_c_reaches_it() {
    let project = project();
    let child = r#"
        printf 'name? '; read -r name; echo "got:$name"
        trap 'count=$((count + 1)); echo "interrupted $count"' INT
        echo waiting
        while [ -z "$count" ]; do sleep 0.05; done; sleep 0.5; exit 3
    "#;
    let terminal = Terminal::start(&lsenv_at_terminal(&project, "exec --watch", child, ""));
    terminal.wait_for("name?");
    terminal.keys(&["hello", "BSpace", "p", "Enter"]);
    terminal.wait_for("waiting");
    terminal.keys(&["C-c"]);
    terminal.wait_for("LSENV-EXIT=3");
    let screen = terminal.screen();
    assert!(screen.contains("got:hellp\n"), "{screen}");
    assert!(
        screen.contains("interrupted 1\n") && !screen.contains("interrupted 2"),
        "{screen}"
    );
}

/// With `--redact` too: the output of each command is filtered with the secrets it got, the
/// new secret after a restart as the old one before it.
#[test]
fn with_redact_each_command_has_its_secrets_filtered() {
    let project = project();
    let mut watched = Watched::start(
        &project,
        &[
            "exec",
            "--watch",
            "--redact",
            "--",
            "sh",
            "-c",
            "trap 'exit 0' TERM; echo \"key $LITESTREAM_SECRET_ACCESS_KEY\"; echo \"on stderr $LITESTREAM_SECRET_ACCESS_KEY\" >&2; while :; do sleep 0.05; done",
        ],
    );
    assert_eq!(
        watched.line(Duration::from_secs(10)),
        "key [redacted LITESTREAM_SECRET_ACCESS_KEY]"
    );
    watched.wait_said("on stderr [redacted LITESTREAM_SECRET_ACCESS_KEY]");
    edit(
        &project,
        "sed -i 's/canary-7f3e9a-secret/another-canary-2b8d/' \"$1\"",
    );
    watched.wait_said("restarting the command");
    assert_eq!(
        watched.line(Duration::from_secs(10)),
        "key [redacted LITESTREAM_SECRET_ACCESS_KEY]"
    );
    watched.wait_said("on stderr [redacted LITESTREAM_SECRET_ACCESS_KEY]");
    assert!(!watched.said.join("\n").contains("another-canary"));
    assert_eq!(watched.stop(), 0);
}

/// The real litestream replicating to moto S3 under `replicate --watch`: a credentials edit
/// restarts it once (a burst of writes too), its final sync uploads the rows written just before
/// (which a restore then holds), a tampered file keeps it running.
#[test]
fn litestreams_final_sync_completes_before_a_restart() {
    let (summary, report) = run_driver("watch.py", &[]);
    assert!(
        summary.starts_with(r#"{"ok":true,"passed":["restart","refused"]"#),
        "unexpected summary: {summary}\n{report}"
    );
}

/// Until the watcher hands new keys to the credentials endpoint, the two do not go together.
/// With `--serve-credentials`, changed keys need no restart: the endpoint serves the new ones to
/// the same command; a change to what the command gets itself still restarts it.
#[test]
fn with_serve_credentials_new_keys_are_served_without_a_restart() {
    let project = Project::new();
    project.file("config/lsenv.toml", "[serve]\nsts = false\n");
    project.credentials(&format!(
        "litestream:\n  access_key_id: AKIAEXAMPLEWATCHED01\n  secret_access_key: {CANARY}\n  replica_bucket: bkt\n"
    ));
    // Prints its PID and bucket, then the key id the endpoint serves, each time it changes.
    let probe = r#"
import json, os, signal, sys, time, urllib.request
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("start", os.getpid(), os.environ["LITESTREAM_REPLICA_BUCKET"], "-", flush=True)
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
request = urllib.request.Request(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
    headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})
seen = None
while True:
    with opener.open(request, timeout=5) as response:
        key = json.loads(response.read())["AccessKeyId"]
    if key != seen:
        print("key", key, flush=True)
        seen = key
    time.sleep(0.05)
"#;
    let mut watched = Watched::start(
        &project,
        &[
            "exec",
            "--watch",
            "--serve-credentials",
            "--pass",
            "PATH",
            "--",
            "python3",
            "-c",
            probe,
        ],
    );
    let (first, bucket, _) = watched.started();
    assert_eq!(bucket, "bkt");
    assert_eq!(
        watched.line(Duration::from_secs(10)),
        "key AKIAEXAMPLEWATCHED01"
    );

    edit(&project, "sed -i 's/WATCHED01/WATCHED02/' \"$1\"");
    // The same command, without a restart, fetches the new key.
    assert_eq!(
        watched.line(Duration::from_secs(10)),
        "key AKIAEXAMPLEWATCHED02"
    );
    watched.wait_said("watch: the endpoint serves keys from the changed credentials");
    watched.wait_said("nothing the command gets did: it keeps running");

    // The bucket is the command's own variable: that restarts it.
    edit(
        &project,
        "sed -i 's/replica_bucket: bkt/replica_bucket: other/' \"$1\"",
    );
    watched.wait_said("restarting the command (LITESTREAM_REPLICA_BUCKET changed;");
    let (second, bucket, _) = watched.started();
    assert_ne!(first, second);
    assert_eq!(bucket, "other");
    assert_eq!(
        watched.line(Duration::from_secs(10)),
        "key AKIAEXAMPLEWATCHED02"
    );
    assert_eq!(watched.stop(), 0);
}
