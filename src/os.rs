//! What lsenv asks of the operating system: no core dumps while secrets are in memory, bounded
//! reads, and atomic file replacement (temp file in the same directory, fsync, rename, fsync the
//! directory).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::process::{
    DumpableBehavior, Resource, Rlimit, getrlimit, set_dumpable_behavior, setrlimit,
};
use zeroize::Zeroizing;

use crate::error::{ConfigProblem, Error, KeyProblem, Location, Result, UsageProblem};

/// Core dumps are off while this lives. The soft core limit is restored by [`Self::restore`]
/// just before `execve`, so the child runs with the limits it would have had without lsenv
/// (`execve` itself makes the new program dumpable again).
#[derive(Debug)]
pub(crate) struct NoCoreDumps {
    previous: Rlimit,
}

impl NoCoreDumps {
    /// Turns core dumps off: `PR_SET_DUMPABLE` 0 (which also closes `/proc/PID/mem` and
    /// `/proc/PID/environ` to other processes of the same user) and a soft `RLIMIT_CORE` of 0.
    pub(crate) fn engage() -> Result<Self> {
        let fail = |source: rustix::io::Errno| {
            Error::io("/proc/self", "turn core dumps off", source.into())
        };
        set_dumpable_behavior(DumpableBehavior::NotDumpable).map_err(fail)?;
        let previous = getrlimit(Resource::Core);
        let off = Rlimit {
            current: Some(0),
            maximum: previous.maximum,
        };
        setrlimit(Resource::Core, off).map_err(fail)?;
        Ok(Self { previous })
    }

    /// Runs `spawn` with the soft core limit lsenv started with, so that a command it starts
    /// (and supervises) inherits it, then lowers lsenv's own to 0 again. Meanwhile lsenv stays
    /// undumpable (`PR_SET_DUMPABLE` 0).
    pub(crate) fn around_spawn<T>(&self, spawn: impl FnOnce() -> T) -> T {
        self.restore();
        let spawned = spawn();
        let off = Rlimit {
            current: Some(0),
            maximum: self.previous.maximum,
        };
        // Lowering a soft limit cannot fail.
        let _ = setrlimit(Resource::Core, off);
        spawned
    }

    /// Puts the soft core limit back for the program about to replace this one.
    pub(crate) fn restore(&self) {
        // Raising a soft limit back up to the unchanged hard limit cannot fail; if it somehow
        // does, the child merely runs without core dumps.
        let _ = setrlimit(Resource::Core, self.previous);
    }
}

/// What a file that is not a regular file is, for errors.
fn kind(file_type: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Opens an input file, or `None` when it does not exist. Every file lsenv reads goes through
/// here: `O_NONBLOCK`, so that opening a FIFO cannot hang, then the opened descriptor (not the
/// path) must be a regular file, else it is refused naming what it is. A symbolic link is
/// followed (deployments link key files from a shared directory) but must end at a regular file.
pub(crate) fn open_input(path: &Path) -> Result<Option<File>> {
    use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
    let file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlags::NONBLOCK | OFlags::NOCTTY).bits().cast_signed())
        .open(path)
    {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(Error::io(path, "read", err)),
    };
    let meta = file
        .metadata()
        .map_err(|err| Error::io(path, "read", err))?;
    if !meta.is_file() {
        return Err(Error::config(
            Location::file(path),
            ConfigProblem::NotRegularFile {
                kind: kind(meta.file_type()),
            },
        ));
    }
    // Regular files never block; cleared anyway so that the descriptor behaves as usual.
    let flags = fcntl_getfl(&file).map_err(|err| Error::io(path, "read", err.into()))?;
    fcntl_setfl(&file, flags - OFlags::NONBLOCK)
        .map_err(|err| Error::io(path, "read", err.into()))?;
    Ok(Some(file))
}

/// Whether `path` exists. Unlike [`Path::exists`], a path that cannot be looked at (a directory
/// on the way without search permission: `EACCES`) is an error naming it, never "absent".
pub(crate) fn exists(path: &Path) -> Result<bool> {
    match fs::metadata(path) {
        Ok(_) => Ok(true),
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(false)
        }
        Err(err) => Err(Error::io(path, "look for", err)),
    }
}

/// Reads a whole file, refusing files larger than `limit` bytes with a clear error.
pub(crate) fn read_capped(path: &Path, limit: u64) -> Result<Zeroizing<Vec<u8>>> {
    read_optional(path, limit)?
        .ok_or_else(|| Error::io(path, "read", io::Error::from(io::ErrorKind::NotFound)))
}

/// [`read_capped`], or `None` when the file does not exist.
pub(crate) fn read_optional(path: &Path, limit: u64) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let Some(file) = open_input(path)? else {
        return Ok(None);
    };
    // Sized once: growing by doubling would copy a large file several times.
    let expected = file.metadata().map_or(0, |meta| meta.len().min(limit + 1));
    let mut bytes = Zeroizing::new(Vec::with_capacity(
        usize::try_from(expected).unwrap_or_default(),
    ));
    let read = file
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| Error::io(path, "read", err))?;
    if read as u64 > limit {
        return Err(Error::config(
            Location::file(path),
            ConfigProblem::TooLarge { limit },
        ));
    }
    Ok(Some(bytes))
}

/// [`read_optional`] of a text file that holds no secret: `""` when it does not exist.
pub(crate) fn read_text_optional(path: &Path, limit: u64) -> Result<String> {
    let Some(bytes) = read_optional(path, limit)? else {
        return Ok(String::new());
    };
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Error::config(Location::file(path), ConfigProblem::NotText))
}

/// What a write does with a symbolic link at its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    /// Writes through it: the link stays, the file it points to is replaced atomically (next to
    /// it), keeping its owner, group and mode. For files a deployment may link from a shared
    /// directory (credentials, keys, recipients, configs).
    Follow,
    /// Refuses it, like any other path that is not a regular file. For files lsenv makes on its
    /// own account (`env -o`, recovery files) or edits in a repository (`Procfile`,
    /// `.gitattributes`), where a link can only be a trap.
    Refuse,
}

/// Replaces `path` with `bytes` so that a crash at any moment leaves either the old or the new
/// file, never a partial one. A file that already exists keeps its owner, group and mode; a new
/// one is 0644. A symbolic link is written through.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    replace(path, bytes, 0o644, Link::Follow)
}

/// What [`replace`] would write: the file itself, or the one a followed link points to, with its
/// metadata when it exists; or the refusal [`replace`] would give. A command that writes several
/// files checks each this way first, so that a refused one leaves the others unwritten too.
pub(crate) fn destination(path: &Path, link: Link) -> Result<(PathBuf, Option<fs::Metadata>)> {
    let refuse = |what, through_link| {
        Error::usage(UsageProblem::CannotReplace {
            path: path.to_owned(),
            what,
            through_link,
        })
    };
    let (destination, existing) = match fs::symlink_metadata(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => (path.to_path_buf(), None),
        Err(err) => return Err(Error::io(path, "write", err)),
        Ok(meta) if meta.is_file() => (path.to_path_buf(), Some(meta)),
        Ok(meta) if meta.file_type().is_symlink() && link == Link::Follow => {
            let target = fs::canonicalize(path).map_err(|_| refuse("a missing file", true))?;
            let meta = fs::metadata(&target).map_err(|err| Error::io(path, "write", err))?;
            if !meta.is_file() {
                return Err(refuse(kind(meta.file_type()), true));
            }
            (target, Some(meta))
        }
        Ok(meta) => return Err(refuse(kind(meta.file_type()), false)),
    };
    Ok((destination, existing))
}

/// Creates or replaces `path` atomically. An existing path that is not a regular file (a
/// device, a FIFO, a directory, a link when `link` is [`Link::Refuse`], a link to anything but a
/// regular file) is refused (exit 2) and left as it is.
pub(crate) fn replace(path: &Path, bytes: &[u8], new_mode: u32, link: Link) -> Result<()> {
    let (destination, existing) = destination(path, link)?;
    if destination != path {
        crate::terminal::say(&format!(
            "{} is a symbolic link: writing {}",
            path.display(),
            destination.display()
        ));
    }
    let owner = existing.as_ref().map(|meta| {
        use std::os::unix::fs::MetadataExt as _;
        (meta.uid(), meta.gid())
    });
    let mode = existing.map_or(new_mode, |meta| meta.permissions().mode() & 0o7777);
    put(&destination, bytes, mode, owner, Put::Replace)
}

/// Creates `path` with `bytes` and exactly `mode`, failing if it already exists. For files that
/// must never be overwritten (keys, identities, fresh configs); like [`write_atomic`], a crash
/// leaves the file whole or absent, never empty.
pub(crate) fn create_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|err| Error::io(path, "create", err))?;
    }
    put(path, bytes, mode, None, Put::CreateNew)
}

#[derive(Clone, Copy, PartialEq)]
enum Put {
    Replace,
    CreateNew,
}

/// A temporary file in the same directory, fsync'd, renamed (or linked, for a new file) into
/// place, then the directory fsync'd. `owner` is the replaced file's (uid, gid), kept.
fn put(path: &Path, bytes: &[u8], mode: u32, owner: Option<(u32, u32)>, how: Put) -> Result<()> {
    let action = if how == Put::CreateNew {
        "create"
    } else {
        "write"
    };
    let fail = |err: io::Error| Error::io(path, action, err);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path.file_name().map_or_else(
        || "lsenv".into(),
        |name| name.to_string_lossy().into_owned(),
    );
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(fail)?;
    if let Some((uid, gid)) = owner {
        use std::os::unix::fs::MetadataExt as _;
        let ours = temp.as_file().metadata().map_err(fail)?;
        if (ours.uid(), ours.gid()) != (uid, gid) {
            // Only root may give a file away; anyone may keep a group they belong to.
            std::os::unix::fs::fchown(temp.as_file(), Some(uid), Some(gid))
                .or_else(|_| std::os::unix::fs::fchown(temp.as_file(), None, Some(gid)))
                .unwrap_or_else(|_| {
                    crate::terminal::say(&format!(
                        "{}: could not keep its owner and group (uid {uid}, gid {gid})",
                        path.display()
                    ));
                });
        }
    }
    // Set explicitly (and after fchown, which clears set-id bits): the umask may have narrowed
    // it, and a key file must be exactly 0600.
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(fail)?;
    temp.write_all(bytes).map_err(fail)?;
    temp.as_file().sync_all().map_err(fail)?;
    match how {
        Put::Replace => temp.persist(path).map(drop),
        Put::CreateNew => temp.persist_noclobber(path).map(drop),
    }
    .map_err(|err| fail(err.error))?;
    sync_parent(path).map_err(fail)
}

fn sync_parent(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// Opens a file lsenv keeps for itself (a lock), creating it 0600: never through a symbolic
/// link (`O_NOFOLLOW`), never a FIFO or device (`O_NONBLOCK`, then the descriptor is checked),
/// never a file with other names (a hard link to a key).
pub(crate) fn open_private(path: &Path) -> Result<File> {
    use rustix::fs::OFlags;
    use std::os::unix::fs::MetadataExt as _;
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(
            (OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY)
                .bits()
                .cast_signed(),
        )
        .open(path)
        .map_err(|err| {
            if err.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                Error::usage(UsageProblem::SymbolicLink {
                    path: path.to_owned(),
                })
            } else {
                Error::io(path, "open", err)
            }
        })?;
    let meta = file
        .metadata()
        .map_err(|err| Error::io(path, "open", err))?;
    if !meta.is_file() || meta.nlink() != 1 {
        let what = if meta.is_file() {
            "a file with other names (hard links)"
        } else {
            kind(meta.file_type())
        };
        return Err(Error::usage(UsageProblem::CannotUse {
            path: path.to_owned(),
            what,
        }));
    }
    Ok(file)
}

/// The controlling terminal (`/dev/tty`), whatever lsenv's standard streams are: where
/// passphrases and an age plugin's questions are asked. There is none under CI, cron or a
/// service manager, and then nothing is asked: the caller refuses instead of waiting.
#[derive(Debug)]
pub(crate) struct Tty(fs::File);

impl Tty {
    /// `None` without a controlling terminal (or when `/dev/tty` is not one).
    pub(crate) fn open() -> Option<Self> {
        let tty = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()?;
        rustix::termios::tcgetattr(&tty).ok()?;
        Some(Self(tty))
    }

    /// Writes `text` and a line break.
    pub(crate) fn say(&mut self, text: &str) {
        let _ = writeln!(self.0, "{text}");
    }

    /// Writes `prompt`, then reads one line (without its line break), not echoed when `secret`.
    /// The end of input is an error: nothing was answered.
    pub(crate) fn ask(&mut self, prompt: &str, secret: bool) -> io::Result<Zeroizing<String>> {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        use std::io::{BufRead as _, BufReader};
        let saved = tcgetattr(&self.0)?;
        if secret {
            let mut quiet = saved.clone();
            quiet.local_modes.remove(LocalModes::ECHO);
            tcsetattr(&self.0, OptionalActions::Flush, &quiet)?;
        }
        let _ = write!(self.0, "{prompt}");
        let mut line = Zeroizing::new(String::new());
        let read = BufReader::new(&self.0).read_line(&mut line);
        if secret {
            let _ = tcsetattr(&self.0, OptionalActions::Flush, &saved);
            let _ = writeln!(self.0);
        }
        if read? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let answer = line.trim_end_matches(['\n', '\r']);
        // An exact-capacity copy, so that a secret made from it needs no reallocation that would
        // leave an unwiped copy behind; `line` is wiped when dropped.
        let mut exact = Zeroizing::new(String::with_capacity(answer.len()));
        exact.push_str(answer);
        Ok(exact)
    }
}

/// Asks for the passphrase of `file` on the controlling terminal, with echo off.
pub(crate) fn read_passphrase(file: &Path) -> Result<age::secrecy::SecretString> {
    let no_terminal = || Error::key(file.display(), KeyProblem::NoTerminal);
    let mut tty = Tty::open().ok_or_else(no_terminal)?;
    let passphrase = tty
        .ask(&format!("lsenv: passphrase for {}: ", file.display()), true)
        .map_err(|err| Error::io("/dev/tty", "read the passphrase from", err))?;
    Ok(age::secrecy::SecretString::from(passphrase.to_string()))
}

#[cfg(test)]
mod tests {
    use rustix::process::{DumpableBehavior, Resource, dumpable_behavior, getrlimit};

    use super::{NoCoreDumps, write_atomic};

    #[test]
    fn core_dumps_are_off_until_restored() {
        let before = getrlimit(Resource::Core);
        let guard = NoCoreDumps::engage().unwrap();
        assert_eq!(dumpable_behavior().unwrap(), DumpableBehavior::NotDumpable);
        assert_eq!(getrlimit(Resource::Core).current, Some(0));
        guard.restore();
        assert_eq!(getrlimit(Resource::Core).current, before.current);
    }

    #[test]
    fn atomic_write_keeps_mode_and_leaves_no_temp_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.yml.enc");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
