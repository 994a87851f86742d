//! The `[serve]` table of `config/lsenv.toml`: how `--serve-credentials` gets the keys it serves.
//!
//! ```toml
//! [serve]
//! sts = true                 # false: serve the stored pair itself
//! role_arn = "arn:aws:iam::123456789012:role/litestream"  # AssumeRole; without: GetSessionToken
//! external_id = "…"          # AssumeRole's ExternalId
//! duration = "1h"            # asked of STS (seconds or a duration); STS's default when unset
//! refresh_margin = "5m"      # refresh this long before the keys expire
//! sts_endpoint = "https://sts.eu-west-1.amazonaws.com"
//! sts_region = "eu-west-1"   # what the requests are signed for
//! ```
//!
//! The role and external id may instead come from the credentials (`litestream.role_arn`,
//! `litestream.role_external_id`, which become `LITESTREAM_ROLE_ARN` and
//! `LITESTREAM_ROLE_EXTERNAL_ID`): those win. The table being there also tells `check` and
//! `explain` that the project runs with `--serve-credentials`.

use std::path::Path;
use std::time::Duration;

use toml::{Table, Value};

use crate::error::{ConfigProblem, Error, Location, Result};

/// The global endpoint, which signs for us-east-1.
const DEFAULT_ENDPOINT: &str = "https://sts.amazonaws.com";
const DEFAULT_REGION: &str = "us-east-1";
/// Refreshing five minutes early leaves room for a few retries before the keys expire.
const DEFAULT_MARGIN: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub sts: bool,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub duration: Option<Duration>,
    pub refresh_margin: Duration,
    pub sts_endpoint: Option<String>,
    pub sts_region: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            sts: true,
            role_arn: None,
            external_id: None,
            duration: None,
            refresh_margin: DEFAULT_MARGIN,
            sts_endpoint: None,
            sts_region: None,
        }
    }
}

impl Settings {
    /// Overlays `table` (`[serve]` or an environment's) key by key.
    pub(crate) fn apply(&mut self, table: Table, table_name: &str, file: &Path) -> Result<()> {
        for (key, value) in table {
            let full = format!("{table_name}.{key}");
            let wrong = |expected: &'static str| {
                Error::config(
                    Location::file(file).key(&full),
                    ConfigProblem::ServeSetting { expected },
                )
            };
            let string = |value: Value| match value {
                Value::String(text) => Ok(text),
                _ => Err(wrong("a string")),
            };
            let duration = |value: Value| {
                match value {
                    Value::Integer(secs) => u64::try_from(secs).ok().map(Duration::from_secs),
                    Value::String(text) => crate::duration::parse(&text).ok(),
                    _ => None,
                }
                .ok_or_else(|| wrong("seconds or a duration such as 15m, 1h"))
            };
            match key.as_str() {
                "sts" => match value {
                    Value::Boolean(on) => self.sts = on,
                    _ => return Err(wrong("a boolean")),
                },
                "role_arn" => self.role_arn = Some(string(value)?),
                "external_id" => self.external_id = Some(string(value)?),
                "duration" => self.duration = Some(duration(value)?),
                "refresh_margin" => self.refresh_margin = duration(value)?,
                "sts_endpoint" => {
                    let endpoint = string(value)?;
                    if !endpoint.starts_with("https://") && !endpoint.starts_with("http://") {
                        return Err(wrong("an http:// or https:// URL"));
                    }
                    self.sts_endpoint = Some(endpoint);
                }
                "sts_region" => self.sts_region = Some(string(value)?),
                _ => {
                    return Err(Error::config(
                        Location::file(file).key(&full),
                        ConfigProblem::UnknownSetting {
                            known: "sts, role_arn, external_id, duration, refresh_margin, sts_endpoint, sts_region",
                        },
                    ));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn region(&self) -> &str {
        self.sts_region.as_deref().unwrap_or(DEFAULT_REGION)
    }

    /// The endpoint set, else the region's own (the global one for the default region).
    pub(crate) fn endpoint(&self) -> String {
        match (&self.sts_endpoint, &self.sts_region) {
            (Some(endpoint), _) => endpoint.clone(),
            (None, Some(region)) if region != DEFAULT_REGION => {
                format!("https://sts.{region}.amazonaws.com")
            }
            (None, _) => DEFAULT_ENDPOINT.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::Settings;

    fn parse(text: &str) -> Result<Settings, String> {
        let table: toml::Table = text.parse().unwrap();
        let mut settings = Settings::default();
        settings
            .apply(table, "serve", Path::new("config/lsenv.toml"))
            .map(|()| settings)
            .map_err(|err| err.to_string())
    }

    #[test]
    fn settings_and_their_errors() {
        let settings = parse(
            "sts = true\nrole_arn = \"arn:aws:iam::1:role/r\"\nduration = \"15m\"\nrefresh_margin = 30\nsts_region = \"eu-west-1\"\n",
        )
        .unwrap();
        assert_eq!(settings.duration, Some(Duration::from_secs(900)));
        assert_eq!(settings.refresh_margin, Duration::from_secs(30));
        assert_eq!(settings.endpoint(), "https://sts.eu-west-1.amazonaws.com");
        assert_eq!(Settings::default().endpoint(), "https://sts.amazonaws.com");
        let refused = parse("duration = \"soon\"\n").unwrap_err();
        assert!(refused.contains("serve.duration"), "{refused}");
        let refused = parse("sts_endpoint = \"ftp://canary\"\n").unwrap_err();
        assert!(refused.contains("serve.sts_endpoint"), "{refused}");
        assert!(!refused.contains("canary"), "{refused}");
        let refused = parse("rolearn = \"x\"\n").unwrap_err();
        assert!(refused.contains("unknown setting"), "{refused}");
    }
}
