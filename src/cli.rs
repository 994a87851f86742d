//! The command line as clap sees it: raw strings and paths, validated later by [`crate::plan`].
// The doc comments here are the `--help` text, where Markdown backticks would show as such.
#![allow(clippy::doc_markdown)]

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory as _, Parser, Subcommand};

use crate::output::Format;
use crate::store::StoreKind;

#[derive(Debug, Parser)]
#[command(
    name = "lsenv",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("LSENV_COMMIT"), ")"),
    about = "Fill in Litestream's $LITESTREAM_* secrets from encrypted credentials, then run litestream (or any command) with exactly those variables",
    after_help = "Precedence, lowest first: config/lsenv.toml < credentials < LITESTREAM_* in the environment.\nExit codes: 0 ok, 1 internal, 2 usage, 3 configuration, 4 key, 5 decryption/integrity, 6 check: warnings only, 7 verify: replica behind, 8 verify: could not run, 9 scan: a secret value found, 126/127 cannot run the command; otherwise the command's own."
)]
pub(crate) struct Cli {
    /// Use DIR as the project root (and run there), instead of searching upwards from here
    #[arg(short = 'C', value_name = "DIR")]
    pub directory: Option<PathBuf>,

    /// Credentials environment: config/credentials/ENV.yml.enc and ENV.key [default: `$LSENV_ENV`, then `$RAILS_ENV`]
    #[arg(short, long, value_name = "ENV", global = true)]
    pub environment: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

// `defer`: only the subcommand that runs has its arguments built (and `--help` and the
// generators build them all): building every subcommand's was a tenth of `exec`'s start-up.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub(crate) enum Command {
    /// Run a command whose environment is exactly the resolved variables plus the pass-list
    #[command(
        after_help = "Every word from COMMAND on belongs to the command, so `--` is optional.\nExample: lsenv exec --pass HOME -- litestream restore -o out.db db.sqlite3"
    )]
    Exec(ExecArgs),

    /// Run `litestream replicate -config config/litestream.yml ARGS` with the resolved variables
    #[command(
        after_help = "All ARGS go to litestream: lsenv replicate -exec \"bin/rails server\"\n-e goes before litestream's arguments: lsenv replicate -e production -exec \"bin/rails server\""
    )]
    Replicate(ReplicateArgs),

    /// Print the resolved variables in a format for a shell, a CI system or a container
    #[command(
        after_help = "Values are shown as fingerprints (length and a short keyed hash) unless --reveal.\n`--format github` writes the values to the file named by $GITHUB_ENV and prints only ::add-mask:: lines."
    )]
    Env(EnvArgs),

    /// Say where each variable came from, what it overrode, and what maps to nothing
    Explain(ExplainArgs),

    /// Check the whole setup: decryption, the Litestream config's variables, values that would
    /// break it, names that look like typos, key files, litestream itself
    Check(CheckArgs),

    /// Look for the secret values (as they are, base64- or URL-encoded) in the files of the git
    /// repository, and with --history in every commit
    #[command(
        after_help = "Prints file:line (or commit:path:line) and the variable's name, never the value.\nValues shorter than 8 bytes are not searched for (and named); a value split across lines is not found.\nExit status: 0 none found, 9 found, anything else: the scan could not run."
    )]
    Scan(ScanArgs),

    /// Print the decrypt audit log: every successful decryption, by whom, where, with what
    #[command(
        after_help = "The log: $XDG_STATE_HOME/lsenv/audit.jsonl or ~/.local/state/lsenv/audit.jsonl, set (or turned off) only in\n$XDG_CONFIG_HOME/lsenv/config.toml or ~/.config/lsenv/config.toml: [audit] enabled, file, max_bytes."
    )]
    Audit(AuditArgs),

    /// Restore drill: write a sentinel into each database, restore its replica to a private
    /// temporary copy, and check that the sentinel came back
    #[command(
        after_help = "Exit codes: 0 every database verified, 7 a replica lacks the sentinel (replication behind or stopped),\n8 the drill could not run (database file missing, restore failed or too slow, credentials refused)."
    )]
    Verify(VerifyArgs),

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

    /// Print the man page (roff), or install a page per subcommand (as root): lsenv man --install
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Write lsenv.1 and a page per subcommand (lsenv-exec.1, lsenv-credentials-edit.1, …) into DIR, created if missing [DIR: /usr/local/share/man/man1]
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "/usr/local/share/man/man1")]
    pub install: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// The completion script for `shell`, generated from these definitions (so it never drifts
/// from `--help`).
pub(crate) fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "lsenv", &mut script);
    script
}

/// The man page, generated from these definitions.
///
/// # Panics
///
/// Never: rendering writes into memory, which cannot fail.
pub(crate) fn man_page() -> Vec<u8> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .expect("rendering into memory cannot fail");
    page
}

/// A page per command: `lsenv.1`, then `lsenv-exec.1`, `lsenv-credentials-edit.1`, … for every
/// subcommand, with its file name.
///
/// # Panics
///
/// Never: rendering writes into memory, which cannot fail.
pub(crate) fn man_pages() -> Vec<(String, Vec<u8>)> {
    fn add(command: &clap::Command, pages: &mut Vec<(String, Vec<u8>)>) {
        let man = clap_mangen::Man::new(command.clone());
        let mut page = Vec::new();
        man.render(&mut page)
            .expect("rendering into memory cannot fail");
        pages.push((man.get_filename(), page));
        for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
            add(sub, pages);
        }
    }
    // Built, so that each subcommand's name is its full path (`lsenv-credentials-edit`).
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let mut pages = Vec::new();
    add(&command, &mut pages);
    pages
}

#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// Where to write it [default: $XDG_CONFIG_HOME/lsenv/identity.txt or ~/.config/lsenv/identity.txt]; `-` prints it
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Hand over to age-plugin-NAME's own key generation (yubikey, tpm, se); for another plugin, say how
    #[arg(long, value_name = "NAME")]
    pub plugin: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ExecArgs {
    /// Also give the command this variable of lsenv's own environment (a name, or a glob such as LC_*); repeatable
    #[arg(long = "pass", value_name = "NAME|GLOB")]
    pub pass: Vec<String>,

    /// Supervise the command and replace any resolved secret in its output by [redacted NAME]
    #[arg(long)]
    pub redact: bool,

    #[command(flatten)]
    pub watch: WatchArgs,

    #[command(flatten)]
    pub serve: ServeArgs,

    /// The command and its arguments
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<OsString>,
}

/// `--watch`, the same on `exec` and `replicate`.
#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Stay resident: when the credentials, config/lsenv.toml or a key file change, resolve again and restart the command (SIGTERM, then SIGKILL after Litestream's shutdown-sync-timeout) if what it gets changed; with --serve-credentials, changed keys are served without a restart
    #[arg(long)]
    pub watch: bool,
}

/// The option `exec` and `replicate` share.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Keep the AWS keys out of the command's environment: serve them (short-lived, from STS, refreshed) on a loopback endpoint that the AWS SDK reads ([serve] in config/lsenv.toml)
    #[arg(long)]
    pub serve_credentials: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ReplicateArgs {
    /// Restore each database that does not exist from its replica first (litestream's own
    /// -restore-if-db-not-exists); with no replica yet, replicate as usual
    #[arg(long)]
    pub restore_if_missing: bool,

    /// Run litestream even if a $VAR of its config is set by nothing (it then reads it as empty)
    #[arg(long)]
    pub no_preflight: bool,

    #[command(flatten)]
    pub watch: WatchArgs,

    #[command(flatten)]
    pub serve: ServeArgs,

    /// Arguments for `litestream replicate`
    #[arg(
        value_name = "ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<OsString>,
}

#[derive(Debug, Args)]
pub(crate) struct EnvArgs {
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
pub(crate) struct ExplainArgs {
    /// Only these variables
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,

    /// One JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// One JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Only these databases of the Litestream config [default: all of them]
    #[arg(value_name = "DB")]
    pub databases: Vec<PathBuf>,

    /// How long to wait for the sentinel in the replica, per database: seconds or a duration (30s, 2m) [default: ten of Litestream's monitor and sync intervals, at least 10s]
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse)]
    pub timeout: Option<std::time::Duration>,

    /// One JSON object instead of one line per database
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// Also every blob of every commit reachable from a ref (branches, tags, stashes)
    #[arg(long)]
    pub history: bool,

    /// Only these files or directories [default: the whole repository]
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// Only entries from then on: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ (UTC), or an age: 30m, 12h, 7d
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,

    /// The entries as JSON lines, as logged
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The replica type the templates are written for
    #[arg(long = "type", value_enum, default_value_t, value_name = "TYPE")]
    pub replica_type: crate::replicas::ReplicaType,

    /// A SQLite database to replicate, relative to the project root; repeatable
    #[arg(long = "db", value_name = "PATH")]
    pub databases: Vec<PathBuf>,

    /// Encrypt the credentials with age to your identity (made if there is none) instead of a master key
    #[arg(long)]
    pub age: bool,

    /// Add `litestream: lsenv replicate` to the Procfile (created if missing, never duplicated)
    #[arg(long)]
    pub procfile: bool,

    /// Existing credentials without the litestream: section get it added (saved as `credentials edit` saves)
    #[arg(long)]
    pub append_section: bool,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub(crate) enum CredentialsCommand {
    /// Decrypt to a private scratch file, run $VISUAL or $EDITOR, check the YAML, re-encrypt
    Edit(EditArgs),

    /// Print the decrypted credentials
    Show,

    /// Git textconv driver: print a credentials file decrypted when possible, else as it is
    Diff(DiffArgs),

    /// Re-encrypt with a new key; the old key stays in KEY.old until you remove it
    RotateKey,

    /// List, add or remove the age recipients of the credentials (the file is re-encrypted)
    #[command(subcommand)]
    Recipients(RecipientsCommand),

    /// Move the credentials to age or back to a Rails master key; the content stays byte-identical
    Convert(ConvertArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum RecipientsCommand {
    /// Print each recipient and where it is listed
    List,
    /// Add recipients (age1…) and re-encrypt to them
    Add(RecipientArgs),
    /// Remove recipients and re-encrypt without them
    Remove(RecipientArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RecipientArgs {
    #[arg(value_name = "RECIPIENT", required = true)]
    pub recipients: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ConvertArgs {
    #[arg(long, value_enum)]
    pub to: StoreKind,
}

#[derive(Debug, Args)]
pub(crate) struct EditArgs {
    /// The file holds plaintext YAML (for example a merge wrote it): edit that text and encrypt it
    #[arg(long)]
    pub reencrypt: bool,

    /// Drop the edit kept in FILE.recovery by a failed edit, after listing the names it would lose
    #[arg(long, conflicts_with = "reencrypt")]
    pub discard_recovery: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
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

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use clap::Parser as _;

    use super::{Cli, Command};

    /// `-e` and the words left for the command.
    fn parse(args: &[&str]) -> (Option<String>, Vec<OsString>) {
        let cli = Cli::try_parse_from(args).unwrap();
        let rest = match cli.command {
            Command::Replicate(replicate) => replicate.args,
            Command::Exec(exec) => exec.command,
            other => panic!("unexpected {other:?}"),
        };
        (cli.environment, rest)
    }

    #[test]
    fn environment_is_global_and_stops_at_the_commands_words() {
        let words = |words: &[&str]| words.iter().map(OsString::from).collect::<Vec<_>>();
        let prod = Some("prod".to_owned());
        // Litestream's own single-dash flags are never read as lsenv's `-e`.
        assert_eq!(
            parse(&["lsenv", "replicate", "-exec", "x"]),
            (None, words(&["-exec", "x"]))
        );
        assert_eq!(
            parse(&["lsenv", "replicate", "-e", "prod", "-exec", "x"]),
            (prod.clone(), words(&["-exec", "x"]))
        );
        assert_eq!(
            parse(&["lsenv", "-e", "prod", "replicate", "-exec", "x"]),
            (prod.clone(), words(&["-exec", "x"]))
        );
        assert_eq!(
            parse(&["lsenv", "exec", "--environment", "prod", "--", "env", "-e"]),
            (prod, words(&["env", "-e"]))
        );
    }
}
