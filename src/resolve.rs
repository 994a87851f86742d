//! The layers, lowest first: `config/lsenv.toml` < credentials < the environment; a higher
//! layer wins name by name, and every variable remembers which source set it and which sources
//! it overrode. (Built-in defaults are settings only: no variable has a value that is safe
//! everywhere.)
//!
//! Naming: `key` in a section → `LITESTREAM_KEY`, nested maps join with `__`, the gem's
//! `replica_key_id`/`replica_access_key` are aliases of `access_key_id`/`secret_access_key`,
//! `null` is "not set", lists are an error. This module moves secrets; it never formats them.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::config::{Config, Mapping};
use crate::env::Env;
use crate::error::{ConfigProblem, Error, Location, Result, ValueProblem};
use crate::names::{self, PREFIX};
use crate::secret::Secret;
use crate::tree::Node;

/// The gem's key names and the keys they stand for.
const ALIASES: [(&str, &str); 2] = [
    ("replica_key_id", "access_key_id"),
    ("replica_access_key", "secret_access_key"),
];

/// Where a value came from. The file is shared by every value read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Toml { file: Arc<Path>, key: String },
    Credentials { file: Arc<Path>, key: String },
    Environment { name: String },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Toml { file, key } | Source::Credentials { file, key } => {
                write!(f, "{} `{key}`", file.display())
            }
            Source::Environment { name } => write!(f, "environment ${name}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Variable {
    pub value: Secret,
    pub source: Source,
    /// Lower layers that had a value for the same name, lowest first.
    pub overridden: Vec<Source>,
    /// A file secret (`[files]`): the command gets the path of a file holding `value`.
    pub file: bool,
}

impl Variable {
    fn new(value: Secret, source: Source) -> Self {
        Self {
            value,
            source,
            overridden: Vec::new(),
            file: false,
        }
    }

    /// What may be shown instead of the value ([`Secret::fingerprint`]), saying whether the
    /// command gets it as a file.
    pub fn fingerprint(&self) -> String {
        let fingerprint = self.value.fingerprint();
        if self.file {
            format!("file, {fingerprint}")
        } else {
            fingerprint
        }
    }

    /// Whether the value may be a secret: anything but the committed, non-secret TOML. Masks and
    /// output redaction cover these.
    pub fn is_secret(&self) -> bool {
        !matches!(self.source, Source::Toml { .. })
    }

    /// The value of variable `name` as an environment can hold it: refused if it has a NUL byte.
    pub fn env_value(&self, name: &str) -> Result<&[u8]> {
        let value = self.value.expose();
        if value.contains(&0) {
            return Err(self.refusal(name, ValueProblem::HoldsNul));
        }
        Ok(value)
    }

    /// An error naming the variable and where its value came from, never the value.
    pub fn refusal(&self, name: &str, problem: ValueProblem) -> Error {
        let location = match &self.source {
            Source::Toml { file, key } | Source::Credentials { file, key } => {
                Location::file(&**file).key(key)
            }
            Source::Environment { .. } => Location::file("environment"),
        };
        Error::config(
            location,
            ConfigProblem::Value {
                name: name.to_owned(),
                problem,
            },
        )
    }
}

/// The resolved variables: each name once, seen in name order.
#[derive(Debug, Default)]
pub struct Resolution {
    /// In any order (a layer's as its keys are written): moving thousands of entries into name
    /// order would cost more than reading them through `order`.
    variables: Vec<Entry>,
    /// Indices into `variables`, sorted by name.
    order: Vec<usize>,
}

impl Resolution {
    /// Variables already sorted by name, each name once.
    fn sorted(variables: Vec<Entry>) -> Self {
        let order = (0..variables.len()).collect();
        Self { variables, order }
    }

    /// The layers merged: each sets a name at most once, lowest layer first. One pass over all
    /// of them; where several set a name, the highest wins and the others are remembered as
    /// overridden, lowest first. A lone layer is the result as it is.
    fn merge(mut layers: Vec<Resolution>) -> Self {
        layers.retain(|layer| !layer.is_empty());
        if layers.len() <= 1 {
            return layers.pop().unwrap_or_default();
        }
        let mut variables = Vec::with_capacity(layers.iter().map(Resolution::len).sum());
        // Each layer's entries, moved out in name order.
        let mut heads: Vec<_> = layers
            .into_iter()
            .map(|layer| {
                let mut slots: Vec<_> = layer.variables.into_iter().map(Some).collect();
                layer
                    .order
                    .into_iter()
                    .filter_map(move |at| slots[at].take())
                    .peekable()
            })
            .collect();
        loop {
            // The lowest layer holding the smallest name not merged yet.
            let lowest = heads
                .iter_mut()
                .enumerate()
                .filter_map(|(at, head)| Some((at, head.peek()?)))
                .min_by(|(_, (a, _)), (_, (b, _))| a.cmp(b))
                .map(|(at, _)| at);
            let Some((lowest, mut entry)) = lowest.and_then(|at| Some((at, heads[at].next()?)))
            else {
                return Self::sorted(variables);
            };
            let mut overridden = Vec::new();
            for head in &mut heads[lowest + 1..] {
                if let Some(higher) = head.next_if(|(higher, _)| *higher == entry.0) {
                    overridden.push(std::mem::replace(&mut entry, higher).1.source);
                }
            }
            entry.1.overridden = overridden;
            variables.push(entry);
        }
    }

    /// The variables in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Variable)> {
        self.order.iter().map(|&at| {
            let (name, variable) = &self.variables[at];
            (name.as_str(), variable)
        })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.iter().map(|(name, _)| name)
    }

    pub fn get(&self, name: &str) -> Option<&Variable> {
        self.order
            .binary_search_by(|&at| self.variables[at].0.as_str().cmp(name))
            .ok()
            .map(|at| &self.variables[self.order[at]].1)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

impl FromIterator<(String, Variable)> for Resolution {
    /// Variables in any order; of two with one name, the later one is kept.
    fn from_iter<I: IntoIterator<Item = (String, Variable)>>(iter: I) -> Self {
        let variables: Vec<Entry> = iter.into_iter().collect();
        let mut order: Vec<usize> = (0..variables.len()).rev().collect();
        // Stable, so of two equal names the one given last comes first and is kept.
        order.sort_by(|&a, &b| variables[a].0.cmp(&variables[b].0));
        order.dedup_by(|duplicate, kept| variables[*duplicate].0 == variables[*kept].0);
        Self { variables, order }
    }
}

/// The resolution of a project, with what is left of the decrypted document it came from.
#[derive(Debug)]
pub struct Resolved {
    pub resolution: Resolution,
    /// The credentials file and its decrypted document without the section, which became
    /// variables, when the project has credentials.
    pub credentials: Option<(crate::store::Credentials, Node)>,
}

/// Decrypts the project's credentials (if any) and resolves every layer. Unless `whole` asks for
/// the whole document (to list what maps to nothing), only the section and the `[env]` key paths
/// are built.
pub fn resolve_project(
    project: &crate::project::Project,
    env: &Env,
    whole: bool,
) -> Result<Resolved> {
    let config = &project.config;
    let wanted = |path: &str| {
        whole
            || std::iter::once(config.section.as_str())
                .chain(
                    config
                        .mappings
                        .iter()
                        .map(|mapping| mapping.key_path.as_str()),
                )
                .any(|used| related(path, used))
    };
    let mut credentials = match project.credentials(env)? {
        Some(credentials) => {
            let document = credentials.open_only(env, &wanted)?;
            Some((credentials, document))
        }
        None => None,
    };
    let layer = credentials
        .as_mut()
        .map(|(credentials, document)| (document, credentials.file.as_path()));
    let resolution = resolve(&project.config, layer, env)?;
    Ok(Resolved {
        resolution,
        credentials,
    })
}

/// Whether one key path lies within the other (`a` and `a.b`, either way round, or equal).
fn related(path: &str, used: &str) -> bool {
    within(path, used) || within(used, path)
}

/// Whether key path `path` is `prefix` or below it (everything is below the empty path).
pub(crate) fn within(path: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Merges the TOML tables, the decrypted credentials (if any) and the environment.
/// `credentials` is the decrypted document and the file it came from: the section is moved out
/// of it into the variables, so that no secret is copied; the rest is left as it was.
pub fn resolve(
    config: &Config,
    credentials: Option<(&mut Node, &Path)>,
    env: &Env,
) -> Result<Resolution> {
    check_mappings(config)?;
    let mut layers = Vec::new();
    let toml_file: Arc<Path> = config.path.as_path().into();
    for (table, node) in &config.litestream {
        let source = |key: String| Source::Toml {
            file: Arc::clone(&toml_file),
            key,
        };
        let layer = section_variables(node.clone(), table, &source, &config.path)?;
        layers.push(layer.finish(&config.path)?);
    }
    if let Some((document, file)) = credentials {
        layers.push(credentials_variables(config, document, file)?);
    }
    layers.push(Resolution::sorted(environment_variables(config, env)));
    Ok(Resolution::merge(layers))
}

/// Every `[env]` name must be a valid name that no source may set unless allowed.
fn check_mappings(config: &Config) -> Result<()> {
    for mapping in &config.mappings {
        let location =
            Location::file(&config.path).key(format!("{}.{}", mapping.table, mapping.name));
        let name = mapping.name.as_str();
        if !names::is_valid_name(name) {
            return Err(Error::config(location, ConfigProblem::InvalidName));
        }
        if names::is_key_variable(name) {
            return Err(Error::config(location, ConfigProblem::KeyVariable));
        }
        if names::is_refused(name) && !config.allow.iter().any(|allowed| allowed == name) {
            return Err(Error::config(
                location,
                ConfigProblem::RefusedName {
                    name: name.to_owned(),
                },
            ));
        }
    }
    Ok(())
}

/// The credentials layer: the configured section plus the `[env]` mappings.
/// The section is moved out of `document`; the `[env]` values are copied, as one may lie inside
/// the section.
fn credentials_variables(config: &Config, document: &mut Node, file: &Path) -> Result<Resolution> {
    let shared: Arc<Path> = file.into();
    let source = |key: String| Source::Credentials {
        file: Arc::clone(&shared),
        key,
    };
    let mut mapped = Vec::new();
    // `[env]` values are copied first; `[files]` values are moved out, so that a key inside the
    // section becomes the file only, never also a variable holding the bytes.
    let (files, plain): (Vec<&Mapping>, Vec<&Mapping>) =
        config.mappings.iter().partition(|mapping| mapping.file);
    for mapping in plain.into_iter().chain(files) {
        let Mapping {
            name,
            key_path,
            table,
            optional,
            ..
        } = mapping;
        let found = if mapping.file {
            document.take(key_path)
        } else {
            document.get(key_path).cloned()
        };
        match found {
            None if !optional => {
                return Err(Error::config(
                    Location::file(file).key(key_path),
                    ConfigProblem::MissingMappedKey {
                        name: name.clone(),
                        table: table.clone(),
                        config: config.path.clone(),
                        key_path: key_path.to_owned(),
                    },
                ));
            }
            None | Some(Node::Null) => {}
            Some(Node::Scalar(value)) => mapped.push((mapping, value)),
            Some(other) => {
                return Err(Error::config(
                    Location::file(file).key(key_path),
                    ConfigProblem::NotSingleValue {
                        kind: other.kind(),
                        name: name.clone(),
                    },
                ));
            }
        }
    }
    let mut layer = match document.take(&config.section) {
        None | Some(Node::Null) => Layer::default(),
        Some(section) => section_variables(section, &config.section, &source, file)?,
    };
    for (mapping, value) in mapped {
        layer.push(
            mapping.name.clone(),
            value,
            source(mapping.key_path.clone()),
        );
        if mapping.file
            && let Some((_, variable)) = layer.entries.last_mut()
        {
            variable.file = true;
        }
    }
    layer.finish(file)
}

/// `LITESTREAM_*` and the `[env]` names from lsenv's own environment; set-but-empty counts.
/// The environment's variables come sorted and unique.
fn environment_variables(config: &Config, env: &Env) -> Vec<Entry> {
    env.iter_named()
        .filter(|(name, _)| {
            name.starts_with(PREFIX) || config.mappings.iter().any(|mapping| mapping.name == *name)
        })
        .map(|(name, value)| {
            let source = Source::Environment {
                name: name.to_owned(),
            };
            (name.to_owned(), Variable::new(value.clone(), source))
        })
        .collect()
}

/// Flattens a section into `LITESTREAM_*` variables. `path` is the section's key path, `file`
/// the file named in errors.
fn section_variables(
    section: Node,
    path: &str,
    source: &dyn Fn(String) -> Source,
    file: &Path,
) -> Result<Layer> {
    let Node::Map(entries) = section else {
        return Err(Error::config(
            Location::file(file).key(path),
            ConfigProblem::SectionNotMapping {
                kind: section.kind(),
            },
        ));
    };
    let mut layer = Layer {
        entries: Vec::with_capacity(entries.len()),
    };
    for (key, child) in entries {
        let canonical = ALIASES
            .iter()
            .find(|(alias, _)| *alias == key)
            .map(|(_, canonical)| *canonical);
        let (key_path, name) = key_names(&key, canonical, path, PREFIX, file)?;
        flatten(child, key_path, name, source, file, &mut layer)?;
    }
    Ok(layer)
}

/// Adds the variables of `node`, found at `key_path`, named `name` (the variables below it
/// `name__…`).
fn flatten(
    node: Node,
    key_path: String,
    name: String,
    source: &dyn Fn(String) -> Source,
    file: &Path,
    layer: &mut Layer,
) -> Result<()> {
    match node {
        Node::Null => Ok(()),
        Node::Scalar(value) => {
            layer.push(name, value, source(key_path));
            Ok(())
        }
        Node::Map(entries) => {
            let prefix = name + "__";
            entries.into_iter().try_for_each(|(key, child)| {
                let (key_path, name) = key_names(&key, None, &key_path, &prefix, file)?;
                flatten(child, key_path, name, source, file, layer)
            })
        }
        Node::List | Node::Tagged => Err(Error::config(
            Location::file(file).key(key_path),
            ConfigProblem::NotAVariable { kind: node.kind() },
        )),
    }
}

/// The key path of `key` below `parent` and the name of its variable: `prefix` and `key` (or
/// the key it is an alias of) in capitals.
fn key_names(
    key: &str,
    canonical: Option<&str>,
    parent: &str,
    prefix: &str,
    file: &Path,
) -> Result<(String, String)> {
    let key_path = join(parent, key);
    // The key itself: a `.` inside it would end up in the variable's name.
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(Error::config(
            Location::file(file).key(key_path),
            ConfigProblem::KeyNotNamePart,
        ));
    }
    let canonical = canonical.unwrap_or(key);
    let mut name = String::with_capacity(prefix.len() + canonical.len());
    name.push_str(prefix);
    name.push_str(canonical);
    name[prefix.len()..].make_ascii_uppercase();
    Ok((key_path, name))
}

/// A variable one layer sets, by name; nothing overridden yet.
type Entry = (String, Variable);

/// The variables one layer sets, in the order the keys are written.
#[derive(Default)]
struct Layer {
    entries: Vec<Entry>,
}

impl Layer {
    fn push(&mut self, name: String, value: Secret, source: Source) {
        self.entries.push((name, Variable::new(value, source)));
    }

    /// The entries in name order. Two keys of one layer that name the same variable (an alias
    /// and its canonical key, `Foo` and `foo`, `a__b` and `a: {b: …}`) are an error naming both
    /// in the order they are written. Sorting instead of hashing each name as it comes: a layer
    /// may set thousands, and they are often in order already. Only indices are sorted: the
    /// entries (a name, a value and its source) stay where they are.
    fn finish(self, file: &Path) -> Result<Resolution> {
        let entries = self.entries;
        let mut order: Vec<usize> = (0..entries.len()).collect();
        if !entries.is_sorted_by(|(a, _), (b, _)| a < b) {
            // Stable, so two keys naming one variable stay in written order; and a stable sort
            // merges runs already in order (keys mostly written alphabetically) in one pass.
            order.sort_by(|&a, &b| entries[a].0.cmp(&entries[b].0));
        }
        let clash = order
            .windows(2)
            .find(|pair| entries[pair[0]].0 == entries[pair[1]].0);
        if let Some(&[first, second]) = clash {
            let ((_, first), (name, second)) = (&entries[first], &entries[second]);
            let key_of = |source: &Source| match source {
                Source::Toml { key, .. } | Source::Credentials { key, .. } => key.clone(),
                Source::Environment { name } => name.clone(),
            };
            return Err(Error::config(
                Location::file(file).key(key_of(&second.source)),
                ConfigProblem::SetTwice {
                    first: key_of(&first.source),
                    second: key_of(&second.source),
                    name: name.clone(),
                },
            ));
        }
        Ok(Resolution {
            variables: entries,
            order,
        })
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        return key.to_owned();
    }
    let mut joined = String::with_capacity(path.len() + 1 + key.len());
    joined.push_str(path);
    joined.push('.');
    joined.push_str(key);
    joined
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::{Resolution, Source, Variable, resolve};
    use crate::config::{Config, Mapping, table_to_node};
    use crate::env::Env;
    use crate::secret::Secret;
    use crate::tree::Node;
    use crate::yaml;

    fn config(toml_litestream: &str) -> Config {
        let mut config = Config::defaults(PathBuf::from("config/lsenv.toml"));
        let table: toml::Table = toml_litestream.parse().unwrap();
        config
            .litestream
            .push(("litestream".into(), table_to_node(table)));
        config
    }

    fn value(resolution: &Resolution, name: &str) -> Option<String> {
        resolution
            .get(name)
            .map(|v| String::from_utf8(v.value.expose().to_vec()).unwrap())
    }

    fn run(
        config: &Config,
        yaml_text: &str,
        env: &[(&str, &str)],
    ) -> crate::error::Result<Resolution> {
        let mut document = yaml::parse(yaml_text, Path::new("c.yml.enc")).unwrap();
        let env: Env = env.iter().copied().collect();
        resolve(config, Some((&mut document, Path::new("c.yml.enc"))), &env)
    }

    #[test]
    fn layers_win_key_by_key_and_remember_what_they_overrode() {
        let config = config("replica_bucket = \"toml-bucket\"\nreplica_region = \"toml-region\"");
        let yaml = "litestream:\n  replica_bucket: cred-bucket\n  replica_key_id: AKID\n";
        let resolution = run(
            &config,
            yaml,
            &[("LITESTREAM_REPLICA_BUCKET", "env-bucket"), ("OTHER", "x")],
        )
        .unwrap();
        assert_eq!(
            value(&resolution, "LITESTREAM_REPLICA_REGION").as_deref(),
            Some("toml-region")
        );
        assert_eq!(
            value(&resolution, "LITESTREAM_ACCESS_KEY_ID").as_deref(),
            Some("AKID")
        );
        assert_eq!(
            value(&resolution, "LITESTREAM_REPLICA_BUCKET").as_deref(),
            Some("env-bucket")
        );
        assert_eq!(value(&resolution, "OTHER"), None);
        let bucket = resolution.get("LITESTREAM_REPLICA_BUCKET").unwrap();
        assert_eq!(
            bucket.source,
            Source::Environment {
                name: "LITESTREAM_REPLICA_BUCKET".into()
            }
        );
        assert_eq!(bucket.overridden.len(), 2);
        assert!(
            matches!(&bucket.overridden[0], Source::Toml { key, .. } if key == "litestream.replica_bucket")
        );
        assert!(
            matches!(&bucket.overridden[1], Source::Credentials { key, .. } if key == "litestream.replica_bucket")
        );
    }

    #[test]
    fn empty_environment_value_counts_as_set() {
        let resolution = run(
            &config(""),
            "litestream:\n  replica_bucket: b\n",
            &[("LITESTREAM_REPLICA_BUCKET", "")],
        )
        .unwrap();
        assert_eq!(
            value(&resolution, "LITESTREAM_REPLICA_BUCKET").as_deref(),
            Some("")
        );
    }

    #[test]
    fn nested_keys_nulls_and_text() {
        let yaml = "litestream:\n  azure:\n    account_key: k\n  gone: ~\n  port: 0012\n";
        let resolution = run(&config(""), yaml, &[]).unwrap();
        assert_eq!(
            value(&resolution, "LITESTREAM_AZURE__ACCOUNT_KEY").as_deref(),
            Some("k")
        );
        assert_eq!(value(&resolution, "LITESTREAM_GONE"), None);
        assert_eq!(
            value(&resolution, "LITESTREAM_PORT").as_deref(),
            Some("0012")
        );
    }

    #[test]
    fn naming_errors_name_both_keys_and_no_value() {
        let cases = [
            (
                "litestream:\n  replica_key_id: canary1\n  access_key_id: canary2\n",
                "`litestream.replica_key_id` and `litestream.access_key_id` both set LITESTREAM_ACCESS_KEY_ID",
            ),
            (
                "litestream:\n  bucket: canary\n  BUCKET: canary\n",
                "both set LITESTREAM_BUCKET",
            ),
            (
                "litestream:\n  hosts: [canary]\n",
                "key `litestream.hosts`: a list cannot become a variable",
            ),
            (
                "litestream:\n  repli.ca_key_id: canary\n",
                "key `litestream.repli.ca_key_id`: this key cannot become part of a variable name",
            ),
            (
                "litestream:\n  replica-bucket: canary\n",
                "key `litestream.replica-bucket`",
            ),
            (
                "litestream: canary\n",
                "key `litestream`: the section is a value",
            ),
        ];
        for (yaml, expected) in cases {
            let shown = run(&config(""), yaml, &[]).unwrap_err().to_string();
            assert!(shown.contains(expected), "{yaml}: {shown}");
            assert!(!shown.contains("canary"), "{shown}");
        }
    }

    #[test]
    fn mappings_and_refused_names() {
        let mut config = config("");
        config.mappings.push(Mapping {
            file: false,
            name: "GOOGLE_JSON".into(),
            key_path: "gcp.service_account".into(),
            table: "env".into(),
            optional: false,
        });
        let resolution = run(&config, "gcp:\n  service_account: '{\"a\": 1}'\n", &[]).unwrap();
        assert_eq!(
            value(&resolution, "GOOGLE_JSON").as_deref(),
            Some("{\"a\": 1}")
        );

        for name in ["PATH", "LD_PRELOAD", "RAILS_MASTER_KEY", "1BAD"] {
            let mut refused = config.clone();
            refused.mappings[0].name = name.into();
            let err = run(&refused, "gcp:\n  service_account: x\n", &[]).unwrap_err();
            assert!(
                err.to_string().contains(&format!("key `env.{name}`")),
                "{err}"
            );
        }
        let mut allowed = config.clone();
        allowed.mappings[0].name = "NODE_OPTIONS".into();
        allowed.allow.push("NODE_OPTIONS".into());
        assert!(run(&allowed, "gcp:\n  service_account: x\n", &[]).is_ok());
    }

    #[test]
    fn keys_written_in_any_order_are_seen_in_name_order() {
        let yaml = "litestream:\n  mid: m\n  beta: b\n  nested:\n    z: z\n    a: a\n  alpha: c\n";
        let sorted = [
            "LITESTREAM_ALPHA",
            "LITESTREAM_BETA",
            "LITESTREAM_MID",
            "LITESTREAM_NESTED__A",
            "LITESTREAM_NESTED__Z",
        ];
        // A lone layer, and the same merged with the TOML and the environment.
        let lone = run(&config(""), yaml, &[]).unwrap();
        assert_eq!(lone.names().collect::<Vec<_>>(), sorted);
        assert_eq!(lone.len(), sorted.len());
        for name in sorted {
            assert!(lone.contains(name), "{name}");
        }
        assert_eq!(value(&lone, "LITESTREAM_NESTED__A").as_deref(), Some("a"));
        let merged = run(
            &config("zeta = \"t\"\nalpha = \"t\""),
            yaml,
            &[("LITESTREAM_AAA", "e")],
        )
        .unwrap();
        let mut all = vec!["LITESTREAM_AAA"];
        all.extend(sorted);
        all.push("LITESTREAM_ZETA");
        assert_eq!(merged.names().collect::<Vec<_>>(), all);
        assert_eq!(value(&merged, "LITESTREAM_ALPHA").as_deref(), Some("c"));
        assert_eq!(merged.get("LITESTREAM_ALPHA").unwrap().overridden.len(), 1);
        assert!(merged.get("LITESTREAM_B").is_none());

        // Collected in any order, the later of two with one name is kept.
        let variable = |text: &str| {
            Variable::new(
                Secret::copy_from(text.as_bytes()),
                Source::Environment { name: "X".into() },
            )
        };
        let collected: Resolution = [("B", "first"), ("A", "a"), ("B", "last")]
            .into_iter()
            .map(|(name, text)| (name.to_owned(), variable(text)))
            .collect();
        assert_eq!(collected.names().collect::<Vec<_>>(), ["A", "B"]);
        assert_eq!(value(&collected, "B").as_deref(), Some("last"));
    }

    #[test]
    fn missing_section_is_not_an_error() {
        let resolution = run(&config(""), "secret_key_base: abc\n", &[]).unwrap();
        assert!(resolution.is_empty());
        let none = resolve(&config(""), None::<(&mut Node, &Path)>, &Env::default()).unwrap();
        assert!(none.is_empty());
    }
}
