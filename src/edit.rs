//! `lsenv credentials edit`: decrypt into a private scratch file, run the user's editor, check the
//! YAML, encrypt again — without ever losing an edit or leaving plaintext behind.
//!
//! * The scratch file lives in a fresh 0700 directory on a RAM-backed filesystem where there is
//!   one (`$XDG_RUNTIME_DIR`, `/dev/shm`), is created `O_EXCL` with mode 0600, and is wiped and
//!   removed on every way out: success, error, panic, and INT/TERM/HUP/QUIT sent to lsenv.
//! * `<file>.lock` (an `flock`, so a crashed editor session never blocks the next one) stops a
//!   second concurrent edit; a lock left by a dead process is reported and taken over.
//! * Unchanged text writes nothing. Invalid YAML, a failing editor or a file changed on disk
//!   meanwhile never lose the edit: a terminal user is offered to re-open the editor on the same
//!   text, otherwise the edit is kept *encrypted* in `<file>.recovery` and the next `edit`
//!   continues from it.
//! * Writes are atomic (temp file, fsync, rename, fsync the directory).

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal as _, Read as _, Seek as _, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithOrigin;
use zeroize::Zeroizing;

use crate::env::Env;
use crate::error::{Error, Location, Result};
use crate::names;
use crate::os;
use crate::project::{CredentialsTarget, Project, Sealing};
use crate::say;
use crate::store::Keys;
use crate::store::rails;
use crate::yaml;

/// An editor that returns this fast without a change probably did not wait for the user.
const QUICK_RETURN: Duration = Duration::from_secs(1);

pub fn run(project: &Project, env: &Env, reencrypt: bool) -> Result<()> {
    let target = project.writable_credentials_target(env)?;
    let editor = editor_command(env)?;
    let lock = EditLock::acquire(&target.file)?;
    let signals = SignalWatch::start()?;
    let sealing = project.sealing(&target, env)?;
    let original_file = target
        .exists
        .then(|| os::read_capped(&target.file, rails::MAX_FILE_BYTES))
        .transpose()?;
    let original = original_text(
        &target,
        original_file.as_ref().map(|bytes| bytes.as_slice()),
        &sealing.keys,
        reencrypt,
    )?;
    let recovery = recovery_path(&target.file);
    let start = if recovery.exists() {
        let text = sealing.keys.read(&recovery)?;
        say(&format!(
            "continuing from the edit kept in {}",
            recovery.display()
        ));
        text
    } else {
        original.clone()
    };

    let session = Session {
        project,
        target: &target,
        sealing: &sealing,
        recovery: &recovery,
        signals: &signals,
    };
    let edited = session.edit_until_valid(&editor, start, env)?;
    if *edited == *original && !reencrypt {
        if recovery.exists() {
            remove(&recovery)?;
        }
        say("no changes; nothing written");
        return Ok(());
    }
    let current_file = target
        .exists
        .then(|| os::read_capped(&target.file, rails::MAX_FILE_BYTES))
        .transpose()?;
    if target.file.exists() != target.exists
        || current_file.as_ref().map(|b| b.as_slice())
            != original_file.as_ref().map(|b| b.as_slice())
    {
        session.keep(&edited)?;
        return Err(Error::config(
            Location::file(&target.file),
            "the file changed on disk while the editor was open; not overwriting it",
        )
        .with_hint(session.kept_hint()));
    }
    // A signal that arrives now does not stop the save: it is atomic and takes milliseconds.
    sealing.persist(project)?;
    sealing.keys.write(&target.file, edited.as_bytes())?;
    if recovery.exists() {
        remove(&recovery)?;
    }
    say(&format!(
        "{} {}",
        if target.exists { "updated" } else { "created" },
        target.file.display()
    ));
    drop(lock);
    Ok(())
}

/// The text the editor starts from when there is no recovery file.
fn original_text(
    target: &CredentialsTarget,
    file: Option<&[u8]>,
    keys: &Keys,
    reencrypt: bool,
) -> Result<Zeroizing<String>> {
    match (file, reencrypt) {
        (Some(bytes), false) => keys.decrypt(bytes, &target.file),
        (Some(bytes), true) => match std::str::from_utf8(bytes) {
            Ok(text) => Ok(Zeroizing::new(text.to_owned())),
            Err(_) => Err(Error::config(
                Location::file(&target.file),
                "--reencrypt expects the file to hold plaintext YAML, and it is not text",
            )),
        },
        (None, true) => Err(Error::config(
            Location::file(&target.file),
            "there is no file to re-encrypt",
        )),
        (None, false) => Ok(Zeroizing::new(
            concat!(
                include_str!("../config/templates/credentials.yml"),
                include_str!("../config/templates/types/s3/credentials.yml")
            )
            .to_owned(),
        )),
    }
}

struct Session<'a> {
    project: &'a Project,
    target: &'a CredentialsTarget,
    sealing: &'a Sealing,
    recovery: &'a Path,
    signals: &'a SignalWatch,
}

impl Session<'_> {
    /// Runs the editor until it leaves valid YAML, and returns that text. A failing editor or
    /// invalid YAML that the user does not fix is an error, with the edit kept.
    fn edit_until_valid(
        &self,
        editor: &[String],
        mut text: Zeroizing<String>,
        env: &Env,
    ) -> Result<Zeroizing<String>> {
        let scratch = Scratch::create(&self.target.file, env)?;
        loop {
            scratch.write(text.as_bytes())?;
            let started = Instant::now();
            let status = self.run_editor(editor, scratch.path(), env)?;
            let edited = scratch.read()?;
            if edited != text && self.signals.check("").is_err() {
                self.keep(&edited)?;
                self.signals
                    .check(&format!("nothing was written; {}", self.kept_note()))?;
            }
            self.signals.check("nothing was written")?;
            if !status.success() {
                let problem = match status.code() {
                    Some(code) => format!("the editor exited with status {code}"),
                    None => "the editor was killed by a signal".to_owned(),
                };
                if edited == text {
                    return Err(Error::Failed {
                        message: format!("{problem}; nothing written"),
                        hint: None,
                    });
                }
                if self.ask(
                    &format!("{problem}. Re-open the editor on your edit?"),
                    None,
                )? {
                    text = edited;
                    continue;
                }
                self.keep(&edited)?;
                return Err(Error::Failed {
                    message: format!("{problem}; nothing written"),
                    hint: Some(self.kept_hint()),
                });
            }
            if edited == text && started.elapsed() < QUICK_RETURN {
                say(
                    "the editor returned at once without a change: does it need a wait flag (e.g. EDITOR=\"code --wait\")?",
                );
            }
            match validate(&edited, &self.target.file) {
                Ok(()) => return Ok(edited),
                Err(err) => {
                    if self.ask("Re-open the editor on the same text?", Some(&err))? {
                        text = edited;
                        continue;
                    }
                    self.keep(&edited)?;
                    return Err(err.with_hint(self.kept_hint()));
                }
            }
        }
    }

    fn run_editor(&self, editor: &[String], file: &Path, env: &Env) -> Result<ExitStatus> {
        let (program, args) = editor
            .split_first()
            .expect("editor_command never returns an empty command");
        // The editor is the user's own program and gets their environment, except the keys.
        let environment = env
            .iter()
            .filter(|(name, _)| !name.to_str().is_some_and(names::is_key_variable))
            .map(|(name, value)| (name, OsStr::from_bytes(value.expose())));
        let mut child = Command::new(program)
            .args(args)
            .arg(file)
            .env_clear()
            .envs(environment)
            .spawn()
            .map_err(|err| match err.kind() {
                io::ErrorKind::NotFound => Error::CommandNotFound {
                    program: program.clone(),
                    searched: Some("PATH, for the editor from VISUAL or EDITOR".to_owned()),
                },
                _ => Error::CannotExecute {
                    path: program.into(),
                    reason: err.to_string(),
                },
            })?;
        self.signals.editor_started(child.id());
        let status = child.wait();
        self.signals.editor_stopped();
        status.map_err(|err| Error::io(program, "wait for the editor", err))
    }

    /// Asks a yes/no question, after showing `problem`, when a person is at the terminal;
    /// `false` otherwise.
    fn ask(&self, question: &str, problem: Option<&Error>) -> Result<bool> {
        if !(io::stdin().is_terminal() && io::stderr().is_terminal()) {
            return Ok(false);
        }
        if let Some(problem) = problem {
            say(&problem.to_string());
        }
        let _ = write!(io::stderr(), "lsenv: {question} [Y/n] ");
        let _ = io::stderr().flush();
        let mut answer = String::new();
        loop {
            self.signals.check("nothing was written")?;
            // Poll, so a signal is noticed while waiting for the answer.
            let stdin = io::stdin();
            let mut fds = [rustix::event::PollFd::new(
                &stdin,
                rustix::event::PollFlags::IN,
            )];
            let timeout = rustix::event::Timespec {
                tv_sec: 0,
                tv_nsec: 200_000_000,
            };
            if rustix::event::poll(&mut fds, Some(&timeout)).unwrap_or(0) == 0 {
                continue;
            }
            if io::stdin().read_line(&mut answer).unwrap_or(0) == 0 {
                return Ok(false);
            }
            let answer = answer.trim().to_ascii_lowercase();
            return Ok(answer.is_empty() || answer == "y" || answer == "yes");
        }
    }

    /// Keeps an edit, encrypted, next to the credentials file.
    fn keep(&self, text: &str) -> Result<()> {
        // The recovery file is only useful if its key is kept too.
        self.sealing.persist(self.project)?;
        self.sealing.keys.write(self.recovery, text.as_bytes())
    }

    fn kept_note(&self) -> String {
        format!(
            "your edit is kept, encrypted, in {}",
            self.recovery.display()
        )
    }

    fn kept_hint(&self) -> String {
        format!(
            "{}; run `lsenv credentials edit` again to continue from it",
            self.kept_note()
        )
    }
}

/// Valid YAML whose top level is a mapping, and no merge-conflict markers.
fn validate(text: &str, file: &Path) -> Result<()> {
    if rails::has_conflict_markers(text.as_bytes()) {
        return Err(Error::config(
            Location::file(file),
            "the text still has git conflict markers (<<<<<<<, =======, >>>>>>>)",
        ));
    }
    yaml::parse(text, file).map(drop)
}

/// `$VISUAL`, else `$EDITOR`, split like a shell would (`code --wait`), run without a shell.
fn editor_command(env: &Env) -> Result<Vec<String>> {
    let Some((name, value)) = ["VISUAL", "EDITOR"]
        .into_iter()
        .find_map(|name| env.get_non_empty(name).map(|value| (name, value)))
    else {
        return Err(Error::Usage {
            message: "no editor: VISUAL and EDITOR are not set".into(),
            hint: Some("for example: EDITOR=vi, or EDITOR=\"code --wait\"".into()),
        });
    };
    let text = String::from_utf8_lossy(value.expose());
    match shell_words::split(&text) {
        Ok(words) if !words.is_empty() => Ok(words),
        Ok(_) => Err(Error::usage(format!("${name} holds no command"))),
        Err(_) => Err(Error::usage(format!("${name}: unbalanced quotes"))),
    }
}

fn recovery_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".recovery");
    PathBuf::from(name)
}

fn remove(path: &Path) -> Result<()> {
    fs::remove_file(path).map_err(|err| Error::io(path, "remove", err))
}

/// `<file>.lock`, held with `flock` while the editor is open; removed on drop.
struct EditLock {
    path: PathBuf,
    _file: File,
}

impl EditLock {
    fn acquire(target: &Path) -> Result<Self> {
        let mut name = target.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let fail = |err: io::Error| Error::io(&path, "lock", err);
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(fail)?;
        }
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
                .map_err(fail)?;
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim().to_owned();
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(Error::config(
                        Location::file(target),
                        format!(
                            "another edit is in progress (process {}, lock {})",
                            if holder.is_empty() {
                                "unknown"
                            } else {
                                &holder
                            },
                            path.display()
                        ),
                    )
                    .with_hint("finish that edit first"));
                }
                Err(fs::TryLockError::Error(err)) => return Err(fail(err)),
            }
            // The previous holder removes the file before unlocking it; if that happened between
            // our open and our lock, we hold a lock on a file nobody else will see: start over.
            let same = fs::metadata(&path).is_ok_and(|meta| {
                file.metadata()
                    .is_ok_and(|ours| ours.ino() == meta.ino() && ours.dev() == meta.dev())
            });
            if !same {
                continue;
            }
            if !holder.is_empty() {
                say(&format!(
                    "took over a stale lock {} left by process {holder}, which is no longer running",
                    path.display()
                ));
            }
            file.set_len(0).map_err(fail)?;
            file.rewind().map_err(fail)?;
            writeln!(file, "{}", std::process::id()).map_err(fail)?;
            return Ok(Self { path, _file: file });
        }
    }
}

impl Drop for EditLock {
    fn drop(&mut self) {
        // Removed while still locked, so nobody can take a lock on a file about to vanish.
        let _ = fs::remove_file(&self.path);
    }
}

/// The private directory and file the editor works on; wiped and removed on drop.
struct Scratch {
    dir: tempfile::TempDir,
    file: PathBuf,
}

impl Scratch {
    fn create(target: &Path, env: &Env) -> Result<Self> {
        let base = ram_backed_dir(env);
        let dir = tempfile::Builder::new()
            .prefix("lsenv-edit-")
            .permissions(fs::Permissions::from_mode(0o700))
            .tempdir_in(&base)
            .map_err(|err| Error::io(&base, "create a private directory in", err))?;
        // `credentials.yml.enc` → `credentials.yml`: the suffix gives editors YAML highlighting.
        let name = target
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(".yml.enc"))
            .map_or_else(
                || "credentials.yml".to_owned(),
                |stem| format!("{stem}.yml"),
            );
        let file = dir.path().join(name);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .map_err(|err| Error::io(&file, "create", err))?;
        Ok(Self { dir, file })
    }

    fn path(&self) -> &Path {
        &self.file
    }

    fn write(&self, bytes: &[u8]) -> Result<()> {
        // Editors may replace the file; a new one still lands in the private directory.
        OpenOptions::new()
            .write(true)
            .truncate(true)
            .create(true)
            .mode(0o600)
            .open(&self.file)
            .and_then(|mut file| file.write_all(bytes))
            .map_err(|err| Error::io(&self.file, "write", err))
    }

    fn read(&self) -> Result<Zeroizing<String>> {
        let bytes = os::read_capped(&self.file, rails::MAX_FILE_BYTES)?;
        match std::str::from_utf8(&bytes) {
            Ok(text) => Ok(Zeroizing::new(text.to_owned())),
            Err(err) => Err(Error::config(
                Location::file(&self.file),
                format!(
                    "the edited text is not valid UTF-8 (at byte {})",
                    err.valid_up_to()
                ),
            )),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Overwrite what the editor left (its swap and backup files too) before unlinking.
        if let Ok(entries) = fs::read_dir(self.dir.path()) {
            for entry in entries.flatten() {
                let path = entry.path();
                if let Ok(meta) = fs::symlink_metadata(&path)
                    && meta.is_file()
                {
                    let zeros = vec![0u8; usize::try_from(meta.len()).unwrap_or(0)];
                    let _ = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .and_then(|mut file| file.write_all(&zeros));
                }
            }
        }
        // TempDir's own drop removes the directory and everything in it.
    }
}

/// `$XDG_RUNTIME_DIR`, else `/dev/shm`, else the temp dir (with a warning: it may be on disk).
fn ram_backed_dir(env: &Env) -> PathBuf {
    let runtime = env
        .get_non_empty("XDG_RUNTIME_DIR")
        .map(|value| PathBuf::from(OsStr::from_bytes(value.expose())));
    if let Some(dir) = runtime.filter(|dir| dir.is_dir()) {
        return dir;
    }
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        return shm;
    }
    say(
        "no RAM-backed directory (XDG_RUNTIME_DIR, /dev/shm); the scratch file goes to the temp directory",
    );
    std::env::temp_dir()
}

/// Catches INT, TERM, HUP and QUIT for the whole edit session, so that lsenv always cleans up.
/// A signal sent to lsenv stops the editor (TERM) and the session. INT and QUIT typed at the
/// terminal reach the editor too, and are its business while it runs (Ctrl-C in vi is not
/// "abort the edit").
struct SignalWatch {
    shared: Arc<Shared>,
    handle: signal_hook::iterator::Handle,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    received: AtomicI32,
    editor: AtomicI32,
}

impl SignalWatch {
    fn start() -> Result<Self> {
        let mut signals = SignalsInfo::<WithOrigin>::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT])
            .map_err(|err| Error::io("signals", "watch", err))?;
        let handle = signals.handle();
        let shared = Arc::new(Shared::default());
        let watcher = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            for origin in signals.forever() {
                let editor = watcher.editor.load(Ordering::SeqCst);
                let typed = matches!(origin.signal, SIGINT | SIGQUIT) && origin.process.is_none();
                if typed && editor != 0 {
                    continue;
                }
                watcher.received.store(origin.signal, Ordering::SeqCst);
                stop_editor(editor);
            }
        });
        Ok(Self {
            shared,
            handle,
            thread: Some(thread),
        })
    }

    fn editor_started(&self, pid: u32) {
        let pid = i32::try_from(pid).unwrap_or(0);
        self.shared.editor.store(pid, Ordering::SeqCst);
        // A signal that came before the editor's PID was known still stops it.
        if self.shared.received.load(Ordering::SeqCst) != 0 {
            stop_editor(pid);
        }
    }

    fn editor_stopped(&self) {
        self.shared.editor.store(0, Ordering::SeqCst);
    }

    /// `Err(Interrupted)` once a terminating signal has arrived.
    fn check(&self, outcome: &str) -> Result<()> {
        match self.shared.received.load(Ordering::SeqCst) {
            0 => Ok(()),
            signal => Err(Error::Interrupted {
                signal,
                outcome: outcome.to_owned(),
            }),
        }
    }
}

fn stop_editor(pid: i32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
}

impl Drop for SignalWatch {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
