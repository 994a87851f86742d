//! How lsenv fits process managers and packaging: the Procfile line `init --procfile` adds, the
//! systemd example (a key delivered in `$CREDENTIALS_DIRECTORY`, the unit checked by
//! `systemd-analyze verify`), the Dockerfile's entrypoint run for real, and the completions, man
//! page and version generated from the command line's own definitions.

use std::path::Path;
use std::process::Command;

use crate::case::Case;
use crate::support::{KEY, Project, child_env, litestream, map, said};

fn examples() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
}

#[test]
fn init_procfile_adds_the_line_once_and_keeps_the_others() {
    let project = Project::new();
    project.file("Procfile", "web: bin/rails server\nworker: bin/jobs");
    let init = || {
        Case::new(&project)
            .args(["init", "--procfile", "--db", "storage/app.sqlite3"])
            .run();
        std::fs::read_to_string(project.path("Procfile")).unwrap()
    };
    let expected = "web: bin/rails server\nworker: bin/jobs\nlitestream: lsenv replicate\n";
    assert_eq!(init(), expected);
    assert_eq!(init(), expected, "a second run changes nothing");

    // A missing Procfile is created; an existing litestream process is kept as it is.
    let fresh = Project::new();
    Case::new(&fresh)
        .args(["init", "--procfile", "--db", "a.sqlite3"])
        .run();
    assert_eq!(
        std::fs::read_to_string(fresh.path("Procfile")).unwrap(),
        "litestream: lsenv replicate\n"
    );
    let gem = Project::new();
    gem.file("Procfile", "litestream: bin/rails litestream:run\n");
    Case::new(&gem)
        .args(["init", "--procfile", "--db", "a.sqlite3"])
        .said("it already has a litestream process")
        .run();
    assert_eq!(
        std::fs::read_to_string(gem.path("Procfile")).unwrap(),
        "litestream: bin/rails litestream:run\n"
    );
}

#[test]
fn a_key_delivered_by_systemd_is_a_key_source() {
    let project = Project::new();
    project.credentials("litestream:\n  replica_bucket: from-systemd-key\n");
    std::fs::remove_file(project.path("config/master.key")).unwrap();
    let credentials = tempfile::tempdir().unwrap();
    std::fs::write(credentials.path().join("master.key"), KEY).unwrap();
    let env = child_env(
        Case::new(&project).env("CREDENTIALS_DIRECTORY", credentials.path()),
        &["exec"],
    );
    assert_eq!(
        env,
        map(&[("LITESTREAM_REPLICA_BUCKET", "from-systemd-key")])
    );
    assert!(!env.contains_key("CREDENTIALS_DIRECTORY"), "not passed on");

    // Without it, the usual lookup applies: here there is no key at all.
    Case::new(&project).args(["exec", "true"]).status(4).run();
    // An empty directory is no key either, and RAILS_MASTER_KEY still wins over it.
    let empty = tempfile::tempdir().unwrap();
    Case::new(&project)
        .env("CREDENTIALS_DIRECTORY", empty.path())
        .args(["exec", "true"])
        .status(4)
        .run();
    let env = child_env(
        Case::new(&project)
            .env("CREDENTIALS_DIRECTORY", empty.path())
            .env("RAILS_MASTER_KEY", KEY),
        &["exec"],
    );
    assert_eq!(env["LITESTREAM_REPLICA_BUCKET"], "from-systemd-key");
}

#[test]
fn the_systemd_unit_example_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(examples().join("systemd/litestream.service")).unwrap();
    assert!(unit.contains("\nLoadCredential=master.key:"), "{unit}");
    assert!(
        unit.contains("\nExecStart=/usr/local/bin/lsenv replicate\n"),
        "{unit}"
    );
    // verify checks that ExecStart's program exists: point it at the lsenv under test.
    let lsenv = assert_cmd::cargo::cargo_bin!("lsenv");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("myapp-litestream.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/lsenv", &lsenv.to_string_lossy()),
    )
    .unwrap();
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze must be installed (apt-get install systemd)");
    assert!(output.status.success(), "{}", said(&output));
    assert!(
        output.stderr.is_empty(),
        "no warning (an unknown key only warns): {}",
        said(&output)
    );
}

/// The Dockerfile's ENTRYPOINT, run for real against the demo app (a file replica), with `-exec`
/// starting a stand-in for the app: litestream runs it with the container's variables passed on
/// by the example's lsenv.toml, never the key.
#[test]
fn the_dockerfile_entrypoint_runs_the_app_under_litestream() {
    let dockerfile = std::fs::read_to_string(examples().join("docker/Dockerfile")).unwrap();
    let entrypoint = dockerfile
        .lines()
        .find_map(|line| line.strip_prefix("ENTRYPOINT "))
        .expect("an ENTRYPOINT line");
    let argv: Vec<String> = serde_json::from_str(entrypoint).unwrap();
    assert_eq!(argv[..4], ["lsenv", "replicate", "--", "-exec"]);
    assert_eq!(argv.len(), 5);

    let project = Project::new();
    for file in [
        "config/credentials.yml.enc",
        "config/master.key",
        "config/litestream.yml",
    ] {
        std::fs::create_dir_all(project.path("config")).unwrap();
        std::fs::copy(examples().join("demo").join(file), project.path(file)).unwrap();
    }
    std::fs::create_dir_all(project.path("storage")).unwrap();
    let lsenv_toml = std::fs::read_to_string(examples().join("docker/lsenv.toml")).unwrap();
    project.file(
        "config/lsenv.toml",
        format!(
            "{lsenv_toml}\n[replicate]\nlitestream = \"{}\"\n",
            litestream().display()
        ),
    );
    let app = "sh -c 'echo \"app ran: $APP_SETTING, replica $LITESTREAM_REPLICA_PATH, key [$RAILS_MASTER_KEY]\"'";
    Case::offline(&project)
        .args(&argv[1..4])
        .arg(app)
        .env("APP_SETTING", "from-the-container")
        .env(
            "LSENV_MASTER_KEY",
            std::fs::read_to_string(project.path("config/master.key")).unwrap(),
        )
        .said("app ran: from-the-container, replica backups/production.sqlite3, key []")
        .run();
}

#[test]
fn completions_man_page_and_version_come_from_the_definitions() {
    let project = Project::new();
    let run = |args: &[&str]| {
        let output = Case::new(&project).args(args).run();
        String::from_utf8(output.stdout).unwrap()
    };
    let bash = run(&["completions", "bash"]);
    for word in [
        "exec",
        "replicate",
        "credentials",
        "rotate-key",
        "--redact",
        "--format",
    ] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    // The script loads in a real bash and registers the completion.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("lsenv.bash");
    std::fs::write(&script, &bash).unwrap();
    let loaded = Command::new("bash")
        .arg("-c")
        .arg(format!(". {} && complete -p lsenv", script.display()))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&loaded.stdout).contains("lsenv"),
        "{}",
        said(&loaded)
    );
    for shell in ["zsh", "fish"] {
        assert!(
            run(&["completions", shell]).contains("replicate"),
            "{shell}"
        );
    }
    let man = run(&["man"]);
    assert!(man.contains(".TH lsenv 1"), "{man}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(man.contains(section), "man page lacks {section}");
    }
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let version = run(&["--version"]);
    assert!(
        version.starts_with(&format!("lsenv {} (", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    if commit.status.success() {
        let commit = String::from_utf8(commit.stdout).unwrap();
        assert!(
            version.contains(commit.trim()),
            "{version} names the commit {commit}"
        );
    }
}
