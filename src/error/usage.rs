//! Reasons for a usage error (exit 2): what the user asked for cannot be done as asked.

use std::path::PathBuf;

use super::config::{DatabasePathProblem, PatternProblem, RecipientProblem};

#[derive(Debug, thiserror::Error)]
pub enum UsageProblem {
    #[error("-o {} without --reveal would write fingerprints, not values", .path.display())]
    OutputWithoutReveal { path: PathBuf },
    #[error(
        "--reveal does not apply to --format github or gitlab: they write the values to their file and print none"
    )]
    RevealWithCiFormat,
    #[error("-o does not apply to --format github: it appends to the file named by $GITHUB_ENV")]
    OutputWithGithub,
    #[error("--format gitlab writes a dotenv report: name it with -o FILE")]
    GitlabWithoutOutput,
    #[error("-C {}: not a directory", .dir.display())]
    NotADirectory { dir: PathBuf },
    /// `origin` is `-e` or the variable the name came from, never the name.
    #[error(
        "{origin}: the environment name must be letters, digits, `_`, `-` or `.`, not starting with `.`"
    )]
    InvalidEnvironmentName { origin: String },
    #[error("no --db given, and there is no {} to find the databases in", .path.display())]
    NoDatabaseYml { path: PathBuf },
    #[error("{}: no SQLite database in `production`, so there is nothing to replicate", .path.display())]
    NoSqliteDatabase { path: PathBuf },
    #[error("--db {}: {problem}", .path.display())]
    BadDatabasePath {
        path: PathBuf,
        problem: DatabasePathProblem,
    },
    /// `what` says what the path is instead (a directory, a socket, …), or what the symbolic
    /// link at it points to.
    #[error(
        "{}: is {}{what}, not a regular file; refusing to replace it",
        .path.display(),
        if *.through_link { "a symbolic link to " } else { "" }
    )]
    CannotReplace {
        path: PathBuf,
        what: &'static str,
        through_link: bool,
    },
    #[error("{}: is a symbolic link; refusing to use it", .path.display())]
    SymbolicLink { path: PathBuf },
    #[error("{}: is {what}; refusing to use it", .path.display())]
    CannotUse { path: PathBuf, what: &'static str },
    #[error("--pass {preset}: no such preset (known: @aws, @gcp, @azure)")]
    UnknownPreset { preset: String },
    #[error("--pass {pattern}: {problem}")]
    BadPassPattern {
        pattern: String,
        problem: PatternProblem,
    },
    #[error("no editor: VISUAL and EDITOR are not set")]
    NoEditor,
    #[error("${variable} holds no command")]
    EmptyEditor { variable: &'static str },
    #[error("${variable}: unbalanced quotes")]
    UnbalancedEditor { variable: &'static str },
    #[error("neither XDG_CONFIG_HOME nor HOME is set: name the identity file with -o FILE")]
    NoIdentityHome,
    #[error("neither XDG_STATE_HOME nor HOME is set: there is no audit log")]
    NoAuditLog,
    /// `given` is what the user typed for `--since`.
    #[error(
        "--since {given}: expected YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ (UTC) or an age such as 30m, 12h, 7d"
    )]
    BadSince { given: String },
    /// `name` is the database name the user typed, its control characters shown as `?`.
    #[error("{name}: not a database of {}", .config.display())]
    NotADatabase { name: String, config: PathBuf },
    /// `stderr` is git's own message.
    #[error("git {args} failed: {stderr}")]
    GitFailed { args: String, stderr: String },
    /// `stderr` is git's own message, made printable.
    #[error("{}: not in a git work tree: {stderr}", .dir.display())]
    NotAGitWorkTree { dir: PathBuf, stderr: String },
    /// `recipient` is a public key the user typed.
    #[error("{recipient} is not a recipient of {}", .file.display())]
    NotARecipient { recipient: String, file: PathBuf },
    #[error("that would leave the credentials with no recipient at all")]
    NoRecipientLeft,
    /// An identity given for a recipient is a secret: it is named by its position only.
    #[error("recipient {number}: this is an age identity, a secret key, not a recipient")]
    IdentityForRecipient { number: usize },
    /// `shown` is the start of a recipient the user typed, escaped.
    #[error("`{shown}`: {problem}")]
    BadRecipient {
        shown: String,
        problem: RecipientProblem,
    },
    #[error("{} is already {} credentials file", .file.display(), if *.age { "an age" } else { "a Rails" })]
    AlreadyThatStore { file: PathBuf, age: bool },
    #[error("there is no kept edit to discard: {} does not exist", .recovery.display())]
    NothingToDiscard { recovery: PathBuf },
    /// `keygen --plugin`: `shown` is the name given, escaped.
    #[error("`{shown}` is not an age plugin name (letters, digits, + - . _)")]
    NotAPluginName { shown: String },
    #[error(
        "lsenv does not know how age-plugin-{name} makes keys (it knows age-plugin-yubikey, age-plugin-tpm and age-plugin-se); it ran nothing"
    )]
    UnknownPluginKeygen { name: String },
}

impl UsageProblem {
    pub fn hint(&self) -> Option<String> {
        Some(
            match self {
                Self::OutputWithoutReveal { .. } => "add --reveal to write the values themselves",
                Self::NoEditor => "for example: EDITOR=vi, or EDITOR=\"code --wait\"",
                Self::GitFailed { .. } => "run this inside a git work tree",
                Self::NotAGitWorkTree { .. } => {
                    "lsenv scan reads what git tracks; run it inside the repository"
                }
                Self::IdentityForRecipient { .. } => {
                    "give its public key (age1…), which `age-keygen -y FILE` prints"
                }
                Self::UnknownPluginKeygen { name } => {
                return Some(format!(
                    "make the key with the plugin's own command (see age-plugin-{name} --help), put the AGE-PLUGIN-… line it prints in an identity file lsenv reads (the default one, LSENV_AGE_IDENTITY_FILE or [credentials] identity), and add its recipient: lsenv credentials recipients add age1{name}1…"
                ));
            }
                _ => return None,
            }
            .to_owned(),
        )
    }
}
