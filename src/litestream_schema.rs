//! What `check` knows of Litestream 0.5's config schema (`cmd/litestream/main.go`): the keys of a
//! replica, which are required per type, `replica:` against `replicas:`, `dir` needing
//! `pattern`, shell defaults (`${VAR:-x}`) that Litestream does not support, an SFTP replica
//! without `host-key`, signed payloads or path-style addressing turned off for an S3-compatible
//! provider that needs them, and file secrets referenced where Litestream wants a string or the
//! other way round; plus credentials values still equal to an `init` placeholder, and TOML
//! values that a higher layer overrides.
//!
//! The config is read line by line as block YAML (`key: value`, `- key: value`), the shape
//! Litestream's docs and `lsenv init` write; anything else yields no finding rather than a
//! wrong one.

use std::fmt::Write as _;

use crate::error::{Location, Position};
use crate::litestream;
use crate::resolve::{Resolution, Source};

/// The start of every placeholder the `init` templates write.
pub(crate) const PLACEHOLDER: &str = "REPLACE-WITH-";

/// Keys a replica (or, as defaults, the top level) may set: Litestream's `ReplicaSettings`.
const SETTINGS: &[&str] = &[
    "sync-interval",
    "validation-interval",
    "max-sync-ltx-files",
    "auto-recover",
    "access-key-id",
    "secret-access-key",
    "region",
    "bucket",
    "endpoint",
    "force-path-style",
    "sign-payload",
    "require-content-md5",
    "skip-verify",
    "storage-class",
    "part-size",
    "concurrency",
    "sse-customer-algorithm",
    "sse-customer-key",
    "sse-customer-key-path",
    "sse-kms-key-id",
    "account-name",
    "account-key",
    "sas-token",
    "host",
    "user",
    "password",
    "key-path",
    "concurrent-writes",
    "host-key",
    "webdav-url",
    "webdav-username",
    "webdav-password",
    "jwt",
    "seed",
    "creds",
    "nkey",
    "username",
    "token",
    "tls",
    "root-cas",
    "client-cert",
    "client-key",
    "max-reconnects",
    "reconnect-wait",
    "timeout",
    "age",
];

/// Keys only a replica has.
const REPLICA_ONLY: &[&str] = &["type", "name", "path", "url"];

/// Keys whose value is the path of a file Litestream reads.
const FILE_KEYS: &[&str] = &[
    "key-path",
    "creds",
    "client-key",
    "client-cert",
    "sse-customer-key-path",
];

/// S3-compatible providers told by the endpoint's host (as Litestream tells them), and whether
/// each needs path-style addressing. Every one needs signed payloads.
const PROVIDERS: &[(&str, &str, bool)] = &[
    ("Hetzner", ".your-objectstorage.com", false),
    ("DigitalOcean Spaces", ".digitaloceanspaces.com", false),
    ("Backblaze B2", ".backblazeb2.com", true),
    ("Filebase", "s3.filebase.com", true),
    ("Scaleway", ".scw.cloud", false),
    ("Cloudflare R2", ".r2.cloudflarestorage.com", false),
    ("Supabase", ".supabase.co", true),
];

/// Per type, keys of which one must be set (in the replica or as a top-level default).
const REQUIRED: &[(&str, &[&[&str]])] = &[
    ("s3", &[&["bucket", "url"]]),
    ("gs", &[&["bucket", "url"]]),
    ("abs", &[&["bucket", "url"]]),
    ("sftp", &[&["host", "url"], &["user", "url"]]),
    ("webdav", &[&["webdav-url", "url"]]),
    ("nats", &[&["bucket", "url"]]),
    ("file", &[&["path", "url"]]),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Warning,
    Error,
}

#[derive(Debug)]
pub(crate) struct Finding {
    pub level: Level,
    pub position: Position,
    pub message: String,
}

/// One `key: value` line (or `- key: value`, an item).
#[derive(Debug)]
struct Line<'t> {
    position: Position,
    indent: usize,
    key: &'t str,
    value: &'t str,
    item: bool,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    let mut found = Vec::new();
    for (at, raw) in text.lines().enumerate() {
        let content = raw.trim_start();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let (item, rest) = match content.strip_prefix("- ") {
            Some(rest) => (true, rest.trim_start()),
            None => (false, content),
        };
        let indent = raw.len() - rest.len();
        let Some((key, value)) = rest.split_once(':') else {
            continue;
        };
        if key.is_empty() || key.contains([' ', '"', '\'', '{', '[']) {
            continue;
        }
        let value = value.split(" #").next().unwrap_or_default().trim();
        found.push(Line {
            position: Position {
                line: at + 1,
                column: indent + 1,
            },
            indent,
            key,
            value,
            item,
        });
    }
    found
}

/// The keys directly inside the block that `lines[parent]` opens: the lines after it indented
/// deeper, at the first such indentation. For an item, the block is the item's own keys.
fn children<'l, 't>(lines: &'l [Line<'t>], parent: usize) -> Vec<&'l Line<'t>> {
    let base = lines[parent].indent;
    let following = lines[parent + 1..]
        .iter()
        .take_while(|line| line.indent > base);
    let Some(depth) = following.clone().map(|line| line.indent).next() else {
        return Vec::new();
    };
    following.filter(|line| line.indent == depth).collect()
}

/// The schema findings of a Litestream config's text.
pub(crate) fn findings(text: &str, resolution: &Resolution) -> Vec<Finding> {
    let lines = lines(text);
    let mut found = Vec::new();
    let mut push = |level, position, message: String| {
        found.push(Finding {
            level,
            position,
            message,
        });
    };
    for reference in litestream::references(text) {
        if let Some((name, _)) = reference.name.split_once([':', '-', '=', '?', '+']) {
            push(
                Level::Error,
                reference.position,
                format!(
                    "${{{}}}: Litestream does not expand shell defaults; it reads the variable `{}`, which is empty (set {name} instead)",
                    reference.name, reference.name
                ),
            );
        }
    }
    let defaults: Vec<&str> = lines
        .iter()
        .filter(|line| line.indent == 0 && SETTINGS.contains(&line.key))
        .map(|line| line.key)
        .collect();
    for (at, line) in lines.iter().enumerate() {
        match line.key {
            "replica" if line.value.is_empty() => {
                check_replica(
                    &children(&lines, at),
                    line,
                    &defaults,
                    resolution,
                    &mut push,
                );
            }
            "replicas" if line.value.is_empty() => {
                let items: Vec<usize> = (at + 1..lines.len())
                    .take_while(|&next| lines[next].indent > line.indent)
                    .filter(|&next| lines[next].item)
                    .collect();
                if items.len() > 1 {
                    push(
                        Level::Error,
                        line.position,
                        format!(
                            "{} replicas for one database: Litestream 0.5 allows one (replica:); give each copy a database entry of its own",
                            items.len()
                        ),
                    );
                } else {
                    push(
                        Level::Warning,
                        line.position,
                        "`replicas:` is deprecated since Litestream 0.5: write `replica:` with the one replica".into(),
                    );
                }
                for item in items {
                    let mut keys = vec![&lines[item]];
                    keys.extend(
                        lines[item + 1..]
                            .iter()
                            .take_while(|next| next.indent >= lines[item].indent && !next.item)
                            .filter(|next| next.indent == lines[item].indent),
                    );
                    check_replica(&keys, &lines[item], &defaults, resolution, &mut push);
                }
            }
            "dir" if line.item || !line.value.is_empty() => {
                let siblings = siblings(&lines, at);
                if !siblings.iter().any(|sibling| sibling.key == "pattern") {
                    push(
                        Level::Error,
                        line.position,
                        "directory replication (dir:) needs pattern: (such as \"*.sqlite3\")"
                            .into(),
                    );
                }
            }
            _ => {}
        }
    }
    found
}

/// The keys at the same level as `lines[at]`, in its mapping (or list item).
fn siblings<'l, 't>(lines: &'l [Line<'t>], at: usize) -> Vec<&'l Line<'t>> {
    let indent = lines[at].indent;
    let mut start = at;
    while !(lines[start].item && lines[start].indent == indent)
        && start > 0
        && lines[start - 1].indent >= indent
    {
        start -= 1;
    }
    lines[start..]
        .iter()
        .enumerate()
        .take_while(|(i, line)| {
            *i == 0 || line.indent > indent || (line.indent == indent && !line.item)
        })
        .map(|(_, line)| line)
        .filter(|line| line.indent == indent)
        .collect()
}

fn check_replica(
    keys: &[&Line<'_>],
    opener: &Line<'_>,
    defaults: &[&str],
    resolution: &Resolution,
    push: &mut impl FnMut(Level, Position, String),
) {
    let value_of = |key: &str| {
        keys.iter()
            .find(|line| line.key == key)
            .map(|line| line.value)
    };
    let replica_type = value_of("type").or_else(|| {
        value_of("url").and_then(|url| url.split_once("://").map(|(scheme, _)| scheme))
    });
    for line in keys {
        if SETTINGS.contains(&line.key) || REPLICA_ONLY.contains(&line.key) {
            check_file_reference(line, resolution, push);
            continue;
        }
        let near = nearest(line.key)
            .map(|near| format!("; did you mean `{near}`?"))
            .unwrap_or_default();
        let message = format!(
            "`{}` is not a replica setting of Litestream 0.5{near}",
            line.key
        );
        push(Level::Warning, line.position, message);
    }
    let Some(replica_type) = replica_type else {
        return;
    };
    let Some((_, required)) = REQUIRED.iter().find(|(name, _)| *name == replica_type) else {
        return;
    };
    for any_of in *required {
        let set = any_of
            .iter()
            .any(|key| value_of(key).is_some() || defaults.contains(key));
        if !set {
            push(
                Level::Error,
                opener.position,
                format!(
                    "this {replica_type} replica sets no {} (nor does the top level): Litestream refuses it",
                    any_of.join(" or ")
                ),
            );
        }
    }
    if replica_type == "s3" {
        check_provider(keys, &value_of, resolution, push);
    }
    if replica_type == "sftp" && value_of("host-key").is_none() && !defaults.contains(&"host-key") {
        push(
            Level::Warning,
            opener.position,
            "this sftp replica has no host-key: Litestream then accepts any server's host key (ssh-keyscan -t ed25519 HOST gives it)".into(),
        );
    }
}

/// Litestream gives the S3-compatible providers that need them signed payloads and path-style
/// addressing; a config that turns either off breaks uploads (Litestream issues #941, #1059,
/// #894).
fn check_provider<'v>(
    keys: &[&Line<'_>],
    value_of: &impl Fn(&str) -> Option<&'v str>,
    resolution: &Resolution,
    push: &mut impl FnMut(Level, Position, String),
) {
    let Some(endpoint) = value_of("endpoint").map(|value| resolved_text(value, resolution)) else {
        return;
    };
    let host = endpoint
        .split("://")
        .last()
        .unwrap_or_default()
        .split(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let Some((provider, _, path_style)) = PROVIDERS
        .iter()
        .find(|(_, suffix, _)| host.ends_with(suffix) || host == suffix.trim_start_matches('.'))
    else {
        return;
    };
    for line in keys {
        let off = matches!(line.value, "false" | "no" | "off");
        if off && line.key == "sign-payload" {
            push(
                Level::Error,
                line.position,
                format!("{provider} refuses unsigned payloads: remove sign-payload: false"),
            );
        } else if off && line.key == "force-path-style" && *path_style {
            push(
                Level::Error,
                line.position,
                format!("{provider} needs path-style addressing: remove force-path-style: false"),
            );
        }
    }
}

/// A value as Litestream would see it: a lone `$VAR` replaced by its resolved text.
fn resolved_text(value: &str, resolution: &Resolution) -> String {
    let name = value
        .trim_matches(['"', '\''])
        .strip_prefix('$')
        .map(|name| name.trim_start_matches('{').trim_end_matches('}'));
    match name.and_then(|name| resolution.get(name)) {
        Some(variable) => String::from_utf8_lossy(variable.value.expose()).into_owned(),
        None => value.to_owned(),
    }
}

/// TOML values that the credentials (or the environment) override: the committed setting does
/// nothing, which is seldom what its author meant.
pub(crate) fn shadowed(resolution: &Resolution) -> Vec<(Location, String)> {
    resolution
        .iter()
        .filter(|(_, variable)| !matches!(variable.source, Source::Toml { .. }))
        .flat_map(|(name, variable)| {
            variable
                .overridden
                .iter()
                .filter_map(move |lower| match lower {
                    Source::Toml { file, key } => Some((
                        Location::file(&**file).key(key),
                        format!("sets {name}, but {} overrides it", variable.source),
                    )),
                    _ => None,
                })
        })
        .collect()
}

/// A `[files]` variable where Litestream wants a string, or a key's text where it wants a path.
fn check_file_reference(
    line: &Line<'_>,
    resolution: &Resolution,
    push: &mut impl FnMut(Level, Position, String),
) {
    let Some(name) = line
        .value
        .trim_matches(['"', '\''])
        .strip_prefix('$')
        .map(|name| name.trim_start_matches('{').trim_end_matches('}'))
    else {
        return;
    };
    let Some(variable) = resolution.get(name) else {
        return;
    };
    let wants_file = FILE_KEYS.contains(&line.key);
    if variable.file && !wants_file {
        push(
            Level::Error,
            line.position,
            format!(
                "{}: ${name} is a file secret (its value is a path), but Litestream wants the value itself here; map it in [env] instead of [files]",
                line.key
            ),
        );
    } else if wants_file && !variable.file && variable.value.expose().contains(&b'\n') {
        push(
            Level::Error,
            line.position,
            format!(
                "{}: Litestream wants the path of a file here, but ${name} (from {}) holds several lines, the file's text itself; declare it in [files] of config/lsenv.toml",
                line.key, variable.source
            ),
        );
    }
}

/// The known key closest to `key`, if it is close enough to be a typo.
fn nearest(key: &str) -> Option<&'static str> {
    SETTINGS
        .iter()
        .chain(REPLICA_ONLY)
        .map(|known| (crate::names::edit_distance(key, known), *known))
        .filter(|(distance, known)| *distance <= 2.max(known.len() / 4))
        .min()
        .map(|(_, known)| known)
}

/// More about an unresolved `$NAME`, after the message for its first reference: where else it
/// is referenced, by which databases, and the credentials key that would set it.
pub(crate) fn unresolved_detail(
    text: &str,
    unresolved: &[litestream::Reference],
    name: &str,
    section: &str,
) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut detail = String::new();
    let same: Vec<&litestream::Reference> = unresolved
        .iter()
        .filter(|reference| reference.name == name)
        .collect();
    if same.len() > 1 {
        let others: Vec<String> = same[1..]
            .iter()
            .map(|reference| format!("{}:{}", reference.position.line, reference.position.column))
            .collect();
        let _ = write!(detail, "; also at {}", others.join(", "));
    }
    let mut databases: Vec<&str> = Vec::new();
    for reference in &same {
        if let Some(database) = database_of(&lines, reference.position.line)
            && !databases.contains(&database)
        {
            databases.push(database);
        }
    }
    if databases.len() > 1 {
        let _ = write!(detail, " (databases {})", databases.join(", "));
    }
    if let Some(key) = credentials_key(name) {
        let _ = write!(
            detail,
            "; to set it, add `{key}: …` under `{section}:` with lsenv credentials edit"
        );
    }
    detail
}

/// The `path:` (or `dir:`) of the `dbs:` entry that holds 1-based line `line`.
fn database_of<'t>(lines: &[&'t str], line: usize) -> Option<&'t str> {
    let indent = |text: &str| text.len() - text.trim_start().len();
    let meaningful = |text: &str| {
        let content = text.trim_start();
        !content.is_empty() && !content.starts_with('#')
    };
    // Up through the line's ancestors (each indented less than all since) to `dbs:`; the
    // outermost item on the way is the database entry.
    let mut bound = indent(lines.get(line - 1)?);
    let mut entry = None;
    for at in (0..line - 1).rev() {
        let text = lines[at];
        if !meaningful(text) || indent(text) >= bound {
            continue;
        }
        bound = indent(text);
        if text.trim_start().starts_with("dbs:") {
            break;
        }
        if text.trim_start().starts_with("- ") {
            entry = Some(at);
        }
    }
    let start = entry?;
    let dash = indent(lines[start]);
    let first = lines[start].trim_start().trim_start_matches("- ");
    std::iter::once(first)
        .chain(
            lines[start + 1..]
                .iter()
                .take_while(|text| !meaningful(text) || indent(text) > dash)
                .filter(|text| indent(text) == dash + 2)
                .map(|text| text.trim_start()),
        )
        .find_map(|key| {
            key.strip_prefix("path:")
                .or_else(|| key.strip_prefix("dir:"))
        })
        .map(|path| path.trim().trim_matches(['"', '\'']))
}

/// The credentials key (in the section) that becomes `name`, in the gem's spelling.
fn credentials_key(name: &str) -> Option<String> {
    let key = name.strip_prefix(crate::names::PREFIX)?;
    if key.contains("__") {
        return None;
    }
    Some(match key {
        "ACCESS_KEY_ID" => "replica_key_id".to_owned(),
        "SECRET_ACCESS_KEY" => "replica_access_key".to_owned(),
        other => other.to_ascii_lowercase(),
    })
}

/// Credentials (or environment) values still equal to an `init` placeholder: where each is set.
pub(crate) fn placeholders(resolution: &Resolution) -> Vec<(Location, String)> {
    resolution
        .iter()
        .filter(|(_, variable)| variable.value.expose().starts_with(PLACEHOLDER.as_bytes()))
        .map(|(name, variable)| {
            let location = match &variable.source {
                Source::Toml { file, key } | Source::Credentials { file, key } => {
                    Location::file(&**file).key(key)
                }
                Source::Environment { name } => Location::file("environment").key(name),
            };
            (
                location,
                format!("{name} is still the placeholder `lsenv init` wrote: fill it in (lsenv credentials edit)"),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{Level, findings};
    use crate::resolve::Resolution;

    fn said(text: &str) -> Vec<(Level, usize, String)> {
        findings(text, &Resolution::default())
            .into_iter()
            .map(|finding| (finding.level, finding.position.line, finding.message))
            .collect()
    }

    #[test]
    fn each_finding_and_a_clean_config() {
        let clean = "bucket: shared\ndbs:\n  - path: a.db\n    replica:\n      type: s3\n      path: a\n  - dir: data\n    pattern: \"*.db\"\n    replica:\n      type: sftp\n      host: h:22\n      user: u\n      host-key: ssh-ed25519 AAAA\n";
        assert!(said(clean).is_empty(), "{:?}", said(clean));

        let cases = [
            (
                "dbs:\n  - path: a\n    replicas:\n      - type: s3\n        bucket: b\n      - type: s3\n        bucket: c\n",
                "2 replicas for one database",
            ),
            (
                "dbs:\n  - path: a\n    replicas:\n      - type: s3\n        bucket: b\n",
                "deprecated",
            ),
            (
                "dbs:\n  - path: a\n    replica:\n      type: s3\n      bukcet: b\n",
                "did you mean `bucket`",
            ),
            (
                "dbs:\n  - path: a\n    replica:\n      type: s3\n      path: x\n",
                "sets no bucket or url",
            ),
            (
                "dbs:\n  - path: a\n    replica:\n      type: sftp\n      host: h\n      user: u\n",
                "no host-key",
            ),
            (
                "dbs:\n  - dir: data\n    replica:\n      type: s3\n      bucket: b\n",
                "needs pattern",
            ),
            (
                "dbs:\n  - path: a\n    replica:\n      type: s3\n      bucket: ${B:-x}\n",
                "does not expand shell defaults",
            ),
        ];
        let text = "dbs:\n  - path: a.db\n    replica:\n      bucket: $B\n  - replica:\n      bucket: $B\n    path: b.db\n";
        let unresolved = crate::litestream::references(text);
        assert_eq!(
            super::unresolved_detail(text, &unresolved, "B", "litestream"),
            "; also at 6:15 (databases a.db, b.db)"
        );
        assert!(
            super::unresolved_detail(
                text,
                &unresolved[..1],
                "LITESTREAM_SECRET_ACCESS_KEY",
                "litestream"
            )
            .contains("add `replica_access_key: …` under `litestream:`")
        );
        for (text, expected) in cases {
            let found = said(text);
            assert!(
                found
                    .iter()
                    .any(|(_, _, message)| message.contains(expected)),
                "{expected}: {found:?}"
            );
        }
    }
}
