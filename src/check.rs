//! `lsenv check`: being written.

use crate::env::Env;
use crate::error::{Error, Result};
use crate::project::Project;

pub fn run(_project: &Project, _env: &Env, _json: bool) -> Result<()> {
    Err(Error::usage("not yet"))
}
