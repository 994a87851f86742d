//! lsenv fills in Litestream's `$LITESTREAM_*` secrets: it resolves them from
//! `config/lsenv.toml`, encrypted credentials and the environment, decrypting in memory only, and
//! then replaces itself with `litestream replicate` or any other command whose environment is
//! exactly those variables plus an explicit pass-list.
//!
//! [`run`] is the whole program: parse → [`plan::Plan`] → the command in [`commands`]. The
//! layers below the commands: the domain (`config`, `resolve`, `store`, `yaml`, `names`,
//! `secret`, `tree`, `litestream`, `project`, `audit`, `redact`), then the plumbing (`launch`, `supervise`, `os`,
//! `output`, `terminal`). Modules are public only where the fuzz targets and tests need them.

mod ambient;
mod audit;
mod cli;
mod commands;
pub mod config;
mod credserver;
mod database_yml;
mod deathsig;
mod duration;
pub mod env;
pub mod error;
mod filesecret;
mod launch;
mod litestream;
mod litestream_schema;
pub mod names;
mod os;
pub mod output;
mod plan;
mod preflight;
mod presets;
mod project;
pub mod redact;
mod replicas;
pub mod resolve;
pub mod secret;
pub mod store;
mod supervise;
pub mod terminal;
pub mod tree;
mod watch;
pub mod yaml;

use std::ffi::OsString;

use clap::Parser as _;

use commands::{check, credentials, edit, explain, init, keygen};
use plan::{Action, Generated, Plan};

pub use env::Env;
pub use error::{Error, Result, Status};

/// Runs lsenv with `args` (including the program name) and the environment `env`, and returns
/// the status to exit with. `exec` and `replicate` replace the process on success, so for them
/// this only returns errors (or, supervised, the command's status). Help and version text come
/// back as [`Error::Cli`] with exit code 0, for clap to print.
pub fn run<I, T>(args: I, env: &Env) -> Result<Status>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    // A supervised command on its way to being started (`--watch`, `--serve-credentials`).
    if let Some(err) = deathsig::shim(&args) {
        return Err(err);
    }
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        // lsenv's version, then which litestream would run from here.
        Err(err) if err.kind() == clap::error::ErrorKind::DisplayVersion => {
            return done(commands::version::run(&err, env));
        }
        Err(err) => return Err(err.into()),
    };
    let cwd =
        std::env::current_dir().map_err(|err| Error::io(".", "find the working directory", err))?;
    let (project, action) = match plan::Plan::new(cli, env, &cwd)? {
        Plan::Generate(Generated::Completions(shell)) => {
            return done(terminal::print(&cli::completions(shell)));
        }
        Plan::Generate(Generated::Man { install }) => {
            return done(commands::man::run(install.as_deref()));
        }
        Plan::Run { project, action } => (project, action),
    };
    // Before any key is read or anything decrypted.
    let core_dumps = os::NoCoreDumps::engage()?;
    audit::prepare(env);
    let name = action.name();
    let result = act(&project, action, &name, env, &core_dumps);
    // Whatever decrypted, whether the command then succeeded or not (`exec`, `env` and
    // `replicate` log theirs with the variable names they deliver).
    audit::record(env, &name, &project.root, std::iter::empty());
    result
}

/// Carries out the plan's action on the project.
fn act(
    project: &project::Project,
    action: Action,
    name: &str,
    env: &Env,
    core_dumps: &os::NoCoreDumps,
) -> Result<Status> {
    done(match action {
        Action::Exec(command) => {
            return commands::exec::run(project, &command, name, env, core_dumps);
        }
        Action::Replicate(command) => {
            return commands::exec::replicate(project, &command, name, env, core_dumps);
        }
        Action::Check { json } => return check::run(project, env, json),
        Action::Verify(options) => {
            return commands::verify::run(project, env, &options, core_dumps);
        }
        Action::Scan { paths, history } => {
            return commands::scan::run(project, env, &paths, history);
        }
        Action::Env {
            format,
            reveal,
            output,
        } => commands::env::run(project, name, env, format, reveal, output.as_deref()),
        Action::Explain { names, json } => explain::run(project, env, &names, json),
        Action::Init(options) => init::run(project, &options, env),
        Action::Keygen {
            output,
            plugin: Some(name),
        } => commands::plugin_keygen::run(project, &name, output.as_deref(), env),
        Action::Keygen {
            output,
            plugin: None,
        } => keygen::run(project, output.as_deref(), env),
        Action::Recipients(change) => credentials::recipients(project, env, &change),
        Action::Convert { to } => credentials::convert(project, env, to),
        Action::Edit { reencrypt } => {
            edit::run(project, env, reencrypt).map_err(|err| project.explain_wrong_key(err, env))
        }
        Action::DiscardRecovery => commands::recovery::discard(project, env),
        Action::Show => credentials::show(project, env),
        Action::Diff { file } => credentials::diff(project, env, &file),
        Action::Enroll => credentials::enroll(project, env),
        Action::Disenroll => credentials::disenroll(project),
        Action::RotateKey => credentials::rotate_key(project, env),
        Action::Audit { since, json } => commands::audit::run(env, since.as_deref(), json),
    })
}

/// A command that either did its work or failed.
fn done(result: Result<()>) -> Result<Status> {
    result.map(|()| Status::SUCCESS)
}
