//! `lsenv init`: being written.

use std::path::PathBuf;

use crate::env::Env;
use crate::error::{Error, Result};
use crate::project::Project;

pub fn run(_project: &Project, _databases: &[PathBuf], _env: &Env) -> Result<()> {
    Err(Error::usage("init is not implemented yet"))
}
