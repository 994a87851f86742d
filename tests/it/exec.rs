//! `lsenv exec`: the child's environment is exactly the resolved variables plus the pass-list,
//! the child is the same process (PID, signals, exit status), and lookups fail with 126/127.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use crate::case::Case;
use crate::support::{
    CANARY, Project, child_env, core_limit_through, map, send_signal, wait_until,
};

fn project_with_secret() -> Project {
    let project = Project::new();
    project.credentials(&format!(
        "litestream:\n  replica_key_id: AKID\n  replica_access_key: {CANARY}\n"
    ));
    project
}

#[test]
fn child_env_is_exactly_resolved_plus_pass_list() {
    let project = project_with_secret();
    let case = Case::new(&project)
        .env("RAILS_MASTER_KEY", crate::support::KEY)
        .env("AWS_SECRET_ACCESS_KEY", "decoy-aws")
        .env("RANDOM_DECOY", "decoy")
        .env("HOME", "/home/someone")
        // Where the audit log goes instead of that home.
        .env("XDG_STATE_HOME", project.path("state"))
        .env("LC_ALL", "C.UTF-8")
        .env("LC_TIME", "C");
    let env = child_env(
        case,
        &[
            "exec", "--pass", "HOME", "--pass", "LC_*", "--pass", "RAILS_*",
        ],
    );
    assert_eq!(
        env,
        map(&[
            ("HOME", "/home/someone"),
            ("LC_ALL", "C.UTF-8"),
            ("LC_TIME", "C"),
            ("LITESTREAM_ACCESS_KEY_ID", "AKID"),
            ("LITESTREAM_SECRET_ACCESS_KEY", CANARY),
        ])
    );
}

#[test]
fn toml_pass_list_and_key_variables_refused_by_name() {
    let project = project_with_secret();
    project.file("config/lsenv.toml", "[exec]\npass = [\"LANG\"]\n");
    let env = child_env(
        Case::new(&project).env("LANG", "C").env("TERM", "x"),
        &["exec"],
    );
    assert_eq!(
        env.keys().collect::<Vec<_>>(),
        [
            "LANG",
            "LITESTREAM_ACCESS_KEY_ID",
            "LITESTREAM_SECRET_ACCESS_KEY"
        ]
    );

    Case::new(&project)
        .args(["exec", "--pass", "RAILS_MASTER_KEY", "true"])
        .status(2)
        .said("never passed")
        .run();
    Case::new(&project)
        .args(["exec", "--pass", "A=B", "true"])
        .status(2)
        .run();
}

#[test]
fn words_after_the_command_belong_to_it() {
    let project = project_with_secret();
    Case::new(&project)
        .args(["exec", "sh", "-c", "echo \"$0 $1\"", "--pass", "-e"])
        .stdout_is("--pass -e\n")
        .run();
}

#[test]
fn exit_status_is_the_childs() {
    let project = project_with_secret();
    Case::new(&project)
        .args(["exec", "--", "sh", "-c", "exit 7"])
        .status(7)
        .run();
}

#[test]
fn core_limit_is_the_one_lsenv_was_started_with() {
    let project = project_with_secret();
    assert_eq!(core_limit_through(&project, &["exec", "--"]), "4096\n");
}

/// The PID lsenv was started with is the command's: a signal sent to it reaches the command, and
/// the secret is in the command's environment, not in its argv.
#[test]
fn signals_reach_the_command_and_secrets_stay_out_of_argv() {
    let project = project_with_secret();
    let mut command = project.process();
    let mut child = command
        .args([
            "exec",
            "--",
            "sh",
            "-c",
            "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = [0u8; 6];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut ready).unwrap();
    let proc_dir = format!("/proc/{}", child.id());
    let cmdline = std::fs::read(format!("{proc_dir}/cmdline")).unwrap();
    assert!(
        cmdline.starts_with(b"sh\0-c\0"),
        "{:?}",
        String::from_utf8_lossy(&cmdline)
    );
    assert!(!String::from_utf8_lossy(&cmdline).contains(CANARY));
    let environ = std::fs::read(format!("{proc_dir}/environ")).unwrap();
    assert!(String::from_utf8_lossy(&environ).contains(CANARY));
    send_signal(child.id(), "TERM");
    assert_eq!(child.wait().unwrap().code(), Some(42));

    let mut child = project
        .process()
        .args(["exec", "sleep", "30"])
        .spawn()
        .unwrap();
    wait_for_comm(child.id(), "sleep");
    send_signal(child.id(), "TERM");
    assert_eq!(child.wait().unwrap().signal(), Some(15));
}

/// Waits until `/proc/PID/comm` shows the command, i.e. lsenv has exec'd it.
fn wait_for_comm(pid: u32, comm: &str) {
    wait_until(&format!("process {pid} to become {comm}"), || {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
    });
}

#[test]
fn not_found_and_not_executable() {
    let project = project_with_secret();
    project.file("bin/plain", "#!/bin/sh\n");
    Case::new(&project)
        .env("PATH", "/nonexistent-dir")
        .args(["exec", "sh"])
        .status(127)
        .said("searched PATH=/nonexistent-dir")
        .run();
    Case::new(&project)
        .env_remove("PATH")
        .args(["exec", "no-such-command-x"])
        .status(127)
        .said("PATH is not set")
        .run();
    Case::new(&project)
        .args(["exec", "./bin/plain"])
        .status(126)
        .run();
    Case::new(&project)
        .env("PATH", project.path("bin"))
        .args(["exec", "plain"])
        .status(126)
        .run();
    Case::new(&project)
        .args(["exec", "./bin/missing"])
        .status(127)
        .run();

    // A script whose interpreter does not exist.
    project.script("bin/broken", "#!/nonexistent/interpreter\n");
    Case::new(&project)
        .args(["exec", "./bin/broken"])
        .status(126)
        .said("interpreter")
        .run();
}

/// `-C DIR` is where the command runs, and a relative command is found there, as if lsenv had
/// been started in DIR.
#[test]
fn a_relative_command_is_found_and_run_in_the_dash_c_directory() {
    let project = project_with_secret();
    project.script("app/bin/where", "#!/bin/sh\npwd\n");
    let output = Case::new(&project)
        .args(["-C", "app", "exec", "--", "./bin/where"])
        .run();
    let ran_in = std::fs::canonicalize(String::from_utf8(output.stdout).unwrap().trim()).unwrap();
    assert_eq!(ran_in, std::fs::canonicalize(project.path("app")).unwrap());
}

/// Rust ignores SIGPIPE in lsenv itself; the command must not inherit that (a pipeline's writer
/// would get EPIPE instead of dying), nor any other change: its ignored signals are exactly the
/// ones it gets when started directly.
#[test]
fn the_command_gets_the_signal_dispositions_it_would_get_without_lsenv() {
    let project = project_with_secret();
    let ignored = |case: Case| String::from_utf8(case.run().stdout).unwrap();
    let mut grep = std::process::Command::new("grep");
    grep.args(["SigIgn", "/proc/self/status"]);
    let direct = ignored(Case::of(grep));
    let through_lsenv =
        ignored(Case::new(&project).args(["exec", "--", "grep", "SigIgn", "/proc/self/status"]));
    assert_eq!(through_lsenv, direct);
    let mask = u64::from_str_radix(direct.trim().trim_start_matches("SigIgn:").trim(), 16).unwrap();
    assert_eq!(mask & (1 << (13 - 1)), 0, "SIGPIPE is ignored: {direct}");
}

/// A value no environment variable can hold is refused by name and origin before anything runs.
#[test]
fn a_value_with_a_nul_byte_is_refused_by_name() {
    let project = Project::new();
    project.credentials(&format!("litestream:\n  odd: \"{CANARY}\\0x\"\n"));
    Case::new(&project)
        .args(["exec", "--", "sh", "-c", "echo ran"])
        .status(3)
        .said("key `litestream.odd`: LITESTREAM_ODD holds a NUL byte")
        .lacks("ran")
        .run();
}
