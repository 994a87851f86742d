//! lsenv fills in Litestream's `$LITESTREAM_*` secrets: it resolves them from
//! `config/lsenv.toml`, encrypted credentials and the environment, decrypting in memory only, and
//! then replaces itself with `litestream replicate` or any other command whose environment is
//! exactly those variables plus an explicit pass-list.
//!
//! [`run`] is the whole program: parse → [`plan::Plan`] → resolve → exec.

pub mod cli;
pub mod config;
pub mod env;
pub mod error;
pub mod exec;
pub mod names;
pub mod os;
pub mod plan;
pub mod resolve;
pub mod secret;
pub mod store;
pub mod tree;
pub mod yaml;

use std::ffi::OsString;

use clap::Parser as _;

pub use env::Env;
pub use error::{Error, Result};

/// Runs lsenv with `args` (including the program name) and the environment `env`. On success
/// the process has been replaced by the command, so this only returns errors (help and version
/// text are errors with exit code 0, printed by clap).
pub fn run<I, T>(args: I, env: &Env) -> Error
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match try_run(args, env) {
        Ok(never) => match never {},
        Err(err) => err,
    }
}

fn try_run<I, T>(args: I, env: &Env) -> Result<std::convert::Infallible>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = cli::Cli::try_parse_from(args)?;
    let cwd =
        std::env::current_dir().map_err(|err| Error::io(".", "find the working directory", err))?;
    let plan = plan::Plan::new(cli, env, &cwd)?;
    // Before any key is read or anything decrypted.
    let core_dumps = os::NoCoreDumps::engage()?;
    let document = plan
        .credentials
        .as_ref()
        .map(|credentials| credentials.open(env))
        .transpose()?;
    let credentials = document
        .as_ref()
        .zip(plan.credentials.as_ref())
        .map(|(document, credentials)| (document, credentials.file.as_path()));
    let resolution = resolve::resolve(&plan.config, credentials, env)?;
    Err(exec::exec(&plan.command, &resolution, env, &core_dumps))
}
