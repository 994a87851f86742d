//! age plugins (`age-plugin-NAME`, found on lsenv's own `PATH`), spoken to through the age
//! crate's implementation of the age plugin protocol: their recipients (`age1NAME1…`) and
//! identities (`AGE-PLUGIN-NAME-1…`), their questions (a PIN, a touch, a confirmation) asked on
//! the controlling terminal, and their failures in lsenv's words.
//!
//! Without a terminal (CI, cron, a service) a question is refused at once, never left waiting,
//! and the error says what the plugin asked for.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use age::secrecy::SecretString;

use crate::error::{Error, KeyProblem};
use crate::os::Tty;
use crate::terminal::printable;

/// The binary that serves plugin `name`.
pub fn binary_name(name: &str) -> String {
    format!("age-plugin-{name}")
}

/// The age crate's callbacks for one plugin: its messages and questions go to the terminal, or
/// are refused (and remembered, for the error) without one.
#[derive(Debug, Clone)]
pub struct Prompts {
    binary: String,
    refused: Arc<Mutex<Vec<&'static str>>>,
}

impl Prompts {
    pub fn new(plugin: &str) -> Self {
        Self {
            binary: binary_name(plugin),
            refused: Arc::default(),
        }
    }

    /// What the plugin asked for that could not be asked (no terminal).
    fn refusals(&self) -> Vec<&'static str> {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The terminal, or `None` having noted that `what` could not be asked.
    fn terminal(&self, what: &'static str) -> Option<Tty> {
        let tty = Tty::open();
        if tty.is_none() {
            self.refused
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(what);
        }
        tty
    }

    /// The plugin's text, which it wrote and lsenv did not: shown escaped, after its name.
    fn prompt(&self, text: &str) -> String {
        format!("{}: {}", self.binary, printable(text.as_bytes()))
    }

    /// The error for a plugin that failed. `errors` are the plugin's own messages (escaped:
    /// the plugin wrote them); `subject` says what it was doing, for `file`.
    pub fn failure(&self, errors: &[String], subject: &'static str, file: &Path) -> Error {
        let binary = self.binary.clone();
        let problem = if let Some(&asked) = self.refusals().first() {
            KeyProblem::PluginAskedWithoutTerminal {
                binary,
                asked,
                subject,
            }
        } else if errors.is_empty() {
            KeyProblem::PluginStopped { binary, subject }
        } else {
            let said: Vec<String> = errors
                .iter()
                .map(|error| printable(error.as_bytes()))
                .collect();
            KeyProblem::PluginFailed {
                binary,
                subject,
                said: said.join("; "),
            }
        };
        Error::key(file.display(), problem)
    }
}

/// The error for plugin `name`, which is not on `PATH`; `needed_for` says by what.
pub fn missing(name: &str, needed_for: &str, file: &Path) -> Error {
    Error::key(
        file.display(),
        KeyProblem::PluginMissing {
            binary: binary_name(name),
            needed_for: needed_for.to_owned(),
        },
    )
}

/// The plugin's errors in age's words (which quote what the plugin sent), without the
/// direction-isolating marks age's translations put around each quoted part.
pub fn messages(errors: &[impl std::fmt::Display]) -> Vec<String> {
    errors
        .iter()
        .map(|error| {
            error
                .to_string()
                .chars()
                .filter(|c| !matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
                .collect()
        })
        .collect()
}

impl age::Callbacks for Prompts {
    fn display_message(&self, message: &str) {
        let text = self.prompt(message);
        match Tty::open() {
            Some(mut tty) => tty.say(&format!("lsenv: {text}")),
            None => crate::terminal::say(&text),
        }
    }

    fn confirm(&self, message: &str, yes_string: &str, no_string: Option<&str>) -> Option<bool> {
        let mut tty = self.terminal("a confirmation")?;
        let yes = printable(yes_string.as_bytes());
        let no = printable(no_string.unwrap_or("no").as_bytes());
        let question = format!("lsenv: {} [{yes}/{no}] ", self.prompt(message));
        // Asked again on an answer that is neither; the end of input is no answer.
        for _ in 0..3 {
            let answer = tty.ask(&question, false).ok()?;
            let answer = answer.trim();
            if answer.eq_ignore_ascii_case(&yes) {
                return Some(true);
            }
            if answer.eq_ignore_ascii_case(&no) {
                return Some(false);
            }
        }
        None
    }

    fn request_public_string(&self, description: &str) -> Option<String> {
        let mut tty = self.terminal("an answer")?;
        let answer = tty
            .ask(&format!("lsenv: {} ", self.prompt(description)), false)
            .ok()?;
        Some(answer.to_string()).filter(|answer| !answer.is_empty())
    }

    fn request_passphrase(&self, description: &str) -> Option<SecretString> {
        let mut tty = self.terminal("a secret (PIN or passphrase)")?;
        let secret = tty
            .ask(&format!("lsenv: {} ", self.prompt(description)), true)
            .ok()?;
        Some(SecretString::from(secret.to_string()))
    }
}
