//! `lsenv exec --redact`: run the command under supervision, because every byte it writes must
//! pass through a filter that replaces each resolved secret value by `[redacted NAME]`, so lsenv
//! cannot simply become it.
//!
//! * The command runs in a process group of its own, and HUP, INT, QUIT, TERM, USR1, USR2 and
//!   WINCH sent to lsenv are forwarded to that whole group. lsenv exits with the command's exit
//!   code, or 128 + the signal that killed it, as a shell reports it.
//! * With lsenv's stdin and stdout on a terminal (and lsenv in the terminal's foreground), the
//!   command gets a pseudo-terminal of its own with the same settings and window size, as its
//!   controlling terminal, so colours, line editing, prompts and full-screen programs work. lsenv's
//!   terminal is raw meanwhile: every key, Ctrl-C included, goes to the pty, whose own line
//!   discipline turns it into a signal for the command. What the pty prints is filtered onto
//!   lsenv's stdout.
//! * Otherwise the command's stdout and stderr are pipes, each filtered onto lsenv's own. Its stdin
//!   is lsenv's, except for a terminal that lsenv reads in the foreground: that is copied through a
//!   pipe, because the command, in a background process group, would be stopped by SIGTTIN the
//!   moment it read the terminal itself.
//!
//! Threads: the caller's waits for the command; one per output stream pumps it through a
//! [`Filter`]; one copies the terminal's input when there is one; one forwards signals. Nothing
//! is left running: an error or a panic after the spawn kills the command's process group.

use std::io::{self, IsTerminal as _, PipeReader, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pty_process::blocking::Pty;
use rustix::process::{Pid, Signal, kill_process_group};
use rustix::termios::{self, OptionalActions, Termios};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};
use signal_hook::iterator::{Handle, Signals};
use zeroize::Zeroizing;

use crate::env::Env;
use crate::error::{Error, Failure, Result, Status, exit};
use crate::launch;
use crate::launch::CommandPlan;
use crate::os::NoCoreDumps;
use crate::redact::{Filter, MIN_REDACTED, Redactor};
use crate::resolve::Resolution;
use crate::terminal::say;

/// The signals passed on to the command's process group.
const FORWARDED: [i32; 7] = [SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH];

/// How much output is read at once.
const CHUNK: usize = 64 * 1024;

/// How long the output may go on after the command exits: a background process it left may
/// hold the pipes open for ever. Then what is already written is drained (at most
/// [`DRAIN_CHUNKS`] reads) and the pipes are closed.
const DRAIN: Duration = Duration::from_millis(500);
const DRAIN_CHUNKS: usize = 16;

/// An output of the command: readable, and pollable.
trait Source: Read + AsFd + Send {}
impl<T: Read + AsFd + Send> Source for T {}

/// Runs the command with its output filtered, and returns the status lsenv must exit with: the
/// command's own, or 128 + the signal that killed it.
pub(crate) fn run(
    command: &CommandPlan,
    resolution: &Resolution,
    env: &Env,
    core_dumps: &NoCoreDumps,
) -> Result<Status> {
    // The file secrets stay open while the command runs: it inherited the same descriptors.
    let (child_command, program, _files) = launch::command(command, resolution, env)?;
    let redactor = Arc::new(redactor(resolution)?);
    // Installed before the spawn, so a signal that arrives before the forwarding starts waits
    // for it instead of killing lsenv and leaving the command behind.
    let signals = Signals::new(FORWARDED).map_err(|err| Error::io("signals", "watch", err))?;
    let stdin = io::stdin();
    // A background job must not touch the terminal: reading it or changing its mode would stop
    // lsenv (SIGTTIN, SIGTTOU).
    let interactive = stdin.is_terminal()
        && termios::tcgetpgrp(&stdin).is_ok_and(|group| group == rustix::process::getpgrp());
    let status = if interactive && io::stdout().is_terminal() {
        in_pty(child_command, program, &redactor, signals, core_dumps)?
    } else {
        with_pipes(
            child_command,
            program,
            &redactor,
            signals,
            interactive,
            core_dumps,
        )?
    };
    let code = exit_code(status);
    // 127 is a shell's "command not found".
    if code == exit::NOT_FOUND && launch::lacks_path(command, resolution) {
        say(&format!(
            "the command exited with 127 (command not found) and it had no PATH; {}",
            launch::PASS_PATH_HINT
        ));
    }
    Ok(Status(code))
}

/// The filter for the resolved secrets: every variable that may hold one and is long enough
/// (`MIN_REDACTED`); those too short are named on stderr, since their values are left alone.
fn redactor(resolution: &Resolution) -> Result<Redactor> {
    let (secrets, short): (Vec<_>, Vec<_>) = resolution
        .iter()
        .filter(|(_, variable)| variable.is_secret() && !variable.value.is_empty())
        .map(|(name, variable)| (name, &variable.value))
        .partition(|(_, value)| value.len() >= MIN_REDACTED);
    if !short.is_empty() {
        let names: Vec<_> = short.iter().map(|(name, _)| *name).collect();
        say(&format!(
            "not redacting {}: values shorter than {MIN_REDACTED} bytes would match ordinary text",
            names.join(", ")
        ));
    }
    Redactor::new(secrets).map_err(|err| Error::failed(Failure::RedactionFilter(err.to_string())))
}

/// Pipes for stdout and stderr, each filtered onto lsenv's own.
fn with_pipes(
    mut command: Command,
    program: PathBuf,
    redactor: &Arc<Redactor>,
    signals: Signals,
    interactive: bool,
    core_dumps: &NoCoreDumps,
) -> Result<ExitStatus> {
    command
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if interactive {
        command.stdin(Stdio::piped());
    }
    let mut child = core_dumps
        .around_spawn(|| command.spawn())
        .map_err(|err| launch::cannot_execute(program, &err))?;
    let input = child.stdin.take();
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        unreachable!("stdout and stderr are piped above");
    };
    let child = Supervised::new(child);
    let outputs = vec![
        (Box::new(stdout) as Box<dyn Source>, Stream::Stdout),
        (Box::new(stderr), Stream::Stderr),
    ];
    let input = input.map(|stdin| Box::new(stdin) as Box<dyn Write + Send>);
    supervise(child, redactor, outputs, input, None, signals)
}

/// A pseudo-terminal as the command's controlling terminal, stdin, stdout and stderr.
fn in_pty(
    command: Command,
    program: PathBuf,
    redactor: &Arc<Redactor>,
    signals: Signals,
    core_dumps: &NoCoreDumps,
) -> Result<ExitStatus> {
    let fail = |err: io::Error| Error::io("/dev/ptmx", "set up a pseudo-terminal", err);
    let settings = termios::tcgetattr(io::stdin()).map_err(|err| fail(err.into()))?;
    let (pty, pts) = pty_process::blocking::open().map_err(|err| fail(pty_error(err)))?;
    // The user's erase and interrupt keys, UTF-8 input mode and so on, as in a shell.
    termios::tcsetattr(&pts, OptionalActions::Now, &settings).map_err(|err| fail(err.into()))?;
    copy_window_size(&pty);
    let child = core_dumps
        .around_spawn(|| pty_process::blocking::Command::from(command).spawn(pts))
        .map_err(|err| launch::cannot_execute(program, &pty_error(err)))?;
    let child = Supervised::new(child);
    let _raw = RawTerminal::engage(settings).map_err(|err| fail(err.into()))?;
    let master = Master(Arc::new(pty));
    let outputs = vec![(Box::new(master.clone()) as Box<dyn Source>, Stream::Stdout)];
    let input = Some(Box::new(master.clone()) as Box<dyn Write + Send>);
    supervise(child, redactor, outputs, input, Some(master), signals)
}

/// The common part: pump the outputs, copy the input, forward signals, wait for the command and
/// then, for at most [`DRAIN`], for the end of its output (which its own children may still be
/// writing).
fn supervise(
    mut child: Supervised,
    redactor: &Arc<Redactor>,
    outputs: Vec<(Box<dyn Source>, Stream)>,
    input: Option<Box<dyn Write + Send>>,
    pty: Option<Master>,
    signals: Signals,
) -> Result<ExitStatus> {
    let thread_failed = |err| Error::io("threads", "start a thread", err);
    // Closed once the command has exited and [`DRAIN`] has passed: the pumps then stop.
    let (done_reader, done) = io::pipe().map_err(|err| Error::io("pipe", "create", err))?;
    let done_reader = Arc::new(done_reader);
    let mut pumps = Vec::new();
    for (source, stream) in outputs {
        let redactor = Arc::clone(redactor);
        let done_reader = Arc::clone(&done_reader);
        let group = child.group;
        // A pty is shared with the input side and stays open when the pump stops: the command
        // learns that its terminal is gone from a hangup, as it would from a real one.
        let hang_up = pty.is_some();
        let pump = std::thread::Builder::new()
            .name(format!("lsenv {}", stream.name()))
            .spawn(move || {
                let written = match stream {
                    Stream::Stdout => pump(source, io::stdout(), &redactor, &done_reader),
                    Stream::Stderr => pump(source, io::stderr(), &redactor, &done_reader),
                };
                if written.is_err() && hang_up {
                    let _ = kill_process_group(group, Signal::HUP);
                }
                written
            })
            .map_err(thread_failed)?;
        pumps.push((pump, stream));
    }
    // Dropping `stop` on the way out ends the input copy, so that it does not swallow keys typed
    // after the command is gone. It is not joined: it may be blocked writing to a command that
    // no longer reads.
    let _stop = match input {
        Some(target) => {
            let (stop_reader, stop) = io::pipe().map_err(|err| Error::io("pipe", "create", err))?;
            std::thread::Builder::new()
                .name("lsenv input".into())
                .spawn(move || copy_input(target, &stop_reader))
                .map_err(thread_failed)?;
            Some(stop)
        }
        None => None,
    };
    let forwarder = Forwarder::start(signals, child.group, pty)?;
    let status = child.wait()?;
    let deadline = Instant::now() + DRAIN;
    while pumps.iter().any(|(pump, _)| !pump.is_finished()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(done);
    for (pump, stream) in pumps {
        match pump.join() {
            Ok(Ok(())) => {}
            // The reader went away, as in any pipeline: the command got EPIPE or SIGPIPE itself.
            Ok(Err(err)) if err.kind() == io::ErrorKind::BrokenPipe => {}
            Ok(Err(err)) => say(&format!(
                "cannot write the command's {}: {err}",
                stream.name()
            )),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
    drop(forwarder);
    Ok(status)
}

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// Copies `source` to `sink` through a [`Filter`], flushing after every read so that prompts and
/// progress show at once. Ends at the end of the input, on the first failed write, and once
/// `done` is closed and what was already written is drained; then it drops `source`: a pipe's
/// writer gets EPIPE, as it would writing into a closed pipeline.
fn pump(
    mut source: impl Source,
    mut sink: impl Write,
    redactor: &Redactor,
    done: &PipeReader,
) -> io::Result<()> {
    use rustix::event::{PollFd, PollFlags, poll};
    let mut filter = Filter::new(redactor);
    let mut chunk = Zeroizing::new(vec![0; CHUNK]);
    let mut out = Vec::with_capacity(CHUNK);
    let mut draining = None;
    loop {
        let fd: BorrowedFd<'_> = source.as_fd();
        let mut fds = [
            PollFd::new(&fd, PollFlags::IN),
            PollFd::new(done, PollFlags::IN),
        ];
        let immediately = rustix::event::Timespec::default();
        match poll(&mut fds, draining.map(|_| &immediately)) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => break,
        }
        let readable = !fds[0].revents().is_empty();
        if !fds[1].revents().is_empty() {
            let left = draining.get_or_insert(DRAIN_CHUNKS);
            if !readable || *left == 0 {
                break;
            }
            *left -= 1;
        }
        if !readable {
            continue;
        }
        let read = match source.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            // A pty master reports EIO once every process has closed the terminal: the end.
            // From a pipe no other error can come.
            Err(_) => break,
        };
        out.clear();
        filter.feed(&chunk[..read], &mut out);
        sink.write_all(&out)?;
        sink.flush()?;
    }
    out.clear();
    filter.finish(&mut out);
    sink.write_all(&out)?;
    sink.flush()
}

/// Copies lsenv's stdin to the command as it arrives, until stdin ends, a write fails, or `stop`
/// is closed. Reads go straight to the file descriptor: a buffer in between could hold input
/// that `poll` no longer reports.
fn copy_input(mut target: impl Write, stop: &PipeReader) {
    use rustix::event::{PollFd, PollFlags, poll};
    let stdin = io::stdin();
    let mut buffer = Zeroizing::new(vec![0; 4096]);
    loop {
        let mut fds = [
            PollFd::new(&stdin, PollFlags::IN),
            PollFd::new(stop, PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return,
        }
        if !fds[1].revents().is_empty() {
            return;
        }
        match rustix::io::read(&stdin, &mut buffer[..]) {
            Ok(0) | Err(_) => return,
            Ok(read) => {
                if target.write_all(&buffer[..read]).is_err() {
                    return;
                }
            }
        }
    }
}

/// The running command. Dropped before it was reaped — lsenv is leaving on an error or a panic —
/// it kills the command's whole process group first, so nothing is left running.
struct Supervised {
    child: Child,
    /// The command leads its own process group (or session), so the group's ID is its PID.
    group: Pid,
    reaped: bool,
}

impl Supervised {
    fn new(child: Child) -> Self {
        Self {
            group: Pid::from_child(&child),
            child,
            reaped: false,
        }
    }

    fn wait(&mut self) -> Result<ExitStatus> {
        let status = self
            .child
            .wait()
            .map_err(|err| Error::io("the command", "wait for", err))?;
        self.reaped = true;
        Ok(status)
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if !self.reaped {
            // KILL: lsenv is failing and cannot wait to see whether a gentler signal worked.
            let _ = kill_process_group(self.group, Signal::KILL);
            let _ = self.child.wait();
        }
    }
}

/// Forwards signals to the command's process group until dropped. With a pty, WINCH instead
/// copies lsenv's window size onto it, and the kernel tells the command.
struct Forwarder {
    handle: Handle,
    thread: Option<JoinHandle<()>>,
}

impl Forwarder {
    fn start(mut signals: Signals, group: Pid, pty: Option<Master>) -> Result<Self> {
        let handle = signals.handle();
        let thread = std::thread::Builder::new()
            .name("lsenv signals".into())
            .spawn(move || {
                for number in signals.forever() {
                    match (&pty, Signal::from_named_raw(number)) {
                        (Some(pty), _) if number == SIGWINCH => copy_window_size(&pty.0),
                        // The group may be gone already: nothing left to tell.
                        (_, Some(signal)) => {
                            let _ = kill_process_group(group, signal);
                        }
                        (_, None) => {}
                    }
                }
            })
            .map_err(|err| Error::io("threads", "start a thread", err))?;
        Ok(Self {
            handle,
            thread: Some(thread),
        })
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// lsenv's terminal in raw mode, so that every key reaches the command's pty untouched; the
/// saved settings come back when this is dropped, on every way out of [`run`], panics included.
struct RawTerminal {
    saved: Termios,
}

impl RawTerminal {
    fn engage(saved: Termios) -> rustix::io::Result<Self> {
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(io::stdin(), OptionalActions::Now, &raw)?;
        Ok(Self { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(io::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// The pty's master side, shared by the output pump, the input copy and the signal thread.
#[derive(Clone)]
struct Master(Arc<Pty>);

impl Read for Master {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl AsFd for Master {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl Write for Master {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self.0).flush()
    }
}

/// Gives the pty the window size of lsenv's terminal. Best effort: a wrong size only misdraws.
fn copy_window_size(pty: &Pty) {
    if let Ok(size) = termios::tcgetwinsize(io::stdout()) {
        let _ = termios::tcsetwinsize(pty, size);
    }
}

fn pty_error(err: pty_process::Error) -> io::Error {
    match err {
        pty_process::Error::Io(err) => err,
        pty_process::Error::Rustix(errno) => errno.into(),
    }
}

/// What lsenv exits with: the command's exit code, or 128 + the signal that killed it.
fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(exit::INTERNAL),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(exit::INTERNAL),
        (None, None) => exit::INTERNAL,
    }
}

#[cfg(test)]
mod tests {
    use super::{Supervised, exit_code};

    /// An error or a panic after the spawn drops the command unreaped: its group is killed (or
    /// this drop would wait for the `sleep`).
    #[test]
    fn an_abandoned_command_is_killed() {
        use std::os::unix::process::CommandExt as _;
        let started = std::time::Instant::now();
        let child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30"])
            .process_group(0)
            .spawn()
            .unwrap();
        drop(Supervised::new(child));
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn exit_codes_are_the_shells() {
        use std::os::unix::process::ExitStatusExt as _;
        use std::process::ExitStatus;
        assert_eq!(exit_code(ExitStatus::from_raw(7 << 8)), 7);
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 143);
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
    }
}
