//! Turns the raw command line and environment into a validated [`Plan`]: the project (root,
//! environment, settings) and what to do with it. Nothing after this module looks at raw
//! arguments.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::cli::{
    Cli, Command, CredentialsCommand, DiffArgs, Format, RecipientsCommand, StoreKind,
};
use crate::config::Config;
use crate::env::Env;
use crate::error::{Error, Location, Result};
use crate::exec::CommandPlan;
use crate::names;
use crate::project::Project;

#[derive(Debug)]
pub struct Plan {
    pub project: Project,
    pub action: Action,
}

#[derive(Debug)]
pub enum Action {
    /// `exec` and `replicate`: resolve, then become (or, with `--redact`, supervise) the command.
    Exec(CommandPlan),
    Env {
        format: Format,
        reveal: bool,
        output: Option<PathBuf>,
    },
    Explain {
        names: Vec<String>,
        json: bool,
    },
    Check {
        json: bool,
    },
    Init(InitOptions),
    Keygen {
        output: Option<PathBuf>,
    },
    Recipients(Recipients),
    Convert {
        to: StoreKind,
    },
    Edit {
        reencrypt: bool,
    },
    Show,
    /// Print `file` for git, decrypted when its key is at hand.
    Diff {
        file: PathBuf,
    },
    Enroll,
    Disenroll,
    RotateKey,
}

/// `init`: what to set up besides the config, the key and the credentials.
#[derive(Debug)]
pub struct InitOptions {
    pub databases: Vec<PathBuf>,
    pub age: bool,
    pub procfile: bool,
    pub replica_type: crate::replicas::ReplicaType,
}

/// `credentials recipients …`.
#[derive(Debug)]
pub enum Recipients {
    List,
    Add(Vec<String>),
    Remove(Vec<String>),
}

impl Plan {
    pub fn new(cli: Cli, env: &Env, cwd: &Path) -> Result<Self> {
        let global = cli.environment;
        let (environment, raw) = match cli.command {
            Command::Exec(args) => (
                args.environment.or(global),
                Raw::Exec(args.command, args.pass, args.redact),
            ),
            Command::Completions(_) | Command::Man => {
                unreachable!("completions and the man page need no plan; lib::run prints them")
            }
            Command::Keygen(args) => (
                global,
                Raw::Ready(Action::Keygen {
                    output: args.output,
                }),
            ),
            Command::Env(args) => (
                args.environment.or(global),
                Raw::Ready(Action::Env {
                    format: args.format,
                    reveal: args.reveal,
                    output: args.output,
                }),
            ),
            Command::Explain(args) => (
                args.environment.or(global),
                Raw::Ready(Action::Explain {
                    names: args.names,
                    json: args.json,
                }),
            ),
            Command::Check(args) => (
                args.environment.or(global),
                Raw::Ready(Action::Check { json: args.json }),
            ),
            Command::Replicate(args) => (global, Raw::Replicate(args.args, !args.no_preflight)),
            Command::Init(args) => (
                args.environment.or(global),
                Raw::Ready(Action::Init(InitOptions {
                    databases: args.databases,
                    age: args.age,
                    procfile: args.procfile,
                    replica_type: args.replica_type,
                })),
            ),
            Command::Credentials(command) => match command {
                CredentialsCommand::Edit(args) => (
                    args.environment.or(global),
                    Raw::Ready(Action::Edit {
                        reencrypt: args.reencrypt,
                    }),
                ),
                CredentialsCommand::Show(args) => {
                    (args.environment.or(global), Raw::Ready(Action::Show))
                }
                CredentialsCommand::RotateKey(args) => {
                    (args.environment.or(global), Raw::Ready(Action::RotateKey))
                }
                CredentialsCommand::Diff(args) => diff_action(args, global),
                CredentialsCommand::Recipients(command) => match command {
                    RecipientsCommand::List(args) => (
                        args.environment.or(global),
                        Raw::Ready(Action::Recipients(Recipients::List)),
                    ),
                    RecipientsCommand::Add(args) => (
                        args.environment.or(global),
                        Raw::Ready(Action::Recipients(Recipients::Add(args.recipients))),
                    ),
                    RecipientsCommand::Remove(args) => (
                        args.environment.or(global),
                        Raw::Ready(Action::Recipients(Recipients::Remove(args.recipients))),
                    ),
                },
                CredentialsCommand::Convert(args) => (
                    args.environment.or(global),
                    Raw::Ready(Action::Convert { to: args.to }),
                ),
            },
        };
        let project = Project::open(cli.directory, environment, env, cwd)?;
        let action = match raw {
            Raw::Ready(action) => action,
            Raw::Exec(words, pass, redact) => {
                let (program, args) = split_command(words);
                Action::Exec(CommandPlan {
                    program,
                    args,
                    redact,
                    preflight: None,
                    cwd: project.root_given.then(|| project.root.clone()),
                    pass: pass_list(&project.config, pass)?,
                })
            }
            Raw::Replicate(args, preflight) => {
                Action::Exec(replicate_command(&project, args, preflight)?)
            }
        };
        Ok(Self { project, action })
    }
}

/// Actions whose arguments still need the project to be validated.
enum Raw {
    Ready(Action),
    Exec(Vec<OsString>, Vec<String>, bool),
    /// The arguments for litestream, and whether to check the config's `$VAR`s first.
    Replicate(Vec<OsString>, bool),
}

/// git hands the textconv driver a temporary copy that keeps the file's name, so the name says
/// which environment's key opens it: `production.yml.enc` → production, as `rails credentials:diff`.
fn diff_action(args: DiffArgs, global: Option<String>) -> (Option<String>, Raw) {
    if args.enroll {
        return (global, Raw::Ready(Action::Enroll));
    }
    if args.disenroll {
        return (global, Raw::Ready(Action::Disenroll));
    }
    let Some(file) = args.path else {
        return (global, Raw::Ready(Action::Show));
    };
    let environment = file
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| {
            name.strip_suffix(".yml.enc")
                .or_else(|| name.strip_suffix(".yml.age"))
        })
        .filter(|name| *name != "credentials")
        .map(str::to_owned);
    (environment.or(global), Raw::Ready(Action::Diff { file }))
}

/// `[exec] pass` then `--pass`. Naming a key variable explicitly is refused; globs skip them.
fn pass_list(config: &Config, cli: Vec<String>) -> Result<Vec<String>> {
    let cli =
        crate::ambient::expand(cli).map_err(|problem| Error::usage(format!("--pass {problem}")))?;
    for pattern in &config.pass {
        check_pattern(pattern).map_err(|problem| {
            Error::config(Location::file(&config.path).key("exec.pass"), problem)
        })?;
    }
    for pattern in &cli {
        check_pattern(pattern)
            .map_err(|problem| Error::usage(format!("--pass {pattern}: {problem}")))?;
    }
    Ok(config.pass.iter().cloned().chain(cli).collect())
}

fn check_pattern(pattern: &str) -> Result<(), String> {
    if !names::is_valid_pattern(pattern) {
        Err("expected a variable name or a glob of letters, digits, _, * and ?".into())
    } else if !names::is_glob(pattern) && names::is_key_variable(pattern) {
        Err(format!(
            "{pattern} holds a key, and keys are never passed to a command"
        ))
    } else {
        Ok(())
    }
}

fn split_command(mut words: Vec<OsString>) -> (OsString, Vec<OsString>) {
    let args = words.split_off(1);
    (words.pop().unwrap_or_default(), args)
}

/// `litestream replicate -config <config> ARGS`, run in the project root. Litestream takes flags
/// before positional arguments, so `-config` goes first; it is left out when ARGS carry their own.
fn replicate_command(
    project: &Project,
    args: Vec<OsString>,
    preflight: bool,
) -> Result<CommandPlan> {
    let config = &project.config;
    let own_config = args.iter().any(|arg| {
        let arg = arg.to_string_lossy();
        let flag = arg.split('=').next().unwrap_or_default();
        flag == "-config" || flag == "--config"
    });
    let mut full = vec![OsString::from("replicate")];
    if !own_config {
        if !project.path(&config.litestream_config).is_file() {
            return Err(Error::config(
                Location::file(project.path(&config.litestream_config)),
                "the Litestream configuration file does not exist",
            )
            .with_hint(format!(
                "create it (lsenv init --db PATH writes one), or set `config` in the [replicate] table of {}",
                config.path.display()
            )));
        }
        full.push("-config".into());
        full.push(config.litestream_config.clone().into());
    }
    full.extend(args);
    Ok(CommandPlan {
        program: config.litestream_bin.clone(),
        args: full,
        redact: false,
        // A -config of the user's own is theirs to check.
        preflight: (preflight && !own_config).then(|| project.path(&config.litestream_config)),
        cwd: (!project.root.as_os_str().is_empty()).then(|| project.root.clone()),
        pass: pass_list(config, Vec::new())?,
    })
}
