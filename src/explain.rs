//! `lsenv explain`: being written.

use crate::env::Env;
use crate::error::{Error, Result};
use crate::project::Project;

pub fn run(_project: &Project, _env: &Env, _names: &[String], _json: bool) -> Result<()> {
    Err(Error::usage("not yet"))
}
