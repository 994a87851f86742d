//! `lsenv credentials show|diff|rotate-key|recipients|convert` and the git textconv enrolment
//! (`diff --enroll`).
//!
//! `show` and `diff` are the only places that print decrypted credentials, and only to stdout,
//! because the user asked for them. `rotate-key` keeps a usable key for the file at every moment:
//! the old key is saved next to the key file before anything changes, so a crash at any point
//! leaves either the old pair or the new pair, and running it again finishes the job.

use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::commands::edit::EditLock;
use crate::env::Env;
use crate::error::{
    ConfigProblem, Error, IntegrityProblem, KeyProblem, Location, RecipientProblem, Result,
    UsageProblem,
};
use crate::os;
use crate::plan::Recipients;
use crate::project::Project;
use crate::store::keys::{self, AgeKeys, KeySource};
use crate::store::rails::{self, MasterKey};
use crate::store::{Access, Credentials, StoreKind, age};
use crate::terminal::say;

/// The textconv drivers: Rails files share theirs with `rails credentials:diff --enroll`; age
/// files get lsenv's own, which Rails' command could not read.
const DRIVERS: [(&str, [&str; 2]); 2] = [
    (
        "rails_credentials",
        [
            "config/credentials/*.yml.enc diff=rails_credentials",
            "config/credentials.yml.enc diff=rails_credentials",
        ],
    ),
    (
        "lsenv_credentials",
        [
            "config/credentials/*.yml.age diff=lsenv_credentials",
            "config/credentials.yml.age diff=lsenv_credentials",
        ],
    ),
];

pub(crate) fn show(project: &Project, env: &Env) -> Result<()> {
    let credentials = existing(project, env)?;
    crate::terminal::print(credentials.read_text(env)?.as_bytes())
}

/// The project's credentials, which must exist.
fn existing(project: &Project, env: &Env) -> Result<Credentials> {
    project.credentials(env)?.ok_or_else(|| {
        Error::config(
            Location::file(project.path(crate::project::GLOBAL_CREDENTIALS)),
            ConfigProblem::NoCredentials,
        )
    })
}

/// git's textconv: the decrypted text when the keys are at hand, else the file as it is; never
/// an error for git to trip over, so `git diff` and `git log -p` always work. A passphrase file
/// is shown as it is: git runs this without a terminal to ask on.
pub(crate) fn diff(project: &Project, env: &Env, file: &Path) -> Result<()> {
    let raw = os::read_capped(file, rails::MAX_FILE_BYTES)?;
    let access = if age::is_age(&raw) {
        (!age::is_passphrase_file(&raw))
            .then(|| Access::Age(AgeKeys::find(env, &project.root, &project.config, file)))
    } else {
        KeySource::find(env, &project.root, project.environment.as_deref()).map(Access::Rails)
    };
    let decrypted = access
        .and_then(|access| access.load(env).ok())
        .and_then(|keys| keys.decrypt(&raw, file).ok());
    match decrypted {
        Some(text) => crate::terminal::print(text.as_bytes()),
        None => crate::terminal::print(&raw),
    }
}

/// Adds the `.gitattributes` lines and the git config of both textconv drivers, keeping a
/// driver that someone else configured.
pub(crate) fn enroll(project: &Project, env: &Env) -> Result<()> {
    let command = textconv_command(project, env)?;
    for (driver, _) in DRIVERS {
        match git_config_get(project, driver)? {
            Some(existing) if !existing.contains("lsenv") => {
                say(&format!(
                    "kept: diff.{driver}.textconv is already set to `{existing}` (the .gitattributes lines work with it)"
                ));
            }
            _ => {
                git(
                    project,
                    &["config", &format!("diff.{driver}.textconv"), &command],
                )?;
                say(&format!(
                    "set git config diff.{driver}.textconv to `{command}`"
                ));
            }
        }
    }
    let path = project.path(".gitattributes");
    let existing = read_optional(&path)?;
    let missing: Vec<&str> = DRIVERS
        .iter()
        .flat_map(|(_, lines)| lines.iter().copied())
        .filter(|line| !existing.lines().any(|l| l.trim() == *line))
        .collect();
    if !missing.is_empty() {
        let mut text = existing.clone();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        for line in &missing {
            text.push_str(line);
            text.push('\n');
        }
        // Not through a link: a committed one could point anywhere.
        os::replace(&path, text.as_bytes(), 0o644, os::Link::Refuse)?;
    }
    say("git diff and git log -p now show credentials decrypted where the key is at hand");
    Ok(())
}

/// Removes what [`enroll`] added; a driver configured by someone else stays.
pub(crate) fn disenroll(project: &Project) -> Result<()> {
    for (driver, _) in DRIVERS {
        if git_config_get(project, driver)?.is_some_and(|existing| existing.contains("lsenv")) {
            git(
                project,
                &["config", "--unset", &format!("diff.{driver}.textconv")],
            )?;
        }
    }
    let path = project.path(".gitattributes");
    let existing = read_optional(&path)?;
    let ours = |line: &str| {
        DRIVERS
            .iter()
            .any(|(_, lines)| lines.contains(&line.trim()))
    };
    let kept: String = existing
        .lines()
        .filter(|line| !ours(line))
        .flat_map(|line| [line, "\n"])
        .collect();
    if kept != existing {
        os::replace(&path, kept.as_bytes(), 0o644, os::Link::Refuse)?;
    }
    say("removed the credentials diff drivers");
    Ok(())
}

/// `lsenv credentials diff`, with `-C` when the project is not the top of the git work tree
/// (git runs textconv drivers from the top).
fn textconv_command(project: &Project, env: &Env) -> Result<String> {
    let prefix = git(project, &["rev-parse", "--show-prefix"])?;
    let prefix = prefix.trim().trim_end_matches('/');
    let lsenv = lsenv_command(env);
    Ok(if prefix.is_empty() {
        format!("{lsenv} credentials diff")
    } else {
        format!("{lsenv} -C {} credentials diff", shell_words::quote(prefix))
    })
}

/// `lsenv` when that is on `PATH`, for git to find it; else the absolute path of this lsenv.
fn lsenv_command(env: &Env) -> String {
    let path = env
        .get("PATH")
        .map(|path| std::ffi::OsStr::from_bytes(path.expose()));
    if crate::launch::find_program("lsenv".as_ref(), path, Path::new("")).is_ok() {
        return "lsenv".to_owned();
    }
    match std::env::current_exe() {
        Ok(exe) => {
            say(&format!(
                "lsenv is not on PATH, so git is given its full path, {}",
                exe.display()
            ));
            shell_words::quote(&exe.to_string_lossy()).into_owned()
        }
        Err(err) => {
            say(&format!(
                "warning: lsenv is not on PATH and its own path is unknown ({err}): git will not find `lsenv` until it is on PATH"
            ));
            "lsenv".to_owned()
        }
    }
}

fn git_config_get(project: &Project, driver: &str) -> Result<Option<String>> {
    let output = git_output(
        project,
        &["config", "--get", &format!("diff.{driver}.textconv")],
    )?;
    // `git config --get` exits 1 when the key is not set.
    Ok(output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned()))
}

fn git(project: &Project, args: &[&str]) -> Result<String> {
    let output = git_output(project, args)?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(Error::usage(UsageProblem::GitFailed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        }))
    }
}

fn git_output(project: &Project, args: &[&str]) -> Result<std::process::Output> {
    let dir = if project.root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &project.root
    };
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|err| Error::io("git", "run", err))
}

fn read_optional(path: &Path) -> Result<String> {
    os::read_text_optional(path, 1024 * 1024)
}

/// Re-encrypts every credentials file that the key file opens with a new key, keeping the old
/// key in `KEY.old`. Run again after a crash, it finishes what was started.
pub(crate) fn rotate_key(project: &Project, env: &Env) -> Result<()> {
    let target = project.credentials_target(env)?;
    if !target.exists {
        return Err(Error::config(
            Location::file(&target.file),
            ConfigProblem::NoCredentialsToRotate,
        ));
    }
    if target.age.is_some() {
        return Err(Error::config(
            Location::file(&target.file),
            ConfigProblem::AgeHasNoSharedKey,
        ));
    }
    let key_file = match target.key {
        Some(KeySource::File(path)) => path,
        Some(source @ KeySource::Variable(_)) => {
            return Err(Error::key(
                source,
                KeyProblem::FromVariable {
                    key_file: target.new_key_file,
                },
            ));
        }
        None => return Err(project.missing_key(&target.file)),
    };
    let old_key_file = with_suffix(&key_file, ".old");
    let current = KeySource::File(key_file.clone()).load(env)?;
    let files = files_using(project, &key_file, &target.file);
    // Not while one of them is being edited: its recovery file would be left with the old key.
    let _locks = files
        .iter()
        .map(|file| EditLock::acquire(file, env))
        .collect::<Result<Vec<_>>>()?;

    if old_key_file.exists() {
        // Either an earlier rotation finished (every file opens with the key file) and its old
        // key was never removed, or it was interrupted: finish it with the key file's key.
        let old = KeySource::File(old_key_file.clone()).load(env)?;
        let pending = reencrypt_pending(&files, &old, &current)?;
        if pending == 0 {
            return Err(Error::config(
                Location::file(&old_key_file),
                ConfigProblem::OldKeyLeft,
            ));
        }
        say(&format!(
            "finished an interrupted key rotation ({pending} file(s) re-encrypted)"
        ));
        return print_key(&current, &key_file, &old_key_file);
    }

    // Decrypt everything first: nothing changes unless every file opens with the current key.
    // A kept edit goes along, so that it still opens with the key that opens its file.
    let files: Vec<PathBuf> = files
        .iter()
        .flat_map(|file| [file.clone(), crate::commands::edit::recovery_path(file)])
        .filter(|file| file.exists())
        .collect();
    let texts = files
        .iter()
        .map(|file| rails::read(file, &current))
        .collect::<Result<Vec<_>>>()?;
    let new = MasterKey::generate();
    // Ignored before it exists: it opens every earlier version of the files in git history.
    project.ignore_in_git(&old_key_file)?;
    keys::create_key_file(&old_key_file, &current)?;
    os::write_atomic(&key_file, new.to_hex().as_bytes())?;
    for (file, text) in files.iter().zip(&texts) {
        rails::write(file, text.as_bytes(), &new)?;
    }
    for file in &files {
        say(&format!("re-encrypted {}", file.display()));
    }
    print_key(&new, &key_file, &old_key_file)
}

/// Files that the old key opens and the current key does not are re-encrypted with the current
/// key; returns how many. Files neither opens are an error.
fn reencrypt_pending(files: &[PathBuf], old: &MasterKey, current: &MasterKey) -> Result<usize> {
    let mut pending = 0;
    for file in files {
        if rails::read(file, current).is_ok() {
            continue;
        }
        let text = rails::read(file, old)?;
        rails::write(file, text.as_bytes(), current)?;
        pending += 1;
    }
    Ok(pending)
}

fn print_key(key: &MasterKey, key_file: &Path, old_key_file: &Path) -> Result<()> {
    say(&format!(
        "the new key is in {}; the old one is in {} until you remove it. Update RAILS_MASTER_KEY (or LSENV_MASTER_KEY) wherever it is set:",
        key_file.display(),
        old_key_file.display()
    ));
    let mut line = key.to_hex();
    line.push('\n');
    crate::terminal::print(line.as_bytes())
}

/// The credentials files whose key lookup ends at `key_file`: the target, and the global or
/// per-environment files that share the same key file.
fn files_using(project: &Project, key_file: &Path, target: &Path) -> Vec<PathBuf> {
    let mut files = vec![target.to_path_buf()];
    let no_variables = Env::default();
    for (environment, file) in rails_files(project) {
        let same_key = KeySource::find(&no_variables, &project.root, environment.as_deref())
            == Some(KeySource::File(key_file.to_path_buf()));
        if same_key && !files.contains(&file) {
            files.push(file);
        }
    }
    files
}

/// The Rails credentials files of the project that exist, global and per environment, with
/// the environment each belongs to.
fn rails_files(project: &Project) -> Vec<(Option<String>, PathBuf)> {
    let global = project.path(crate::project::GLOBAL_CREDENTIALS);
    let per_environment = std::fs::read_dir(project.path("config/credentials"))
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter_map(|path| {
            let name = path
                .file_name()?
                .to_str()?
                .strip_suffix(".yml.enc")?
                .to_owned();
            Some((Some(name), path))
        });
    [(None, global)]
        .into_iter()
        .chain(per_environment)
        .filter(|(_, file)| file.exists())
        .collect()
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Lists, adds or removes the age recipients of the credentials and re-encrypts them. The
/// recipients file is written first, so an interrupted change is finished by the next write.
pub(crate) fn recipients(project: &Project, env: &Env, change: &Recipients) -> Result<()> {
    let credentials = existing(project, env)?;
    let Access::Age(age_keys) = &credentials.access else {
        return Err(Error::config(
            Location::file(&credentials.file),
            ConfigProblem::RailsHasNoRecipients,
        ));
    };
    let _lock = (!matches!(change, Recipients::List))
        .then(|| EditLock::acquire(&credentials.file, env))
        .transpose()?;
    let file_text = read_optional(&age_keys.recipients_file)?;
    let listed = |recipient: &str| file_text.lines().any(|line| line.trim() == recipient);
    let in_config = |recipient: &str| age_keys.config_recipients.iter().any(|r| r == recipient);
    let new_text = match change {
        Recipients::List => {
            let mut out = String::new();
            for recipient in age_keys.load_recipients()? {
                let recipient = recipient.to_string();
                let place = if listed(&recipient) {
                    &age_keys.recipients_file
                } else {
                    &age_keys.config_path
                };
                let _ = writeln!(out, "{recipient}  ({})", place.display());
            }
            return crate::terminal::print(out.as_bytes());
        }
        Recipients::Add(added) => {
            let Some(text) = with_added(age_keys, &file_text, added)? else {
                say("nothing to add; nothing rewritten");
                return Ok(());
            };
            text
        }
        Recipients::Remove(removed) => {
            for recipient in removed {
                if !listed(recipient) {
                    return Err(if in_config(recipient) {
                        Error::config(
                            Location::file(&age_keys.config_path).key("credentials.recipients"),
                            ConfigProblem::RecipientInConfig,
                        )
                    } else {
                        Error::usage(UsageProblem::NotARecipient {
                            recipient: recipient.clone(),
                            file: credentials.file.clone(),
                        })
                    });
                }
            }
            file_text
                .lines()
                .filter(|line| !removed.iter().any(|r| r == line.trim()))
                .flat_map(|line| [line, "\n"])
                .collect()
        }
    };
    // Decrypt before anything changes: the new recipients file must not outrun a file no one can
    // re-encrypt.
    let keys = credentials.access.load(env)?;
    let text = keys.read(&credentials.file)?;
    let recovery = crate::commands::edit::recovery_path(&credentials.file);
    let kept = os::read_optional(&recovery, rails::MAX_FILE_BYTES)?
        .map(|bytes| keys.decrypt(&bytes, &recovery))
        .transpose()?;
    let recipients = age_keys.recipients_with(&new_text)?;
    let remaining = recipients.len();
    if remaining == 0 {
        return Err(Error::usage(UsageProblem::NoRecipientLeft));
    }
    // Everything is encrypted before anything is written: an age plugin that is missing or fails
    // leaves every file as it was.
    let keys = keys.with_recipients(recipients);
    let sealed = keys.encrypt(&credentials.file, text.as_bytes())?;
    // A kept edit is readable by exactly those who can read the file.
    let kept = kept
        .map(|kept| keys.encrypt(&recovery, kept.as_bytes()))
        .transpose()?;
    os::write_atomic(&age_keys.recipients_file, new_text.as_bytes())?;
    os::write_atomic(&credentials.file, &sealed)?;
    if let Some(kept) = kept {
        os::write_atomic(&recovery, &kept)?;
    }
    say(&format!(
        "re-encrypted {} to {remaining} recipient(s)",
        credentials.file.display()
    ));
    if matches!(change, Recipients::Remove(_)) {
        say(
            "a removed recipient may still hold older copies (git history, backups): rotate the secrets themselves too",
        );
    }
    Ok(())
}

/// The recipients file's text with `added` appended, each once; `None` when every one of them
/// is a recipient already (each is said).
fn with_added(age_keys: &AgeKeys, file_text: &str, added: &[String]) -> Result<Option<String>> {
    let mut text = file_text.to_owned();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let mut new = 0;
    for (number, recipient) in added.iter().enumerate() {
        age::parse_recipient(recipient)
            .map_err(|problem| bad_recipient(number, recipient, problem))?;
        let listed = file_text.lines().any(|line| line.trim() == recipient);
        if listed || age_keys.config_recipients.iter().any(|r| r == recipient) {
            let place = if listed {
                &age_keys.recipients_file
            } else {
                &age_keys.config_path
            };
            say(&format!(
                "{recipient} is already a recipient (listed in {})",
                place.display()
            ));
        } else if !text.lines().any(|line| line.trim() == recipient) {
            text.push_str(recipient);
            text.push('\n');
            new += 1;
        }
    }
    Ok((new > 0).then_some(text))
}

/// A recipient that does not parse, named by its text; an identity given by mistake is a secret,
/// and is named by its position instead.
fn bad_recipient(number: usize, text: &str, problem: RecipientProblem) -> Error {
    const SHOWN: usize = 80;
    if text
        .get(..15)
        .is_some_and(|head| head.eq_ignore_ascii_case("AGE-SECRET-KEY-"))
    {
        return Error::usage(UsageProblem::IdentityForRecipient { number: number + 1 });
    }
    let shown: String = text.chars().take(SHOWN).collect();
    let more = if shown.len() < text.len() { "…" } else { "" };
    Error::usage(UsageProblem::BadRecipient {
        shown: format!("{}{more}", shown.escape_debug()),
        problem,
    })
}

/// Moves the credentials between the Rails and the age store, the text byte for byte; the old
/// file is removed only once the new one reads back identically.
pub(crate) fn convert(project: &Project, env: &Env, to: StoreKind) -> Result<()> {
    let credentials = existing(project, env)?;
    let is_age = matches!(credentials.access, Access::Age(_));
    if is_age == (to == StoreKind::Age) {
        return Err(Error::usage(UsageProblem::AlreadyThatStore {
            file: credentials.file,
            age: is_age,
        }));
    }
    let _lock = EditLock::acquire(&credentials.file, env)?;
    let recovery = crate::commands::edit::recovery_path(&credentials.file);
    if recovery.exists() {
        return Err(Error::config(
            Location::file(&recovery),
            ConfigProblem::EditKept,
        ));
    }
    let text = credentials.read_text(env)?;
    let new_file =
        credentials
            .file
            .with_extension(if to == StoreKind::Age { "age" } else { "enc" });
    if new_file.exists() {
        return Err(Error::config(
            Location::file(&new_file),
            ConfigProblem::WouldOverwrite,
        ));
    }
    let target = project.target(new_file.clone(), false, env);
    let sealing = project.sealing(&target, env)?;
    sealing.persist(project)?;
    sealing.keys.write(&new_file, text.as_bytes())?;
    match sealing.keys.read(&new_file) {
        Ok(back) if *back != *text => {
            let _ = std::fs::remove_file(&new_file);
            return Err(Error::integrity(
                Location::file(&new_file),
                IntegrityProblem::ConvertedDiffers,
            ));
        }
        Ok(_) => {}
        Err(_) => say(&format!(
            "could not read {} back: none of your own identities is among its recipients",
            new_file.display()
        )),
    }
    std::fs::remove_file(&credentials.file)
        .map_err(|err| Error::io(&credentials.file, "remove", err))?;
    say(&format!(
        "moved {} to {}, the text unchanged",
        credentials.file.display(),
        new_file.display()
    ));
    for unused in unused_after_convert(project, &credentials) {
        say(&format!(
            "{unused} is no longer used by any credentials file; remove it once no server or CI needs it"
        ));
    }
    Ok(())
}

/// What opened the credentials before they moved and now opens nothing: a Rails key (its file,
/// and the `.old` one rotate-key left, unless another credentials file shares them, or the
/// variable) or the age recipients file.
fn unused_after_convert(project: &Project, old: &Credentials) -> Vec<String> {
    match &old.access {
        Access::Rails(KeySource::File(key_file)) => {
            let shared = files_using(project, key_file, &old.file)
                .iter()
                .any(|file| *file != old.file);
            if shared {
                return Vec::new();
            }
            [key_file.clone(), with_suffix(key_file, ".old")]
                .into_iter()
                .filter(|file| file.exists())
                .map(|file| file.display().to_string())
                .collect()
        }
        // A key variable comes first for every Rails file.
        Access::Rails(variable @ KeySource::Variable(_)) => {
            if rails_files(project).is_empty() {
                vec![variable.to_string()]
            } else {
                Vec::new()
            }
        }
        Access::Age(keys) if keys.recipients_file.exists() => {
            vec![keys.recipients_file.display().to_string()]
        }
        Access::Age(_) => Vec::new(),
    }
}
