//! `lsenv env`: the resolved variables in a format for a shell, a CI system or a container.

use std::path::Path;

use crate::audit;
use crate::env::Env;
use crate::error::Result;
use crate::output::{self, Format};
use crate::project::Project;
use crate::resolve;

/// `name` is the command as the audit log names it.
pub(crate) fn run(
    project: &Project,
    name: &str,
    env: &Env,
    format: Format,
    reveal: bool,
    output: Option<&Path>,
) -> Result<()> {
    project.say_if_none();
    let resolved = resolve::resolve_project(project, env, false)?;
    audit::record(env, name, &project.root, resolved.resolution.names());
    output::run(&resolved.resolution, env, format, reveal, output)
}
