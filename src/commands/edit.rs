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
use crate::error::{Cleanup, ConfigProblem, Error, Failure, Hint, Location, Result, UsageProblem};
use crate::names;
use crate::os;
use crate::project::{CredentialsTarget, Project, Sealing};
use crate::store::Keys;
use crate::store::rails;
use crate::terminal::say;
use crate::yaml;

/// What a recovery file is, for `check`.
pub(crate) const PENDING: &str = "an edit that could not be saved is kept here, encrypted";
/// What can be done with it, for `check` and the hint after a failed edit.
/// util-linux's `setpriv`, which starts the editor with a parent-death signal.
const SETPRIV: &str = "/usr/bin/setpriv";

/// An editor that returns this fast without a change probably did not wait for the user.
const QUICK_RETURN: Duration = Duration::from_secs(1);

/// Edited text up to this size is kept in the recovery file when it cannot be saved (lsenv
/// saves at most [`rails::MAX_FILE_BYTES`]); a recovery file is read up to twice this (its
/// encrypted form is larger than the text).
const KEEP_LIMIT: u64 = 4 * rails::MAX_FILE_BYTES;

/// The scratch directories' names: the owner's PID follows, so that a later edit can tell one
/// left by a killed lsenv.
const SCRATCH_PREFIX: &str = "lsenv-edit-";

pub(crate) fn run(project: &Project, env: &Env, reencrypt: bool) -> Result<()> {
    let target = project.writable_credentials_target(env)?;
    let editor = editor_command(env)?;
    let lock = EditLock::acquire(&target.file, env)?;
    let signals = SignalWatch::start()?;
    let sealing = project.sealing(&target, env)?;
    // Sealing is tried before the editor opens: an age plugin that is missing or fails would
    // otherwise cost the edit, which could then be neither saved nor kept.
    sealing.keys.encrypt(&target.file, b"")?;
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
    let start = match read_recovery(&recovery)? {
        Some(bytes) => {
            let text = sealing.keys.decrypt(&bytes, &recovery)?;
            say(&format!(
                "continuing from the edit kept in {} (to start from the saved file instead: lsenv credentials edit --discard-recovery)",
                recovery.display()
            ));
            text
        }
        None => original.clone(),
    };

    let session = Session {
        project,
        target: &target,
        sealing: &sealing,
        recovery: &recovery,
        signals: &signals,
        env,
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
        let kept = session.keep(&edited)?;
        return Err(Error::config(
            Location::file(&target.file),
            ConfigProblem::ChangedWhileEditing,
        )
        .with_hint(session.kept_hint(&kept)));
    }
    // A signal that arrives now does not stop the save: it is atomic and takes milliseconds.
    let saved = sealing
        .persist(project)
        .and_then(|()| sealing.keys.write(&target.file, edited.as_bytes()));
    if let Err(err) = saved {
        // A full disk, say: the file is as it was, and the edit must not go with the scratch.
        let kept = session.keep(&edited)?;
        let hint = session.kept_hint(&kept);
        return Err(match err {
            Error::Io { .. } => Error::failed(Failure::NotWritten(Box::new(err))).with_hint(hint),
            other => other.with_hint(hint),
        });
    }
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
                ConfigProblem::ReencryptNotText,
            )),
        },
        (None, true) => Err(Error::config(
            Location::file(&target.file),
            ConfigProblem::NothingToReencrypt,
        )),
        (None, false) => Ok(Zeroizing::new(
            concat!(
                include_str!("../../config/templates/credentials.yml"),
                include_str!("../../config/templates/types/s3/credentials.yml")
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
    env: &'a Env,
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
            let (edited, unsavable) = scratch.read()?;
            if edited != text && self.signals.check(Cleanup::NothingWritten).is_err() {
                let kept = self.keep(&edited)?;
                self.signals.check(Cleanup::NothingWrittenKept { kept })?;
            }
            self.signals.check(Cleanup::NothingWritten)?;
            if !status.success() {
                let failure = Failure::Editor {
                    code: status.code(),
                };
                if edited == text {
                    return Err(Error::failed(failure));
                }
                if self.ask(
                    &format!(
                        "{}. Re-open the editor on your edit?",
                        crate::error::editor_exit(status.code())
                    ),
                    None,
                )? {
                    text = edited;
                    continue;
                }
                let kept = self.keep(&edited)?;
                return Err(Error::failed(failure).with_hint(self.kept_hint(&kept)));
            }
            if edited == text && started.elapsed() < QUICK_RETURN {
                say(
                    "the editor returned at once without a change: does it need a wait flag (e.g. EDITOR=\"code --wait\")?",
                );
            }
            match unsavable.map_or_else(|| validate(&edited, &self.target.file), Err) {
                Ok(()) => return Ok(edited),
                Err(err) => {
                    if self.ask("Re-open the editor on the same text?", Some(&err))? {
                        text = edited;
                        continue;
                    }
                    let kept = self.keep(&edited)?;
                    return Err(err.with_hint(self.kept_hint(&kept)));
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
        let path_var = env
            .get("PATH")
            .map(|value| OsStr::from_bytes(value.expose()));
        let found = crate::launch::find_program(OsStr::new(program), path_var, Path::new("."))
            .map_err(|err| match err {
                Error::CommandNotFound { program, .. } => Error::CommandNotFound {
                    program,
                    searched: Some("PATH, for the editor from VISUAL or EDITOR".to_owned()),
                },
                other => other,
            })?;
        // The editor dies with lsenv (SIGTERM when lsenv is gone, even by SIGKILL), so that it
        // does not go on editing plaintext nobody will save; util-linux's setpriv sets that up
        // between fork and exec, where lsenv (no unsafe code) cannot.
        let mut command = if Path::new(SETPRIV).is_file() {
            let mut command = Command::new(SETPRIV);
            command.args(["--pdeathsig", "TERM", "--"]).arg(&found);
            command
        } else {
            Command::new(&found)
        };
        let mut child = command
            .args(args)
            .arg(file)
            .env_clear()
            .envs(environment)
            .spawn()
            .map_err(|err| Error::CannotExecute {
                path: found.clone(),
                reason: crate::error::ExecProblem::Os(err),
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
            self.signals.check(Cleanup::NothingWritten)?;
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

    /// Keeps an edit, encrypted, next to the credentials file, and returns where. When that
    /// cannot be written (the disk is full), it goes encrypted to the RAM-backed directory
    /// instead, so that the edit survives lsenv.
    fn keep(&self, text: &str) -> Result<PathBuf> {
        // The recovery file is only useful if its key is kept too.
        self.sealing.persist(self.project)?;
        // Listed in .gitignore before it is written, like every file lsenv puts next to a key;
        // a full disk must not cost the edit, so a failure here only warns.
        if let Err(err) = self.project.ignore_if_inside(self.recovery) {
            say(&format!("warning: {err}"));
        }
        let sealed = self.sealing.keys.encrypt(self.recovery, text.as_bytes())?;
        let Err(err) = os::replace(self.recovery, &sealed, 0o600, os::Link::Refuse) else {
            return Ok(self.recovery.to_path_buf());
        };
        let name = self
            .recovery
            .file_name()
            .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
        let elsewhere =
            ram_backed_dir(self.env).join(format!("lsenv-{}-{name}", std::process::id()));
        os::replace(&elsewhere, &sealed, 0o600, os::Link::Refuse).map_err(|_| err)?;
        say(&format!(
            "could not write {}; moved it to {} (there, only lasts until the next reboot): move it back when there is room",
            self.recovery.display(),
            elsewhere.display()
        ));
        Ok(elsewhere)
    }

    fn kept_hint(&self, kept: &Path) -> Hint {
        Hint::Kept {
            kept: kept.to_owned(),
            recovery: self.recovery.to_owned(),
        }
    }
}

/// The bytes of the recovery file, if there is one; only ever a regular file of lsenv's own.
fn read_recovery(recovery: &Path) -> Result<Option<Zeroizing<Vec<u8>>>> {
    if fs::symlink_metadata(recovery).is_ok_and(|meta| meta.file_type().is_symlink()) {
        return Err(Error::usage(UsageProblem::SymbolicLink {
            path: recovery.to_owned(),
        }));
    }
    os::read_optional(recovery, 2 * KEEP_LIMIT)
}

/// Valid YAML whose top level is a mapping, and no merge-conflict markers.
fn validate(text: &str, file: &Path) -> Result<()> {
    if rails::has_conflict_markers(text.as_bytes()) {
        return Err(Error::config(
            Location::file(file),
            ConfigProblem::ConflictMarkers,
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
        return Err(Error::usage(UsageProblem::NoEditor));
    };
    let text = String::from_utf8_lossy(value.expose());
    match shell_words::split(&text) {
        Ok(words) if !words.is_empty() => Ok(words),
        Ok(_) => Err(Error::usage(UsageProblem::EmptyEditor { variable: name })),
        Err(_) => Err(Error::usage(UsageProblem::UnbalancedEditor {
            variable: name,
        })),
    }
}

pub(crate) fn recovery_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".recovery");
    PathBuf::from(name)
}

fn remove(path: &Path) -> Result<()> {
    fs::remove_file(path).map_err(|err| Error::io(path, "remove", err))
}

/// `<file>.lock`, held with `flock` while the file is being edited or rewritten; removed on
/// drop. `rotate-key`, `recipients` and `convert` take it too, so that a recovery file is never
/// left encrypted with a key that no longer opens the file it belongs to.
#[derive(Debug)]
pub(crate) struct EditLock {
    path: PathBuf,
    _file: File,
}

impl EditLock {
    pub(crate) fn acquire(target: &Path, env: &Env) -> Result<Self> {
        let mut name = target.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let fail = |err: io::Error| Error::io(&path, "lock", err);
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(fail)?;
        }
        loop {
            // Never through a link, a FIFO or a hard link: the lock is truncated below.
            let mut file = os::open_private(&path)?;
            let holder = lock_holder(&mut file);
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(Error::config(
                        Location::file(target),
                        ConfigProblem::EditInProgress {
                            pid: holder,
                            lock: path.clone(),
                        },
                    ));
                }
                Err(fs::TryLockError::Error(err)) => return Err(fail(err)),
            }
            // The previous holder removes the file before unlocking it; if that happened between
            // our open and our lock, we hold a lock on a file nobody else will see: start over.
            let same = fs::symlink_metadata(&path).is_ok_and(|meta| {
                file.metadata()
                    .is_ok_and(|ours| ours.ino() == meta.ino() && ours.dev() == meta.dev())
            });
            if !same {
                continue;
            }
            if let Some(pid) = holder {
                say(&format!(
                    "took over a stale lock {} left by process {pid}, which is no longer running",
                    path.display()
                ));
            }
            wipe_stale_scratch(env);
            file.set_len(0).map_err(fail)?;
            file.rewind().map_err(fail)?;
            writeln!(file, "{}", std::process::id()).map_err(fail)?;
            return Ok(Self { path, _file: file });
        }
    }
}

/// The PID a lock file holds, if it holds one in lsenv's own format (digits and a newline);
/// anything else is not quoted back, whatever it is.
fn lock_holder(file: &mut File) -> Option<u32> {
    let mut head = [0u8; 16];
    let read = file.read(&mut head).ok()?;
    let text = std::str::from_utf8(&head[..read]).ok()?;
    let digits = text.strip_suffix('\n')?;
    digits
        .bytes()
        .all(|byte| byte.is_ascii_digit())
        .then(|| digits.parse().ok())
        .flatten()
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
            .prefix(&format!("{SCRATCH_PREFIX}{}-", std::process::id()))
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
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits().cast_signed())
            .open(&self.file)
            .and_then(|mut file| file.write_all(bytes))
            .map_err(|err| Error::io(&self.file, "write", err))
    }

    /// The edited text, and why it cannot be saved as it is: larger than lsenv writes, or not
    /// UTF-8 (then the text has U+FFFD for the bytes that are not). Either way it can be kept
    /// and edited again, so nothing typed is lost.
    fn read(&self) -> Result<(Zeroizing<String>, Option<Error>)> {
        let bytes = os::read_capped(&self.file, KEEP_LIMIT)?;
        let location = || Location::file(&self.file);
        let mut problem = (bytes.len() as u64 > rails::MAX_FILE_BYTES).then(|| {
            Error::config(
                location(),
                ConfigProblem::EditTooLarge {
                    limit: rails::MAX_FILE_BYTES,
                },
            )
        });
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) => Zeroizing::new(text.to_owned()),
            Err(err) => {
                problem.get_or_insert_with(|| {
                    Error::config(
                        location(),
                        ConfigProblem::EditNotUtf8 {
                            at: err.valid_up_to(),
                        },
                    )
                });
                Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned())
            }
        };
        Ok((text, problem))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        wipe(self.dir.path());
        // TempDir's own drop removes the directory and everything in it.
    }
}

/// Overwrites the regular files in `dir` (the edited text, an editor's swap and backup files)
/// with zeros, so that removing them leaves no plaintext in the freed pages.
fn wipe(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if let Ok(meta) = fs::symlink_metadata(&path)
            && meta.is_file()
        {
            let zeros = vec![0u8; usize::try_from(meta.len()).unwrap_or(0)];
            let _ = OpenOptions::new()
                .write(true)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits().cast_signed())
                .open(&path)
                .and_then(|mut file| file.write_all(&zeros));
        }
    }
}

/// Wipes and removes the scratch directories of this user whose lsenv is gone (killed with
/// SIGKILL, say, which no clean-up survives), and says so. Run by whoever takes an edit lock.
fn wipe_stale_scratch(env: &Env) {
    for dir in stale_scratch(env) {
        wipe(&dir);
        if fs::remove_dir_all(&dir).is_ok() {
            say(&format!(
                "removed {}, the scratch directory of an edit whose lsenv was killed",
                dir.display()
            ));
        }
    }
}

/// This user's scratch directories whose owner process no longer runs.
pub(crate) fn stale_scratch(env: &Env) -> Vec<PathBuf> {
    let uid = rustix::process::getuid().as_raw();
    let root = ram_dir(env).unwrap_or_else(std::env::temp_dir);
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|name| name.strip_prefix(SCRATCH_PREFIX))
                .and_then(|rest| rest.split_once('-'))
                .and_then(|(pid, _)| pid.parse::<i32>().ok())
                .and_then(rustix::process::Pid::from_raw)
            else {
                return false;
            };
            let ours = fs::symlink_metadata(entry.path())
                .is_ok_and(|meta| meta.is_dir() && meta.uid() == uid);
            let gone = rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH);
            ours && gone
        })
        .map(|entry| entry.path())
        .collect()
}

/// `$XDG_RUNTIME_DIR`, else `/dev/shm`, else the temp dir (with a warning: it may be on disk).
fn ram_backed_dir(env: &Env) -> PathBuf {
    ram_dir(env).unwrap_or_else(|| {
        say(
            "no RAM-backed directory (XDG_RUNTIME_DIR, /dev/shm); the scratch file goes to the temp directory",
        );
        std::env::temp_dir()
    })
}

/// `$XDG_RUNTIME_DIR`, else `/dev/shm`, if either is a directory.
fn ram_dir(env: &Env) -> Option<PathBuf> {
    let runtime = env
        .get_non_empty("XDG_RUNTIME_DIR")
        .map(|value| PathBuf::from(OsStr::from_bytes(value.expose())));
    runtime
        .filter(|dir| dir.is_dir())
        .or_else(|| Some(PathBuf::from("/dev/shm")).filter(|dir| dir.is_dir()))
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
    fn check(&self, outcome: Cleanup) -> Result<()> {
        match self.shared.received.load(Ordering::SeqCst) {
            0 => Ok(()),
            signal => Err(Error::Interrupted { signal, outcome }),
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

/// Changes the credentials as an edit saves them, without an editor: under the edit lock, from
/// the text on disk at that moment, checked, then encrypted and written atomically.
pub(crate) fn change(
    file: &Path,
    keys: &Keys,
    env: &Env,
    change: impl FnOnce(&str) -> Zeroizing<String>,
) -> Result<()> {
    let _lock = EditLock::acquire(file, env)?;
    let changed = change(&keys.read(file)?);
    validate(&changed, file)?;
    keys.write(file, changed.as_bytes())
}
