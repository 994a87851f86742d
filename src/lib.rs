//! lsenv fills in Litestream's `$LITESTREAM_*` secrets: it resolves them from
//! `config/lsenv.toml`, encrypted credentials and the environment, decrypting in memory only, and
//! then replaces itself with `litestream replicate` or any other command whose environment is
//! exactly those variables plus an explicit pass-list.
//!
//! [`run`] is the whole program: parse → [`plan::Plan`] → resolve → exec.

pub mod ambient;
pub mod check;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod edit;
pub mod env;
pub mod error;
pub mod exec;
pub mod explain;
pub mod filesecret;
pub mod init;
pub mod keygen;
pub mod litestream;
pub mod litestream_schema;
pub mod names;
pub mod os;
pub mod output;
pub mod plan;
pub mod preflight;
pub mod project;
pub mod replicas;
pub mod resolve;
pub mod secret;
pub mod store;
pub mod supervise;
pub mod tree;
pub mod yaml;

use std::ffi::OsString;

use clap::Parser as _;

use plan::Action;

pub use env::Env;
pub use error::{Error, Result};

/// Runs lsenv with `args` (including the program name) and the environment `env`. `exec` and
/// `replicate` replace the process on success, so for them this only returns errors. Help and
/// version text come back as [`Error::Cli`] with exit code 0, for clap to print.
pub fn run<I, T>(args: I, env: &Env) -> Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = cli::Cli::try_parse_from(args)?;
    // Generated from the command line's own definitions; no project needed.
    match &cli.command {
        cli::Command::Completions(args) => return print(&cli::completions(args.shell)),
        cli::Command::Man => return print(&cli::man_page()),
        _ => {}
    }
    let cwd =
        std::env::current_dir().map_err(|err| Error::io(".", "find the working directory", err))?;
    let plan = plan::Plan::new(cli, env, &cwd)?;
    // Before any key is read or anything decrypted.
    let core_dumps = os::NoCoreDumps::engage()?;
    let project = &plan.project;
    match plan.action {
        Action::Exec(command) => {
            let resolved = resolve::resolve_project(project, env, false)?;
            if let Some(config) = &command.preflight {
                preflight::check(config, project, env, &resolved.resolution)?;
            }
            if command.redact {
                return supervise::run(&command, &resolved.resolution, env, &core_dumps);
            }
            Err(exec::exec(&command, &resolved.resolution, env, &core_dumps))
        }
        Action::Env {
            format,
            reveal,
            output,
        } => {
            let resolved = resolve::resolve_project(project, env, false)?;
            output::run(&resolved.resolution, env, format, reveal, output.as_deref())
        }
        Action::Explain { names, json } => explain::run(project, env, &names, json),
        Action::Check { json } => check::run(project, env, json),
        Action::Init(options) => init::run(project, &options, env),
        Action::Keygen { output } => keygen::run(output.as_deref(), env),
        Action::Recipients(change) => credentials::recipients(project, env, &change),
        Action::Convert { to } => credentials::convert(project, env, to),
        Action::Edit { reencrypt } => edit::run(project, env, reencrypt),
        Action::Show => credentials::show(project, env),
        Action::Diff { file } => credentials::diff(project, env, &file),
        Action::Enroll => credentials::enroll(project),
        Action::Disenroll => credentials::disenroll(project),
        Action::RotateKey => credentials::rotate_key(project, env),
    }
}

/// A status line on stderr (`lsenv: …`); stdout stays for what the user asked to see.
pub(crate) fn say(message: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "lsenv: {message}");
}

/// Writes what the user asked to see to stdout.
pub(crate) fn print(bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|err| Error::io("stdout", "print", err))
}
