//! `lsenv exec` and `lsenv replicate`: resolve, then become the command (`execve`), or, with
//! `--redact`, supervise it and filter the secrets out of its output.

use crate::env::Env;
use crate::error::{Result, Status};
use crate::launch;
use crate::os::NoCoreDumps;
use crate::plan::CommandPlan;
use crate::project::Project;
use crate::resolve;
use crate::supervise;

/// Returns only when the command could not be started, or, when supervised, with its status.
pub(crate) fn run(
    project: &Project,
    command: &CommandPlan,
    env: &Env,
    core_dumps: &NoCoreDumps,
) -> Result<Status> {
    let resolved = resolve::resolve_project(project, env, false)?;
    if command.redact {
        return supervise::run(command, &resolved.resolution, env, core_dumps);
    }
    Err(launch::exec(command, &resolved.resolution, env, core_dumps))
}
