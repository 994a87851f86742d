//! Ambient cloud identity: an s3, gs or abs replica without a static key falls back to the cloud
//! SDK's default chain (an instance role, web identity, a profile, a managed identity, Google's
//! application default credentials). lsenv passes nothing of lsenv's environment by default, so
//! `explain` and `check` say when that chain applies and what it reads, and the pass-list takes
//! a preset per cloud — `@aws`, `@gcp`, `@azure` — that passes exactly those variables.
//!
//! The presets hold no static secrets (`AWS_SECRET_ACCESS_KEY`, `AZURE_CLIENT_SECRET`): those
//! belong in the credentials, where lsenv resolves them.

use crate::error::Position;
use crate::resolve::Resolution;

/// Each preset's name, the replica type it serves, the chain it feeds, and what that chain reads.
pub(crate) const PRESETS: [(&str, &str, &str, &[&str]); 3] = [
    (
        "aws",
        "s3",
        "the AWS SDK's default chain (AWS_PROFILE and ~/.aws, web identity, the container or instance role)",
        &[
            "HOME",
            "AWS_PROFILE",
            "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ROLE_ARN",
            "AWS_ROLE_SESSION_NAME",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            "AWS_EC2_METADATA_DISABLED",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            "AWS_STS_REGIONAL_ENDPOINTS",
        ],
    ),
    (
        "gcp",
        "gs",
        "Google's application default credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's, the metadata server)",
        &[
            "HOME",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "GOOGLE_CLOUD_PROJECT",
            "CLOUDSDK_CONFIG",
            "GCE_METADATA_HOST",
            "GCE_METADATA_IP",
        ],
    ),
    (
        "azure",
        "abs",
        "Azure's default credential (workload identity, managed identity, the Azure CLI)",
        &[
            "HOME",
            "AZURE_CLIENT_ID",
            "AZURE_TENANT_ID",
            "AZURE_AUTHORITY_HOST",
            "AZURE_FEDERATED_TOKEN_FILE",
            "AZURE_CONFIG_DIR",
            "IDENTITY_ENDPOINT",
            "IDENTITY_HEADER",
            "MSI_ENDPOINT",
            "MSI_SECRET",
            "IMDS_ENDPOINT",
        ],
    ),
];

/// The pass-list with each `@preset` replaced by its names; an unknown preset is an error.
pub(crate) fn expand(patterns: Vec<String>) -> Result<Vec<String>, String> {
    let mut expanded = Vec::with_capacity(patterns.len());
    for pattern in patterns {
        let Some(preset) = pattern.strip_prefix('@') else {
            expanded.push(pattern);
            continue;
        };
        let (_, _, _, names) = PRESETS
            .iter()
            .find(|(name, ..)| *name == preset)
            .ok_or_else(|| format!("{pattern}: no such preset (known: @aws, @gcp, @azure)"))?;
        expanded.extend(names.iter().map(|&name| name.to_owned()));
    }
    Ok(expanded)
}

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
    use super::{expand, notes};
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
