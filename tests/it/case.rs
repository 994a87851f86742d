//! One way to run lsenv in a test and check what came out: a [`Case`] says what to run (in
//! which [`Project`], with which arguments, environment and stdin) and what must come out
//! (exit status, stdout, stderr), runs it, and checks everything at once. A failed case panics
//! with one report: every expectation it missed, the command line, and all the process said.
//!
//! ```ignore
//! let project = Project::new();
//! project.credentials("litestream:\n  replica_bucket: canary-7f3e9a-secret\n");
//! let output = Case::new(&project)
//!     .args(["check"])
//!     .env("LITESTREAM_REPLICA_REGION", "r1")
//!     .status(3)
//!     .stderr_has("config/lsenv.toml")
//!     .stdout_is("")
//!     .run();
//! // `output` is the process's `Output`, for checks of its own (the files, `env_of`, …).
//! ```
//!
//! Defaults, so that a case states only what matters to it:
//! * the process runs in the project root with only `PATH` in its environment, stdin empty;
//! * it must exit 0 unless [`Case::status`] (or [`Case::any_status`]) says otherwise;
//! * [`CANARY`], the secret planted in test credentials, must appear in neither stdout nor
//!   stderr unless the case says [`Case::reveals`] (a child printing its environment, `--reveal`);
//! * it must finish within two minutes; a hang is killed and fails the case.
//!
//! What a case can say, in short:
//! * what runs: [`Case::new`] (lsenv in the project), [`Case::offline`] (the same in a private
//!   network namespace, for runs that start litestream), [`Case::of`] (any prepared command);
//!   then `.arg`, `.args`, `.env`, `.envs`, `.env_remove`, `.current_dir`, `.stdin`, `.within`;
//! * what must come out: `.status(code)` or `.any_status()`; `.stdout_is`, `.stdout_has`,
//!   `.stderr_is`, `.stderr_has`, `.stderr_lacks`; `.said(text)` (in either stream) and
//!   `.lacks(text)` (in neither, for a key or another secret); `.reveals()`; `.named(label)`;
//! * how it runs: `.run()` panics on a miss, `.outcome()` returns the report instead, for
//!   harnesses that try many inputs and report every failure at once.
//!
//! Tables of bad input are lists of [`Problem`]s, each made with [`problem`] (a name, how to
//! break the project, the exit code, the message): set it up with [`Problem::set_up`], then
//! [`Problem::expect`] turns a `Case` into the check of that problem.
//!
//! ```ignore
//! for case in [problem("no key", |p| p.file("config/master.key", ""), 4, "no key found")] {
//!     let project = Project::new();
//!     case.set_up(&project);
//!     case.expect(Case::new(&project)).args(["exec", "true"]).run();
//! }
//! ```

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{CANARY, Project, send_signal};

/// What the exit status must be.
#[derive(Clone, Copy, Debug)]
enum Status {
    Code(i32),
    Any,
}

/// A check on one stream's text.
#[derive(Debug)]
enum Text {
    Is(String),
    Has(String),
    Lacks(String),
}

/// Which stream(s) a check reads.
#[derive(Clone, Copy, Debug)]
enum Stream {
    Stdout,
    Stderr,
    /// stdout then stderr, for messages that may go to either (the old `said`).
    Either,
}

/// A run of lsenv (or of a given command) and what must come out of it. See the module docs.
#[must_use = "a case does nothing until `.run()`"]
pub(crate) struct Case {
    command: Command,
    name: Option<String>,
    stdin: Option<Vec<u8>>,
    status: Status,
    checks: Vec<(Stream, Text)>,
    reveals: bool,
    limit: Duration,
}

impl Case {
    /// lsenv in `project`'s root, with only `PATH` in its environment.
    pub(crate) fn new(project: &Project) -> Self {
        Self::of(project.process())
    }

    /// lsenv in a private network namespace (`unshare -n`): for runs that start litestream or
    /// talk to a server. Fails loudly where no namespace can be made.
    pub(crate) fn offline(project: &Project) -> Self {
        Self::of(project.offline())
    }

    /// Any prepared command (lsenv under a wrapper, a tool lsenv must agree with), checked the
    /// same way.
    pub(crate) fn of(command: Command) -> Self {
        Self {
            command,
            name: None,
            stdin: None,
            status: Status::Code(0),
            checks: Vec::new(),
            reveals: false,
            limit: Duration::from_secs(120),
        }
    }

    /// A label for the failure report, for cases of a table.
    pub(crate) fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    pub(crate) fn args<I>(mut self, args: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    pub(crate) fn env(mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.command.env(name, value);
        self
    }

    pub(crate) fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.command.envs(vars);
        self
    }

    pub(crate) fn env_remove(mut self, name: impl AsRef<OsStr>) -> Self {
        self.command.env_remove(name);
        self
    }

    /// Runs in `dir` (relative to the project root, or absolute) instead of the root.
    pub(crate) fn current_dir(mut self, dir: impl AsRef<std::path::Path>) -> Self {
        let dir = match self.command.get_current_dir() {
            Some(root) => root.join(dir),
            None => dir.as_ref().to_path_buf(),
        };
        self.command.current_dir(dir);
        self
    }

    pub(crate) fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// The exit code it must end with (0 unless said).
    pub(crate) fn status(mut self, code: i32) -> Self {
        self.status = Status::Code(code);
        self
    }

    /// Any exit status will do: the case checks only what came out.
    pub(crate) fn any_status(mut self) -> Self {
        self.status = Status::Any;
        self
    }

    pub(crate) fn stdout_is(self, text: impl Into<String>) -> Self {
        self.check(Stream::Stdout, Text::Is(text.into()))
    }

    pub(crate) fn stdout_has(self, text: impl Into<String>) -> Self {
        self.check(Stream::Stdout, Text::Has(text.into()))
    }

    pub(crate) fn stderr_is(self, text: impl Into<String>) -> Self {
        self.check(Stream::Stderr, Text::Is(text.into()))
    }

    pub(crate) fn stderr_has(self, text: impl Into<String>) -> Self {
        self.check(Stream::Stderr, Text::Has(text.into()))
    }

    pub(crate) fn stderr_lacks(self, text: impl Into<String>) -> Self {
        self.check(Stream::Stderr, Text::Lacks(text.into()))
    }

    /// `text` is in stdout or stderr (what lsenv said, wherever it said it).
    pub(crate) fn said(self, text: impl Into<String>) -> Self {
        self.check(Stream::Either, Text::Has(text.into()))
    }

    /// `text` is in neither stdout nor stderr (a secret, a path that must not be quoted).
    pub(crate) fn lacks(self, text: impl Into<String>) -> Self {
        self.check(Stream::Either, Text::Lacks(text.into()))
    }

    /// The output may hold [`CANARY`]: the case prints secrets on purpose.
    pub(crate) fn reveals(mut self) -> Self {
        self.reveals = true;
        self
    }

    /// It must finish within `limit` (two minutes unless said); a hang is killed and fails.
    pub(crate) fn within(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    fn check(mut self, stream: Stream, text: Text) -> Self {
        self.checks.push((stream, text));
        self
    }

    /// Runs the case and checks all it expects; panics with one report of every miss.
    #[track_caller]
    pub(crate) fn run(self) -> Output {
        match self.outcome() {
            Ok(output) => output,
            Err(report) => panic!("{report}"),
        }
    }

    /// Runs the case and checks all it expects: the output, or the report of every miss. For
    /// harnesses that run many cases and report all failures at once.
    pub(crate) fn outcome(mut self) -> Result<Output, String> {
        let output = self.spawn();
        let mut misses = Vec::new();
        match (self.status, output.status.code()) {
            (Status::Any, _) => {}
            (Status::Code(want), Some(got)) if want == got => {}
            (Status::Code(want), _) => misses.push(format!("exit code {want}")),
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let either = format!("{stdout}{stderr}");
        if !self.reveals {
            self.checks
                .push((Stream::Either, Text::Lacks(CANARY.to_owned())));
        }
        for (stream, text) in &self.checks {
            let (label, actual) = match stream {
                Stream::Stdout => ("stdout", &*stdout),
                Stream::Stderr => ("stderr", &*stderr),
                Stream::Either => ("stdout or stderr", either.as_str()),
            };
            let miss = match text {
                Text::Is(want) => (actual != want).then(|| format!("{label} is {want:?}")),
                Text::Has(want) => {
                    (!actual.contains(want.as_str())).then(|| format!("{label} has {want:?}"))
                }
                Text::Lacks(want) => {
                    (actual.contains(want.as_str())).then(|| format!("{label} lacks {want:?}"))
                }
            };
            misses.extend(miss);
        }
        if !misses.is_empty() {
            let mut message = format!(
                "case {}failed; expected:\n",
                self.name
                    .as_ref()
                    .map_or_else(String::new, |name| format!("`{name}` "))
            );
            for miss in &misses {
                let _ = writeln!(message, "  - {miss}");
            }
            message.push_str(&report(&self.command, self.stdin.as_deref(), &output));
            return Err(message);
        }
        Ok(output)
    }

    fn spawn(&mut self) -> Output {
        let mut child = self
            .command
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", shown(&self.command)));
        if let Some(bytes) = self.stdin.clone() {
            let mut pipe = child.stdin.take().unwrap();
            // A process that exits without reading all of stdin is not a failure of the test.
            std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
        }
        let pid = child.id();
        let started = Instant::now();
        let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
        while !waiter.is_finished() {
            if started.elapsed() > self.limit {
                send_signal(pid, "KILL");
                panic!(
                    "case {}still running after {:?}, killed: it hangs\ncommand: {}",
                    self.name
                        .as_ref()
                        .map_or_else(String::new, |name| format!("`{name}` ")),
                    self.limit,
                    shown(&self.command)
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        waiter.join().unwrap()
    }
}

/// The command line, its directory and environment, and all the process said, for failure
/// messages; custom harnesses (a terminal, a kill at a chosen moment) report with it too.
pub(crate) fn report(command: &Command, stdin: Option<&[u8]>, output: &Output) -> String {
    let mut text = format!("command: {}\n", shown(command));
    if let Some(stdin) = stdin {
        let _ = writeln!(text, "stdin: {:?}", String::from_utf8_lossy(stdin));
    }
    let _ = write!(
        text,
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    text
}

fn shown(command: &Command) -> String {
    let mut text = String::new();
    if let Some(dir) = command.get_current_dir() {
        let _ = write!(text, "cd {} && ", dir.display());
    }
    let own_path = std::env::var_os("PATH");
    for (name, value) in command.get_envs() {
        // The test's own PATH, which every case gets, is only noise.
        if name == "PATH" && value.map(OsStr::to_os_string) == own_path {
            continue;
        }
        let value = value.map_or_else(|| OsString::from("<removed>"), OsStr::to_os_string);
        let _ = write!(
            text,
            "{}={:?} ",
            name.to_string_lossy(),
            value.to_string_lossy()
        );
    }
    let _ = write!(text, "{}", command.get_program().to_string_lossy());
    for arg in command.get_args() {
        let _ = write!(text, " {:?}", arg.to_string_lossy());
    }
    text
}

/// A bad-input case of a table: its name, how to break the project, and what lsenv must do.
pub(crate) struct Problem<'a> {
    pub(crate) name: &'static str,
    setup: Box<dyn Fn(&Project) + 'a>,
    env: Vec<(&'static str, String)>,
    pub(crate) code: i32,
    pub(crate) says: &'static str,
}

/// A [`Problem`]: `setup` breaks the project, then lsenv must exit `code` having said `says`.
pub(crate) fn problem<'a>(
    name: &'static str,
    setup: impl Fn(&Project) + 'a,
    code: i32,
    says: &'static str,
) -> Problem<'a> {
    Problem {
        name,
        setup: Box::new(setup),
        env: Vec::new(),
        code,
        says,
    }
}

impl Problem<'_> {
    /// The same problem with `name=value` in lsenv's environment.
    pub(crate) fn env(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.env.push((name, value.into()));
        self
    }

    /// Breaks `project` as the problem says.
    pub(crate) fn set_up(&self, project: &Project) {
        (self.setup)(project);
    }

    /// `case` (lsenv in the project, already set up) made to check this problem: named, with
    /// its environment, its exit code and its message; add the arguments and run.
    pub(crate) fn expect(&self, case: Case) -> Case {
        case.named(self.name)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .status(self.code)
            .said(self.says)
    }
}
