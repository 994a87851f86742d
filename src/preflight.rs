//! `lsenv replicate`'s pre-flight: every `$VAR` that `config/litestream.yml` references must be
//! set by some layer (or passed), else litestream would start, read it as empty and fail later
//! with a message about the setting ("bucket required"), not the variable. `--no-preflight`
//! skips it.

use std::fmt::Write as _;
use std::path::Path;

use crate::env::Env;
use crate::error::{ConfigProblem, Error, Location, Result};
use crate::litestream;
use crate::project::Project;
use crate::resolve::Resolution;

/// An error naming every unresolved reference (each name once, at its first place).
pub(crate) fn check(
    config: &Path,
    project: &Project,
    env: &Env,
    resolution: &Resolution,
) -> Result<()> {
    let mut unresolved = litestream::unresolved_references(config, project, env, resolution)?;
    let Some(first) = unresolved.first().map(|reference| reference.position) else {
        return Ok(());
    };
    let mut seen = Vec::new();
    unresolved.retain(|reference| {
        let new = !seen.contains(&reference.name);
        seen.push(reference.name.clone());
        new
    });
    let mut names = String::new();
    for reference in &unresolved {
        let separator = if names.is_empty() { "" } else { ", " };
        let _ = write!(
            names,
            "{separator}${} ({}:{})",
            reference.name, reference.position.line, reference.position.column
        );
    }
    Err(Error::config(
        Location::file(config).at(Some(first)),
        ConfigProblem::SetByNothing {
            names,
            several: unresolved.len() > 1,
        },
    ))
}
