//! `lsenv explain`: for each variable, the source that won, every lower layer it overrode, and
//! its fingerprint; then what maps to nothing: credentials keys no variable comes from, and
//! `$VAR`s in the Litestream config that nothing sets. Values are never shown.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::env::Env;
use crate::error::Result;
use crate::litestream;
use crate::project::Project;
use crate::resolve::{self, Source, Variable, within};
use crate::tree::Node;

pub(crate) fn run(project: &Project, env: &Env, names: &[String], json: bool) -> Result<()> {
    let resolved = resolve::resolve_project(project, env, true)?;
    let report = Report::new(project, env, &resolved, names)?;
    let text = if json {
        format!("{:#}\n", report.to_json())
    } else {
        report.to_text()
    };
    crate::terminal::print(text.as_bytes())
}

struct Report<'a> {
    /// The variables asked about (all of them when none were named).
    shown: Vec<(&'a str, &'a Variable)>,
    /// Names asked about that no layer sets.
    not_set: Vec<&'a str>,
    unused_keys: Vec<String>,
    unresolved: Vec<litestream::Reference>,
    /// Replicas left to a cloud SDK's default chain ([`crate::ambient`]).
    ambient: Vec<(crate::error::Position, String)>,
    litestream_config: String,
    /// `[serve]`: the variables served rather than set, and what the command gets instead.
    served: Option<(Vec<String>, String)>,
}

impl<'a> Report<'a> {
    fn new(
        project: &Project,
        env: &Env,
        resolved: &'a resolve::Resolved,
        asked: &'a [String],
    ) -> Result<Self> {
        let resolution = &resolved.resolution;
        let mut not_set = Vec::new();
        let shown = if asked.is_empty() {
            resolution.iter().collect()
        } else {
            let mut shown = Vec::new();
            for name in asked {
                match resolution.get(name) {
                    Some(variable) => shown.push((name.as_str(), variable)),
                    None => not_set.push(name.as_str()),
                }
            }
            shown
        };
        let unused_keys = resolved
            .credentials
            .as_ref()
            .map(|(_, document)| unused_keys(project, document))
            .unwrap_or_default();
        let config_path = project.path(&project.config.litestream_config);
        let unresolved = litestream::unresolved_references(&config_path, project, env, resolution)?;
        let ambient = litestream::read_config(&config_path)?
            .map(|text| crate::ambient::notes(&text, resolution, &project.config.pass))
            .unwrap_or_default();
        Ok(Self {
            shown,
            not_set,
            unused_keys,
            unresolved,
            ambient,
            litestream_config: config_path.display().to_string(),
            served: project
                .config
                .serve
                .as_ref()
                .map(|settings| crate::credserver::explain(resolution, settings)),
        })
    }

    fn to_text(&self) -> String {
        let mut out = String::new();
        for (name, variable) in &self.shown {
            let _ = writeln!(out, "{name}  ({})", variable.fingerprint());
            let _ = writeln!(out, "  from  {}", variable.source);
            for lower in variable.overridden.iter().rev() {
                let _ = writeln!(out, "  over  {lower}");
            }
        }
        for name in &self.not_set {
            let _ = writeln!(out, "{name}  not set by any layer");
        }
        if self.shown.is_empty() && self.not_set.is_empty() {
            out.push_str("no variable is resolved: no layer sets any\n");
        }
        if let Some((names, instead)) = &self.served {
            let names = if names.is_empty() {
                "none is resolved".to_owned()
            } else {
                names.join(", ")
            };
            let _ = writeln!(
                out,
                "\nwith --serve-credentials ([serve]) these are served, not set: {names}\n{instead}"
            );
        }
        if !self.unused_keys.is_empty() {
            let _ = writeln!(
                out,
                "\ncredentials keys that become no variable: {}",
                self.unused_keys.join(", ")
            );
        }
        for reference in &self.unresolved {
            let _ = write!(
                out,
                "\n{}:{}:{}: ${} is set by nothing; Litestream would read it as empty",
                self.litestream_config,
                reference.position.line,
                reference.position.column,
                reference.name
            );
        }
        for (position, note) in &self.ambient {
            let _ = write!(
                out,
                "\n{}:{}:{}: {note}",
                self.litestream_config, position.line, position.column
            );
        }
        if !self.unresolved.is_empty() || !self.ambient.is_empty() {
            out.push('\n');
        }
        out
    }

    fn to_json(&self) -> Value {
        let variables: serde_json::Map<String, Value> = self
            .shown
            .iter()
            .map(|(name, variable)| {
                let value = json!({
                    "fingerprint": variable.fingerprint(),
                    "file": variable.file,
                    "source": source_json(&variable.source),
                    "overridden": variable.overridden.iter().map(source_json).collect::<Vec<_>>(),
                });
                ((*name).to_owned(), value)
            })
            .collect();
        let mut report = json!({
            "variables": variables,
            "not_set": self.not_set,
            "unused_credentials_keys": self.unused_keys,
            "unresolved_references": self.unresolved.iter().map(|r| json!({
                "name": r.name,
                "file": self.litestream_config,
                "line": r.position.line,
                "column": r.position.column,
            })).collect::<Vec<_>>(),
            "ambient_identity": self.ambient.iter().map(|(position, note)| json!({
                "file": self.litestream_config,
                "line": position.line,
                "column": position.column,
                "message": note,
            })).collect::<Vec<_>>(),
        });
        if let Some((names, instead)) = &self.served {
            report["served"] = json!({ "variables": names, "instead": instead });
        }
        report
    }
}

pub(crate) fn source_json(source: &Source) -> Value {
    match source {
        Source::Toml { file, key } => {
            json!({"layer": "toml", "file": file.display().to_string(), "key": key})
        }
        Source::Credentials { file, key } => {
            json!({"layer": "credentials", "file": file.display().to_string(), "key": key})
        }
        Source::Environment { name } => json!({"layer": "environment", "variable": name}),
    }
}

/// Leaf key paths of the credentials that neither the section nor an `[env]` mapping uses.
fn unused_keys(project: &Project, document: &Node) -> Vec<String> {
    let config = &project.config;
    let used = |path: &str| {
        within(path, &config.section)
            || config
                .mappings
                .iter()
                .any(|mapping| within(path, &mapping.key_path))
    };
    let mut leaves = Vec::new();
    collect_leaves(document, "", &mut leaves);
    leaves.retain(|path| !used(path));
    leaves
}

fn collect_leaves(node: &Node, path: &str, out: &mut Vec<String>) {
    match node {
        Node::Map(entries) => {
            for (key, child) in entries {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                collect_leaves(child, &child_path, out);
            }
        }
        _ if path.is_empty() => {}
        _ => out.push(path.to_owned()),
    }
}
