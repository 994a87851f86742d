//! `lsenv credentials show|diff|rotate-key` and the git textconv enrolment.

use std::path::Path;

use crate::env::Env;
use crate::error::{Error, Result};
use crate::project::Project;

pub fn show(_project: &Project, _env: &Env) -> Result<()> {
    Err(Error::usage("not yet"))
}

pub fn diff(_project: &Project, _env: &Env, _file: &Path) -> Result<()> {
    Err(Error::usage("not yet"))
}

pub fn enroll(_project: &Project) -> Result<()> {
    Err(Error::usage("not yet"))
}

pub fn disenroll(_project: &Project) -> Result<()> {
    Err(Error::usage("not yet"))
}

pub fn rotate_key(_project: &Project, _env: &Env) -> Result<()> {
    Err(Error::usage("not yet"))
}
