//! File secrets: a variable whose value is the path of a file holding a resolved value (an SFTP
//! private key, a service-account JSON), declared in `[files]`. The bytes go into a sealed
//! `memfd` — memory with no name on any filesystem — that the command inherits across `execve`,
//! and the variable is set to `/proc/self/fd/N`, which the command opens like any file. Nothing
//! is written to a disk and no parent has to stay behind to serve it.
//!
//! Numbering: the file secrets, in name order, take the lowest free descriptors from 3 up, so
//! with only stdin, stdout and stderr open they are 3, 4, 5, … A command that closes the
//! descriptors it inherited closes these too.

use std::io::{Seek as _, SeekFrom, Write as _};
use std::os::fd::{AsRawFd as _, OwnedFd};

use rustix::fs::{MemfdFlags, SealFlags};
use rustix::io::FdFlags;

use crate::error::{Error, Result};
use crate::resolve::Resolution;

/// The lowest descriptor a file secret may take: 0, 1 and 2 are stdin, stdout and stderr.
const FIRST_FD: i32 = 3;

/// The open memfds of a resolution's file secrets, in name order. They stay open (and the
/// paths valid) for as long as this lives; the command inherits them.
#[derive(Debug, Default)]
pub(crate) struct FileSecrets {
    held: Vec<(String, OwnedFd, String)>,
}

impl FileSecrets {
    /// A sealed memfd for each file secret of `resolution`, inheritable by a command.
    pub(crate) fn create(resolution: &Resolution) -> Result<Self> {
        let mut held = Vec::new();
        for (name, variable) in resolution.iter().filter(|(_, variable)| variable.file) {
            let fd = sealed_memfd(name, variable.value.expose())
                .map_err(|err| Error::io(format!("memfd for {name}"), "create", err))?;
            let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
            held.push((name.to_owned(), fd, path));
        }
        Ok(Self { held })
    }

    /// The path variable `name` is set to, if it is a file secret.
    pub(crate) fn path(&self, name: &str) -> Option<&str> {
        self.held
            .iter()
            .find(|(held, _, _)| held == name)
            .map(|(_, _, path)| path.as_str())
    }
}

/// A memfd holding `bytes`, read from its start, sealed against any change (writing, growing,
/// shrinking, and further seals), and left open across `execve`.
fn sealed_memfd(name: &str, bytes: &[u8]) -> std::io::Result<OwnedFd> {
    let fd = rustix::fs::memfd_create(
        format!("lsenv:{name}"),
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?;
    // memfd_create takes the lowest free number, which is below 3 only when lsenv was started
    // with stdin, stdout or stderr closed: the command would then read the secret as one of them.
    let fd = if fd.as_raw_fd() < FIRST_FD {
        rustix::io::fcntl_dupfd_cloexec(&fd, FIRST_FD)?
    } else {
        fd
    };
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes)?;
    // The command may read the inherited descriptor itself, not only reopen the path.
    file.seek(SeekFrom::Start(0))?;
    let fd = OwnedFd::from(file);
    rustix::fs::fcntl_add_seals(
        &fd,
        SealFlags::WRITE | SealFlags::GROW | SealFlags::SHRINK | SealFlags::SEAL,
    )?;
    rustix::io::fcntl_setfd(&fd, FdFlags::empty())?;
    Ok(fd)
}
