//! `lsenv env`: the resolved variables in the format of their consumer. Being written.

use std::path::Path;

use crate::cli::Format;
use crate::env::Env;
use crate::error::{Error, Result};
use crate::resolve::Resolution;

pub fn run(
    _resolution: &Resolution,
    _env: &Env,
    _format: Format,
    _reveal: bool,
    _output: Option<&Path>,
) -> Result<()> {
    Err(Error::usage("env is not implemented yet"))
}
