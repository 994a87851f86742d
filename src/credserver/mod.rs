//! `--serve-credentials`: the AWS keys never enter the command's environment. lsenv stays
//! resident, supervising the command (as `exec --redact` does), and serves AWS container
//! credentials on a loopback port: the command gets `AWS_CONTAINER_CREDENTIALS_FULL_URI` and a
//! fresh `AWS_CONTAINER_AUTHORIZATION_TOKEN`, and the AWS SDK (Litestream's too) fetches the keys
//! itself, again whenever they expire.
//!
//! The keys served are short-lived ones from STS, made with the stored long-lived pair
//! (`AssumeRole` with a role, else `GetSessionToken`) and refreshed before they expire; or, with
//! `[serve] sts = false`, the stored pair itself. A failed refresh is retried with backoff while
//! the last good keys are served until they expire.
//!
//! [`Served`] holds what is served and can be given new stored keys at run time
//! ([`Served::update`]): the endpoint then serves keys made from those, with no restart.

mod server;
mod sts;

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use zeroize::Zeroizing;

pub(crate) use crate::config::serve::Settings;

use crate::env::Env;
use crate::error::{ConfigProblem, Error, Failure, Hint, Location, Result, Status, ValueProblem};
use crate::launch::{self, CommandPlan};
use crate::os::NoCoreDumps;
use crate::resolve::Resolution;
use crate::supervise;
use crate::terminal::say;

/// Where the stored pair is read from, first found first; lsenv serves these instead of setting
/// them (Litestream copies `LITESTREAM_*` into a static provider that wins over the endpoint).
const KEY_ID: [&str; 2] = ["LITESTREAM_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"];
const SECRET: [&str; 2] = ["LITESTREAM_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"];
const SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// The role, when the credentials name it (`litestream.role_arn`); wins over `[serve] role_arn`.
const ROLE_ARN: &str = "LITESTREAM_ROLE_ARN";
const EXTERNAL_ID: &str = "LITESTREAM_ROLE_EXTERNAL_ID";
const FULL_URI: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
const TOKEN: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN";

/// Variables the command never gets in this mode, whatever the resolution or the pass-list
/// says: the keys (served instead), the role, and other container-credential settings, which
/// the SDK would prefer to the endpoint's (`…_RELATIVE_URI`) or read instead of its token.
pub(crate) const SERVED: [&str; 12] = [
    "LITESTREAM_ACCESS_KEY_ID",
    "LITESTREAM_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    ROLE_ARN,
    EXTERNAL_ID,
    FULL_URI,
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    TOKEN,
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
];

/// How long the SDK may keep the stored pair (STS off) before it asks again, so that new keys
/// given to [`Served::update`] reach it.
const STATIC_LEASE: Duration = Duration::from_secs(10 * 60);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
const MIN_REFRESH: Duration = Duration::from_secs(1);

/// One set of AWS keys.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    pub access_key_id: String,
    pub secret: crate::secret::Secret,
    pub token: Option<crate::secret::Secret>,
    /// `None`: the stored pair, which does not expire.
    pub expiration: Option<SystemTime>,
}

impl Credentials {
    /// The key id as it may be logged: its first four characters (`ASIA…`, `AKIA…`).
    fn shown(&self) -> String {
        format!("{}…", self.access_key_id.get(..4).unwrap_or("?"))
    }
}

/// What the endpoint serves from: the stored pair and, unless STS is off, the STS call.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    stored: Credentials,
    sts: Option<sts::Request>,
}

impl Source {
    /// The stored pair (and role) from the resolved variables, with the `[serve]` settings of
    /// `config`. This is also what `--watch` builds again after a change.
    pub(crate) fn from_resolution(
        resolution: &Resolution,
        settings: &Settings,
        config: &Path,
    ) -> Result<Self> {
        let text = |name: &str| -> Result<Option<String>> {
            let Some(variable) = resolution.get(name).filter(|var| !var.value.is_empty()) else {
                return Ok(None);
            };
            std::str::from_utf8(variable.value.expose())
                .map(|text| Some(text.to_owned()))
                .map_err(|_| {
                    variable.refusal(
                        name,
                        ValueProblem::NotUtf8 {
                            consumer: "the AWS SDK",
                        },
                    )
                })
        };
        let first = |names: [&'static str; 2]| {
            names.into_iter().find(|name| {
                resolution
                    .get(name)
                    .is_some_and(|var| !var.value.is_empty())
            })
        };
        let missing = || Error::config(Location::file(config), ConfigProblem::NoStoredPair);
        let (Some(id_name), Some(secret_name)) = (first(KEY_ID), first(SECRET)) else {
            return Err(missing());
        };
        let access_key_id = text(id_name)?.ok_or_else(missing)?;
        if !sts::is_key_id(&access_key_id) {
            let variable = resolution.get(id_name).ok_or_else(missing)?;
            return Err(variable.refusal(id_name, ValueProblem::NotKeyId));
        }
        let secret_variable = resolution.get(secret_name).ok_or_else(missing)?;
        if std::str::from_utf8(secret_variable.value.expose()).is_err() {
            return Err(secret_variable.refusal(
                secret_name,
                ValueProblem::NotUtf8 {
                    consumer: "the AWS SDK",
                },
            ));
        }
        let secret = secret_variable.value.clone();
        let token = match resolution
            .get(SESSION_TOKEN)
            .filter(|var| !var.value.is_empty())
        {
            Some(var) if std::str::from_utf8(var.value.expose()).is_err() => {
                return Err(var.refusal(
                    SESSION_TOKEN,
                    ValueProblem::NotUtf8 {
                        consumer: "the AWS SDK",
                    },
                ));
            }
            Some(var) => Some(var.value.clone()),
            None => None,
        };
        let stored = Credentials {
            access_key_id,
            secret,
            token,
            expiration: None,
        };
        let role_arn = text(ROLE_ARN)?.or_else(|| settings.role_arn.clone());
        let external_id = text(EXTERNAL_ID)?.or_else(|| settings.external_id.clone());
        let sts = settings
            .sts
            .then(|| sts::Request::new(settings, role_arn, external_id));
        Ok(Self { stored, sts })
    }

    /// New keys: from STS, or the stored pair.
    fn obtain(&self) -> Result<Credentials, sts::Failure> {
        match &self.sts {
            Some(request) => sts::fetch(request, &self.stored),
            None => Ok(self.stored.clone()),
        }
    }

    fn action(&self) -> &'static str {
        self.sts
            .as_ref()
            .map_or("the stored pair", sts::Request::action)
    }
}

/// What `explain` says in serve mode: the resolved variables that are served rather than set,
/// and what the command gets instead.
pub(crate) fn explain(resolution: &Resolution, settings: &Settings) -> (Vec<String>, String) {
    let served = resolution
        .names()
        .filter(|name| SERVED.contains(name))
        .map(str::to_owned)
        .collect();
    let role = resolution.contains(ROLE_ARN) || settings.role_arn.is_some();
    let keys = match (settings.sts, role) {
        (false, _) => "the stored pair itself (sts = false)".to_owned(),
        (true, true) => format!(
            "short-lived keys from STS AssumeRole at {}",
            settings.endpoint()
        ),
        (true, false) => format!(
            "short-lived keys from STS GetSessionToken at {}",
            settings.endpoint()
        ),
    };
    (
        served,
        format!("the command gets {FULL_URI} and {TOKEN}, and the endpoint serves {keys}"),
    )
}

/// Lines of a Litestream config that still give a replica static keys (`access-key-id:`,
/// `secret-access-key:` with a value): with `--serve-credentials` Litestream would read them as
/// empty (the variables are not set) or, given literally, prefer them to the endpoint.
pub(crate) fn static_keys(text: &str) -> Vec<(usize, &'static str)> {
    let mut found = Vec::new();
    for (at, line) in text.lines().enumerate() {
        let line = line.trim_start().trim_start_matches("- ").trim_start();
        for key in ["access-key-id", "secret-access-key"] {
            let value = line
                .strip_prefix(key)
                .and_then(|rest| rest.trim_start().strip_prefix(':'))
                .map(|value| value.split(" #").next().unwrap_or_default().trim());
            if value.is_some_and(|value| !value.is_empty() && value != "\"\"" && value != "''") {
                found.push((at + 1, key));
            }
        }
    }
    found
}

/// The served keys, shared by the endpoint, the refresher and whoever updates them.
#[derive(Clone)]
pub(crate) struct Served(Arc<Shared>);

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    margin: Duration,
}

struct State {
    source: Source,
    current: Option<Credentials>,
    /// Bumped by every update, so a refresh made from an older source is not served.
    generation: u64,
    stop: bool,
}

impl Served {
    /// Obtains the first keys (an STS failure here is an error: nothing was ever served) and
    /// starts refreshing them.
    pub(crate) fn start(source: Source, margin: Duration) -> Result<(Self, Refresher)> {
        let first = source.obtain().map_err(|failure| {
            Error::failed(Failure::Sts {
                call: source.action(),
                reason: failure.0,
            })
            .with_hint(Hint::ServeSettings)
        })?;
        log_new(&source, &first);
        let served = Self(Arc::new(Shared {
            state: Mutex::new(State {
                source,
                current: Some(first),
                generation: 0,
                stop: false,
            }),
            wake: Condvar::new(),
            margin,
        }));
        let refresher = Refresher::start(served.clone())?;
        Ok((served, refresher))
    }

    /// New stored keys or settings (`--watch`, after a change): keys made from them are
    /// obtained at once and served from then on; until then the current ones stay.
    pub(crate) fn update(&self, source: Source) {
        let mut state = self.lock();
        state.source = source;
        state.generation += 1;
        self.0.wake.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The JSON the AWS SDKs expect of a container credentials endpoint, or `None` when the
    /// keys have expired.
    fn json(&self, now: SystemTime) -> Option<Zeroizing<Vec<u8>>> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Body<'a> {
            access_key_id: &'a str,
            secret_access_key: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            token: Option<&'a str>,
            expiration: String,
        }
        let state = self.lock();
        let keys = state.current.as_ref()?;
        let expiration = match keys.expiration {
            Some(at) if at <= now => return None,
            Some(at) => at,
            None => now + STATIC_LEASE,
        };
        let body = Body {
            access_key_id: &keys.access_key_id,
            secret_access_key: std::str::from_utf8(keys.secret.expose()).ok()?,
            token: match &keys.token {
                Some(token) => Some(std::str::from_utf8(token.expose()).ok()?),
                None => None,
            },
            expiration: humantime::format_rfc3339_seconds(expiration).to_string(),
        };
        let mut out = Zeroizing::new(Vec::with_capacity(2048));
        serde_json::to_writer(&mut *out, &body).ok()?;
        Some(out)
    }
}

/// The refreshing thread; dropping it stops it.
pub(crate) struct Refresher {
    served: Served,
}

impl Refresher {
    fn start(served: Served) -> Result<Self> {
        let keys = served.clone();
        std::thread::Builder::new()
            .name("lsenv refresh".into())
            .spawn(move || refresh(&keys))
            .map_err(|err| Error::io("threads", "start a thread", err))?;
        Ok(Self { served })
    }
}

impl Drop for Refresher {
    /// Not joined: a call to STS in progress (up to its timeout) must not hold lsenv up once the
    /// command has exited; the thread ends at its next look at `stop`, or with the process.
    fn drop(&mut self) {
        self.served.lock().stop = true;
        self.served.0.wake.notify_all();
    }
}

/// Keeps the served keys fresh: a new set `margin` before the current one expires (half way
/// through a lifetime shorter than that), at once after an update, and after a failure again
/// and again, backing off from 1 s to [`MAX_BACKOFF`].
fn refresh(served: &Served) {
    let now = SystemTime::now();
    let mut next = served
        .lock()
        .current
        .as_ref()
        .and_then(|keys| refresh_at(keys, served.0.margin, now));
    let mut seen = 0;
    let mut failures = 0u32;
    loop {
        {
            let mut state = served.lock();
            loop {
                if state.stop {
                    return;
                }
                if state.generation != seen {
                    break;
                }
                let Some(at) = next else {
                    state = served
                        .0
                        .wake
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                    continue;
                };
                match at.duration_since(SystemTime::now()) {
                    Ok(wait) if !wait.is_zero() => {
                        state = served
                            .0
                            .wake
                            .wait_timeout(state, wait)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                    }
                    _ => break,
                }
            }
            seen = state.generation;
        }
        let source = served.lock().source.clone();
        match source.obtain() {
            Ok(keys) => {
                failures = 0;
                let mut state = served.lock();
                // An update came in meanwhile: obtain again from the new source.
                if state.generation != seen {
                    continue;
                }
                log_new(&source, &keys);
                next = refresh_at(&keys, served.0.margin, SystemTime::now());
                state.current = Some(keys);
            }
            Err(failure) => {
                failures += 1;
                let delay = Duration::from_secs(1u64 << (failures - 1).min(6)).min(MAX_BACKOFF);
                let serving = match served
                    .lock()
                    .current
                    .as_ref()
                    .and_then(|keys| keys.expiration)
                {
                    Some(at) if at > SystemTime::now() => format!(
                        "serving the last keys until {}",
                        humantime::format_rfc3339_seconds(at)
                    ),
                    Some(_) => "no valid keys to serve meanwhile".into(),
                    None => "serving the stored pair meanwhile".into(),
                };
                say(&format!(
                    "credentials: {} failed: {}; retry {failures} in {}s, {serving}",
                    source.action(),
                    failure.0,
                    delay.as_secs()
                ));
                next = Some(SystemTime::now() + delay);
            }
        }
    }
}

/// When keys expiring at some point should be replaced; `None` for keys that never expire.
fn refresh_at(keys: &Credentials, margin: Duration, now: SystemTime) -> Option<SystemTime> {
    let expiration = keys.expiration?;
    let left = expiration.duration_since(now).unwrap_or_default();
    // At least a second later: keys that come back (nearly) expired must not turn the refresh
    // into a loop of STS calls.
    Some(if left > margin {
        expiration - margin
    } else {
        now + (left / 2).max(MIN_REFRESH)
    })
}

/// The one line per new set of keys: where they came from, the key id's prefix, the expiry.
fn log_new(source: &Source, keys: &Credentials) {
    let until = keys.expiration.map_or_else(
        || "not expiring".to_owned(),
        |at| format!("valid until {}", humantime::format_rfc3339_seconds(at)),
    );
    say(&format!(
        "credentials: serving {} from {}, {until}",
        keys.shown(),
        source.action()
    ));
}

/// `exec`/`replicate --serve-credentials`: obtain the keys, serve them, and supervise the command
/// with the endpoint's address and token in its environment instead of the keys.
pub(crate) fn run(
    project: &crate::project::Project,
    plan: &CommandPlan,
    resolution: &Resolution,
    env: &Env,
    core_dumps: &NoCoreDumps,
) -> Result<Status> {
    let settings = project.config.serve.clone().unwrap_or_default();
    let source = Source::from_resolution(resolution, &settings, &project.config.path)?;
    let (served, _refresher) = Served::start(source, settings.refresh_margin)?;
    let endpoint = server::Endpoint::start(served)?;
    let (command, program, files) = child_command(plan, resolution, env, &endpoint)?;
    let command = crate::deathsig::wrap(&command, &plan.program);
    supervise::run_launched((command, program, files), plan, resolution, core_dumps)
}

/// `--serve-credentials --watch`: as [`run`], and after a change the endpoint serves keys made
/// from the new resolution; the command is restarted only when something it gets itself
/// changed, never for the served keys.
pub(crate) fn watched(watch: crate::watch::Watch<'_>, resolution: Resolution) -> Result<Status> {
    let (project, plan, env) = (watch.project, watch.command, watch.env);
    let settings = project.config.serve.clone().unwrap_or_default();
    let source = Source::from_resolution(&resolution, &settings, &project.config.path)?;
    let (served, _refresher) = Served::start(source, settings.refresh_margin)?;
    let endpoint = server::Endpoint::start(served.clone())?;
    let build = |resolution: &Resolution| child_command(plan, resolution, env, &endpoint);
    let mut deliver = |old: &Resolution, new: &Resolution| {
        // The `[serve]` settings are those lsenv started with (README).
        match Source::from_resolution(new, &settings, &project.config.path) {
            Ok(source) => {
                served.update(source);
                say("watch: the endpoint serves keys from the changed credentials");
            }
            Err(err) => say(&format!(
                "watch: the changed credentials give no keys to serve; the current ones stay: {err}"
            )),
        }
        crate::watch::differences(old, new)
            .filter(|name| !SERVED.contains(name))
            .map(str::to_owned)
            .collect()
    };
    watch.supervise(resolution, &build, &mut deliver)
}

/// The command for `resolution` without the served variables (from the credentials or lsenv's
/// own environment), with the endpoint's address and token instead.
fn child_command(
    plan: &CommandPlan,
    resolution: &Resolution,
    env: &Env,
    endpoint: &server::Endpoint,
) -> Result<(
    std::process::Command,
    std::path::PathBuf,
    crate::filesecret::FileSecrets,
)> {
    let is_served = |name: &str| SERVED.contains(&name);
    let child_resolution: Resolution = resolution
        .iter()
        .filter(|(name, _)| !is_served(name))
        .map(|(name, variable)| (name.to_owned(), variable.clone()))
        .collect();
    let child_env = env.without(|name| name.to_str().is_some_and(is_served));
    let (mut command, program, files) = launch::command(plan, &child_resolution, &child_env)?;
    command
        .env(FULL_URI, &endpoint.url)
        .env(TOKEN, endpoint.token.as_str());
    Ok((command, program, files))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::{Credentials, Served, Source, refresh_at};
    use crate::secret::Secret;

    #[test]
    fn refreshes_a_margin_early_or_half_way() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let keys = |left| Credentials {
            access_key_id: "ASIAEXAMPLEEXAMPLE".into(),
            secret: Secret::copy_from(b"s"),
            token: None,
            expiration: Some(now + Duration::from_secs(left)),
        };
        let margin = Duration::from_secs(300);
        assert_eq!(
            refresh_at(&keys(3600), margin, now),
            Some(now + Duration::from_secs(3300))
        );
        assert_eq!(
            refresh_at(&keys(200), margin, now),
            Some(now + Duration::from_secs(100))
        );
        assert_eq!(
            refresh_at(&keys(0), margin, now),
            Some(now + Duration::from_secs(1))
        );
        let stored = Credentials {
            expiration: None,
            ..keys(0)
        };
        assert_eq!(refresh_at(&stored, margin, now), None);
        assert_eq!(stored.shown(), "ASIA…");
    }

    fn stored(id: &str, expiration: Option<SystemTime>) -> Credentials {
        Credentials {
            access_key_id: id.into(),
            secret: Secret::copy_from(b"secret"),
            token: None,
            expiration,
        }
    }

    /// What `--watch` relies on: new stored keys are served from the update on, no restart.
    #[test]
    fn an_update_is_served_without_a_restart() {
        let source = |id: &str| Source {
            stored: stored(id, None),
            sts: None,
        };
        let (served, _refresher) =
            Served::start(source("AKIAFIRSTFIRSTFIRST0"), Duration::from_secs(60)).unwrap();
        let key = |served: &Served| {
            let body = served.json(SystemTime::now()).unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            body["AccessKeyId"].as_str().unwrap().to_owned()
        };
        assert_eq!(key(&served), "AKIAFIRSTFIRSTFIRST0");
        served.update(source("AKIASECONDSECONDSEC0"));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while key(&served) != "AKIASECONDSECONDSEC0" {
            assert!(
                std::time::Instant::now() < deadline,
                "the update was never served"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Expired keys are not served (the endpoint answers 503).
    #[test]
    fn expired_keys_are_not_served() {
        let now = SystemTime::now();
        let source = Source {
            stored: stored("AKIAFIRSTFIRSTFIRST0", None),
            sts: None,
        };
        let (served, _refresher) = Served::start(source, Duration::from_secs(60)).unwrap();
        served.lock().current = Some(stored(
            "ASIAEXPIREDEXPIRED00",
            Some(now + Duration::from_secs(1)),
        ));
        assert!(served.json(now).is_some());
        assert!(served.json(now + Duration::from_secs(2)).is_none());
    }

    #[test]
    fn static_keys_are_found() {
        let text = "dbs:\n  - path: x\n    replica:\n      access-key-id: $LITESTREAM_ACCESS_KEY_ID\n      secret-access-key: \"\"\n      endpoint: e\n  - replica: {type: s3}\n    secret-access-key: literal # a comment\n";
        assert_eq!(
            super::static_keys(text),
            [(4, "access-key-id"), (8, "secret-access-key")]
        );
    }
}
