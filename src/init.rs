//! `lsenv init`: sets a project up from the templates in `config/templates/` — `config/lsenv.toml`
//! (every setting shown, commented out), `config/litestream.yml` (one entry per database), a key
//! and an encrypted credentials file holding a `litestream:` template.
//!
//! Nothing that exists is overwritten. Everything that can refuse the run (no database to
//! replicate, a credentials file whose key is missing, a malformed key) is decided before the
//! first write, so a refused init leaves the project as it was. A key created here is the one key
//! lsenv ever prints: once, on stdout.
//!
//! Without `--db`, the databases come from a Rails app's `config/database.yml`: its production
//! SQLite databases, read without running any Ruby (see [`strip_erb`]).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::config;
use crate::env::Env;
use crate::error::{Error, Location, Result};
use crate::keygen;
use crate::os;
use crate::plan::InitOptions;
use crate::project::{Project, Sealing};
use crate::replicas::{Templates, merge_config};
use crate::say;
use crate::store::rails::MasterKey;
use crate::store::{Access, Keys};
use crate::tree::Node;
use crate::yaml;

const CONFIG_TEMPLATE: &str = include_str!("../config/templates/lsenv.toml");
/// The head of `config/litestream.yml`; the type's introduction and `dbs:` follow.
const LITESTREAM_TEMPLATE: &str = include_str!("../config/templates/litestream.yml");
/// The head of the credentials; the type's `litestream:` block follows.
const CREDENTIALS_TEMPLATE: &str = include_str!("../config/templates/credentials.yml");
/// The line of a type's credentials template that opens its section, after a blank line.
const SECTION_LINE: &str = "\nlitestream:\n";

const DATABASE_YML: &str = "config/database.yml";
const MAX_DATABASE_YML_BYTES: u64 = 1024 * 1024;
/// What `<%= … %>` becomes in `config/database.yml`: a plain YAML word that no real path
/// contains, so that a path computed by Ruby is recognised and skipped, never guessed.
const ERB_VALUE: &str = "lsenv-erb-value";
const ASK_FOR_DB: &str = "name each SQLite database to replicate, relative to the project root: lsenv init --db storage/production.sqlite3 --db …";

/// Words YAML 1.1 readers take for booleans or null: never written as plain scalars.
const YAML_WORDS: [&str; 9] = ["true", "false", "yes", "no", "on", "off", "y", "n", "null"];

pub fn run(project: &Project, options: &InitOptions, env: &Env) -> Result<()> {
    let setup = Setup::new(project, options, env)?;
    setup.write(project)
}

/// Everything init will do, decided before anything is written.
struct Setup {
    config: PlainFile,
    litestream: PlainFile,
    procfile: Option<Procfile>,
    credentials: Credentials,
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
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(Error::io(&path, "read", err)),
    };
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
    Ok(Procfile { path, text })
}

impl Procfile {
    fn write(self) -> Result<()> {
        match self.text {
            Some(text) => {
                os::write_atomic(&self.path, text.as_bytes())?;
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
    /// The file exists and its keys are at hand: nothing to do.
    Keep { file: PathBuf, access: Access },
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
            credentials: Credentials::plan(project, env, options.age, &templates)?,
        })
    }

    fn write(self, project: &Project) -> Result<()> {
        self.config.write()?;
        self.litestream.write()?;
        self.credentials.write(project)?;
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
    fn plan(project: &Project, env: &Env, age: bool, templates: &Templates) -> Result<Self> {
        let mut target = project.writable_credentials_target(env)?;
        if target.exists {
            return match target.access() {
                Some(access) => Ok(Self::Keep {
                    file: target.file,
                    access,
                }),
                // Rails makes a key here, one that can never open the file; say what to do instead.
                None => Err(project.missing_key_because(
                    &target.file,
                    "no key found to decrypt this file, and init makes no new key for it, since a new key could never decrypt it",
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

    fn write(self, project: &Project) -> Result<()> {
        let (file, yaml, sealing) = match self {
            Self::Keep { file, access } => {
                say(&format!(
                    "kept existing {} (it opens with {access})",
                    file.display()
                ));
                return Ok(());
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
            project.path(DATABASE_YML).display()
        );
        (rails_databases(project)?, origin)
    } else {
        let paths = given
            .iter()
            .map(|path| {
                path.to_str()
                    .ok_or("the path is not valid UTF-8")
                    .and_then(|text| check_db_path(text).map(|()| text.to_owned()))
                    .map_err(|problem| Error::usage(format!("--db {}: {problem}", path.display())))
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

/// Litestream pastes variables into the raw text of its config, so a `$` in a path would become
/// one; control characters have no place in a path written into YAML.
fn check_db_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        Err("the path is empty")
    } else if path == ":memory:" {
        Err("an in-memory database cannot be replicated")
    } else if path.contains('$') {
        Err("Litestream would read the `$` in it as the start of a variable")
    } else if path.chars().any(char::is_control) {
        Err("the path has a control character")
    } else {
        Ok(())
    }
}

/// The SQLite databases of the `production` environment of `config/database.yml`.
fn rails_databases(project: &Project) -> Result<Vec<String>> {
    let path = project.path(DATABASE_YML);
    if !path.is_file() {
        return Err(Error::usage(format!(
            "no --db given, and there is no {} to find the databases in",
            path.display()
        ))
        .with_hint(ASK_FOR_DB));
    }
    let bytes = os::read_capped(&path, MAX_DATABASE_YML_BYTES)?;
    let text = std::str::from_utf8(&bytes).map_err(|err| {
        Error::config(
            Location::file(&path),
            format!("not valid UTF-8 (at byte {})", err.valid_up_to()),
        )
        .with_hint(ASK_FOR_DB)
    })?;
    let yaml = strip_erb(text).map_err(|offset| {
        Error::config(
            Location::file(&path).at(Some(config::position_of(text, offset))),
            "this ERB tag `<%` is never closed by `%>`",
        )
        .with_hint(ASK_FOR_DB)
    })?;
    let tree = yaml::parse(&yaml, &path).map_err(|err| err.with_hint(ASK_FOR_DB))?;
    let mut found = Vec::new();
    for (name, entry) in production_entries(&tree) {
        match sqlite_database(entry) {
            None => {}
            Some(Ok(database)) => found.push(database),
            Some(Err(problem)) => say(&format!(
                "{}: skipped `{name}`: {problem}; name it with --db PATH",
                path.display()
            )),
        }
    }
    if found.is_empty() {
        return Err(Error::usage(format!(
            "{}: no SQLite database in `production`, so there is nothing to replicate",
            path.display()
        ))
        .with_hint(ASK_FOR_DB));
    }
    Ok(found)
}

/// The database configurations of `production` with their key paths: the environment itself in
/// the single-database form, each child in the multi-database form (Rails' rule: every value of
/// the environment is a mapping).
fn production_entries(tree: &Node) -> Vec<(String, &Node)> {
    let Some(production @ Node::Map(entries)) = tree.get("production") else {
        return Vec::new();
    };
    if !entries.is_empty() && entries.iter().all(|(_, node)| matches!(node, Node::Map(_))) {
        entries
            .iter()
            .map(|(name, node)| (format!("production.{name}"), node))
            .collect()
    } else {
        vec![("production".to_owned(), production)]
    }
}

/// `None` for a configuration whose adapter is not `sqlite3`; else its database path, or why it
/// cannot be used.
fn sqlite_database(entry: &Node) -> Option<Result<String, &'static str>> {
    if scalar_text(entry.get("adapter")) != Some("sqlite3") {
        return None;
    }
    Some(match scalar_text(entry.get("database")) {
        None => Err("it names no database file"),
        Some(path) if path.contains(ERB_VALUE) => Err("its database path is computed by ERB"),
        Some(path) => check_db_path(path).map(|()| path.to_owned()),
    })
}

/// Settings of `config/database.yml`, which are not secrets.
fn scalar_text(node: Option<&Node>) -> Option<&str> {
    match node {
        Some(Node::Scalar(text)) => std::str::from_utf8(text.expose()).ok(),
        _ => None,
    }
}

/// The YAML inside an ERB template, without running any Ruby: `<%= … %>` becomes [`ERB_VALUE`],
/// other tags (`<% … %>`, `<%# … %>`, `<%- … -%>`) disappear, and `<%%` stays a literal `<%`.
/// Both branches of an `if` are kept, which real `database.yml` files survive. Newlines inside a
/// tag are kept so that positions in errors keep their lines. `Err` holds the byte offset of a tag
/// that is never closed.
fn strip_erb(text: &str) -> Result<String, usize> {
    let mut yaml = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<%") {
        yaml.push_str(&rest[..start]);
        let tag = &rest[start + 2..];
        if let Some(after) = tag.strip_prefix('%') {
            yaml.push_str("<%");
            rest = after;
            continue;
        }
        let end = tag.find("%>").ok_or(text.len() - rest.len() + start)?;
        if tag.starts_with('=') {
            yaml.push_str(ERB_VALUE);
        }
        yaml.extend(tag[..end].matches('\n'));
        rest = &tag[end + 2..];
    }
    yaml.push_str(rest);
    Ok(yaml)
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
    let block = templates
        .credentials
        .strip_prefix(SECTION_LINE)
        .expect("a type's credentials.yml starts with a blank line and `litestream:`");
    let segments: Vec<&str> = if section.is_empty() {
        Vec::new()
    } else {
        section.split('.').collect()
    };
    let mut yaml = format!("{CREDENTIALS_TEMPLATE}\n");
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
        && !YAML_WORDS.contains(&text.to_ascii_lowercase().as_str());
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
        CONFIG_TEMPLATE, CREDENTIALS_TEMPLATE, ERB_VALUE, credentials_yaml, litestream_yml,
        production_entries, sqlite_database, strip_erb, yaml_scalar,
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
    fn erb_tags_become_a_placeholder_or_nothing() {
        let text = "a: <%= ENV.fetch(\"X\") { 5 } %>\n<% if x %>\nb: 1\n<%# note\n%>\nc: <%% d %>\n<%- end -%>\n";
        let yaml = strip_erb(text).unwrap();
        assert_eq!(yaml, format!("a: {ERB_VALUE}\n\nb: 1\n\n\nc: <% d %>\n\n"));
        assert_eq!(strip_erb("a: 1\nb: <%= x\n"), Err(8));
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

    #[test]
    fn production_sqlite_databases_single_and_multi() {
        let parse = |text: &str| crate::yaml::parse(text, Path::new("d")).unwrap();
        let found = |tree: &Node| -> Vec<(String, Option<Result<String, &str>>)> {
            production_entries(tree)
                .into_iter()
                .map(|(name, entry)| (name, sqlite_database(entry)))
                .collect()
        };
        let single = parse("production:\n  adapter: sqlite3\n  database: db/p.sqlite3\n");
        assert_eq!(
            found(&single),
            [("production".into(), Some(Ok("db/p.sqlite3".into())))]
        );
        let multi = parse(&format!(
            "production:\n  primary: {{adapter: sqlite3, database: a}}\n  pg: {{adapter: postgresql, database: b}}\n  erb: {{adapter: sqlite3, database: {ERB_VALUE}}}\n  none: {{adapter: sqlite3}}\n"
        ));
        assert_eq!(
            found(&multi),
            [
                ("production.primary".into(), Some(Ok("a".into()))),
                ("production.pg".into(), None),
                (
                    "production.erb".into(),
                    Some(Err("its database path is computed by ERB"))
                ),
                (
                    "production.none".into(),
                    Some(Err("it names no database file"))
                ),
            ]
        );
        assert!(found(&parse("development:\n  adapter: sqlite3\n")).is_empty());
    }
}
