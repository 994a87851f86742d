//! `lsenv keygen`: a new age identity in a 0600 file (never overwritten), its recipient printed
//! for others to encrypt to. The identity itself is printed only when asked for with `-o -`.

use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret as _;
use age::x25519;
use zeroize::Zeroizing;

use crate::env::Env;
use crate::error::{ConfigProblem, Error, Result, UsageProblem};
use crate::os;
use crate::project::Project;
use crate::store::keys::default_identity_file;
use crate::terminal::say;

pub(crate) fn run(project: &Project, output: Option<&Path>, env: &Env) -> Result<()> {
    let identity = x25519::Identity::generate();
    let text = identity_file_text(&identity);
    if output == Some(Path::new("-")) {
        say(&format!("public key: {}", identity.to_public()));
        return crate::terminal::print(text.as_bytes());
    }
    let path = match output {
        Some(path) => path.to_path_buf(),
        None => default_path(env)?,
    };
    if !path.exists() && project.ignore_if_inside(&path)? {
        say(&format!(
            "listed {} in the project's .gitignore before writing it",
            path.display()
        ));
    }
    write_identity(&path, &text)?;
    crate::terminal::print(format!("{}\n", identity.to_public()).as_bytes())
}

/// Creates an identity in the default place for `init --age`; returns where.
pub(crate) fn create_default(env: &Env) -> Result<PathBuf> {
    let identity = x25519::Identity::generate();
    let path = default_path(env)?;
    write_identity(&path, &identity_file_text(&identity))?;
    say(&format!(
        "your age recipient (give it to whoever encrypts for you): {}",
        identity.to_public()
    ));
    Ok(path)
}

pub(crate) fn default_path(env: &Env) -> Result<PathBuf> {
    default_identity_file(env).ok_or_else(|| Error::usage(UsageProblem::NoIdentityHome))
}

/// The identity as `age-keygen` writes it: comments with the recipient, then the secret line.
fn identity_file_text(identity: &x25519::Identity) -> Zeroizing<String> {
    let mut text = Zeroizing::new(format!(
        "# created by lsenv keygen\n# public key: {}\n",
        identity.to_public()
    ));
    text.push_str(identity.to_string().expose_secret());
    text.push('\n');
    text
}

/// An identity file is never overwritten.
pub(crate) fn refuse_existing(path: &Path) -> Result<()> {
    if path.exists() {
        return Err(Error::config(
            crate::error::Location::file(path),
            ConfigProblem::IdentityExists,
        ));
    }
    Ok(())
}

pub(crate) fn write_identity(path: &Path, text: &str) -> Result<()> {
    refuse_existing(path)?;
    os::create_new(path, text.as_bytes(), 0o600)?;
    say(&format!(
        "created the age identity {} (mode 0600): keep it safe, and out of git",
        path.display()
    ));
    Ok(())
}
