//! The command line as clap sees it: raw strings and paths, validated later by [`crate::plan`].
// The doc comments here are the `--help` text, where Markdown backticks would show as such.
#![allow(clippy::doc_markdown)]

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory as _, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "lsenv",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("LSENV_COMMIT"), ")"),
    about = "Fill in Litestream's $LITESTREAM_* secrets from encrypted credentials, then run litestream (or any command) with exactly those variables",
    after_help = "Precedence, lowest first: config/lsenv.toml < credentials < LITESTREAM_* in the environment.\nExit codes: 0 ok, 1 internal, 2 usage, 3 configuration, 4 key, 5 decryption/integrity, 126/127 cannot run the command; otherwise the command's own."
)]
pub struct Cli {
    /// Use DIR as the project root (and run there), instead of searching upwards from here
    #[arg(short = 'C', value_name = "DIR")]
    pub directory: Option<PathBuf>,

    /// Credentials environment: config/credentials/ENV.yml.enc and ENV.key [default: `$LSENV_ENV`, then `$RAILS_ENV`]
    #[arg(short, long, value_name = "ENV")]
    pub environment: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a command whose environment is exactly the resolved variables plus the pass-list
    #[command(
        after_help = "Every word from COMMAND on belongs to the command, so `--` is optional.\nExample: lsenv exec --pass HOME -- litestream restore -o out.db db.sqlite3"
    )]
    Exec(ExecArgs),

    /// Run `litestream replicate -config config/litestream.yml ARGS` with the resolved variables
    #[command(
        after_help = "All ARGS go to litestream: lsenv replicate -exec \"bin/rails server\"\nlsenv options go before the subcommand: lsenv -e production replicate"
    )]
    Replicate(ReplicateArgs),

    /// Print the resolved variables in a format for a shell, a CI system or a container
    #[command(
        after_help = "Values are shown as fingerprints (length and a short SHA-256) unless --reveal.\n`--format github` writes the values to the file named by $GITHUB_ENV and prints only ::add-mask:: lines."
    )]
    Env(EnvArgs),

    /// Say where each variable came from, what it overrode, and what maps to nothing
    Explain(ExplainArgs),

    /// Check the whole setup: decryption, the Litestream config's variables, values that would
    /// break it, names that look like typos, key files, litestream itself
    Check(CheckArgs),

    /// Set up a project: config/lsenv.toml, config/litestream.yml, a key and encrypted credentials
    #[command(
        after_help = "Never overwrites an existing file. In a Rails app without --db, the production SQLite\ndatabases of config/database.yml are used."
    )]
    Init(InitArgs),

    /// Edit, show, diff and rotate the encrypted credentials
    #[command(subcommand)]
    Credentials(CredentialsCommand),

    /// Create an age identity (0600) for age credentials, and print its recipient
    Keygen(KeygenArgs),

    /// Print a shell completion script: lsenv completions bash > /etc/bash_completion.d/lsenv
    Completions(CompletionsArgs),

    /// Print the man page (roff): lsenv man > /usr/local/share/man/man1/lsenv.1
    Man,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// The completion script for `shell`, generated from these definitions (so it never drifts
/// from `--help`).
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "lsenv", &mut script);
    script
}

/// The man page, generated from these definitions.
///
/// # Panics
///
/// Never: rendering writes into memory, which cannot fail.
pub fn man_page() -> Vec<u8> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .expect("rendering into memory cannot fail");
    page
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write it [default: $XDG_CONFIG_HOME/lsenv/identity.txt or ~/.config/lsenv/identity.txt]; `-` prints it
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `-e ENV` on a subcommand, overriding the one given before it.
#[derive(Debug, Args)]
pub struct EnvironmentArg {
    /// Credentials environment (overrides the one given before the subcommand)
    #[arg(short, long, value_name = "ENV")]
    pub environment: Option<String>,
}

impl EnvironmentArg {
    /// This subcommand's `-e`, else the one given before it.
    pub fn or(self, global: Option<String>) -> Option<String> {
        self.environment.or(global)
    }
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub environment: EnvironmentArg,

    /// Also give the command this variable of lsenv's own environment (a name, or a glob such as LC_*); repeatable
    #[arg(long = "pass", value_name = "NAME|GLOB")]
    pub pass: Vec<String>,

    /// Supervise the command and replace any resolved secret in its output by [redacted NAME]
    #[arg(long)]
    pub redact: bool,

    /// The command and its arguments
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct ReplicateArgs {
    /// Run litestream even if a $VAR of its config is set by nothing (it then reads it as empty)
    #[arg(long)]
    pub no_preflight: bool,

    /// Arguments for `litestream replicate`
    #[arg(
        value_name = "ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<OsString>,
}

/// The output formats of `lsenv env`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// NAME='value' lines, as dotenv libraries read them
    Dotenv,
    /// export NAME='value' lines for a POSIX shell
    Shell,
    /// one JSON object
    Json,
    /// systemd EnvironmentFile= syntax
    Systemd,
    /// docker --env-file syntax (no newlines possible)
    Docker,
    /// GitHub Actions: masks, then the values appended to $GITHUB_ENV
    Github,
    /// GitLab CI: a dotenv report file
    Gitlab,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    #[command(flatten)]
    pub environment: EnvironmentArg,

    #[arg(long, value_enum, default_value_t = Format::Dotenv)]
    pub format: Format,

    /// Print the values themselves instead of fingerprints
    #[arg(long)]
    pub reveal: bool,

    /// Write to FILE instead of stdout (replaced atomically; a new file is mode 0600, an existing one keeps its mode)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub environment: EnvironmentArg,

    /// Only these variables
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,

    /// One JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub environment: EnvironmentArg,

    /// One JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub environment: EnvironmentArg,

    /// A SQLite database to replicate, relative to the project root; repeatable
    #[arg(long = "db", value_name = "PATH")]
    pub databases: Vec<PathBuf>,

    /// Encrypt the credentials with age to your identity (made if there is none) instead of a master key
    #[arg(long)]
    pub age: bool,

    /// Add `litestream: lsenv replicate` to the Procfile (created if missing, never duplicated)
    #[arg(long)]
    pub procfile: bool,

    /// The replica type the templates are written for
    #[arg(long = "type", value_enum, default_value_t, value_name = "TYPE")]
    pub replica_type: crate::replicas::ReplicaType,
}

#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Decrypt to a private scratch file, run $VISUAL or $EDITOR, check the YAML, re-encrypt
    Edit(EditArgs),

    /// Print the decrypted credentials
    Show(EnvironmentArg),

    /// Git textconv driver: print a credentials file decrypted when possible, else as it is
    Diff(DiffArgs),

    /// Re-encrypt with a new key; the old key stays in KEY.old until you remove it
    RotateKey(EnvironmentArg),

    /// List, add or remove the age recipients of the credentials (the file is re-encrypted)
    #[command(subcommand)]
    Recipients(RecipientsCommand),

    /// Move the credentials to age or back to a Rails master key; the content stays byte-identical
    Convert(ConvertArgs),
}

#[derive(Debug, Subcommand)]
pub enum RecipientsCommand {
    /// Print each recipient and where it is listed
    List(EnvironmentArg),
    /// Add recipients (age1…) and re-encrypt to them
    Add(RecipientArgs),
    /// Remove recipients and re-encrypt without them
    Remove(RecipientArgs),
}

#[derive(Debug, Args)]
pub struct RecipientArgs {
    #[command(flatten)]
    pub environment: EnvironmentArg,

    #[arg(value_name = "RECIPIENT", required = true)]
    pub recipients: Vec<String>,
}

/// The two kinds of credentials file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// age, to the recipients of the recipients file
    Age,
    /// Rails, with a master key
    Rails,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    #[command(flatten)]
    pub environment: EnvironmentArg,

    #[arg(long, value_enum)]
    pub to: StoreKind,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    #[command(flatten)]
    pub environment: EnvironmentArg,

    /// The file holds plaintext YAML (for example a merge wrote it): edit that text and encrypt it
    #[arg(long)]
    pub reencrypt: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Register the driver: .gitattributes lines and `git config diff.rails_credentials.textconv`
    #[arg(long, conflicts_with_all = ["disenroll", "path"])]
    pub enroll: bool,

    /// Remove what --enroll added
    #[arg(long, conflicts_with = "path")]
    pub disenroll: bool,

    /// The file git asks about
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
}
