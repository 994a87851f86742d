//! The one error type of lsenv, and the exit code each kind of failure maps to (README, "Exit
//! codes").
//!
//! Each kind of failure carries a typed reason (`ConfigProblem`, `KeyProblem`, …), and every text
//! lsenv shows for one lives in this folder: a reason's `Display` is its message, its `hint()` the
//! advice that always goes with it, and [`Hint`] the advice that depends on where it arose.
//!
//! No reason carries a value read from credentials, the environment or a key: only paths, line
//! and column numbers, key paths, variable names, lengths and limits. Errors coming from parsers
//! that quote their input are rewritten before they become one of these.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

mod config;
mod failure;
mod hint;
mod integrity;
mod key;
mod usage;

pub use config::{
    ConfigProblem, DatabasePathProblem, PatternProblem, RecipientProblem, ValueProblem,
};
pub use failure::{Cleanup, Failure, editor_exit};
pub use hint::{Hint, KEPT_CHOICES};
pub use integrity::IntegrityProblem;
pub use key::KeyProblem;
pub use usage::UsageProblem;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Exit codes shared by every command.
pub mod exit {
    pub const INTERNAL: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const CONFIG: u8 = 3;
    pub const KEY: u8 = 4;
    pub const INTEGRITY: u8 = 5;
    /// `check` found warnings and no errors.
    pub const WARNINGS: u8 = 6;
    /// `verify`: a replica lacks the sentinel (replication behind or stopped).
    pub const VERIFY_BEHIND: u8 = 7;
    /// `verify`: the drill could not be carried out (restore failed, credentials refused).
    pub const VERIFY_FAILED: u8 = 8;
    /// `scan` found a secret value in the repository.
    pub const SECRETS_FOUND: u8 = 9;
    pub const CANNOT_EXECUTE: u8 = 126;
    pub const NOT_FOUND: u8 = 127;
}

/// How a command that ran to its end finished. Not an error: `check`'s findings and a supervised
/// command's own exit status are results the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u8);

impl Status {
    pub const SUCCESS: Self = Self(0);
}

/// A place in a file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Line and column (1-based, in characters) of a byte offset.
pub fn position_of(text: &str, offset: usize) -> Position {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Position {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    }
}

/// Where a problem is: a file, and optionally a position and a key path inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub position: Option<Position>,
    pub key: Option<String>,
}

impl Location {
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            position: None,
            key: None,
        }
    }

    #[must_use]
    pub fn at(mut self, position: Option<Position>) -> Self {
        self.position = position;
        self
    }

    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(Position { line, column }) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        if let Some(key) = &self.key {
            // A key comes from the file: its line breaks and escape codes are shown escaped, so
            // that an error stays one line and cannot repaint the terminal.
            f.write_str(": key `")?;
            for c in key.chars() {
                if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                    write!(f, "{}", c.escape_default())?;
                } else {
                    write!(f, "{c}")?;
                }
            }
            f.write_str("`")?;
        }
        Ok(())
    }
}

/// The reasons and hints are boxed, so that a `Result` stays small.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Help or version text that clap wants printed, or a clap usage error (already formatted).
    #[error("{0}")]
    Cli(#[from] clap::Error),

    #[error("{problem}")]
    Usage {
        problem: Box<UsageProblem>,
        hint: Option<Box<Hint>>,
    },

    /// Bad `config/lsenv.toml`, bad credentials content, invalid or refused names, missing files.
    #[error("{location}: {problem}")]
    Config {
        location: Location,
        problem: Box<ConfigProblem>,
        hint: Option<Box<Hint>>,
    },

    /// A key that is missing or malformed. `source_name` names where it was looked for or found:
    /// a path or a variable name, never the key.
    #[error("{source_name}: {problem}")]
    Key {
        source_name: String,
        problem: Box<KeyProblem>,
        hint: Option<Box<Hint>>,
    },

    /// The encrypted file is damaged, tampered with, or the key does not open it.
    #[error("{location}: {problem}")]
    Integrity {
        location: Location,
        problem: Box<IntegrityProblem>,
        hint: Option<Box<Hint>>,
    },

    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },

    /// `searched` is `None` for a name with a `/`, which is not searched for.
    #[error("{program}: {}", not_found(searched.as_deref()))]
    CommandNotFound {
        program: String,
        searched: Option<String>,
    },

    /// [`Error::CommandNotFound`] for the litestream that `replicate` runs; `config` is the file
    /// where it can be named.
    #[error("{program}: {}", not_found(searched.as_deref()))]
    LitestreamNotFound {
        program: String,
        searched: Option<String>,
        config: PathBuf,
    },

    #[error("{}: cannot execute: {reason}", path.display())]
    CannotExecute { path: PathBuf, reason: ExecProblem },

    /// Something lsenv ran for the user failed (the editor, git), and nothing was written.
    #[error("{failure}")]
    Failed {
        failure: Failure,
        hint: Option<Box<Hint>>,
    },

    /// A terminating signal arrived while lsenv was working; it cleaned up and stops.
    #[error("stopped by signal {signal}; {outcome}")]
    Interrupted { signal: i32, outcome: Cleanup },
}

/// Why a program could not be executed.
#[derive(Debug, thiserror::Error)]
pub enum ExecProblem {
    #[error("its path or an argument holds a NUL byte")]
    Nul,
    #[error("its interpreter or loader was not found")]
    NoInterpreter,
    #[error("it is not an executable file")]
    NotExecutable,
    #[error("{0}")]
    Os(io::Error),
}

fn not_found(searched: Option<&str>) -> String {
    match searched {
        Some(searched) => format!("command not found (searched {searched})"),
        None => "no such file".to_owned(),
    }
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Cli(err) if !err.use_stderr() => 0,
            Self::Cli(_) | Self::Usage { .. } => exit::USAGE,
            Self::Config { .. } => exit::CONFIG,
            Self::Key { .. } => exit::KEY,
            Self::Integrity { .. } => exit::INTEGRITY,
            Self::Io { .. } | Self::Failed { .. } => exit::INTERNAL,
            Self::CommandNotFound { .. } | Self::LitestreamNotFound { .. } => exit::NOT_FOUND,
            Self::CannotExecute { .. } => exit::CANNOT_EXECUTE,
            Self::Interrupted { signal, .. } => {
                u8::try_from(128 + signal).unwrap_or(exit::INTERNAL)
            }
        }
    }

    /// The hint given where the error arose, else the one that goes with its reason.
    pub fn hint(&self) -> Option<String> {
        let (given, own) = match self {
            Self::Usage { hint, problem } => (hint, problem.hint()),
            Self::Config { hint, problem, .. } => (hint, problem.hint()),
            Self::Key { hint, problem, .. } => (hint, problem.hint()),
            Self::Integrity { hint, problem, .. } => (hint, problem.hint()),
            Self::Failed { hint, .. } => (hint, None),
            Self::LitestreamNotFound { config, .. } => {
                return Some(
                    Hint::InstallLitestream {
                        config: config.clone(),
                    }
                    .to_string(),
                );
            }
            Self::CommandNotFound { .. } => {
                return Some(
                    "pass a path to the command, or fix PATH in lsenv's own environment".into(),
                );
            }
            Self::Cli(_)
            | Self::Io { .. }
            | Self::CannotExecute { .. }
            | Self::Interrupted { .. } => return None,
        };
        given.as_ref().map(ToString::to_string).or(own)
    }

    pub fn usage(problem: UsageProblem) -> Self {
        Self::Usage {
            problem: Box::new(problem),
            hint: None,
        }
    }

    pub fn config(location: Location, problem: ConfigProblem) -> Self {
        Self::Config {
            location,
            problem: Box::new(problem),
            hint: None,
        }
    }

    /// `source` names where the key was looked for or found (a path, a variable).
    pub fn key(source: impl fmt::Display, problem: KeyProblem) -> Self {
        Self::Key {
            source_name: source.to_string(),
            problem: Box::new(problem),
            hint: None,
        }
    }

    pub fn integrity(location: Location, problem: IntegrityProblem) -> Self {
        Self::Integrity {
            location,
            problem: Box::new(problem),
            hint: None,
        }
    }

    pub fn failed(failure: Failure) -> Self {
        Self::Failed {
            failure,
            hint: None,
        }
    }

    pub fn io(path: impl Into<PathBuf>, action: &'static str, source: io::Error) -> Self {
        Self::Io {
            path: path.into(),
            action,
            source,
        }
    }

    /// A command that was not found becomes litestream that was not found, for `replicate`.
    #[must_use]
    pub fn for_litestream(self, config: &Path) -> Self {
        match self {
            Self::CommandNotFound { program, searched } => Self::LitestreamNotFound {
                program,
                searched,
                config: config.to_owned(),
            },
            other => other,
        }
    }

    /// Adds (or replaces) the hint of the variants that carry one.
    #[must_use]
    pub fn with_hint(mut self, given: Hint) -> Self {
        if let Self::Usage { hint, .. }
        | Self::Config { hint, .. }
        | Self::Key { hint, .. }
        | Self::Integrity { hint, .. }
        | Self::Failed { hint, .. } = &mut self
        {
            *hint = Some(Box::new(given));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_brings_its_hint_and_a_given_hint_wins() {
        let refused = || {
            Error::config(
                Location::file("config/credentials.yml.enc").key("litestream.ld_preload"),
                ConfigProblem::RefusedName {
                    name: "LD_PRELOAD".into(),
                },
            )
        };
        assert_eq!(
            refused().to_string(),
            "config/credentials.yml.enc: key `litestream.ld_preload`: this name changes how programs run and may not be set from credentials"
        );
        assert_eq!(
            refused().hint().as_deref(),
            Some("if you mean it, add \"LD_PRELOAD\" to `allow` in the [exec] table")
        );
        assert_eq!(
            refused().with_hint(Hint::AnyValue).hint().as_deref(),
            Some("--format shell writes any value exactly")
        );
        assert_eq!(Error::usage(UsageProblem::NoAuditLog).hint(), None);
    }

    #[test]
    fn limits_and_context_are_worded_from_the_fields() {
        let too_large = |limit| ConfigProblem::TooLarge { limit }.to_string();
        assert_eq!(
            too_large(16 << 20),
            "the file is larger than 16 MiB; refusing to read it"
        );
        assert_eq!(
            too_large(64 << 10),
            "the file is larger than 64 KiB; refusing to read it"
        );
        assert_eq!(
            too_large(100),
            "the file is larger than 100 bytes; refusing to read it"
        );
        let replace = |through_link| {
            UsageProblem::CannotReplace {
                path: "out".into(),
                what: "a directory",
                through_link,
            }
            .to_string()
        };
        assert_eq!(
            replace(false),
            "out: is a directory, not a regular file; refusing to replace it"
        );
        assert_eq!(
            replace(true),
            "out: is a symbolic link to a directory, not a regular file; refusing to replace it"
        );
        let wrong_key = |tried| IntegrityProblem::WrongKey { tried }.to_string();
        assert_eq!(
            wrong_key(Some("RAILS_MASTER_KEY".into())),
            "cannot decrypt: wrong key, or the file was changed or damaged (tried the key from RAILS_MASTER_KEY)"
        );
        assert_eq!(
            Error::Interrupted {
                signal: 15,
                outcome: Cleanup::NothingWrittenKept {
                    kept: "c.recovery".into()
                }
            }
            .to_string(),
            "stopped by signal 15; nothing was written; your edit is kept, encrypted, in c.recovery"
        );
    }
}
