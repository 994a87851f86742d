//! The STS calls: `AssumeRole` with the stored long-lived pair when a role is set, else
//! `GetSessionToken`; signed with `SigV4` (`aws-sigv4`), sent with `ureq`, the XML answer read
//! with `quick-xml`.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde::Deserialize;
use zeroize::{Zeroize as _, Zeroizing};

use super::Credentials;
use crate::config::serve::Settings;
use crate::secret::Secret;

/// An STS answer is a few kilobytes; more is not STS.
const MAX_RESPONSE: u64 = 64 * 1024;
const TIMEOUT: Duration = Duration::from_secs(15);
const SESSION_NAME: &str = "lsenv";

/// What the short-lived keys are made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub endpoint: String,
    pub region: String,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub duration: Option<Duration>,
}

impl Request {
    pub(crate) fn new(
        settings: &Settings,
        role_arn: Option<String>,
        external_id: Option<String>,
    ) -> Self {
        Self {
            endpoint: settings.endpoint(),
            region: settings.region().to_owned(),
            role_arn,
            external_id,
            duration: settings.duration,
        }
    }

    pub(crate) fn action(&self) -> &'static str {
        if self.role_arn.is_some() {
            "AssumeRole"
        } else {
            "GetSessionToken"
        }
    }

    fn body(&self) -> String {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", self.action())
            .append_pair("Version", "2011-06-15");
        if let Some(role) = &self.role_arn {
            form.append_pair("RoleArn", role)
                .append_pair("RoleSessionName", SESSION_NAME);
        }
        if let Some(id) = &self.external_id {
            form.append_pair("ExternalId", id);
        }
        if let Some(duration) = self.duration {
            form.append_pair("DurationSeconds", &duration.as_secs().to_string());
        }
        form.finish()
    }
}

/// Why a call failed, without any value: the STS error code, the HTTP status, or what went wrong
/// on the way.
#[derive(Debug)]
pub(crate) struct Failure(pub String);

/// Calls STS with the long-lived `stored` keys and returns the short-lived ones.
pub(crate) fn fetch(request: &Request, stored: &Credentials) -> Result<Credentials, Failure> {
    let body = request.body();
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let secret = std::str::from_utf8(stored.secret.expose())
        .map_err(|_| Failure("the stored secret access key is not UTF-8".into()))?;
    let token = stored
        .token
        .as_ref()
        .map(|token| String::from_utf8_lossy(token.expose()).into_owned());
    let identity = aws_credential_types::Credentials::new(
        stored.access_key_id.as_str(),
        secret,
        token,
        None,
        "lsenv",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&request.region)
        .name("sts")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|err| Failure(format!("cannot sign the request: {err}")))?
        .into();
    let headers = [("content-type", content_type)];
    let signable = SignableRequest::new(
        "POST",
        request.endpoint.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|err| Failure(format!("cannot sign the request: {err}")))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|err| Failure(format!("cannot sign the request: {err}")))?
        .into_parts();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    let mut call = agent
        .post(&request.endpoint)
        .header("content-type", content_type);
    for (name, value) in instructions.headers() {
        call = call.header(name, value);
    }
    let mut response = call
        .send(body.as_bytes())
        .map_err(|err| Failure(format!("cannot reach {}: {err}", request.endpoint)))?;
    let status = response.status();
    let text = Zeroizing::new(
        response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_string()
            .map_err(|err| Failure(format!("cannot read the answer: {err}")))?,
    );
    if !status.is_success() {
        return Err(Failure(format!(
            "{} answered {status}{}",
            request.action(),
            error_code(&text).map_or_else(String::new, |code| format!(" ({code})"))
        )));
    }
    parse(&text)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    #[serde(alias = "AssumeRoleResult", alias = "GetSessionTokenResult")]
    result: Outcome,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Outcome {
    credentials: Keys,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Keys {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorAnswer {
    error: ErrorDetail,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorDetail {
    code: String,
}

/// The keys of an `AssumeRole` or `GetSessionToken` answer. The secrets are copied into
/// [`Secret`]s and the parsed strings wiped.
pub(crate) fn parse(text: &str) -> Result<Credentials, Failure> {
    let unreadable = || Failure("the answer is not an STS credentials response".into());
    let Answer {
        result: Outcome {
            credentials: mut keys,
        },
    } = quick_xml::de::from_str(text).map_err(|_| unreadable())?;
    let secret = Secret::copy_from(keys.secret_access_key.as_bytes());
    let token = Secret::copy_from(keys.session_token.as_bytes());
    keys.secret_access_key.zeroize();
    keys.session_token.zeroize();
    let expiration = humantime::parse_rfc3339_weak(keys.expiration.trim())
        .map_err(|_| Failure("the answer's Expiration is not an RFC 3339 time".into()))?;
    if !is_key_id(&keys.access_key_id) {
        return Err(unreadable());
    }
    Ok(Credentials {
        access_key_id: keys.access_key_id,
        secret,
        token: Some(token),
        expiration: Some(expiration),
    })
}

/// The error code of an STS error answer, when it looks like one (letters, digits, dots): it is
/// printed, and a server can send anything.
fn error_code(text: &str) -> Option<String> {
    let ErrorAnswer { error } = quick_xml::de::from_str(text).ok()?;
    let plain = !error.code.is_empty()
        && error.code.len() <= 64
        && error
            .code
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'.');
    plain.then_some(error.code)
}

/// An access key id as AWS (upper-case letters and digits) and S3-compatible providers (also
/// lower-case) make them: it goes into headers and a log line, so nothing else.
pub(crate) fn is_key_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|byte| byte.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Request, error_code, parse};

    #[test]
    fn the_request_says_what_is_asked() {
        let mut request = Request {
            endpoint: "http://127.0.0.1:1".into(),
            region: "us-east-1".into(),
            role_arn: Some("arn:aws:iam::1:role/r w".into()),
            external_id: Some("id&x".into()),
            duration: Some(Duration::from_secs(900)),
        };
        assert_eq!(
            request.body(),
            "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr+w&RoleSessionName=lsenv&ExternalId=id%26x&DurationSeconds=900"
        );
        request.role_arn = None;
        request.external_id = None;
        request.duration = None;
        assert_eq!(request.action(), "GetSessionToken");
        assert_eq!(request.body(), "Action=GetSessionToken&Version=2011-06-15");
    }

    #[test]
    fn reads_assume_role_and_errors() {
        let answer = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/lsenv</Arn><AssumedRoleId>A:lsenv</AssumedRoleId></AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <SessionToken>token/with+chars==</SessionToken>
      <Expiration>2026-12-07T00:15:30.123Z</Expiration>
    </Credentials>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>x</RequestId></ResponseMetadata>
</AssumeRoleResponse>"#;
        let keys = parse(answer).unwrap();
        assert_eq!(keys.access_key_id, "ASIAIOSFODNN7EXAMPLE");
        assert_eq!(
            keys.token.unwrap().expose(),
            b"token/with+chars==".as_slice()
        );
        assert_eq!(
            humantime::format_rfc3339_seconds(keys.expiration.unwrap()).to_string(),
            "2026-12-07T00:15:30Z"
        );
        let session = answer.replace("AssumeRole", "GetSessionToken");
        assert!(parse(&session).is_ok());
        assert!(parse("<html>no</html>").is_err());
        let error = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>m</Message></Error></ErrorResponse>";
        assert_eq!(error_code(error).as_deref(), Some("AccessDenied"));
        assert_eq!(error_code(&error.replace("AccessDenied", "\x1b[2J")), None);
    }
}
