//! The pass-list presets `@aws`, `@gcp` and `@azure`: for a replica left to its cloud SDK's
//! default chain, exactly the variables that chain reads, and no static secret.

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

/// The pass-list with each `@preset` replaced by its names; an unknown preset is an error,
/// which is that pattern.
pub(crate) fn expand(patterns: Vec<String>) -> Result<Vec<String>, String> {
    let mut expanded = Vec::with_capacity(patterns.len());
    for pattern in patterns {
        let Some(preset) = pattern.strip_prefix('@') else {
            expanded.push(pattern);
            continue;
        };
        let Some((_, _, _, names)) = PRESETS.iter().find(|(name, ..)| *name == preset) else {
            return Err(pattern);
        };
        expanded.extend(names.iter().map(|&name| name.to_owned()));
    }
    Ok(expanded)
}
