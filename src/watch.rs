//! `--watch` (`exec` and `replicate`): lsenv stays resident as the command's supervisor, watches
//! the files the resolution read — `config/lsenv.toml`, the credentials file and the key files or
//! age identities that may open it — and, once a burst of writes has been quiet for [`QUIET`],
//! resolves again. A new resolution goes to a delivery function, which says what in it needs a
//! restart: plain `--watch` restarts the command when any variable or file secret it gets
//! changed. A restart is the stop Litestream wants: SIGTERM to the command's group, at most
//! [`grace`] for its final sync, then SIGKILL; then the command starts again with the new
//! environment. A change that cannot be used (bad YAML, a wrong key, a tampered file, a `$VAR`
//! of the Litestream config left unset) is reported and the running command kept.
//!
//! Directories are watched, not files: lsenv (and editors) replace a file by renaming a new one
//! over it, which a watch on the old file would never see.
//!
//! Signals are forwarded to the command's group as with `--redact`. HUP, INT, QUIT and TERM
//! mean the user wants it gone: after one of them lsenv starts nothing new (a restart under way
//! ends with lsenv exiting with the old command's status) and takes no change into account, so
//! no second SIGTERM of its own cuts Litestream's final sync short. The command is started
//! through [`deathsig`], so it gets SIGTERM if lsenv is killed outright.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::process::Signal;
use saphyr_parser::{Event, Parser};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::audit;
use crate::config::Config;
use crate::deathsig;
use crate::env::Env;
use crate::error::{Error, Result, Status};
use crate::filesecret::FileSecrets;
use crate::launch::{self, CommandPlan};
use crate::litestream;
use crate::os::NoCoreDumps;
use crate::preflight;
use crate::project::Project;
use crate::resolve::{self, Resolution};
use crate::store::keys::KeySource;
use crate::supervise::{self, FORWARDED, Watched};
use crate::terminal::say;

/// How long the watched files must be left alone before lsenv reads them again: an edit is
/// often several writes and renames in a row.
const QUIET: Duration = Duration::from_millis(400);

/// How often the supervisor looks at the command, the signals and the changes.
const TICK: Duration = Duration::from_millis(50);

/// Litestream 0.5's `shutdown-sync-timeout` when its config sets none (`DefaultShutdownSyncTimeout`).
const LITESTREAM_SHUTDOWN_SYNC: Duration = Duration::from_secs(30);

/// Added to the shutdown sync's budget before SIGKILL: Litestream also closes its databases and
/// stops a `-exec` child.
const MARGIN: Duration = Duration::from_secs(5);

/// The signals after which the command must not be started again.
const STOPPING: [i32; 4] = [SIGHUP, SIGINT, SIGQUIT, SIGTERM];

/// Told each new resolution that can be used, with the one the command was started with (or
/// will be, during a restart); returns the names whose change needs a restart (none: keep it).
pub(crate) type Deliver<'a> = dyn FnMut(&Resolution, &Resolution) -> Vec<String> + 'a;

/// Builds the command for a resolution, with its file secrets, which stay open while it runs.
pub(crate) type Build<'a> = dyn Fn(&Resolution) -> Result<(Command, PathBuf, FileSecrets)> + 'a;

/// One run of the command: the resolution it got, and its file secrets.
struct Generation {
    command: Watched,
    resolution: Resolution,
    _files: FileSecrets,
}

/// A restart under way: the old command was sent SIGTERM; `next` starts once it is gone.
struct Restart {
    next: Resolution,
    deadline: Instant,
    grace: Duration,
    killed: bool,
}

/// A `--watch` run: the project's files, watched from before its first resolution (a change
/// made while lsenv resolves or starts the command is one the supervisor sees), and what the
/// command runs for.
pub(crate) struct Watch<'a> {
    pub(crate) project: &'a Project,
    pub(crate) command: &'a CommandPlan,
    pub(crate) env: &'a Env,
    /// The command as the audit log names it.
    name: &'a str,
    core_dumps: &'a NoCoreDumps,
    watcher: Watcher,
    changed: Receiver<Vec<PathBuf>>,
}

impl<'a> Watch<'a> {
    pub(crate) fn begin(
        project: &'a Project,
        command: &'a CommandPlan,
        name: &'a str,
        env: &'a Env,
        core_dumps: &'a NoCoreDumps,
    ) -> Result<Self> {
        let (sender, changed) = mpsc::channel();
        let watcher = Watcher::start(sender)?;
        watcher.watch(&watched_files(project, env));
        Ok(Self {
            project,
            command,
            env,
            name,
            core_dumps,
            watcher,
            changed,
        })
    }

    /// Plain `--watch`: the command as `exec` builds it, restarted on any difference.
    pub(crate) fn run(self, resolution: Resolution) -> Result<Status> {
        let (command, env) = (self.command, self.env);
        let build = |resolution: &Resolution| launch::command(command, resolution, env);
        let mut deliver =
            |old: &Resolution, new: &Resolution| differences(old, new).map(str::to_owned).collect();
        self.supervise(resolution, &build, &mut deliver)
    }

    /// The supervisor's loop, for any way of building the command and of taking a new
    /// resolution.
    pub(crate) fn supervise(
        self,
        resolution: Resolution,
        build: &Build<'_>,
        deliver: &mut Deliver<'_>,
    ) -> Result<Status> {
        // Before the spawn, so that a signal arriving early waits to be forwarded.
        let mut signals =
            Signals::new(FORWARDED).map_err(|err| Error::io("signals", "watch", err))?;
        let mut project = reload(self.project, self.project.config.clone());
        let mut current = start(build, self.command, resolution, self.core_dumps)?;
        let mut restart: Option<Restart> = None;
        // A stopping signal was forwarded: the command's exit is lsenv's.
        let mut leaving = false;
        let mut watching = true;
        loop {
            match self.changed.recv_timeout(TICK) {
                Ok(files) if !leaving => {
                    if let Some((reloaded, new)) =
                        resolve_again(&project, self.command, self.name, self.env, &files)
                    {
                        project = reloaded;
                        self.watcher.watch(&watched_files(&project, self.env));
                        let running = restart
                            .as_ref()
                            .map_or(&current.resolution, |restart| &restart.next);
                        let names = deliver(running, &new);
                        let files = shown(&files);
                        match (&mut restart, names.is_empty()) {
                            (Some(restart), _) => {
                                restart.next = new;
                                say(&format!(
                                    "watch: {files} changed again while the command restarts; it starts with the newest"
                                ));
                            }
                            (None, true) => {
                                current.resolution = new;
                                say(&format!(
                                    "watch: {files} changed, nothing the command gets did: it keeps running"
                                ));
                            }
                            (None, false) => {
                                let grace = grace(self.command);
                                say(&format!(
                                    "watch: {files} changed: restarting the command ({} changed; SIGTERM, SIGKILL after {}s)",
                                    names.join(", "),
                                    grace.as_secs()
                                ));
                                current.command.child.signal(Signal::TERM);
                                restart = Some(Restart {
                                    next: new,
                                    deadline: Instant::now() + grace,
                                    grace,
                                    killed: false,
                                });
                            }
                        }
                    }
                }
                // After a stopping signal, changes no longer matter.
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    if watching {
                        say("watch: the file watch stopped; the command keeps running unwatched");
                        watching = false;
                    }
                    std::thread::sleep(TICK);
                }
            }
            for number in signals.pending() {
                if let Some(signal) = Signal::from_named_raw(number) {
                    current.command.child.signal(signal);
                }
                leaving |= STOPPING.contains(&number);
            }
            if let Some(status) = current.command.child.try_wait()? {
                let ended = current;
                ended.command.finish();
                match restart.take() {
                    Some(restart) if !leaving => {
                        current = start(build, self.command, restart.next, self.core_dumps)?;
                    }
                    _ => return Ok(supervise::finished(status, self.command, &ended.resolution)),
                }
            }
            if let Some(restart) = restart.as_mut().filter(|restart| !restart.killed)
                && Instant::now() >= restart.deadline
            {
                say(&format!(
                    "watch: the command did not stop within {}s of SIGTERM: SIGKILL",
                    restart.grace.as_secs()
                ));
                current.command.child.signal(Signal::KILL);
                restart.killed = true;
            }
        }
    }
}

/// Starts the command for `resolution` through the parent-death shim, its output filtered with
/// `--redact`.
fn start(
    build: &Build<'_>,
    plan: &CommandPlan,
    resolution: Resolution,
    core_dumps: &NoCoreDumps,
) -> Result<Generation> {
    let (command, program, files) = build(&resolution)?;
    let redactor = if plan.redact {
        Some(Arc::new(supervise::redactor(&resolution)?))
    } else {
        None
    };
    let shimmed = deathsig::wrap(&command, &plan.program);
    let watched = Watched::spawn(shimmed, program, redactor.as_ref(), core_dumps)?;
    Ok(Generation {
        command: watched,
        resolution,
        _files: files,
    })
}

/// The project read again, then resolved (and, for `replicate`, its pre-flight run); `None`
/// after saying why the change is refused.
fn resolve_again(
    project: &Project,
    command: &CommandPlan,
    name: &str,
    env: &Env,
    files: &[PathBuf],
) -> Option<(Project, Resolution)> {
    let attempt = || -> Result<(Project, Resolution)> {
        audit::prepare(env);
        let config = Config::load(project.config.path.clone(), project.environment.as_deref())?;
        let project = reload(project, config);
        let resolved = resolve::resolve_project(&project, env, false)?;
        if let Some(config) = &command.preflight {
            preflight::check(config, &project, env, &resolved.resolution)?;
        }
        audit::record(env, name, &project.root, resolved.resolution.names());
        Ok((project, resolved.resolution))
    };
    match attempt() {
        Ok(accepted) => Some(accepted),
        Err(err) => {
            say(&format!(
                "watch: {} changed, but the change is refused and the command keeps running: {err}",
                shown(files)
            ));
            None
        }
    }
}

/// `project` with `config` as its settings.
fn reload(project: &Project, config: Config) -> Project {
    Project {
        root: project.root.clone(),
        root_given: project.root_given,
        environment: project.environment.clone(),
        environment_given: project.environment_given,
        config,
        found: project.found,
    }
}

fn shown(files: &[PathBuf]) -> String {
    let names: Vec<_> = files
        .iter()
        .map(|file| file.display().to_string())
        .collect();
    names.join(", ")
}

/// The names whose variable the command would get differently from `new` than from `old`:
/// added, removed, another value, or now (or no longer) a file secret.
pub(crate) fn differences<'a>(
    old: &'a Resolution,
    new: &'a Resolution,
) -> impl Iterator<Item = &'a str> {
    let names: BTreeSet<&str> = old.names().chain(new.names()).collect();
    names
        .into_iter()
        .filter(|name| match (old.get(name), new.get(name)) {
            (Some(old), Some(new)) => {
                old.file != new.file || old.value.expose() != new.value.expose()
            }
            _ => true,
        })
}

/// The files a resolution of `project` reads or would read: its settings, every credentials
/// file it may pick, the Rails key files and age identity files that may open it, and the
/// target of a credentials file that is a link.
fn watched_files(project: &Project, env: &Env) -> Vec<PathBuf> {
    let mut files = vec![project.config.path.clone()];
    let environment = project.environment.as_deref();
    let stems = environment
        .map(|name| format!("config/credentials/{name}"))
        .into_iter()
        .chain(["config/credentials".to_owned()]);
    for stem in stems {
        files.push(project.path(format!("{stem}.yml.enc")));
        files.push(project.path(format!("{stem}.yml.age")));
    }
    if let Ok(target) = project.credentials_target(env) {
        if let Ok(real) = std::fs::canonicalize(&target.file) {
            files.push(real);
        }
        files.push(target.new_key_file.clone());
        let identities = target.age.iter().flat_map(|age| age.identities.iter());
        for source in KeySource::present(env, &project.root, environment)
            .iter()
            .chain(identities)
        {
            if let KeySource::File(path) = source {
                files.push(path.clone());
            }
        }
        files.push(target.file);
    }
    files
}

/// How long a restart waits after SIGTERM before SIGKILL. For `replicate` (and any
/// `litestream replicate -config FILE`), Litestream's final sync may take its
/// `shutdown-sync-timeout` for each database in turn; that budget plus [`MARGIN`], read from the
/// config when the restart begins. Otherwise Litestream's default plus the margin.
fn grace(command: &CommandPlan) -> Duration {
    let budget = litestream_config(command)
        .and_then(|path| litestream::read_config(&path).ok().flatten())
        .and_then(|text| shutdown_budget(&text))
        .unwrap_or(LITESTREAM_SHUTDOWN_SYNC);
    budget + MARGIN
}

/// The `-config` of a `litestream replicate` command, relative to where it runs.
fn litestream_config(command: &CommandPlan) -> Option<PathBuf> {
    if command.args.first().is_none_or(|arg| arg != "replicate") {
        return None;
    }
    let mut args = command.args.iter().map(|arg| arg.to_string_lossy());
    let value = loop {
        let arg = args.next()?;
        let flag = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'));
        match flag.map(|flag| flag.split_once('=').unwrap_or((flag, ""))) {
            Some(("config", "")) => break args.next()?.into_owned(),
            Some(("config", value)) => break value.to_owned(),
            _ => {}
        }
    };
    let base = command.cwd.as_deref().unwrap_or(Path::new(""));
    Some(base.join(value))
}

/// How deep a Litestream config may nest before lsenv stops reading it for the timeout.
const MAX_DEPTH: usize = 32;

/// The top-level `shutdown-sync-timeout` (or Litestream's default) times the number of `dbs`;
/// `None` when the config cannot be read that far (a `$VAR` in the timeout, bad YAML).
fn shutdown_budget(text: &str) -> Option<Duration> {
    struct Frame {
        map: bool,
        expect_key: bool,
        key: Option<String>,
        dbs: bool,
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut timeout = LITESTREAM_SHUTDOWN_SYNC;
    let mut databases: u32 = 0;
    for event in Parser::new_from_str(text) {
        let (event, _) = event.ok()?;
        let (starts, scalar) = match &event {
            Event::Scalar(text, ..) => (None, Some(text.as_ref())),
            Event::MappingStart(..) => (Some(true), None),
            Event::SequenceStart(..) => (Some(false), None),
            Event::Alias(_) => (None, None),
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                continue;
            }
            Event::DocumentEnd => break,
            _ => continue,
        };
        let top = stack.len() == 1;
        let mut dbs = false;
        if let Some(parent) = stack.last_mut() {
            if parent.map && parent.expect_key {
                parent.key = scalar.map(str::to_owned);
                parent.expect_key = false;
            } else {
                if parent.dbs {
                    databases += 1;
                }
                if parent.map {
                    if top {
                        match (parent.key.as_deref(), scalar) {
                            (Some("shutdown-sync-timeout"), Some(text)) => {
                                timeout = crate::duration::go_duration(text)?;
                            }
                            (Some("dbs"), None) => dbs = starts == Some(false),
                            _ => {}
                        }
                    }
                    parent.expect_key = true;
                }
            }
        }
        if let Some(map) = starts {
            if stack.len() >= MAX_DEPTH {
                return None;
            }
            stack.push(Frame {
                map,
                expect_key: map,
                key: None,
                dbs,
            });
        }
    }
    Some(timeout * databases.max(1))
}

/// Which watch descriptor and name in it stand for which watched file.
type Watches = Vec<(i32, OsString, PathBuf)>;

/// The inotify watch on the directories of the watched files. Its thread sends the changed
/// files once they have been quiet for [`QUIET`]; it ends when nobody listens any more (it is
/// not joined: lsenv exits with the command).
struct Watcher {
    fd: Arc<OwnedFd>,
    watches: Arc<Mutex<Watches>>,
}

impl Watcher {
    fn start(changes: Sender<Vec<PathBuf>>) -> Result<Self> {
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)
            .map_err(|err| Error::io("inotify", "watch the files with", err.into()))?;
        let fd = Arc::new(fd);
        let watches = Arc::new(Mutex::new(Watches::new()));
        let (thread_fd, thread_watches) = (Arc::clone(&fd), Arc::clone(&watches));
        std::thread::Builder::new()
            .name("lsenv watch".into())
            .spawn(move || debounce(&thread_fd, &thread_watches, &changes))
            .map_err(|err| Error::io("threads", "start a thread", err))?;
        Ok(Self { fd, watches })
    }

    /// Adds the directories of `files`. Where a directory does not exist (yet), its nearest
    /// existing ancestor is watched for the first missing part appearing, which counts as a
    /// change of the file: the resolution after it watches the new directory itself.
    fn watch(&self, files: &[PathBuf]) {
        let flags = WatchFlags::CLOSE_WRITE
            | WatchFlags::MODIFY
            | WatchFlags::CREATE
            | WatchFlags::DELETE
            | WatchFlags::MOVED_FROM
            | WatchFlags::MOVED_TO
            | WatchFlags::ATTRIB;
        let Ok(mut watches) = self.watches.lock() else {
            return;
        };
        let parent = |path: &Path| {
            path.parent()
                .filter(|dir| !dir.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf()
        };
        for file in files {
            let (mut dir, mut name) = (parent(file), file.file_name().map(OsStr::to_owned));
            while let Some(part) = name.take() {
                match inotify::add_watch(&*self.fd, &dir, flags) {
                    Ok(wd) => {
                        if !watches
                            .iter()
                            .any(|(held, held_name, _)| *held == wd && *held_name == part)
                        {
                            watches.push((wd, part, file.clone()));
                        }
                    }
                    Err(rustix::io::Errno::NOENT) => {
                        name = dir.file_name().map(OsStr::to_owned);
                        dir = parent(&dir);
                    }
                    Err(_) => {}
                }
            }
        }
    }
}

/// Reads the events, and sends the watched files they touched once none has come for [`QUIET`].
fn debounce(fd: &OwnedFd, watches: &Mutex<Watches>, changes: &Sender<Vec<PathBuf>>) {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut buffer = [MaybeUninit::<u8>::uninit(); 8192];
    let mut touched: Vec<PathBuf> = Vec::new();
    let mut quiet_at: Option<Instant> = None;
    loop {
        let wait = quiet_at.map(|at| {
            let left = at.saturating_duration_since(Instant::now());
            Timespec::try_from(left).unwrap_or_default()
        });
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        match poll(&mut fds, wait.as_ref()) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => return,
        }
        let mut reader = inotify::Reader::new(fd, &mut buffer);
        while let Ok(event) = reader.next() {
            let Ok(watches) = watches.lock() else {
                return;
            };
            let lost = event.events().contains(ReadFlags::QUEUE_OVERFLOW);
            let name = event
                .file_name()
                .map(|name| OsStr::from_bytes(name.to_bytes()));
            for file in touched_by(&watches, lost, event.wd(), name) {
                if !touched.contains(file) {
                    touched.push(file.clone());
                }
                quiet_at = Some(Instant::now() + QUIET);
            }
        }
        if quiet_at.is_some_and(|at| Instant::now() >= at) {
            quiet_at = None;
            if changes.send(std::mem::take(&mut touched)).is_err() {
                return;
            }
        }
    }
}

/// The watched files an event touches: the one its directory and name stand for, or, when
/// the kernel's queue overflowed and events were `lost`, every one (any may have changed).
fn touched_by<'a>(
    watches: &'a Watches,
    lost: bool,
    wd: i32,
    name: Option<&'a OsStr>,
) -> impl Iterator<Item = &'a PathBuf> {
    watches
        .iter()
        .filter(move |(held, held_name, _)| {
            lost || (*held == wd && Some(held_name.as_os_str()) == name)
        })
        .map(|(_, _, file)| file)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use super::{Watches, differences, litestream_config, shutdown_budget, touched_by};
    use crate::launch::CommandPlan;
    use crate::resolve::{Resolution, Source, Variable};
    use crate::secret::Secret;

    fn resolution(vars: &[(&str, &str, bool)]) -> Resolution {
        vars.iter()
            .map(|(name, value, file)| {
                let variable = Variable {
                    value: Secret::copy_from(value.as_bytes()),
                    source: Source::Environment {
                        name: (*name).into(),
                    },
                    overridden: Vec::new(),
                    file: *file,
                };
                ((*name).to_owned(), variable)
            })
            .collect()
    }

    #[test]
    fn differences_are_what_the_command_would_see() {
        let old = resolution(&[("A", "1", false), ("B", "2", false), ("C", "3", false)]);
        let new = resolution(&[("A", "1", false), ("B", "2", true), ("D", "4", false)]);
        assert_eq!(differences(&old, &new).collect::<Vec<_>>(), ["B", "C", "D"]);
        assert_eq!(differences(&old, &old).count(), 0);
    }

    #[test]
    fn the_litestream_config_is_replicates_own() {
        let plan = |args: &[&str], cwd: Option<&str>| CommandPlan {
            program: "litestream".into(),
            args: args.iter().map(Into::into).collect(),
            cwd: cwd.map(PathBuf::from),
            pass: Vec::new(),
            redact: false,
            watch: true,
            serve: false,
            preflight: None,
        };
        let found = |args: &[&str]| litestream_config(&plan(args, Some("app")));
        assert_eq!(
            found(&["replicate", "-config", "config/litestream.yml"]).as_deref(),
            Some(Path::new("app/config/litestream.yml"))
        );
        assert_eq!(
            found(&["replicate", "-exec", "x", "--config=/etc/l.yml"]).as_deref(),
            Some(Path::new("/etc/l.yml"))
        );
        assert_eq!(found(&["replicate"]), None);
        assert_eq!(found(&["restore", "-config", "c.yml"]), None);
    }

    #[test]
    fn the_budget_is_the_timeout_for_each_database() {
        let two = "dbs:\n  - path: a.db\n    replica: {url: 's3://b/a'}\n  - path: b.db\n";
        assert_eq!(shutdown_budget(two), Some(Duration::from_secs(60)));
        let set = format!("shutdown-sync-timeout: 2s\nlogging: {{level: info}}\n{two}");
        assert_eq!(shutdown_budget(&set), Some(Duration::from_secs(4)));
        let nested = "dbs:\n  - path: a.db\n    shutdown-sync-timeout: 9s\n    replicas: [{url: x}, {url: y}]\n";
        assert_eq!(shutdown_budget(nested), Some(Duration::from_secs(30)));
        assert_eq!(shutdown_budget("shutdown-sync-timeout: $T\n"), None);
        assert_eq!(shutdown_budget("dbs: [\n"), None);
    }

    #[test]
    fn an_event_touches_its_file_and_an_overflow_every_file() {
        let watches: Watches = vec![
            (1, "lsenv.toml".into(), PathBuf::from("config/lsenv.toml")),
            (
                1,
                "credentials.yml.enc".into(),
                PathBuf::from("config/credentials.yml.enc"),
            ),
            (2, "master.key".into(), PathBuf::from("/keys/master.key")),
        ];
        let touched = |lost, wd, name: Option<&str>| -> Vec<PathBuf> {
            touched_by(&watches, lost, wd, name.map(std::ffi::OsStr::new))
                .cloned()
                .collect()
        };
        assert_eq!(
            touched(false, 1, Some("lsenv.toml")),
            [Path::new("config/lsenv.toml")]
        );
        assert_eq!(
            touched(false, 2, Some("master.key")),
            [Path::new("/keys/master.key")]
        );
        assert!(touched(false, 2, Some("lsenv.toml")).is_empty());
        assert!(touched(false, 1, Some("other")).is_empty());
        assert!(touched(false, 1, None).is_empty());
        assert_eq!(touched(true, -1, None).len(), 3);
    }
}
