//! `lsenv credentials edit`: being written.

use crate::env::Env;
use crate::error::{Error, Result};
use crate::project::Project;

pub fn run(_project: &Project, _env: &Env, _reencrypt: bool) -> Result<()> {
    Err(Error::usage("not yet"))
}
