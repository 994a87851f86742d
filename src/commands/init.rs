//! `lsenv init`: sets a project up from the templates in `config/templates/` — `config/lsenv.toml`
//! (every setting shown, commented out), `config/litestream.yml` (one entry per database), a key
//! and an encrypted credentials file holding a `litestream:` template.
//!
//! Nothing that exists is overwritten. Everything that can refuse the run (no database to
//! replicate, a credentials file whose key is missing, a malformed key) is decided before the
//! first write, so a refused init leaves the project as it was. A key created here is the one key
//! lsenv ever prints: once, on stdout.
//!
//! Without `--db`, the databases come from a Rails app's `config/database.yml`
//! ([`crate::database_yml`]).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::commands::keygen;
use crate::database_yml;
use crate::env::Env;
use crate::error::{
    ConfigProblem, DatabasePathProblem, Error, Hint, KeyProblem, Location, Result, UsageProblem,
};
use crate::os;
use crate::plan::InitOptions;
use crate::project::{Project, Sealing};
use crate::replicas::{Templates, merge_config};
use crate::store::rails::MasterKey;
use crate::store::{Access, Keys};
use crate::terminal::say;
use crate::yaml;

const CONFIG_TEMPLATE: &str = include_str!("../../config/templates/lsenv.toml");
/// The head of `config/litestream.yml`; the type's introduction and `dbs:` follow.
const LITESTREAM_TEMPLATE: &str = include_str!("../../config/templates/litestream.yml");
/// The head of the credentials; the type's `litestream:` block follows.
const CREDENTIALS_TEMPLATE: &str = include_str!("../../config/templates/credentials.yml");
/// The line of a type's credentials template that opens its section, after a blank line.
const SECTION_LINE: &str = "\nlitestream:\n";

pub(crate) fn run(project: &Project, options: &InitOptions, env: &Env) -> Result<()> {
    let setup = Setup::new(project, options, env)?;
    setup.write(project, env)
}

/// Everything init will do, decided before anything is written.
struct Setup {
    config: PlainFile,
    litestream: PlainFile,
    procfile: Option<Procfile>,
    credentials: Credentials,
}

/// Whether existing credentials have the section the variables come from.
enum Section {
    Present,
    /// Missing: the YAML to paste (or, with `--append-section`, to append).
    Missing {
        yaml: String,
        append: bool,
    },
    /// The file could not be read to tell (a passphrase file, or it does not decrypt): why.
    Unknown(String),
}

/// The Procfile with a `litestream:` process: its new text, or `None` when one is already there.
struct Procfile {
    path: PathBuf,
    text: Option<String>,
}

/// The process that runs replication next to the app under foreman, overmind or Heroku-style
/// process managers.
const PROCFILE_LINE: &str = "litestream: lsenv replicate";

fn procfile(project: &Project) -> Result<Procfile> {
    let path = project.path("Procfile");
    let existing = os::read_text_optional(&path, 1024 * 1024)?;
    let present = existing
        .lines()
        .any(|line| line.trim_start().starts_with("litestream:"));
    let text = (!present).then(|| {
        let separator = if existing.is_empty() || existing.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        format!("{existing}{separator}{PROCFILE_LINE}\n")
    });
    if text.is_some() {
        // Refused now, not after the other files are written.
        os::destination(&path, os::Link::Refuse)?;
    }
    Ok(Procfile { path, text })
}

impl Procfile {
    fn write(self) -> Result<()> {
        match self.text {
            Some(text) => {
                // Not through a link: a committed one could point anywhere.
                os::replace(&self.path, text.as_bytes(), 0o644, os::Link::Refuse)?;
                say(&format!(
                    "added `{PROCFILE_LINE}` to {}",
                    self.path.display()
                ));
            }
            None => say(&format!(
                "kept {}: it already has a litestream process",
                self.path.display()
            )),
        }
        Ok(())
    }
}

/// A committed, non-secret file: created, or kept as it is.
struct PlainFile {
    path: PathBuf,
    /// `None` when the file exists and is kept.
    text: Option<String>,
    /// Said after "created PATH" or "kept existing PATH".
    detail: String,
}

enum Credentials {
    /// The file exists and its keys are at hand: nothing to do, unless it lacks the section.
    Keep {
        file: PathBuf,
        access: Access,
        section: Section,
    },
    Create {
        file: PathBuf,
        yaml: String,
        sealing: Sealing,
    },
}

impl Setup {
    fn new(project: &Project, options: &InitOptions, env: &Env) -> Result<Self> {
        let databases = options.databases.as_slice();
        let templates = options.replica_type.templates();
        let config = PlainFile::unless_exists(project.config.path.clone(), || {
            Ok((
                merge_config(CONFIG_TEMPLATE, templates.config),
                String::new(),
            ))
        })?;
        let mut litestream =
            PlainFile::unless_exists(project.path(&project.config.litestream_config), || {
                let (paths, origin) = databases_to_replicate(project, databases)?;
                Ok((
                    litestream_yml(&paths, &templates),
                    format!(" for {origin}{}", paths.join(", ")),
                ))
            })?;
        if litestream.text.is_none() && !databases.is_empty() {
            " (the --db paths were not added to it)".clone_into(&mut litestream.detail);
        }
        Ok(Self {
            config,
            litestream,
            procfile: options.procfile.then(|| procfile(project)).transpose()?,
            credentials: Credentials::plan(project, env, options, &templates)?,
        })
    }

    fn write(self, project: &Project, env: &Env) -> Result<()> {
        self.config.write()?;
        self.litestream.write()?;
        self.credentials.write(project, env)?;
        if let Some(procfile) = self.procfile {
            procfile.write()?;
        }
        let flag = project
            .environment
            .as_ref()
            .map(|name| format!(" -e {name}"))
            .unwrap_or_default();
        say(&format!(
            "next: fill in the secrets with `lsenv credentials edit{flag}`, then run `lsenv{flag} replicate`"
        ));
        Ok(())
    }
}

impl PlainFile {
    /// Keeps `path` if it exists; else `make` gives its text and the detail to say about it.
    fn unless_exists(
        path: PathBuf,
        make: impl FnOnce() -> Result<(String, String)>,
    ) -> Result<Self> {
        if path.exists() {
            return Ok(Self {
                path,
                text: None,
                detail: String::new(),
            });
        }
        let (text, detail) = make()?;
        Ok(Self {
            path,
            text: Some(text),
            detail,
        })
    }

    fn write(self) -> Result<()> {
        let path = self.path.display();
        let detail = &self.detail;
        match &self.text {
            Some(text) => {
                os::create_new(&self.path, text.as_bytes(), 0o644)?;
                say(&format!("created {path}{detail}"));
            }
            None => say(&format!("kept existing {path}{detail}")),
        }
        Ok(())
    }
}

impl Credentials {
    fn plan(
        project: &Project,
        env: &Env,
        options: &InitOptions,
        templates: &Templates,
    ) -> Result<Self> {
        let age = options.age;
        let mut target = project.writable_credentials_target(env)?;
        if target.exists {
            return match target.access() {
                Some(access) => {
                    let section = section_of(project, &target.file, &access, env, templates);
                    if let (true, Section::Unknown(why)) = (options.append_section, &section) {
                        return Err(Error::config(
                            Location::file(&target.file),
                            ConfigProblem::CannotAddSection {
                                section: project.config.section.clone(),
                                why: why.clone(),
                            },
                        ));
                    }
                    let section = match section {
                        Section::Missing { yaml, .. } => Section::Missing {
                            yaml,
                            append: options.append_section,
                        },
                        other => other,
                    };
                    Ok(Self::Keep {
                        file: target.file,
                        access,
                        section,
                    })
                }
                // Rails makes a key here, one that can never open the file; say what to do instead.
                None => Err(Error::key(
                    target.file.display(),
                    KeyProblem::MissingForInit {
                        key_files: project.key_files(),
                    },
                )),
            };
        }
        if age && target.age.is_none() {
            target = project.target(target.file.with_extension("age"), false, env);
        }
        if let Some(keys) = &target.age
            && keys.identities.is_empty()
            && !keys.recipients_file.exists()
            && keys.config_recipients.is_empty()
        {
            // Nobody to encrypt to yet: the user's own identity, made now.
            keygen::create_default(env)?;
            target = project.target(target.file, false, env);
        }
        Ok(Self::Create {
            sealing: project.sealing(&target, env)?,
            file: target.file,
            yaml: credentials_yaml(&project.config.section, templates),
        })
    }

    fn write(self, project: &Project, env: &Env) -> Result<()> {
        let (file, yaml, sealing) = match self {
            Self::Keep {
                file,
                access,
                section,
            } => {
                say(&format!(
                    "kept existing {} (it opens with {access})",
                    file.display()
                ));
                return keep_section(project, &file, &access, section, env);
            }
            Self::Create {
                file,
                yaml,
                sealing,
            } => (file, yaml, sealing),
        };
        let new_key = sealing.new_key_file().map(Path::to_path_buf);
        sealing.persist(project)?;
        if let Some(dir) = file.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|err| Error::io(dir, "create", err))?;
        }
        sealing.keys.write(&file, yaml.as_bytes())?;
        say(&format!(
            "created {} with a litestream: template, encrypted {}",
            file.display(),
            sealing.description
        ));
        if let (Some(_), Keys::Rails(key)) = (new_key, &sealing.keys) {
            say(
                "the new key follows on stdout, shown this once only: keep it in a password manager, and give it to servers as RAILS_MASTER_KEY and to CI as a secret",
            );
            print_key(key)?;
        }
        Ok(())
    }
}

/// Whether the credentials in `file` have the configured section.
fn section_of(
    project: &Project,
    file: &Path,
    access: &Access,
    env: &Env,
    templates: &Templates,
) -> Section {
    let section = &project.config.section;
    let opened = os::read_capped(file, crate::store::rails::MAX_FILE_BYTES).and_then(|bytes| {
        if crate::store::age::is_passphrase_file(&bytes) {
            return Ok(None);
        }
        let text = access.load(env)?.decrypt(&bytes, file)?;
        Ok(Some(yaml::parse(&text, file)?.get(section).is_some()))
    });
    match opened {
        Ok(Some(true)) => Section::Present,
        Ok(Some(false)) => Section::Missing {
            yaml: section_yaml(section, templates),
            append: false,
        },
        Ok(None) => Section::Unknown("it is encrypted with a passphrase".into()),
        Err(err) => Section::Unknown(err.to_string()),
    }
}

/// Existing credentials without the section: it is printed to paste, or with
/// `--append-section` added as `credentials edit` saves.
fn keep_section(
    project: &Project,
    file: &Path,
    access: &Access,
    section: Section,
    env: &Env,
) -> Result<()> {
    let name = &project.config.section;
    match section {
        Section::Present => Ok(()),
        Section::Unknown(why) => {
            say(&format!(
                "could not check {} for a `{name}:` section: {why}",
                file.display()
            ));
            Ok(())
        }
        Section::Missing {
            yaml,
            append: false,
        } => {
            say(&format!(
                "{} has no `{name}:` section, so it sets no LITESTREAM_* variable. Add the section below with `lsenv credentials edit`, or run `lsenv init --append-section` to have it added:",
                file.display()
            ));
            crate::terminal::print(format!("\n{yaml}").as_bytes())
        }
        Section::Missing { yaml, append: true } => {
            let keys = access.load(env)?;
            crate::commands::edit::change(file, &keys, env, |text| {
                let mut changed =
                    zeroize::Zeroizing::new(String::with_capacity(text.len() + yaml.len() + 2));
                changed.push_str(text);
                if !changed.is_empty() && !changed.ends_with('\n') {
                    changed.push('\n');
                }
                changed.push('\n');
                changed.push_str(&yaml);
                changed
            })?;
            let has_it = keys
                .read(file)
                .and_then(|text| yaml::parse(&text, file).map(|tree| tree.get(name).is_some()))?;
            if !has_it {
                return Err(Error::config(
                    Location::file(file),
                    ConfigProblem::SectionNotReadBack {
                        section: name.clone(),
                    },
                ));
            }
            say(&format!(
                "added a `{name}:` section to {}: fill it in with `lsenv credentials edit`",
                file.display()
            ));
            Ok(())
        }
    }
}

/// The key, its one line on stdout: written straight from its zeroizing buffer, never formatted
/// into another string.
fn print_key(key: &MasterKey) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(key.to_hex().as_bytes())
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush())
        .map_err(|err| Error::io("stdout", "print the new key", err))
}

/// `--db` as given, else the production SQLite databases of a Rails app, without repeats; and
/// where they came from, for the message.
fn databases_to_replicate(project: &Project, given: &[PathBuf]) -> Result<(Vec<String>, String)> {
    let (found, origin) = if given.is_empty() {
        let origin = format!(
            "the production databases of {}: ",
            project.path(database_yml::PATH).display()
        );
        (
            database_yml::sqlite_databases(project, &Hint::AskForDb)?,
            origin,
        )
    } else {
        let paths = given
            .iter()
            .map(|path| {
                path.to_str()
                    .ok_or(DatabasePathProblem::NotUtf8)
                    .and_then(|text| database_yml::check_db_path(text).map(|()| text.to_owned()))
                    .map_err(|problem| {
                        Error::usage(UsageProblem::BadDatabasePath {
                            path: path.clone(),
                            problem,
                        })
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        (paths, String::new())
    };
    let mut unique: Vec<String> = Vec::with_capacity(found.len());
    for path in found {
        if !unique.contains(&path) {
            unique.push(path);
        }
    }
    Ok((unique, origin))
}

fn litestream_yml(paths: &[String], templates: &Templates) -> String {
    let mut text = format!("{LITESTREAM_TEMPLATE}{}dbs:\n", templates.litestream_intro);
    for path in paths {
        text.push_str(
            &templates
                .litestream_db
                .replace("{path}", &yaml_scalar(path)),
        );
    }
    text
}

/// The credentials template with its `litestream:` block under `section`, the dotted key path
/// `[credentials] section` may set (the empty path puts the block's keys at the top level).
fn credentials_yaml(section: &str, templates: &Templates) -> String {
    format!(
        "{CREDENTIALS_TEMPLATE}\n{}",
        section_yaml(section, templates)
    )
}

/// The type's `litestream:` block of the credentials template, under `section`.
fn section_yaml(section: &str, templates: &Templates) -> String {
    let block = templates
        .credentials
        .strip_prefix(SECTION_LINE)
        .expect("a type's credentials.yml starts with a blank line and `litestream:`");
    let segments: Vec<&str> = if section.is_empty() {
        Vec::new()
    } else {
        section.split('.').collect()
    };
    let mut yaml = String::new();
    for (depth, segment) in segments.iter().enumerate() {
        let _ = writeln!(yaml, "{:1$}{2}:", "", 2 * depth, yaml_scalar(segment));
    }
    let indent = " ".repeat(2 * segments.len());
    for line in block.lines() {
        match line.strip_prefix("  ").unwrap_or(line) {
            "" => yaml.push('\n'),
            line => {
                let _ = writeln!(yaml, "{indent}{line}");
            }
        }
    }
    yaml
}

/// `text` as a YAML scalar: plain when no YAML reader can take it for anything but that string
/// (a path or a word), else double-quoted.
fn yaml_scalar(text: &str) -> Cow<'_, str> {
    let plain = text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '/')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'))
        && !crate::yaml::syntax::is_reserved_word(text);
    if plain {
        return Cow::Borrowed(text);
    }
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                quoted.push('\\');
                quoted.push(c);
            }
            c if c.is_control() => {
                let _ = write!(quoted, "\\u{:04X}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    Cow::Owned(quoted)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{
        CONFIG_TEMPLATE, CREDENTIALS_TEMPLATE, credentials_yaml, litestream_yml, yaml_scalar,
    };
    use crate::config::Config;
    use crate::replicas::ReplicaType;
    use crate::tree::Node;

    fn load_config(text: &str, environment: Option<&str>) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lsenv.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(path, environment).unwrap()
    }

    /// As written the template changes nothing; with every setting uncommented it still loads.
    #[test]
    fn config_template_shows_every_setting_and_each_is_valid() {
        let config = load_config(CONFIG_TEMPLATE, Some("production"));
        assert!(config.mappings.is_empty() && config.pass.is_empty());
        let uncommented: String = CONFIG_TEMPLATE
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(setting)
                    if setting.starts_with('[')
                        || setting.split_once(" = ").is_some_and(|(key, _)| {
                            key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        }) =>
                {
                    format!("{setting}\n")
                }
                _ => format!("{line}\n"),
            })
            .collect();
        for setting in [
            "[credentials]",
            "\nsection = ",
            "\nfile = ",
            "[litestream]",
            "\nreplica_bucket = ",
            "[env]",
            "[files]",
            "[exec]",
            "\npass = ",
            "\nallow = ",
            "[replicate]",
            "\nconfig = ",
            "\nlitestream = ",
            "[environments.production.litestream]",
        ] {
            assert!(uncommented.contains(setting), "{setting} is not shown");
        }
        let config = load_config(&uncommented, Some("production"));
        assert_eq!(config.mappings.len(), 3);
        assert_eq!(config.litestream.len(), 2);
        assert!(config.credentials_file.is_some());
    }

    #[test]
    fn credentials_template_moves_under_the_configured_section() {
        let s3 = ReplicaType::S3.templates();
        assert_eq!(
            credentials_yaml("litestream", &s3),
            format!("{CREDENTIALS_TEMPLATE}{}", s3.credentials)
        );
        for section in ["backup.litestream", "", "odd key.yes"] {
            let yaml = credentials_yaml(section, &s3);
            let tree = crate::yaml::parse(&yaml, Path::new("t")).unwrap();
            let Some(Node::Map(entries)) = tree.get(section) else {
                panic!("{section:?}:\n{yaml}");
            };
            let keys: Vec<&str> = entries.iter().map(|(key, _)| key.as_str()).collect();
            assert_eq!(
                keys,
                [
                    "replica_bucket",
                    "replica_key_id",
                    "replica_access_key",
                    "replica_region",
                    "replica_endpoint"
                ],
                "{section:?}"
            );
        }
    }

    #[test]
    fn scalars_are_plain_only_when_unambiguous() {
        for plain in [
            "storage/production.sqlite3",
            "/var/db/a-b.sqlite3",
            "litestream",
        ] {
            assert_eq!(yaml_scalar(plain), plain);
        }
        for (text, quoted) in [
            ("./db.sqlite3", r#""./db.sqlite3""#),
            ("yes", r#""yes""#),
            ("1.5", r#""1.5""#),
            ("my db: \"x\\y\".sqlite3", r#""my db: \"x\\y\".sqlite3""#),
            ("#a\tb", r##""#a\u0009b""##),
        ] {
            assert_eq!(yaml_scalar(text), quoted);
        }
    }

    /// Quoted paths survive the trip through a YAML parser, in both places they are written.
    #[test]
    fn litestream_yml_parses_with_odd_paths() {
        let paths = [
            "storage/a.sqlite3".to_owned(),
            "my db: #1.sqlite3".to_owned(),
        ];
        let value: serde_yaml::Value =
            serde_yaml::from_str(&litestream_yml(&paths, &ReplicaType::S3.templates())).unwrap();
        for (i, path) in paths.iter().enumerate() {
            let entry = &value["dbs"][i];
            assert_eq!(entry["path"].as_str(), Some(path.as_str()));
            assert_eq!(entry["replica"]["path"].as_str(), Some(path.as_str()));
            assert_eq!(entry["replica"]["type"].as_str(), Some("s3"));
        }
    }
}
