//! `lsenv exec` and `lsenv replicate`: resolve, then become the command (`execve`), or, with
//! `--redact`, supervise it and filter the secrets out of its output; with
//! `--serve-credentials`, supervise it and serve it the AWS keys from a loopback endpoint.

use crate::audit;
use crate::env::Env;
use crate::error::{Result, Status};
use crate::launch;
use crate::launch::CommandPlan;
use crate::os::NoCoreDumps;
use crate::preflight;
use crate::project::Project;
use crate::resolve;
use crate::supervise;
use crate::watch;

/// Returns only when the command could not be started, or, when supervised, with its status.
/// `name` is the command as the audit log names it.
pub(crate) fn run(
    project: &Project,
    command: &CommandPlan,
    name: &str,
    env: &Env,
    core_dumps: &NoCoreDumps,
) -> Result<Status> {
    project.say_if_none();
    let watching = command
        .watch
        .then(|| watch::Watch::begin(project, command, name, env, core_dumps))
        .transpose()?;
    let resolved = resolve::resolve_project(project, env, false)?;
    if let Some(config) = &command.preflight {
        preflight::check(config, project, env, &resolved.resolution)?;
    }
    // Before the process is replaced.
    audit::record(env, name, &project.root, resolved.resolution.names());
    if let Some(watch) = watching {
        return if command.serve {
            crate::credserver::watched(watch, resolved.resolution)
        } else {
            watch.run(resolved.resolution)
        };
    }
    if command.serve {
        return crate::credserver::run(project, command, &resolved.resolution, env, core_dumps);
    }
    if command.redact {
        return supervise::run(command, &resolved.resolution, env, core_dumps);
    }
    launch::note_missing_path(command, &resolved.resolution);
    Err(launch::exec(command, &resolved.resolution, env, core_dumps))
}

/// `exec` of litestream, whose hints say how to install it or name it when it is not found.
pub(crate) fn replicate(
    project: &Project,
    command: &CommandPlan,
    name: &str,
    env: &Env,
    core_dumps: &NoCoreDumps,
) -> Result<Status> {
    run(project, command, name, env, core_dumps)
        .map_err(|err| err.for_litestream(&project.config.path))
}
