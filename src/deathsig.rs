//! A parent-death signal for a supervised command, without unsafe code: the command is started
//! through lsenv itself (`/proc/self/exe`, so an lsenv binary replaced since start still works)
//! with the hidden first argument [`SHIM`], which asks the kernel for SIGTERM when its parent
//! dies (`PR_SET_PDEATHSIG`, kept across `execve`) and then becomes the command. A supervisor
//! killed with SIGKILL thus leaves no orphan: the command gets the signal Litestream syncs and
//! exits on (SIGKILL would lose its final sync; a command that ignores SIGTERM is its own to
//! stop). The signal follows the thread that spawned the command, so supervisors spawn from
//! their main thread. Used by every supervised mode: `--watch` and `--serve-credentials`.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::Command;

use rustix::process::{Pid, Signal, getpid, getppid, set_parent_process_death_signal};

use crate::error::{Error, ExecProblem};
use crate::launch;

/// The first argument that makes lsenv the shim: `lsenv SHIM PARENT PROGRAM ARG0 ARGS...`.
pub(crate) const SHIM: &str = "__lsenv-deathsig-shim";

/// `command` (as [`launch::command`] built it) started through the shim, with `arg0` as its
/// `argv[0]`: same program, arguments, environment and working directory.
pub(crate) fn wrap(command: &Command, arg0: &OsStr) -> Command {
    let mut shim = Command::new("/proc/self/exe");
    shim.arg0("lsenv")
        .arg(SHIM)
        .arg(getpid().as_raw_nonzero().to_string())
        .arg(command.get_program())
        .arg(arg0)
        .args(command.get_args())
        .env_clear()
        .envs(
            command
                .get_envs()
                .filter_map(|(name, value)| Some((name, value?))),
        );
    if let Some(dir) = command.get_current_dir() {
        shim.current_dir(dir);
    }
    shim
}

/// When `args` call the shim, runs it: returns only if the command could not be started.
pub(crate) fn shim(words: &[OsString]) -> Option<Error> {
    let [_, first, parent, program, command @ ..] = words else {
        return None;
    };
    if first != SHIM {
        return None;
    }
    let fail = |reason: ExecProblem| Error::CannotExecute {
        path: PathBuf::from(program),
        reason,
    };
    if let Err(errno) = set_parent_process_death_signal(Some(Signal::TERM)) {
        return Some(fail(ExecProblem::Os(errno.into())));
    }
    // The supervisor may have died before the request was made: then nothing would signal us.
    let expected = parent.to_str().and_then(|pid| pid.parse::<i32>().ok());
    if getppid().map(Pid::as_raw_nonzero).map(i32::from) != expected {
        return Some(fail(ExecProblem::SupervisorGone));
    }
    if let Err(err) = launch::reset_sigpipe() {
        return Some(err);
    }
    let c_string = |arg: &OsStr| CString::new(arg.as_bytes()).ok();
    let (Some(path), Some(argv)) = (
        c_string(program),
        command
            .iter()
            .map(|arg| c_string(arg))
            .collect::<Option<Vec<_>>>(),
    ) else {
        return Some(fail(ExecProblem::Nul));
    };
    let Err(errno) = nix::unistd::execv(&path, &argv);
    Some(launch::cannot_execute(
        PathBuf::from(OsString::from_vec(path.into_bytes())),
        &errno.into(),
    ))
}
