//! Ambient cloud identity: an s3, gs or abs replica without a static key falls back to the cloud
//! SDK's default chain (an instance role, web identity, a profile, a managed identity, Google's
//! application default credentials). lsenv passes nothing of lsenv's environment by default, so
//! `explain` and `check` say when that chain applies and what it reads, and the pass-list takes
//! a preset per cloud — `@aws`, `@gcp`, `@azure` — that passes exactly those variables.
//!
//! The presets hold no static secrets (`AWS_SECRET_ACCESS_KEY`, `AZURE_CLIENT_SECRET`): those
//! belong in the credentials, where lsenv resolves them.

use crate::error::Position;
use crate::presets::PRESETS;
use crate::resolve::Resolution;

/// Where the Litestream config names an s3, gs or abs replica (`type: s3`, `url: s3://…`) while
/// no static key for it resolves: each with what to say about the default chain. Read from the
/// text line by line, which is enough to point at the replica.
pub(crate) fn notes(
    text: &str,
    resolution: &Resolution,
    pass: &[String],
) -> Vec<(Position, String)> {
    let static_key = |replica_type: &str| match replica_type {
        "s3" => resolution.contains("LITESTREAM_ACCESS_KEY_ID"),
        "gs" => resolution.contains("GOOGLE_APPLICATION_CREDENTIALS"),
        _ => {
            resolution.contains("LITESTREAM_AZURE_ACCOUNT_KEY")
                || resolution.contains("LITESTREAM_AZURE_SAS_TOKEN")
        }
    };
    let keyed_in_yaml = |replica_type: &str| {
        let keys: &[&str] = match replica_type {
            "s3" => &["access-key-id:"],
            "gs" => &[],
            _ => &["account-key:", "sas-token:"],
        };
        text.lines()
            .any(|line| keys.iter().any(|key| line.trim_start().starts_with(key)))
    };
    let mut found = Vec::new();
    for (at, line) in text.lines().enumerate() {
        let trimmed = line.trim_start_matches([' ', '-']);
        let replica_type = if let Some(value) = trimmed.strip_prefix("type:") {
            value.trim()
        } else if let Some(value) = trimmed.strip_prefix("url:") {
            value.trim().split("://").next().unwrap_or_default()
        } else {
            continue;
        };
        let Some((preset, _, chain, names)) = PRESETS
            .iter()
            .find(|(_, served, ..)| *served == replica_type)
        else {
            continue;
        };
        if static_key(replica_type) || keyed_in_yaml(replica_type) {
            continue;
        }
        let passed = names
            .iter()
            .filter(|name| {
                pass.iter()
                    .any(|pattern| crate::names::glob_match(pattern, name))
            })
            .count();
        let advice = if passed == names.len() {
            format!(
                "the pass-list gives it the {} variables it reads",
                names.len()
            )
        } else {
            format!(
                "it reads {}, of which lsenv passes {passed}: add \"@{preset}\" to `pass` in the [exec] table (or --pass @{preset})",
                names.join(", ")
            )
        };
        let column = line.len() - trimmed.len() + 1;
        found.push((
            Position {
                line: at + 1,
                column,
            },
            format!("an {replica_type} replica without a static key: {chain} applies; {advice}"),
        ));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::notes;
    use crate::presets::expand;
    use crate::resolve::Resolution;

    #[test]
    fn presets_expand_and_unknown_ones_are_refused() {
        let expanded = expand(vec!["LANG".into(), "@gcp".into()]).unwrap();
        assert_eq!(expanded[0], "LANG");
        assert!(expanded.contains(&"GOOGLE_APPLICATION_CREDENTIALS".to_owned()));
        assert!(!expanded.iter().any(|name| name.contains("SECRET")));
        assert!(expand(vec!["@gpc".into()]).unwrap_err().contains("@gpc"));
    }

    #[test]
    fn a_replica_without_a_key_is_noted_once_keyed_not() {
        let text = "dbs:\n  - path: a\n    replica:\n      type: s3\n      bucket: b\n  - path: c\n    replica:\n      url: abs://acct@container/c\n";
        let found = notes(text, &Resolution::default(), &[]);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!((found[0].0.line, found[0].0.column), (4, 7));
        assert!(found[0].1.contains("AWS SDK"), "{}", found[0].1);
        assert!(found[1].1.contains("@azure"), "{}", found[1].1);
        let keyed = text.replace("bucket: b", "access-key-id: $K");
        assert_eq!(notes(&keyed, &Resolution::default(), &[]).len(), 1);
        let pass = expand(vec!["@aws".into()]).unwrap();
        assert!(
            notes(text, &Resolution::default(), &pass)[0]
                .1
                .contains("gives it")
        );
    }
}
