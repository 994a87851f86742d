//! The command's parent-death signal without unsafe code: lsenv starts itself as
//! `lsenv __child PPID PATH ARGV0 ARGS…`, which asks for SIGKILL when its parent dies
//! (`PR_SET_PDEATHSIG`, kept across `execve`), makes sure that parent is still the lsenv that
//! started it (it may have died before the request), and then becomes the command. So a lsenv
//! killed with SIGKILL, which can forward nothing, leaves no orphan behind.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::os::unix::process::CommandExt as _;
use std::process::Command;

use rustix::process::{
    Pid, Signal, getpid, getppid, kill_process, set_parent_process_death_signal,
};

use crate::error::{Error, ExecProblem, Result, Status, UsageProblem};
use crate::launch;

/// The hidden first argument. Not a word a user would type as a subcommand.
pub(crate) const ARG: &str = "__child";

/// `command`, started through the shim: the same program, argv, environment and directory.
pub(crate) fn wrap(command: &Command, arg0: &OsStr) -> Command {
    // lsenv's own binary, even if an upgrade has replaced the file meanwhile.
    let mut shim = Command::new("/proc/self/exe");
    shim.arg0("lsenv")
        .arg(ARG)
        .arg(getpid().as_raw_nonzero().to_string())
        .arg(command.get_program())
        .arg(arg0)
        .args(command.get_args())
        .env_clear();
    for (name, value) in command.get_envs() {
        if let Some(value) = value {
            shim.env(name, value);
        }
    }
    if let Some(dir) = command.get_current_dir() {
        shim.current_dir(dir);
    }
    shim
}

/// The shim itself: `shim_args` are what follows [`ARG`]. Returns only if the command could not be
/// started.
pub(crate) fn run(shim_args: &[OsString]) -> Result<Status> {
    let [parent, path, words @ ..] = shim_args else {
        return Err(Error::usage(UsageProblem::InternalArgument));
    };
    let parent = parent
        .to_str()
        .and_then(|pid| pid.parse().ok())
        .and_then(Pid::from_raw)
        .ok_or_else(|| Error::usage(UsageProblem::InternalArgument))?;
    set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(|err| Error::io("prctl", "set the parent-death signal", err.into()))?;
    // Reparented already: the death the signal was meant for has happened.
    if getppid() != Some(parent) {
        let _ = kill_process(getpid(), Signal::KILL);
    }
    launch::reset_sigpipe()?;
    let c_string = |bytes: &OsStr| {
        CString::new(bytes.as_bytes()).map_err(|_| Error::CannotExecute {
            path: path.into(),
            reason: ExecProblem::Nul,
        })
    };
    let program = c_string(path)?;
    let argv = words
        .iter()
        .map(|arg| c_string(arg))
        .collect::<Result<Vec<_>>>()?;
    let envp = std::env::vars_os()
        .map(|(name, value)| {
            let mut entry = name.into_vec();
            entry.push(b'=');
            entry.extend(value.into_vec());
            CString::new(entry).map_err(|_| Error::CannotExecute {
                path: path.into(),
                reason: ExecProblem::Nul,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let Err(errno) = nix::unistd::execve(&program, &argv, &envp);
    Err(launch::cannot_execute(path.into(), &errno.into()))
}
