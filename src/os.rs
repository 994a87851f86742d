//! What lsenv asks of the operating system: no core dumps while secrets are in memory, bounded
//! reads, and atomic file replacement (temp file in the same directory, fsync, rename, fsync the
//! directory).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rustix::process::{
    DumpableBehavior, Resource, Rlimit, getrlimit, set_dumpable_behavior, setrlimit,
};
use zeroize::Zeroizing;

use crate::error::{Error, Location, Result};

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

/// Reads a whole file, refusing files larger than `limit` bytes with a clear error.
pub(crate) fn read_capped(path: &Path, limit: u64) -> Result<Zeroizing<Vec<u8>>> {
    let file = File::open(path).map_err(|err| Error::io(path, "read", err))?;
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
            format!(
                "the file is larger than {} MiB; refusing to read it",
                limit >> 20
            ),
        ));
    }
    Ok(bytes)
}

/// Replaces `path` with `bytes` so that a crash at any moment leaves either the old or the new
/// file, never a partial one. A file that already exists keeps its permissions; a new one is
/// 0644.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with_mode(path, bytes, 0o644)
}

/// [`write_atomic`], giving a new file `new_mode` (0600 for files that hold secrets).
pub(crate) fn write_atomic_with_mode(path: &Path, bytes: &[u8], new_mode: u32) -> Result<()> {
    let mode = match fs::metadata(path) {
        Ok(meta) => meta.permissions().mode() & 0o7777,
        Err(err) if err.kind() == io::ErrorKind::NotFound => new_mode,
        Err(err) => return Err(Error::io(path, "write", err)),
    };
    put(path, bytes, mode, Put::Replace)
}

/// Creates `path` with `bytes` and exactly `mode`, failing if it already exists. For files that
/// must never be overwritten (keys, identities, fresh configs); like [`write_atomic`], a crash
/// leaves the file whole or absent, never empty.
pub(crate) fn create_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|err| Error::io(path, "create", err))?;
    }
    put(path, bytes, mode, Put::CreateNew)
}

#[derive(Clone, Copy, PartialEq)]
enum Put {
    Replace,
    CreateNew,
}

/// A temporary file in the same directory, fsync'd, renamed (or linked, for a new file) into
/// place, then the directory fsync'd.
fn put(path: &Path, bytes: &[u8], mode: u32, how: Put) -> Result<()> {
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
    // Set explicitly: the umask may have narrowed it, and a key file must be exactly 0600.
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

/// Asks for the passphrase of `file` on the controlling terminal, with echo off.
pub(crate) fn read_passphrase(file: &Path) -> Result<age::secrecy::SecretString> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    use std::io::{BufRead as _, BufReader};
    let no_terminal = || Error::Key {
        source_name: file.display().to_string(),
        problem: "the file is encrypted with a passphrase, and there is no terminal to ask for it"
            .into(),
        hint: Some("run this at a terminal, or encrypt the file to recipients instead".into()),
    };
    let mut tty = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| no_terminal())?;
    let saved = tcgetattr(&tty).map_err(|_| no_terminal())?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&tty, OptionalActions::Flush, &quiet).map_err(|_| no_terminal())?;
    let _ = write!(tty, "lsenv: passphrase for {}: ", file.display());
    let mut line = Zeroizing::new(String::new());
    let read = BufReader::new(&tty).read_line(&mut line);
    let _ = tcsetattr(&tty, OptionalActions::Flush, &saved);
    let _ = writeln!(tty);
    read.map_err(|err| Error::io("/dev/tty", "read the passphrase from", err))?;
    // An exact-capacity copy becomes the boxed secret without a reallocation that would leave an
    // unwiped copy behind; `line` is wiped when dropped.
    let passphrase = line.trim_end_matches(['\n', '\r']);
    let mut exact = String::with_capacity(passphrase.len());
    exact.push_str(passphrase);
    Ok(age::secrecy::SecretString::from(exact))
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
