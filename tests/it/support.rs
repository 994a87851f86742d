//! A throwaway project directory and a way to run lsenv in it with a controlled environment.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use lsenv::store::rails::{self, MasterKey};

use crate::case::Case;

/// The key every test project uses unless a test says otherwise. Test-only.
pub(crate) const KEY: &str = "0123456789abcdef0123456789abcdef";
/// A value planted in credentials: it must never appear in lsenv's own output.
pub(crate) const CANARY: &str = "canary-7f3e9a-secret";

pub(crate) struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.root().join(relative)
    }

    pub(crate) fn file(&self, relative: &str, contents: impl AsRef<[u8]>) -> &Self {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        self
    }

    /// An executable file (a script for lsenv to run); its path.
    pub(crate) fn script(&self, relative: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        self.file(relative, contents);
        let path = self.path(relative);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// `config/credentials.yml.enc` holding `yaml`, and `config/master.key` holding [`KEY`].
    pub(crate) fn credentials(&self, yaml: &str) -> &Self {
        self.credentials_at("config/credentials.yml.enc", "config/master.key", yaml)
    }

    pub(crate) fn credentials_at(&self, enc: &str, key_file: &str, yaml: &str) -> &Self {
        self.file(key_file, KEY);
        let key = MasterKey::parse(KEY.as_bytes(), "test").unwrap();
        self.file(enc, rails::encrypt(yaml.as_bytes(), &key))
    }

    /// lsenv, started in the project root with only `PATH` in its environment, as a plain
    /// process for harnesses that need its PID; [`Case::new`] runs and checks it.
    pub(crate) fn process(&self) -> std::process::Command {
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin!("lsenv"));
        command
            .current_dir(self.root())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap());
        command
    }

    /// lsenv in a private network namespace (`unshare -n`), for runs that start litestream:
    /// whatever it does, no traffic can leave the machine. Panics where no namespace can be made
    /// (not root, no util-linux), so no test passes without running lsenv.
    pub(crate) fn offline(&self) -> std::process::Command {
        require_unshare();
        let mut command = std::process::Command::new("unshare");
        command
            .args(["-n", "--"])
            .arg(assert_cmd::cargo::cargo_bin!("lsenv"))
            .current_dir(self.root())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap());
        command
    }

    /// Every file under the root with its bytes, to prove a failing command changed nothing.
    pub(crate) fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.insert(path.clone(), std::fs::read(&path).unwrap());
                }
            }
        }
        let mut files = BTreeMap::new();
        walk(self.root(), &mut files);
        files
    }
}

/// Fails the test, loudly, where `unshare -n` cannot run: the tests that need a private network
/// namespace must not pass by never starting what they test.
pub(crate) fn require_unshare() {
    static WORKS: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let works = WORKS.get_or_init(|| {
        match std::process::Command::new("unshare")
            .args(["-n", "--", "true"])
            .output()
        {
            Ok(output) if output.status.success() => Ok(()),
            Ok(output) => Err(String::from_utf8_lossy(&output.stderr).into_owned()),
            Err(err) => Err(err.to_string()),
        }
    });
    if let Err(problem) = works {
        panic!(
            "`unshare -n` does not work here (run the tests as root, with util-linux): {problem}"
        );
    }
}

/// Runs a driver of `tests/drivers/` (`script` and its arguments) in a private network namespace,
/// with the lsenv and litestream under test, and returns its verdict (the last line it printed,
/// a JSON summary) and a report of all it printed, for failure messages. Fails unless it
/// succeeded.
pub(crate) fn run_driver(script: &str, args: &[&str]) -> (String, String) {
    require_unshare();
    let mut command = std::process::Command::new("unshare");
    command
        .args(["-n", "--", "python3"])
        .arg(format!("tests/drivers/{script}"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("LSENV_BIN", assert_cmd::cargo::cargo_bin!("lsenv"))
        .env("LITESTREAM_BIN", litestream());
    let output = command.output().expect("cannot run `unshare` (util-linux)");
    let report = crate::case::report(&command, None, &output);
    assert!(output.status.success(), "{script} failed\n{report}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout.lines().last().unwrap_or_default().to_owned();
    (summary, report)
}

/// The environment a child printed with `env -0`.
pub(crate) fn env_of(output: &Output) -> BTreeMap<String, String> {
    assert!(
        output.status.success(),
        "lsenv failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
        .stdout
        .split(|&b| b == 0)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let entry = String::from_utf8(entry.to_vec()).unwrap();
            let (name, value) = entry.split_once('=').unwrap();
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

/// Runs the case with `args` followed by `env -0`, and returns the child's environment.
#[track_caller]
/// The shell line a [`Terminal`] runs: `lsenv ARGS -- sh -c CHILD` (then `pipe`, such as
/// `| cat`) in the project with only `PATH`, then `LSENV-EXIT=<status>`, and the pane kept open.
pub(crate) fn lsenv_at_terminal(project: &Project, args: &str, child: &str, pipe: &str) -> String {
    format!(
        "cd {root} && env -i PATH=\"$PATH\" {lsenv} {args} -- sh -c {child}{pipe}; echo LSENV-EXIT=$?; sleep 60",
        root = shell_words::quote(&project.root().to_string_lossy()),
        lsenv = shell_words::quote(&assert_cmd::cargo::cargo_bin!("lsenv").to_string_lossy()),
        child = shell_words::quote(child),
    )
}

pub(crate) fn child_env(case: Case, args: &[&str]) -> BTreeMap<String, String> {
    env_of(&case.args(args).args(["env", "-0"]).reveals().run())
}

pub(crate) fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// stdout and stderr of a run, for asserting what lsenv said (and did not say).
pub(crate) fn said(output: &Output) -> String {
    let mut text = OsString::from_vec(output.stdout.clone());
    text.push(OsString::from_vec(output.stderr.clone()));
    text.to_string_lossy().into_owned()
}

/// Runs `rails_oracle.rb SUBCOMMAND PATHS… FLAGS…` (real ActiveSupport) with `stdin`; panics on
/// failure.
pub(crate) fn ruby_oracle(
    subcommand: &str,
    paths: &[&Path],
    flags: &[&str],
    stdin: &[u8],
) -> Vec<u8> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/drivers/rails_oracle.rb");
    let output = std::process::Command::new("ruby")
        .arg(script)
        .arg(subcommand)
        .args(paths)
        .args(flags)
        .env_remove("RAILS_MASTER_KEY")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(stdin)?;
            child.wait_with_output()
        })
        .expect("ruby must be installed (apt-get install ruby ruby-activesupport)");
    assert!(
        output.status.success(),
        "ruby oracle {subcommand} {paths:?} {flags:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// `kill -SIGNAL PID`.
pub(crate) fn send_signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// The real litestream binary that `litestream-bin` installs next to this python3.
pub(crate) fn litestream() -> PathBuf {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .expect("python3 must be installed");
    let path = PathBuf::from(String::from_utf8(output.stdout).unwrap().trim()).join("litestream");
    assert!(
        path.is_file(),
        "litestream-bin is not installed: {}",
        path.display()
    );
    path
}

/// A real terminal of 100×30: tmux runs a shell `script` in a detached session, where keys can be
/// typed and the screen read. Each terminal has a tmux server of its own, on a socket in a
/// directory of its own: tests run at the same time, and a client that reaches a shared server
/// just as another test's last session ends it fails with "server exited unexpectedly". The
/// server ends and its directory goes when this is dropped.
pub(crate) struct Terminal {
    socket: PathBuf,
    _socket_dir: tempfile::TempDir,
}

impl Terminal {
    pub(crate) fn start(script: &str) -> Self {
        let socket_dir = tempfile::tempdir().unwrap();
        let terminal = Self {
            socket: socket_dir.path().join("tmux"),
            _socket_dir: socket_dir,
        };
        let output = terminal
            .tmux(&["new-session", "-d", "-x", "100", "-y", "30", script])
            .output()
            .expect("tmux must be installed (apt-get install tmux)");
        assert!(
            output.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        terminal
    }

    /// `tmux ARGS` on this terminal's own server.
    fn tmux(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new("tmux");
        command.arg("-S").arg(&self.socket).args(args);
        command
    }

    /// The text on the screen.
    pub(crate) fn screen(&self) -> String {
        self.capture(&[])
    }

    /// The screen with colours and other attributes as escape sequences.
    pub(crate) fn styled_screen(&self) -> String {
        self.capture(&["-e"])
    }

    fn capture(&self, flags: &[&str]) -> String {
        let output = self
            .tmux(&["capture-pane", "-p"])
            .args(flags)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub(crate) fn wait_for(&self, text: &str) {
        wait_until(&format!("{text:?} on the screen"), || {
            self.screen().contains(text)
        });
    }

    /// tmux `send-keys`: text, or key names such as `Enter`, `BSpace`, `C-c`.
    pub(crate) fn keys(&self, keys: &[&str]) {
        let status = self.tmux(&["send-keys"]).args(keys).status().unwrap();
        assert!(status.success());
    }

    /// tmux `resize-window`: the terminal gets a new size, as when a user drags its window.
    pub(crate) fn resize(&self, columns: u16, rows: u16) {
        let status = self
            .tmux(&[
                "resize-window",
                "-x",
                &columns.to_string(),
                "-y",
                &rows.to_string(),
            ])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]).status();
    }
}

/// What `ulimit -c` says inside a command that lsenv runs with `lsenv_args` (then `sh -c
/// 'ulimit -c'`), lsenv being started with a soft core limit of 4096 blocks: lsenv lowers its own
/// to 0 while it holds secrets, and the command must get 4096 back.
pub(crate) fn core_limit_through(project: &Project, lsenv_args: &[&str]) -> String {
    let mut command = std::process::Command::new("sh");
    command
        .args(["-c", "ulimit -S -c 4096 && exec \"$@\"", "sh"])
        .arg(assert_cmd::cargo::cargo_bin!("lsenv"))
        .args(lsenv_args)
        .args(["sh", "-c", "ulimit -c"])
        .current_dir(project.root())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap());
    String::from_utf8(Case::of(command).run().stdout).unwrap()
}

/// Polls `ready` until it holds, failing the test after 15 s with `what` never having happened.
pub(crate) fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `git ARGS` in `dir` with a fixed author, lsenv on `PATH` (git runs drivers by name); panics on
/// failure.
pub(crate) fn git(dir: &Path, args: &[&str]) -> Output {
    let output = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .env("PATH", path_with_lsenv())
        .env_remove("RAILS_MASTER_KEY")
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {}", said(&output));
    output
}

/// `PATH` with the directory of the lsenv under test first, as git runs the driver by name.
fn path_with_lsenv() -> std::ffi::OsString {
    let bin = PathBuf::from(assert_cmd::cargo::cargo_bin!("lsenv"));
    std::env::join_paths(
        std::iter::once(bin.parent().unwrap().to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap()
}
