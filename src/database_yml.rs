//! What lsenv reads of a Rails app's `config/database.yml`: the SQLite databases of its
//! `production` environment, for `init` to replicate. Read as YAML without running any Ruby (see
//! [`strip_erb`]); its settings are not secrets.

use crate::error::{
    ConfigProblem, DatabasePathProblem, Error, Hint, Location, Result, UsageProblem,
};
use crate::os;
use crate::project::Project;
use crate::terminal::say;
use crate::tree::Node;
use crate::yaml;

pub(crate) const PATH: &str = "config/database.yml";
const MAX_DATABASE_YML_BYTES: u64 = 1024 * 1024;
/// What `<%= … %>` becomes in `config/database.yml`: a plain YAML word that no real path
/// contains, so that a path computed by Ruby is recognised and skipped, never guessed.
const ERB_VALUE: &str = "lsenv-erb-value";
/// Litestream pastes variables into the raw text of its config, so a `$` in a path would become
/// one; control characters have no place in a path written into YAML.
pub(crate) fn check_db_path(path: &str) -> Result<(), DatabasePathProblem> {
    if path.is_empty() {
        Err(DatabasePathProblem::Empty)
    } else if path == ":memory:" {
        Err(DatabasePathProblem::InMemory)
    } else if path.contains('$') {
        Err(DatabasePathProblem::Dollar)
    } else if path.chars().any(char::is_control) {
        Err(DatabasePathProblem::ControlCharacter)
    } else {
        Ok(())
    }
}

/// The SQLite databases of the `production` environment of `config/database.yml`; `ask` is the
/// hint for naming them by hand instead.
pub(crate) fn sqlite_databases(project: &Project, ask: &Hint) -> Result<Vec<String>> {
    let path = project.path(PATH);
    if !path.is_file() {
        return Err(Error::usage(UsageProblem::NoDatabaseYml { path }).with_hint(ask.clone()));
    }
    let bytes = os::read_capped(&path, MAX_DATABASE_YML_BYTES)?;
    let text = std::str::from_utf8(&bytes).map_err(|err| {
        Error::config(
            Location::file(&path),
            ConfigProblem::NotUtf8 {
                at: err.valid_up_to(),
            },
        )
        .with_hint(ask.clone())
    })?;
    let yaml = strip_erb(text).map_err(|offset| {
        Error::config(
            Location::file(&path).at(Some(crate::error::position_of(text, offset))),
            ConfigProblem::UnclosedErb,
        )
        .with_hint(ask.clone())
    })?;
    let tree = yaml::parse(&yaml, &path).map_err(|err| err.with_hint(ask.clone()))?;
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
        return Err(Error::usage(UsageProblem::NoSqliteDatabase { path }).with_hint(ask.clone()));
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
fn sqlite_database(entry: &Node) -> Option<Result<String, DatabasePathProblem>> {
    if scalar_text(entry.get("adapter")) != Some("sqlite3") {
        return None;
    }
    Some(match scalar_text(entry.get("database")) {
        None => Err(DatabasePathProblem::NoFile),
        Some(path) if path.contains(ERB_VALUE) => Err(DatabasePathProblem::Erb),
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{ERB_VALUE, production_entries, sqlite_database, strip_erb};
    use crate::error::DatabasePathProblem;
    use crate::tree::Node;

    #[test]
    fn erb_tags_become_a_placeholder_or_nothing() {
        let text = "a: <%= ENV.fetch(\"X\") { 5 } %>\n<% if x %>\nb: 1\n<%# note\n%>\nc: <%% d %>\n<%- end -%>\n";
        let yaml = strip_erb(text).unwrap();
        assert_eq!(yaml, format!("a: {ERB_VALUE}\n\nb: 1\n\n\nc: <% d %>\n\n"));
        assert_eq!(strip_erb("a: 1\nb: <%= x\n"), Err(8));
    }

    #[test]
    fn production_sqlite_databases_single_and_multi() {
        let parse = |text: &str| crate::yaml::parse(text, Path::new("d")).unwrap();
        let found = |tree: &Node| -> Vec<(String, Option<Result<String, DatabasePathProblem>>)> {
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
                ("production.erb".into(), Some(Err(DatabasePathProblem::Erb))),
                (
                    "production.none".into(),
                    Some(Err(DatabasePathProblem::NoFile))
                ),
            ]
        );
        assert!(found(&parse("development:\n  adapter: sqlite3\n")).is_empty());
    }
}
