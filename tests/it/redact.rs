//! `lsenv exec --redact`: secrets never get through the command's output, whole, split across
//! writes, at the very end, in colour codes or on stderr, and everything else passes byte for
//! byte; exit codes and signals are the command's; no process is left behind; at a terminal the
//! command gets a pseudo-terminal of its own, with colours, line editing and window size.

use std::io::{BufRead as _, BufReader, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::case::Case;
use crate::support::{CANARY, Project, Terminal, lsenv_at_terminal, send_signal};

/// The key id is long enough to be redacted; the bucket name is not.
fn project() -> Project {
    let project = Project::new();
    project.credentials(&format!(
        "litestream:\n  replica_key_id: AKIDEXAMPLE\n  replica_access_key: {CANARY}\n  replica_bucket: bkt\n  service_json: |\n    {{\n      \"private_key\": \"line-canary-91c2\"\n    }}\n"
    ));
    project
}

const SECRET: &str = "[redacted LITESTREAM_SECRET_ACCESS_KEY]";

/// `sh -c SCRIPT` under `exec --redact`, with `$S` the secret access key.
fn redacted_sh(project: &Project, script: &str) -> Case {
    Case::new(project)
        .args(["exec", "--redact", "--", "sh", "-c"])
        .arg(format!("S=$LITESTREAM_SECRET_ACCESS_KEY\n{script}"))
}

#[test]
fn secrets_are_replaced_and_everything_else_passes_untouched() {
    let project = project();
    let output = redacted_sh(
        &project,
        r#"
        echo "whole $S."
        printf '%.7s' "$S"; sleep 0.1; printf '%s\n' "${S#???????}"
        echo "twice $S$S and $LITESTREAM_ACCESS_KEY_ID in $LITESTREAM_REPLICA_BUCKET"
        printf '\033[31m%s\033[0m\n' "$S"
        printf '%s\n' "$LITESTREAM_SERVICE_JSON"
        printf 'bytes \000\377\r\n'
        echo "on stderr $S" >&2
        printf 'almost %.19s|' "$S"
        printf 'end %.5s' "$S"; sleep 0.1; printf '%s' "${S#?????}"
        "#,
    )
    .stderr_is(format!(
        "lsenv: not redacting LITESTREAM_REPLICA_BUCKET: values shorter than 6 bytes would match ordinary text\non stderr {SECRET}\n"
    ))
    .lacks("line-canary")
    .run();
    let mut expected = format!(
        "whole {SECRET}.\n{SECRET}\ntwice {SECRET}{SECRET} and [redacted LITESTREAM_ACCESS_KEY_ID] in bkt\n\x1b[31m{SECRET}\x1b[0m\n[redacted LITESTREAM_SERVICE_JSON]\n"
    )
    .into_bytes();
    expected.extend_from_slice(b"bytes \0\xff\r\n");
    expected.extend_from_slice(format!("almost {}|end {SECRET}", &CANARY[..19]).as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(output.stdout, expected);
}

#[test]
fn exit_codes_are_the_commands() {
    let project = project();
    for (script, code) in [("exit 0", 0), ("exit 7", 7), ("kill -TERM $$", 143)] {
        redacted_sh(&project, script)
            .named(script)
            .status(code)
            .run();
    }
}

#[test]
fn lookup_fails_as_exec_does() {
    let project = project();
    project.file("plain", "");
    std::fs::set_permissions(
        project.path("plain"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    for (command, code) in [("no-such-command-lsenv", 127), ("./plain", 126)] {
        Case::new(&project)
            .args(["exec", "--redact", "--", command])
            .status(code)
            .run();
    }
}

/// lsenv supervising `sh -c SCRIPT`, its output piped to the test.
fn spawn_redacted(project: &Project, script: &str) -> Child {
    project
        .process()
        .args(["exec", "--redact", "--", "sh", "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until no process of the group `group` is running (zombies count as gone: a container's
/// init may be slow to reap what was reparented to it), and fails after a few seconds.
pub(crate) fn assert_group_gone(group: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let running: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path().join("stat")).ok())
            .filter(|stat| {
                // "PID (COMM) STATE PPID PGRP …"; COMM may hold spaces and parentheses.
                let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
                    .split_whitespace()
                    .collect();
                fields[0] != "Z" && fields[2] == group.to_string()
            })
            .collect();
        if running.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "left running: {running:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn signals_reach_the_command_and_nothing_is_left_behind() {
    let project = project();
    assert_signals_forwarded(spawn_redacted(&project, SIGNAL_PROBE));
}

/// A command for [`assert_signals_forwarded`]: it says its PID, then `got-usr1` on each USR1.
pub(crate) const SIGNAL_PROBE: &str =
    "trap 'echo got-usr1' USR1; echo $$; while :; do sleep 0.05; done";

/// `lsenv`, supervising [`SIGNAL_PROBE`] with its stdout piped: USR1 sent to lsenv reaches the
/// command, a process of its own; TERM ends it (143), and its group (the shell and its `sleep`)
/// is gone, not orphaned.
pub(crate) fn assert_signals_forwarded(mut lsenv: Child) {
    let mut lines = BufReader::new(lsenv.stdout.take().unwrap()).lines();
    let command: u32 = lines.next().unwrap().unwrap().parse().unwrap();
    assert_ne!(command, lsenv.id(), "the command is a process of its own");
    send_signal(lsenv.id(), "USR1");
    assert_eq!(lines.next().unwrap().unwrap(), "got-usr1");
    send_signal(lsenv.id(), "TERM");
    assert_eq!(lsenv.wait().unwrap().code(), Some(143));
    assert_group_gone(command);
}

/// When lsenv's reader goes away, the command learns it as it would in a pipeline: SIGPIPE.
#[test]
fn a_closed_output_stops_the_command_as_a_pipe_would() {
    let project = project();
    let mut lsenv = spawn_redacted(&project, "echo $$; exec yes");
    let mut stdout = lsenv.stdout.take().unwrap();
    let mut start = [0; 64];
    let read = stdout.read(&mut start).unwrap();
    let command: u32 = String::from_utf8_lossy(&start[..read])
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    drop(stdout);
    assert_eq!(lsenv.wait().unwrap().code(), Some(128 + 13));
    assert_group_gone(command);
}

/// At a terminal: the command sees one (with the terminal's size, and the new size after a
/// resize), colours pass, secrets do not (a multi-line one neither, though the pty turns its
/// `\n` into `\r\n`), keys and line editing go through, Ctrl-C reaches it as a signal from its
/// terminal, its status comes back, and lsenv's terminal is left as it was found.
#[test]
fn at_a_terminal_the_command_gets_a_pty() {
    let project = project();
    let child = r#"
        S=$LITESTREAM_SECRET_ACCESS_KEY
        [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo on-a-tty
        stty size
        printf '\033[31mred\033[0m %s\n' "$S"
        printf '%.7s' "$S"; sleep 0.1; printf '%s\n' "${S#???????}"
        printf '%s\n' "$LITESTREAM_SERVICE_JSON"
        trap 'stty size; resized=1' WINCH
        echo resize-me
        while [ -z "$resized" ]; do sleep 0.05; done
        read -r line; echo "got:$line"
        trap 'echo interrupted; exit 3' INT
        echo waiting
        while :; do sleep 0.05; done
    "#;
    let script = format!(
        "cd {root} && env -i PATH=\"$PATH\" TERM=xterm {lsenv} exec --redact --pass TERM -- sh -c {child}; echo LSENV-EXIT=$?; stty -a | grep -q -- -icanon && echo LEFT-RAW || echo LEFT-COOKED; sleep 60",
        root = shell_words::quote(&project.root().to_string_lossy()),
        lsenv = shell_words::quote(&assert_cmd::cargo::cargo_bin!("lsenv").to_string_lossy()),
        child = shell_words::quote(child),
    );
    let terminal = Terminal::start(&script);
    terminal.wait_for("resize-me");
    let screen = terminal.screen();
    assert!(screen.contains("on-a-tty\n30 100\n"), "{screen}");
    assert!(
        terminal
            .styled_screen()
            .contains(&format!("\x1b[31mred\x1b[39m {SECRET}")),
        "{screen}"
    );
    assert!(
        screen.contains(&format!(
            "{SECRET}\n{SECRET}\n[redacted LITESTREAM_SERVICE_JSON]\n"
        )),
        "{screen}"
    );
    terminal.resize(120, 40);
    terminal.wait_for("40 120");
    terminal.keys(&["hello", "BSpace", "p", "Enter"]);
    terminal.wait_for("got:hellp");
    terminal.wait_for("waiting");
    terminal.keys(&["C-c"]);
    terminal.wait_for("LSENV-EXIT=3");
    terminal.wait_for("LEFT-COOKED");
    let screen = terminal.screen();
    assert!(screen.contains("interrupted"), "{screen}");
    assert!(!screen.contains(CANARY), "{screen}");
    assert!(!screen.contains("line-canary"), "{screen}");
}

/// A terminal on stdin but a pipe on stdout: the command gets pipes, and lsenv copies what is
/// typed (edited by the terminal's own line discipline) to it, instead of leaving the command,
/// in a background process group, to be stopped by SIGTTIN when it reads the terminal.
#[test]
fn at_a_terminal_with_piped_output_the_command_reads_what_is_typed() {
    let project = project();
    let child = r#"
        [ -t 0 ] || [ -t 1 ] || echo no-tty
        printf 'name? '; read -r name; echo "got:$name $LITESTREAM_SECRET_ACCESS_KEY"
    "#;
    let terminal = Terminal::start(&lsenv_at_terminal(
        &project,
        "exec --redact",
        child,
        " | cat",
    ));
    // capture-pane drops trailing spaces.
    terminal.wait_for("name?");
    terminal.keys(&["hello", "BSpace", "p", "Enter"]);
    terminal.wait_for("LSENV-EXIT=0");
    let screen = terminal.screen();
    assert!(
        screen.contains(&format!("no-tty\nname? hellp\ngot:hellp {SECRET}\n")),
        "{screen}"
    );
}

/// The supervised command gets the core limit lsenv was started with (lsenv keeps its own at 0).
#[test]
fn the_command_keeps_its_core_limit() {
    let project = Project::new();
    project.credentials("litestream:\n  replica_access_key: some-secret-value\n");
    assert_eq!(
        crate::support::core_limit_through(&project, &["exec", "--redact", "--"]),
        "4096\n"
    );
}
