//! `--serve-credentials`: the command gets a loopback endpoint and its token instead of the AWS
//! keys, and the endpoint hands the keys only to a request with the token; the command is
//! supervised as with `--redact` (exit codes, signals, nothing left behind, not even after
//! SIGKILL of lsenv); `check` and `explain` know the mode. End to end with the real litestream,
//! moto's S3 and STS with authentication on, in a private network namespace:
//! `tests/drivers/serve.py`.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::case::Case;
use crate::redact::{SIGNAL_PROBE, assert_signals_forwarded};
use crate::support::{CANARY, Project, Terminal, lsenv_at_terminal, run_driver, said, send_signal};

const KEY_ID: &str = "AKIAEXAMPLESTORED001";
const TOKEN_CANARY: &str = "token-canary-52d1";

/// Stored keys in the credentials, served as they are (`sts = false`: no STS needed).
fn project() -> Project {
    let project = Project::new();
    project.file("config/lsenv.toml", "[serve]\nsts = false\n");
    project.credentials(&format!(
        "litestream:\n  access_key_id: {KEY_ID}\n  secret_access_key: {CANARY}\n  replica_bucket: bkt\naws_session_token: {TOKEN_CANARY}\n"
    ));
    project.file(
        "config/lsenv.toml",
        "[serve]\nsts = false\n[env]\nAWS_SESSION_TOKEN = \"aws_session_token\"\n",
    );
    project
}

/// What the command sees: the endpoint and token, no key (not even from lsenv's own environment
/// through the pass-list); and what the endpoint answers without the token, with a wrong one,
/// and with the right one.
#[test]
fn the_command_gets_the_endpoint_and_no_keys() {
    let project = project();
    let probe = r#"
import json, os, urllib.error, urllib.request
url = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
token = os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
def get(headers, path=url):
    try:
        with opener.open(urllib.request.Request(path, headers=headers), timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, None
print(json.dumps({
    "env": sorted(os.environ),
    "values": "\n".join(os.environ.values()),
    "url": url,
    "none": get({})[0], "wrong": get({"Authorization": token[:-1]})[0],
    "other_path": get({"Authorization": token}, url + "x")[0],
    "right": get({"Authorization": token}),
}))
"#;
    // The endpoint's answer, printed by the probe, holds the secret key.
    let output = Case::new(&project)
        .reveals()
        .env("AWS_SECRET_ACCESS_KEY", "outer-canary")
        .args([
            "exec",
            "--serve-credentials",
            "--pass",
            "AWS_*",
            "--pass",
            "PATH",
            "--",
            "python3",
            "-c",
            probe,
        ])
        .stderr_has("lsenv: credentials: serving AKIA… from the stored pair")
        .stderr_lacks(KEY_ID)
        .stderr_lacks(CANARY)
        .run();
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = seen["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|name| name.as_str().unwrap())
        .collect();
    // python3 may be a version manager's shim, which adds variables of its own.
    for wanted in [
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "LITESTREAM_REPLICA_BUCKET",
    ] {
        assert!(names.contains(&wanted), "{names:?}");
    }
    let keys = ["ACCESS_KEY", "SECRET", "SESSION_TOKEN"];
    assert!(
        !names
            .iter()
            .any(|name| keys.iter().any(|key| name.contains(key))),
        "{names:?}"
    );
    let values = seen["values"].as_str().unwrap();
    for value in [KEY_ID, CANARY, TOKEN_CANARY, "outer-canary"] {
        assert!(!values.contains(value), "{value} in the environment");
    }
    assert!(
        seen["url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert_eq!(seen["none"], 401);
    assert_eq!(seen["wrong"], 401);
    assert_eq!(seen["other_path"], 404);
    let right = &seen["right"];
    assert_eq!(right[0], 200);
    assert_eq!(right[1]["AccessKeyId"], KEY_ID);
    assert_eq!(right[1]["SecretAccessKey"], CANARY);
    assert_eq!(right[1]["Token"], TOKEN_CANARY);
    assert!(right[1]["Expiration"].as_str().unwrap().ends_with('Z'));
}

/// Each run gets its own token.
#[test]
fn the_token_is_fresh_every_run() {
    let project = project();
    let token = || {
        let output = Case::new(&project)
            .args(["exec", "--serve-credentials", "--", "env"])
            .run();
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .find_map(|line| line.strip_prefix("AWS_CONTAINER_AUTHORIZATION_TOKEN="))
            .map(str::to_owned)
            .unwrap()
    };
    let first = token();
    assert_eq!(first.len(), 43, "256 random bits, base64url");
    assert_ne!(first, token());
}

#[test]
fn exit_codes_are_the_commands() {
    let project = project();
    for extra in [&[][..], &["--redact"]] {
        for (script, code) in [("exit 0", 0), ("exit 7", 7), ("kill -TERM $$", 143)] {
            Case::new(&project)
                .named(format!("{extra:?} {script}"))
                .args(["exec", "--serve-credentials"])
                .args(extra)
                .args(["--", "sh", "-c", script])
                .status(code)
                .run();
        }
        Case::new(&project)
            .args(["exec", "--serve-credentials"])
            .args(extra)
            .args(["--", "no-such-command-lsenv"])
            .status(127)
            .run();
    }
}

/// With `--redact` too, the keys the command fetched itself are still filtered out of its output.
#[test]
fn redact_filters_what_the_endpoint_served() {
    let project = project();
    let fetch = r#"
import json, os, urllib.request as u
req = u.Request(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
                headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})
print("secret:", json.loads(u.build_opener(u.ProxyHandler({})).open(req).read())["SecretAccessKey"])
"#;
    Case::new(&project)
        .args([
            "exec",
            "--serve-credentials",
            "--redact",
            "--pass",
            "PATH",
            "--",
            "python3",
            "-c",
            fetch,
        ])
        .stdout_is("secret: [redacted LITESTREAM_SECRET_ACCESS_KEY]\n")
        .run();
}

/// Signals sent to lsenv reach the command's group; nothing is left behind.
#[test]
fn signals_reach_the_command_and_nothing_is_left_behind() {
    let project = project();
    let lsenv = project
        .process()
        .args([
            "exec",
            "--serve-credentials",
            "--",
            "sh",
            "-c",
            SIGNAL_PROBE,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert_signals_forwarded(lsenv);
}

/// At a terminal, without `--redact`: the command writes to the terminal itself, is not stopped
/// for reading it from its own process group (its stdin is empty), and Ctrl-C, which the
/// terminal sends to lsenv, is forwarded to it.
#[test]
fn at_a_terminal_the_command_writes_to_it_and_gets_ctrl_c() {
    let project = project();
    let child = r"
        [ -t 1 ] && echo out-on-the-tty
        read -r line || echo stdin-empty
        trap 'echo interrupted; exit 3' INT
        echo waiting
        while :; do sleep 0.05; done
    ";
    let terminal = Terminal::start(&lsenv_at_terminal(
        &project,
        "exec --serve-credentials",
        child,
        "",
    ));
    terminal.wait_for("waiting");
    terminal.keys(&["C-c"]);
    terminal.wait_for("LSENV-EXIT=3");
    let screen = terminal.screen();
    assert!(
        screen.contains("out-on-the-tty\nstdin-empty\nwaiting\n"),
        "{screen}"
    );
    assert!(screen.contains("interrupted"), "{screen}");
}

/// lsenv killed with SIGKILL forwards nothing, yet the command dies with it (its parent-death
/// signal), instead of running on as an orphan.
#[test]
fn the_command_dies_with_a_killed_lsenv() {
    let project = project();
    let mut lsenv = project
        .process()
        .args(["exec", "--serve-credentials", "--", "sh", "-c"])
        .arg("echo $$; exec sleep 300")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(lsenv.stdout.take().unwrap()).lines();
    let command: u32 = lines.next().unwrap().unwrap().parse().unwrap();
    let stat = format!("/proc/{command}/stat");
    let running = || {
        std::fs::read_to_string(&stat).is_ok_and(|stat| {
            let state = stat[stat.rfind(')').unwrap() + 1..]
                .split_whitespace()
                .next();
            state != Some("Z")
        })
    };
    // `exec sleep` has happened once the command runs `sleep`.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(format!("/proc/{command}/comm"))
        .is_ok_and(|comm| comm.trim() == "sleep")
    {
        assert!(Instant::now() < deadline, "the command never became sleep");
        std::thread::sleep(Duration::from_millis(10));
    }
    send_signal(lsenv.id(), "KILL");
    lsenv.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while running() {
        assert!(
            Instant::now() < deadline,
            "the command outlived lsenv's SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Without a stored pair there is nothing to serve: a configuration error, before anything runs.
#[test]
fn without_a_key_pair_nothing_runs() {
    let project = Project::new();
    project.credentials("litestream:\n  replica_bucket: bkt\n");
    Case::new(&project)
        .args(["exec", "--serve-credentials", "--", "sh", "-c", "echo ran"])
        .status(3)
        .said("--serve-credentials needs the stored key pair")
        .stdout_is("")
        .run();
}

/// With `[serve]`, `check` flags static keys left in the Litestream config; without it, it does
/// not. `explain` says which variables are served rather than set.
#[test]
fn check_and_explain_know_the_mode() {
    let project = project();
    project.file(
        "config/litestream.yml",
        "dbs:\n  - path: db.sqlite3\n    replica:\n      type: s3\n      bucket: $LITESTREAM_REPLICA_BUCKET\n      access-key-id: $LITESTREAM_ACCESS_KEY_ID\n      secret-access-key: $LITESTREAM_SECRET_ACCESS_KEY\n",
    );
    let check = Case::new(&project).arg("check").status(3).run();
    let text = said(&check);
    assert!(
        text.contains("litestream.yml:6:1: access-key-id gives the replica static keys")
            && text.contains("litestream.yml:7:1: secret-access-key gives the replica static keys"),
        "{text}"
    );
    let explain = Case::new(&project).arg("explain").run();
    let text = said(&explain);
    assert!(
        text.contains("these are served, not set: AWS_SESSION_TOKEN, LITESTREAM_ACCESS_KEY_ID, LITESTREAM_SECRET_ACCESS_KEY"),
        "{text}"
    );
    assert!(
        text.contains("the stored pair itself (sts = false)"),
        "{text}"
    );

    project.file(
        "config/lsenv.toml",
        "[env]\nAWS_SESSION_TOKEN = \"aws_session_token\"\n",
    );
    Case::new(&project)
        .arg("check")
        .any_status()
        .lacks("static keys")
        .run();
    Case::new(&project).arg("explain").lacks("served").run();
}

/// The real litestream replicates to moto's S3 with keys from the endpoint only: short-lived
/// `AssumeRole` keys (the stored user may do nothing else), refreshed before they expire without
/// a restart, served on through an STS outage; restored rows equal the written ones. Without a
/// role, `GetSessionToken` keys are served.
#[test]
fn litestream_replicates_with_keys_only_from_the_endpoint() {
    let (summary, report) = run_driver("serve.py", &[]);
    assert!(
        summary.starts_with(
            r#"{"ok":true,"passed":["endpoint","refresh","sts_down","restore","session_token"]"#
        ),
        "unexpected summary: {summary}\n{report}"
    );
}
