//! Turns the raw command line and environment into a validated [`Plan`]: the project (root,
//! environment, settings) and what to do with it. Nothing after this module looks at raw
//! arguments.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::cli::{Cli, Command, CredentialsCommand, DiffArgs, RecipientsCommand};
use crate::config::Config;
use crate::env::Env;
use crate::error::{ConfigProblem, Error, Location, PatternProblem, Result, UsageProblem};
use crate::launch::CommandPlan;
use crate::litestream;
use crate::names;
use crate::output::Format;
use crate::project::Project;
use crate::store::StoreKind;

/// What lsenv was asked to do, validated.
#[derive(Debug)]
pub(crate) enum Plan {
    /// Text generated from the command line's own definitions: no project is needed.
    Generate(Generated),
    /// Everything else works on a project.
    Run {
        project: Box<Project>,
        action: Action,
    },
}

#[derive(Debug)]
pub(crate) enum Generated {
    Completions(clap_complete::Shell),
    /// The man page on stdout, or with `install` a page per command written into that folder.
    Man {
        install: Option<PathBuf>,
    },
}

#[derive(Debug)]
pub(crate) enum Action {
    /// `exec`: resolve, then become (or, with `--redact`, supervise) the command.
    Exec(CommandPlan),
    /// `replicate`: the same, with litestream as the command.
    Replicate(CommandPlan),
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
    /// The restore drill.
    Verify(VerifyOptions),
    Init(InitOptions),
    Keygen {
        output: Option<PathBuf>,
        plugin: Option<String>,
    },
    Recipients(Recipients),
    Convert {
        to: StoreKind,
    },
    Edit {
        reencrypt: bool,
    },
    /// `credentials edit --discard-recovery`.
    DiscardRecovery,
    Show,
    /// Print `file` for git, decrypted when its key is at hand.
    Diff {
        file: PathBuf,
    },
    Enroll,
    Disenroll,
    RotateKey,
    /// Look for the secret values in the repository.
    Scan {
        paths: Vec<PathBuf>,
        history: bool,
    },
    /// Print the audit log.
    Audit {
        since: Option<String>,
        json: bool,
    },
}

impl Action {
    /// The command as the audit log names it.
    pub(crate) fn name(&self) -> String {
        match self {
            Self::Exec(command) => format!(
                "exec {}",
                Path::new(&command.program)
                    .file_name()
                    .unwrap_or(command.program.as_os_str())
                    .to_string_lossy()
            ),
            Self::Replicate(_) => "replicate".into(),
            Self::Env { .. } => "env".into(),
            Self::Explain { .. } => "explain".into(),
            Self::Check { .. } => "check".into(),
            Self::Verify(_) => "verify".into(),
            Self::Init(_) => "init".into(),
            Self::Keygen { .. } => "keygen".into(),
            Self::Recipients(_) => "credentials recipients".into(),
            Self::Convert { .. } => "credentials convert".into(),
            Self::Edit { .. } => "credentials edit".into(),
            Self::DiscardRecovery => "credentials edit --discard-recovery".into(),
            Self::Show => "credentials show".into(),
            Self::Diff { .. } => "credentials diff".into(),
            Self::Enroll | Self::Disenroll => "credentials diff --enroll".into(),
            Self::RotateKey => "credentials rotate-key".into(),
            Self::Scan { .. } => "scan".into(),
            Self::Audit { .. } => "audit".into(),
        }
    }
}

/// `verify`: which databases, how long to wait for each, and how to report.
#[derive(Debug)]
pub(crate) struct VerifyOptions {
    pub databases: Vec<PathBuf>,
    pub timeout: Option<std::time::Duration>,
    pub json: bool,
}

/// `init`: what to set up besides the config, the key and the credentials.
#[derive(Debug)]
pub(crate) struct InitOptions {
    pub databases: Vec<PathBuf>,
    pub age: bool,
    pub procfile: bool,
    /// Add the section to existing credentials that lack it.
    pub append_section: bool,
    pub replica_type: crate::replicas::ReplicaType,
}

/// `credentials recipients …`.
#[derive(Debug)]
pub(crate) enum Recipients {
    List,
    Add(Vec<String>),
    Remove(Vec<String>),
}

impl Plan {
    pub(crate) fn new(cli: Cli, env: &Env, cwd: &Path) -> Result<Self> {
        let mut environment = cli.environment;
        let raw = match cli.command {
            Command::Completions(args) => {
                return Ok(Self::Generate(Generated::Completions(args.shell)));
            }
            Command::Man(args) => {
                return Ok(Self::Generate(Generated::Man {
                    install: args.install,
                }));
            }
            Command::Exec(args) => Raw::Exec(
                args.command,
                args.pass,
                args.redact,
                args.watch.watch,
                args.serve.serve_credentials,
            ),
            Command::Replicate(args) => Raw::Replicate(
                args.args,
                ReplicateOptions {
                    restore_if_missing: args.restore_if_missing,
                    preflight: !args.no_preflight,
                    watch: args.watch.watch,
                    serve: args.serve.serve_credentials,
                },
            ),
            Command::Verify(args) => Raw::Ready(Action::Verify(VerifyOptions {
                databases: args.databases,
                timeout: args.timeout,
                json: args.json,
            })),
            Command::Keygen(args) => Raw::Ready(Action::Keygen {
                output: args.output,
                plugin: args.plugin,
            }),
            Command::Env(args) => Raw::Ready(Action::Env {
                format: args.format,
                reveal: args.reveal,
                output: args.output,
            }),
            Command::Explain(args) => Raw::Ready(Action::Explain {
                names: args.names,
                json: args.json,
            }),
            Command::Check(args) => Raw::Ready(Action::Check { json: args.json }),
            Command::Scan(args) => Raw::Ready(Action::Scan {
                paths: args.paths,
                history: args.history,
            }),
            Command::Audit(args) => Raw::Ready(Action::Audit {
                since: args.since,
                json: args.json,
            }),
            Command::Init(args) => Raw::Ready(Action::Init(InitOptions {
                databases: args.databases,
                age: args.age,
                procfile: args.procfile,
                append_section: args.append_section,
                replica_type: args.replica_type,
            })),
            Command::Credentials(command) => Raw::Ready(match command {
                CredentialsCommand::Edit(args) if args.discard_recovery => Action::DiscardRecovery,
                CredentialsCommand::Edit(args) => Action::Edit {
                    reencrypt: args.reencrypt,
                },
                CredentialsCommand::Show => Action::Show,
                CredentialsCommand::RotateKey => Action::RotateKey,
                CredentialsCommand::Diff(args) => diff_action(args, &mut environment),
                CredentialsCommand::Recipients(command) => Action::Recipients(match command {
                    RecipientsCommand::List => Recipients::List,
                    RecipientsCommand::Add(args) => Recipients::Add(args.recipients),
                    RecipientsCommand::Remove(args) => Recipients::Remove(args.recipients),
                }),
                CredentialsCommand::Convert(args) => Action::Convert { to: args.to },
            }),
        };
        let project = Project::open(cli.directory, environment, env, cwd)?;
        let action = match raw {
            Raw::Ready(action) => action,
            Raw::Exec(words, pass, redact, watch, serve) => {
                let (program, args) = split_command(words);
                Action::Exec(CommandPlan {
                    program,
                    args,
                    redact,
                    watch,
                    serve,
                    preflight: None,
                    cwd: project.root_given.then(|| project.root.clone()),
                    pass: pass_list(&project.config, pass)?,
                })
            }
            Raw::Replicate(args, options) => {
                Action::Replicate(replicate_command(&project, env, args, options)?)
            }
        };
        Ok(Self::Run {
            project: Box::new(project),
            action,
        })
    }
}

/// Actions whose arguments still need the project to be validated.
enum Raw {
    Ready(Action),
    /// The command's words, `--pass`, `--redact`, `--watch`, `--serve-credentials`.
    Exec(Vec<OsString>, Vec<String>, bool, bool, bool),
    /// The arguments for litestream, and what lsenv adds.
    Replicate(Vec<OsString>, ReplicateOptions),
}

/// `replicate`'s own options.
// Independent switches, each one of replicate's options.
#[allow(clippy::struct_excessive_bools)]
#[derive(Clone, Copy)]
struct ReplicateOptions {
    /// Restore a missing database first (litestream's `-restore-if-db-not-exists`).
    restore_if_missing: bool,
    /// Check that every `$VAR` of the Litestream config resolves before it runs.
    preflight: bool,
    /// `--watch`.
    watch: bool,
    /// `--serve-credentials`.
    serve: bool,
}

/// git hands the textconv driver a temporary copy that keeps the file's name, so the name says
/// which environment's key opens it: `production.yml.enc` → production, as `rails credentials:diff`.
/// The file's environment, when its name gives one, wins over `-e`.
fn diff_action(args: DiffArgs, environment: &mut Option<String>) -> Action {
    if args.enroll {
        return Action::Enroll;
    }
    if args.disenroll {
        return Action::Disenroll;
    }
    let Some(file) = args.path else {
        return Action::Show;
    };
    let named = file
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| {
            name.strip_suffix(".yml.enc")
                .or_else(|| name.strip_suffix(".yml.age"))
        })
        .filter(|name| *name != "credentials")
        .map(str::to_owned);
    if named.is_some() {
        *environment = named;
    }
    Action::Diff { file }
}

/// `[exec] pass` then `--pass`. Naming a key variable explicitly is refused; globs skip them.
pub(crate) fn pass_list(config: &Config, cli: Vec<String>) -> Result<Vec<String>> {
    let cli = crate::presets::expand(cli)
        .map_err(|preset| Error::usage(UsageProblem::UnknownPreset { preset }))?;
    for pattern in &config.pass {
        check_pattern(pattern).map_err(|problem| {
            Error::config(
                Location::file(&config.path).key("exec.pass"),
                ConfigProblem::BadPattern(problem),
            )
        })?;
    }
    for pattern in &cli {
        check_pattern(pattern).map_err(|problem| {
            Error::usage(UsageProblem::BadPassPattern {
                pattern: pattern.clone(),
                problem,
            })
        })?;
    }
    Ok(config.pass.iter().cloned().chain(cli).collect())
}

fn check_pattern(pattern: &str) -> Result<(), PatternProblem> {
    if !names::is_valid_pattern(pattern) {
        Err(PatternProblem::Invalid)
    } else if !names::is_glob(pattern) && names::is_key_variable(pattern) {
        Err(PatternProblem::KeyVariable {
            name: pattern.to_owned(),
        })
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
/// `--restore-if-missing` becomes Litestream's own `-restore-if-db-not-exists`, refused up front
/// when the litestream that will run does not have it.
fn replicate_command(
    project: &Project,
    env: &Env,
    args: Vec<OsString>,
    options: ReplicateOptions,
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
                ConfigProblem::NoLitestreamConfig {
                    lsenv_config: Some(config.path.clone()),
                },
            ));
        }
        full.push("-config".into());
        full.push(config.litestream_config.clone().into());
    }
    if options.restore_if_missing {
        let litestream = litestream::locate(project, env)?;
        if !litestream::restores_if_missing(&litestream) {
            return Err(Error::config(
                Location::file(&litestream),
                ConfigProblem::NoRestoreIfMissing,
            ));
        }
        full.push("-restore-if-db-not-exists".into());
    }
    full.extend(args);
    Ok(CommandPlan {
        program: litestream::program(config, env),
        args: full,
        redact: false,
        watch: options.watch,
        serve: options.serve,
        // A -config of the user's own is theirs to check.
        preflight: (options.preflight && !own_config)
            .then(|| project.path(&config.litestream_config)),
        cwd: (!project.root.as_os_str().is_empty()).then(|| project.root.clone()),
        pass: pass_list(config, Vec::new())?,
    })
}
