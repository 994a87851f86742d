//! What went wrong in something lsenv ran for the user, and how a stop by a signal left things.

use std::path::PathBuf;

use super::Error;

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The redactor's or the scan's matcher could not be built (the library's own text, which
    /// names sizes, never the patterns).
    #[error("cannot build the redaction filter: {0}")]
    RedactionFilter(String),
    #[error("cannot build the search for the secret values: {0}")]
    ScanSearch(String),
    #[error("the scan is incomplete: {unreadable} file(s) could not be read (scanned {scanned})")]
    ScanIncomplete { unreadable: usize, scanned: String },
    /// `stderr` is git's own message, made printable.
    #[error("git {args} failed: {stderr}")]
    Git { args: String, stderr: String },
    /// `code` is `None` when the editor was killed by a signal.
    #[error("{}; nothing written", editor_exit(*code))]
    Editor { code: Option<i32> },
    /// Saving failed (a full disk, say): the file is as it was.
    #[error("{0}; nothing written")]
    NotWritten(Box<Error>),
    /// The first STS call of `--serve-credentials` failed; `reason` is lsenv's own text (an
    /// error code that STS sent is checked before it is part of it).
    #[error("--serve-credentials: {call} failed: {reason}")]
    Sts { call: &'static str, reason: String },
    #[error("cannot serve credentials on 127.0.0.1: {0}")]
    Endpoint(String),
    /// `keygen --plugin`: the plugin's key generation (`command`) failed or printed no text.
    #[error("{command} {outcome}; nothing written")]
    PluginKeygen { command: String, outcome: String },
}

/// How the editor ended, as the error and the question to re-open it say it.
pub fn editor_exit(code: Option<i32>) -> String {
    match code {
        Some(code) => format!("the editor exited with status {code}"),
        None => "the editor was killed by a signal".to_owned(),
    }
}

/// What lsenv left behind when a signal stopped it.
#[derive(Debug, thiserror::Error)]
pub enum Cleanup {
    #[error("nothing was written")]
    NothingWritten,
    #[error("nothing was written; {}", super::hint::kept_note(kept))]
    NothingWrittenKept { kept: PathBuf },
    #[error("the restored copy was removed")]
    RestoredCopyRemoved,
}
