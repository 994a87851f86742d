//! `lsenv env`: the resolved variables in a format for a shell, a CI system or a container.

use std::path::Path;

use crate::env::Env;
use crate::error::Result;
use crate::output::{self, Format};
use crate::project::Project;
use crate::resolve;

pub(crate) fn run(
    project: &Project,
    env: &Env,
    format: Format,
    reveal: bool,
    output: Option<&Path>,
) -> Result<()> {
    project.say_if_none();
    let resolved = resolve::resolve_project(project, env, false)?;
    output::run(&resolved.resolution, env, format, reveal, output)
}
