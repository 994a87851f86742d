//! `lsenv exec --redact`: run the command under supervision. Being written.

use crate::env::Env;
use crate::error::{Error, Result};
use crate::exec::CommandPlan;
use crate::resolve::Resolution;

pub fn run(_command: &CommandPlan, _resolution: &Resolution, _env: &Env) -> Result<()> {
    Err(Error::usage("--redact is not implemented yet"))
}
