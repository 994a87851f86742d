//! `config/lsenv.toml`: the committed, non-secret settings, and the TOML layer of variables.
//!
//! ```toml
//! [credentials]
//! section = "litestream"             # key path of the section that becomes LITESTREAM_*
//! file = "config/credentials.yml.enc" # instead of the Rails lookup
//! identity = "~/.config/lsenv/identity.txt"  # age identity file(s), a string or a list
//! recipients = ["age1…"]             # age recipients besides the recipients file
//!
//! [litestream]                       # non-secret values: replica_bucket = "…" → LITESTREAM_REPLICA_BUCKET
//! [env]                              # NAME = "key.path" anywhere in the credentials
//! [files]                            # NAME = "key.path": NAME is the path of a file holding it
//! [exec]                             # pass = ["HOME", "LC_*"], allow = ["NODE_OPTIONS"]
//! [replicate]                        # config = "config/litestream.yml", litestream = "litestream"
//! [serve]                            # --serve-credentials: sts, role_arn, duration, … (credserver)
//! [environments.production]          # any of the tables above, overlaid key by key
//! ```
//!
//! The file is parsed by hand from a `toml::Table` so that every error names the key without
//! quoting its value.

pub(crate) mod serve;

use std::ffi::OsString;
use std::path::PathBuf;

use toml::{Table, Value};

use crate::error::{ConfigProblem, Error, Location, Result, position_of};
use crate::secret::Secret;
use crate::tree::Node;

pub const CONFIG_FILE: &str = "config/lsenv.toml";
const DEFAULT_SECTION: &str = "litestream";
const DEFAULT_LITESTREAM_CONFIG: &str = "config/litestream.yml";
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The settings after the environment's overlay has been applied.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the file is (or would be), for provenance and messages.
    pub path: PathBuf,
    /// The credentials section that becomes `LITESTREAM_*`, as a dotted key path.
    pub section: String,
    /// `[credentials] whole_file = true`: `section = ""` (every secret of the file a variable)
    /// is meant, not a slip.
    pub whole_file: bool,
    /// `[credentials] file_outside_project = true`: `file` may lie outside the project (a
    /// repository cannot point lsenv at a file elsewhere on its own).
    pub file_outside_project: bool,
    /// A credentials file chosen in TOML instead of the Rails lookup, relative to the root.
    pub credentials_file: Option<PathBuf>,
    /// age identity files (`[credentials] identity`), tried after `LSENV_AGE_IDENTITY[_FILE]`.
    pub identity_files: Vec<PathBuf>,
    /// age recipients listed in TOML, in addition to the recipients file.
    pub recipients: Vec<String>,
    /// `[litestream]` tables in overlay order, each with the table name it came from.
    pub litestream: Vec<(String, Node)>,
    /// `[env]`: extra variables taken from a key path of the credentials.
    pub mappings: Vec<Mapping>,
    pub pass: Vec<String>,
    pub allow: Vec<String>,
    pub litestream_config: PathBuf,
    /// `[replicate] litestream`; `None`: the one lsenv's package brought, else `PATH`'s
    /// (`crate::litestream::program`).
    pub litestream_bin: Option<OsString>,
    /// `[serve]`: the settings of `--serve-credentials`, and that the project runs with it.
    pub serve: Option<serve::Settings>,
}

#[derive(Debug, Clone)]
pub struct Mapping {
    pub name: String,
    pub key_path: String,
    /// The TOML table that declared it, e.g. `[env]` or `[environments.production.env]`.
    pub table: String,
    /// `NAME = { key = "…", optional = true }`: a key path the credentials may lack. Otherwise
    /// a missing key path is an error, not a variable silently left unset.
    pub optional: bool,
    /// Declared in `[files]`: the variable is the path of a file holding the value.
    pub file: bool,
}

impl Config {
    /// The settings of a project without `config/lsenv.toml`.
    pub fn defaults(path: PathBuf) -> Self {
        Self {
            path,
            section: DEFAULT_SECTION.to_owned(),
            whole_file: false,
            file_outside_project: false,
            credentials_file: None,
            identity_files: Vec::new(),
            recipients: Vec::new(),
            litestream: Vec::new(),
            mappings: Vec::new(),
            pass: Vec::new(),
            allow: Vec::new(),
            litestream_config: PathBuf::from(DEFAULT_LITESTREAM_CONFIG),
            litestream_bin: None,
            serve: None,
        }
    }

    /// Reads `path` if it exists, then overlays `[environments.<environment>]`.
    pub fn load(path: PathBuf, environment: Option<&str>) -> Result<Self> {
        let Some(bytes) = crate::os::read_optional(&path, MAX_CONFIG_BYTES)? else {
            return Ok(Self::defaults(path));
        };
        let text = std::str::from_utf8(&bytes).map_err(|err| {
            Error::config(
                Location::file(&path),
                ConfigProblem::NotUtf8 {
                    at: err.valid_up_to(),
                },
            )
        })?;
        let mut table: Table = text.parse().map_err(|err: toml::de::Error| {
            let position = err.span().map(|span| position_of(text, span.start));
            Error::config(
                Location::file(&path).at(position),
                ConfigProblem::InvalidToml {
                    message: err.message().trim_end().to_owned(),
                },
            )
        })?;
        let environments = table.remove("environments");
        let mut config = Self::defaults(path);
        config.apply(table, "")?;
        if let Some(environments) = environments {
            let environments = config.expect_table(environments, "environments")?;
            for (name, overlay) in environments {
                let prefix = format!("environments.{name}.");
                let overlay = config.expect_table(overlay, &format!("environments.{name}"))?;
                if environment == Some(name.as_str()) {
                    config.apply(overlay, &prefix)?;
                } else {
                    // Check the other environments too, so a typo fails everywhere, not only in
                    // production.
                    Self::defaults(config.path.clone()).apply(overlay, &prefix)?;
                }
            }
        }
        if let Some(file) = &config.credentials_file {
            let outside = file.is_absolute()
                || file
                    .components()
                    .any(|part| part == std::path::Component::ParentDir);
            if outside && !config.file_outside_project {
                return Err(Error::config(
                    config.location("credentials.file"),
                    ConfigProblem::OutsideProject,
                ));
            }
        }
        if config.section.is_empty() && !config.whole_file {
            return Err(Error::config(
                config.location("credentials.section"),
                ConfigProblem::EmptySection,
            ));
        }
        Ok(config)
    }

    fn apply(&mut self, table: Table, prefix: &str) -> Result<()> {
        for (name, value) in table {
            let table_name = format!("{prefix}{name}");
            let value = self.expect_table(value, &table_name)?;
            match name.as_str() {
                "credentials" => self.apply_credentials(value, &table_name)?,
                "litestream" => self.litestream.push((table_name, table_to_node(value))),
                "env" => self.apply_env(value, &table_name, false)?,
                "files" => self.apply_env(value, &table_name, true)?,
                "exec" => self.apply_exec(value, &table_name)?,
                "replicate" => self.apply_replicate(value, &table_name)?,
                "serve" => {
                    self.serve
                        .get_or_insert_default()
                        .apply(value, &table_name, &self.path)?;
                }
                // A repository must not be able to switch the user's audit log off or move it.
                "audit" => {
                    return Err(Error::config(
                        self.location(&table_name),
                        ConfigProblem::AuditInProject,
                    ));
                }
                _ => {
                    return Err(self.unknown(
                        &table_name,
                        "credentials, litestream, env, files, exec, replicate, serve, environments",
                    ));
                }
            }
        }
        Ok(())
    }

    fn apply_credentials(&mut self, table: Table, table_name: &str) -> Result<()> {
        for (key, value) in table {
            let full = format!("{table_name}.{key}");
            match key.as_str() {
                "section" => self.section = self.expect_string(value, &full)?,
                "file_outside_project" => match value {
                    Value::Boolean(outside) => self.file_outside_project = outside,
                    other => return Err(self.type_error(&full, "a boolean", &other)),
                },
                "whole_file" => match value {
                    Value::Boolean(whole) => self.whole_file = whole,
                    other => return Err(self.type_error(&full, "a boolean", &other)),
                },
                "file" => self.credentials_file = Some(self.expect_string(value, &full)?.into()),
                "identity" => {
                    self.identity_files = match value {
                        Value::String(path) => vec![path.into()],
                        other => self
                            .expect_strings(other, &full)?
                            .into_iter()
                            .map(PathBuf::from)
                            .collect(),
                    };
                }
                "recipients" => self.recipients = self.expect_strings(value, &full)?,
                _ => {
                    return Err(self.unknown(
                        &full,
                        "section, whole_file, file, file_outside_project, identity, recipients",
                    ));
                }
            }
        }
        Ok(())
    }

    /// `[env]` and `[files]`: a later table (an environment's) replaces a name the base set, but
    /// one level declaring a name in both is ambiguous.
    fn apply_env(&mut self, table: Table, table_name: &str, file: bool) -> Result<()> {
        let level = table_name.rsplit_once('.').map_or("", |(level, _)| level);
        for (name, value) in table {
            let full = format!("{table_name}.{name}");
            let (key_path, optional) = match value {
                Value::Table(mut entry) => {
                    let key_path = entry
                        .remove("key")
                        .ok_or_else(|| {
                            Error::config(self.location(&full), ConfigProblem::TableNeedsKey)
                        })
                        .and_then(|key| self.expect_string(key, &format!("{full}.key")))?;
                    let optional = match entry.remove("optional") {
                        None => false,
                        Some(Value::Boolean(optional)) => optional,
                        Some(other) => {
                            return Err(self.type_error(
                                &format!("{full}.optional"),
                                "a boolean",
                                &other,
                            ));
                        }
                    };
                    if let Some(unknown) = entry.keys().next() {
                        return Err(self.unknown(&format!("{full}.{unknown}"), "key, optional"));
                    }
                    (key_path, optional)
                }
                other => (self.expect_string(other, &full)?, false),
            };
            let both = self.mappings.iter().any(|mapping| {
                mapping.name == name
                    && mapping.file != file
                    && mapping
                        .table
                        .rsplit_once('.')
                        .map_or("", |(level, _)| level)
                        == level
            });
            if both {
                return Err(Error::config(
                    self.location(&full),
                    ConfigProblem::InEnvAndFiles,
                ));
            }
            self.mappings.retain(|mapping| mapping.name != name);
            self.mappings.push(Mapping {
                name,
                key_path,
                table: table_name.to_owned(),
                optional,
                file,
            });
        }
        Ok(())
    }

    fn apply_exec(&mut self, table: Table, table_name: &str) -> Result<()> {
        for (key, value) in table {
            let full = format!("{table_name}.{key}");
            match key.as_str() {
                "pass" => {
                    self.pass = crate::presets::expand(self.expect_strings(value, &full)?)
                        .map_err(|pattern| {
                            Error::config(
                                self.location(&full),
                                ConfigProblem::UnknownPreset { pattern },
                            )
                        })?;
                }
                "allow" => self.allow = self.expect_strings(value, &full)?,
                _ => return Err(self.unknown(&full, "pass, allow")),
            }
        }
        Ok(())
    }

    fn apply_replicate(&mut self, table: Table, table_name: &str) -> Result<()> {
        for (key, value) in table {
            let full = format!("{table_name}.{key}");
            match key.as_str() {
                "config" => self.litestream_config = self.expect_string(value, &full)?.into(),
                "litestream" => {
                    self.litestream_bin = Some(self.expect_string(value, &full)?.into());
                }
                _ => return Err(self.unknown(&full, "config, litestream")),
            }
        }
        Ok(())
    }

    fn location(&self, key: &str) -> Location {
        Location::file(&self.path).key(key)
    }

    fn unknown(&self, key: &str, known: &'static str) -> Error {
        Error::config(self.location(key), ConfigProblem::UnknownSetting { known })
    }

    fn type_error(&self, key: &str, expected: &'static str, found: &Value) -> Error {
        Error::config(
            self.location(key),
            ConfigProblem::WrongType {
                expected,
                found: found.type_str(),
            },
        )
    }

    fn expect_table(&self, value: Value, key: &str) -> Result<Table> {
        match value {
            Value::Table(table) => Ok(table),
            other => Err(self.type_error(key, "a table", &other)),
        }
    }

    fn expect_string(&self, value: Value, key: &str) -> Result<String> {
        match value {
            Value::String(text) => Ok(text),
            other => Err(self.type_error(key, "a string", &other)),
        }
    }

    fn expect_strings(&self, value: Value, key: &str) -> Result<Vec<String>> {
        match value {
            Value::Array(items) => items
                .into_iter()
                .map(|item| self.expect_string(item, key))
                .collect(),
            other => Err(self.type_error(key, "an array of strings", &other)),
        }
    }
}

pub(crate) fn table_to_node(table: Table) -> Node {
    Node::Map(
        table
            .into_iter()
            .map(|(key, value)| (key, value_to_node(value)))
            .collect(),
    )
}

fn value_to_node(value: Value) -> Node {
    match value {
        Value::String(text) => Node::Scalar(Secret::from(text)),
        Value::Table(table) => table_to_node(table),
        Value::Array(_) => Node::List,
        scalar => Node::Scalar(Secret::from(scalar.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::Config;
    use crate::error::Error;

    fn load(text: &str, environment: Option<&str>) -> Result<Config, Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lsenv.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(path, environment)
    }

    #[test]
    fn environment_tables_overlay_the_base() {
        let text = r#"
            [credentials]
            section = "backup.litestream"
            [litestream]
            replica_bucket = "dev"
            [exec]
            pass = ["HOME"]
            [replicate]
            litestream = "/opt/litestream"
            [environments.production.litestream]
            replica_bucket = "prod"
            [environments.production.exec]
            pass = ["LANG"]
        "#;
        let config = load(text, Some("production")).unwrap();
        assert_eq!(config.section, "backup.litestream");
        assert_eq!(config.litestream.len(), 2);
        assert_eq!(config.litestream[1].0, "environments.production.litestream");
        assert_eq!(config.pass, ["LANG"]);
        assert_eq!(
            config.litestream_bin.as_deref(),
            Some("/opt/litestream".as_ref())
        );
        let dev = load(text, None).unwrap();
        assert_eq!(dev.litestream.len(), 1);
        assert_eq!(dev.pass, ["HOME"]);
    }

    #[test]
    fn errors_name_the_key_and_never_the_value() {
        let cases = [
            (
                "[exec]\npass = \"canary\"\n",
                "key `exec.pass`: expected an array of strings, found string",
            ),
            (
                "[replicate]\nconfg = \"canary\"\n",
                "key `replicate.confg`: unknown setting",
            ),
            (
                "[environments.prod.exec]\nallow = [1]\n",
                "key `environments.prod.exec.allow`",
            ),
            (
                "litestream = \"canary\"\n",
                "key `litestream`: expected a table",
            ),
            ("[litestream]\nx = \"canary\n", "lsenv.toml:2:"),
        ];
        for (text, expected) in cases {
            let shown = load(text, None).unwrap_err().to_string();
            assert!(shown.contains(expected), "{text:?}: {shown}");
            assert!(!shown.contains("canary"), "{text:?}: {shown}");
        }
    }

    #[test]
    fn missing_file_gives_defaults() {
        let config = Config::load(PathBuf::from("/nonexistent/lsenv.toml"), Some("x")).unwrap();
        assert_eq!(config.section, "litestream");
        assert_eq!(
            config.litestream_config,
            PathBuf::from("config/litestream.yml")
        );
    }
}
