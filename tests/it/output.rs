//! `lsenv env`: golden files for every format, and round trips that prove each consumer reads
//! back the exact bytes: the real `sh`, `dash` and `bash`, python-dotenv, Ruby's dotenv and
//! Python's `json`, and, where the consumer cannot run here, parsers that follow its own source
//! line by line (systemd's `env-file.c`, the docker CLI's `parseKeyValueFile`, the GitHub
//! runner's `SetEnvFileCommand` and `ActionCommand`, GitLab's `ParseDotenvArtifactService`).
//! Then the refusals, the files written, and the canary.
//!
//! The golden files are `tests/golden/*`, compared byte for byte. After a deliberate change of
//! output, regenerate them with `LSENV_BLESS=1 cargo test --test it output` and review the diff.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::Read as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::case::Case;
use crate::consumers::{
    docker_env_file, github_env_file, github_masks, gitlab_dotenv_report, systemd_environment_file,
};
use crate::support::{CANARY, Project, said};

/// Values as the tests expect them: name → bytes.
type Values = BTreeMap<String, Vec<u8>>;

/// One credentials key per awkward character: (key, YAML double-quoted text whose escapes make
/// the bytes exact, the value lsenv must write).
const AWKWARD: &[(&str, &str, &str)] = &[
    ("newline", r"line one\nline two", "line one\nline two"),
    ("carriage_return", r"carriage\rreturn", "carriage\rreturn"),
    ("tab", r"tab\there", "tab\there"),
    ("single_quote", "it's", "it's"),
    ("double_quote", r#"say \"hi\""#, "say \"hi\""),
    ("dollar", "$HOME $(id) $", "$HOME $(id) $"),
    ("backtick", "`id`", "`id`"),
    ("backslash", r"C:\\dir\\new", r"C:\dir\new"),
    ("equals", "a=b==", "a=b=="),
    ("hash", "not # a comment", "not # a comment"),
    ("spaces", "  padded  ", "  padded  "),
    ("unicode", r"h\u00e9llo \u2603 \U0001D11E", "héllo ☃ 𝄞"),
    ("empty", "", ""),
];

/// Everything at once, for the formats that carry any value.
const KITCHEN_SINK: (&str, &str, &str) = (
    "kitchen_sink",
    r#" a'b\"c`d$HOME${HOME}$(id)\\e\\\\f=g#h\ni\r\nj\tk \u00e9 %0A \\"#,
    " a'b\"c`d$HOME${HOME}$(id)\\e\\\\f=g#h\ni\r\nj\tk é %0A \\",
);

/// The committed, non-secret variable every fixture also has.
const REGION: (&str, &str) = ("LITESTREAM_REPLICA_REGION", "eu-west-3");

/// A project whose credentials hold `entries` (`litestream.KEY`), with [`REGION`] in TOML.
fn project_with(entries: &[(&str, &str, &str)]) -> Project {
    let project = Project::new();
    let mut yaml = String::from("litestream:\n");
    for (key, escaped, _) in entries {
        writeln!(yaml, "  {key}: \"{escaped}\"").unwrap();
    }
    project
        .file(
            "config/lsenv.toml",
            format!("[litestream]\nreplica_region = \"{}\"\n", REGION.1),
        )
        .credentials(&yaml);
    project
}

/// What the project of `entries` resolves to.
fn values(entries: &[(&str, &str, &str)]) -> Values {
    entries
        .iter()
        .map(|(key, _, value)| (name(key), value.as_bytes().to_vec()))
        .chain([(REGION.0.to_owned(), REGION.1.as_bytes().to_vec())])
        .collect()
}

fn name(key: &str) -> String {
    format!("LITESTREAM_{}", key.to_ascii_uppercase())
}

/// [`AWKWARD`] without the keys a format must refuse, plus [`KITCHEN_SINK`] if it carries it.
fn fixture(
    refused: &[&str],
    kitchen_sink: bool,
) -> Vec<(&'static str, &'static str, &'static str)> {
    AWKWARD
        .iter()
        .copied()
        .filter(|(key, _, _)| !refused.contains(key))
        .chain(kitchen_sink.then_some(KITCHEN_SINK))
        .collect()
}

/// `lsenv env ARGS`.
fn env(project: &Project, args: &[&str]) -> Case {
    Case::new(project).arg("env").args(args)
}

/// `case` succeeds; `--reveal` prints secrets on purpose.
fn success(case: Case, reveal: bool) -> Output {
    if reveal { case.reveals() } else { case }.run()
}

/// Compares `actual` with `tests/golden/NAME` byte for byte, or rewrites it under `LSENV_BLESS`.
fn golden(name: &str, actual: &[u8]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("LSENV_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|err| {
        panic!(
            "{}: {err}; create it with LSENV_BLESS=1 cargo test --test it output",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs (LSENV_BLESS=1 regenerates it):\n--- expected\n{}\n--- actual\n{}",
        path.display(),
        expected.escape_ascii(),
        actual.escape_ascii()
    );
}

/// `NAME\0VALUE\0…`, as the helper scripts below print what their consumer read.
fn nul_pairs(bytes: &[u8]) -> Values {
    let mut fields = bytes.split(|&byte| byte == 0);
    let mut pairs = Values::new();
    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
        pairs.insert(String::from_utf8(name.to_vec()).unwrap(), value.to_vec());
    }
    pairs
}

/// Runs a consumer with a clean environment (so no variable of ours can leak into what it
/// reads) and returns its stdout.
fn consume(program: &str, args: &[&OsStr]) -> Vec<u8> {
    let output = Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .output()
        .unwrap_or_else(|err| panic!("{program} must be installed: {err}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn assert_values(consumer: &str, read: &Values, expected: &Values) {
    for (name, value) in expected {
        assert_eq!(
            read.get(name).map(|read| read.escape_ascii().to_string()),
            Some(value.escape_ascii().to_string()),
            "{consumer} read {name} differently"
        );
    }
    assert_eq!(
        read.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{consumer} read other variables"
    );
}

// ---------------------------------------------------------------------------------------------
// Golden files

#[test]
fn golden_files_for_every_format() {
    let line_formats: [(&str, &[&str], bool); 5] = [
        ("dotenv", &["newline", "carriage_return"], false),
        ("shell", &[], true),
        ("json", &[], true),
        ("systemd", &[], true),
        ("docker", &["newline"], false),
    ];
    for (format, refused, kitchen_sink) in line_formats {
        let project = project_with(&fixture(refused, kitchen_sink));
        let shown = success(env(&project, &["--format", format]), false);
        golden(&format!("{format}.redacted"), &shown.stdout);
        // Into a pipe, fingerprints say what they are.
        assert_eq!(
            String::from_utf8_lossy(&shown.stderr),
            "lsenv: the values are fingerprints (length and a short hash); --reveal prints the values\n"
        );
        let revealed = success(env(&project, &["--format", format, "--reveal"]), true);
        golden(&format!("{format}.revealed"), &revealed.stdout);
    }

    let project = project_with(&fixture(&[], true));
    let github_env = project.path("github_env");
    let output = success(
        Case::new(&project)
            .args(["env", "--format", "github"])
            .env("GITHUB_ENV", &github_env),
        // The masks are the secrets, for the runner to hide.
        true,
    );
    golden("github.stdout", &output.stdout);
    // The delimiters are random: the golden file has them as `ghadelimiter_RANDOM`.
    let written = String::from_utf8(std::fs::read(&github_env).unwrap()).unwrap();
    let mut normalized = String::new();
    let mut rest = written.as_str();
    while let Some(at) = rest.find("ghadelimiter_") {
        let (before, after) = rest.split_at(at + "ghadelimiter_".len());
        normalized.push_str(before);
        normalized.push_str("RANDOM");
        rest = &after[32..];
    }
    normalized.push_str(rest);
    golden("github.github_env", normalized.as_bytes());

    let project = project_with(&fixture(&["newline", "spaces"], false));
    let output = success(
        env(&project, &["--format", "gitlab", "-o", "report.env"]),
        false,
    );
    assert!(output.stdout.is_empty());
    golden(
        "gitlab.report",
        &std::fs::read(project.path("report.env")).unwrap(),
    );
    golden("gitlab.stderr", &output.stderr);
}

// ---------------------------------------------------------------------------------------------
// Round trips through the real consumers

#[test]
fn sh_dash_and_bash_source_shell_output_exactly() {
    let entries = fixture(&[], true);
    let project = project_with(&entries);
    // Any byte but NUL, even one that is not UTF-8, from the environment.
    let latin1 = OsStr::from_bytes(b"caf\xe9 \xff");
    Case::new(&project)
        .args(["env", "--format", "shell", "--reveal", "-o", "vars.sh"])
        .env("LITESTREAM_LATIN1", latin1)
        .reveals()
        .run();
    let mut expected = values(&entries);
    expected.insert("LITESTREAM_LATIN1".into(), latin1.as_bytes().to_vec());
    let file = project.path("vars.sh");
    for shell in ["sh", "dash", "bash"] {
        for (name, value) in &expected {
            let script = format!(". \"$1\" && printf %s \"${name}\"");
            let read = consume(
                shell,
                &[
                    OsStr::new("-c"),
                    script.as_ref(),
                    shell.as_ref(),
                    file.as_ref(),
                ],
            );
            assert_eq!(
                read.escape_ascii().to_string(),
                value.escape_ascii().to_string(),
                "{shell} read {name} differently"
            );
        }
        // `export` reached the environment of what the shell runs.
        let env0 = consume(
            shell,
            &[
                OsStr::new("-c"),
                OsStr::new(". \"$1\" && env -0"),
                shell.as_ref(),
                file.as_ref(),
            ],
        );
        let exported: Values = env0
            .split(|&byte| byte == 0)
            .filter_map(|entry| {
                let at = entry.iter().position(|&byte| byte == b'=')?;
                let name = String::from_utf8(entry[..at].to_vec()).ok()?;
                name.starts_with("LITESTREAM_")
                    .then(|| (name, entry[at + 1..].to_vec()))
            })
            .collect();
        assert_values(&format!("{shell} (exported)"), &exported, &expected);
    }
}

#[test]
fn python_dotenv_and_ruby_dotenv_read_dotenv_output_exactly() {
    let entries = fixture(&["newline", "carriage_return"], false);
    let project = project_with(&entries);
    success(
        env(&project, &["--format", "dotenv", "--reveal", "-o", ".env"]),
        true,
    );
    let file = project.path(".env");
    let expected = values(&entries);

    // With interpolation on, as `load_dotenv` and `dotenv_values` have it by default.
    let python = "import sys\nfrom dotenv import dotenv_values\n\
        for k, v in sorted(dotenv_values(sys.argv[1]).items()):\n\
        \x20   sys.stdout.buffer.write(k.encode() + b'\\0' + v.encode() + b'\\0')\n";
    let read = consume(
        "python3",
        &[OsStr::new("-c"), python.as_ref(), file.as_ref()],
    );
    assert_values("python-dotenv", &nul_pairs(&read), &expected);

    // `Dotenv.load` into ENV, as an app does (Debian's ruby-dotenv, the 2.x parser).
    let ruby = "require 'dotenv'\nDotenv.load(ARGV[0])\n$stdout.binmode\n\
        ENV.select { |k, _| k.start_with?('LITESTREAM_') }.sort.each { |k, v| $stdout.write(k, \"\\0\", v, \"\\0\") }\n";
    let read = consume(
        "ruby",
        &[
            OsStr::new("-E"),
            OsStr::new("UTF-8"),
            OsStr::new("-e"),
            ruby.as_ref(),
            file.as_ref(),
        ],
    );
    assert_values("Ruby's dotenv", &nul_pairs(&read), &expected);
}

#[test]
fn python_json_reads_json_output_exactly() {
    let entries = fixture(&[], true);
    let project = project_with(&entries);
    success(
        env(
            &project,
            &["--format", "json", "--reveal", "-o", "vars.json"],
        ),
        true,
    );
    let python = "import json, sys\n\
        for k, v in sorted(json.load(open(sys.argv[1], encoding='utf-8')).items()):\n\
        \x20   sys.stdout.buffer.write(k.encode() + b'\\0' + v.encode() + b'\\0')\n";
    let read = consume(
        "python3",
        &[
            OsStr::new("-c"),
            python.as_ref(),
            project.path("vars.json").as_ref(),
        ],
    );
    assert_values("Python's json", &nul_pairs(&read), &values(&entries));

    // Redacted, the same object with fingerprints for values.
    let shown = success(env(&project, &["--format", "json"]), false);
    let text = String::from_utf8(shown.stdout).unwrap();
    assert!(
        text.contains("\"LITESTREAM_EMPTY\": \"0 bytes, hmac "),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// Round trips through parsers that follow the consumer's source

#[test]
fn systemd_environment_file_rules_read_systemd_output_exactly() {
    let entries = fixture(&[], true);
    let project = project_with(&entries);
    success(
        env(
            &project,
            &["--format", "systemd", "--reveal", "-o", "lsenv.env"],
        ),
        true,
    );
    let text = std::fs::read(project.path("lsenv.env")).unwrap();
    let expected = values(&entries);
    assert_values("systemd", &systemd_environment_file(&text), &expected);

    // The parser is systemd's, not ours: its quirks are there.
    let quirks = systemd_environment_file(
        b"# c\nA = x y  \nB=\"a\\qb\\\"\"\n; c\nC='it''s'\nD=a\\\nb\nE=\"multi\nline\"",
    );
    let expected_quirks: Values = [
        ("A", "x y"),
        ("B", "a\\qb\""),
        ("C", "its"),
        ("D", "ab"),
        ("E", "multi\nline"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.as_bytes().to_vec()))
    .collect();
    assert_values("systemd", &quirks, &expected_quirks);

    // sh reads the same file to the same values.
    for (name, value) in &expected {
        let script = format!("set -a; . \"$1\" && printf %s \"${name}\"");
        let read = consume(
            "sh",
            &[
                OsStr::new("-c"),
                script.as_ref(),
                OsStr::new("sh"),
                project.path("lsenv.env").as_ref(),
            ],
        );
        assert_eq!(read, *value, "sh read {name} differently from systemd");
    }
}

#[test]
fn docker_env_file_rules_read_docker_output_exactly() {
    let entries = fixture(&["newline"], false);
    let project = project_with(&entries);
    success(
        env(
            &project,
            &["--format", "docker", "--reveal", "-o", "docker.env"],
        ),
        true,
    );
    let text = std::fs::read(project.path("docker.env")).unwrap();
    assert_values(
        "docker",
        &docker_env_file(&text).unwrap(),
        &values(&entries),
    );
}

#[test]
fn github_runner_reads_back_every_value_and_masks_every_secret_line() {
    let entries = fixture(&[], true);
    let project = project_with(&entries);
    // The runner's file may already hold a line without its line feed.
    project.file("github_env", "EARLIER=1");
    let output = success(
        Case::new(&project)
            .args(["env", "--format", "github"])
            .env("GITHUB_ENV", project.path("github_env")),
        // The masks are the secrets, for the runner to hide.
        true,
    );
    assert!(output.stderr.is_empty(), "{}", said(&output));

    let written = String::from_utf8(std::fs::read(project.path("github_env")).unwrap()).unwrap();
    let read = github_env_file(&written).unwrap();
    let mut expected = values(&entries);
    expected.insert("EARLIER".into(), b"1".to_vec());
    assert_values("the GitHub runner", &read, &expected);

    let masks = github_masks(&output.stdout).unwrap();
    for (key, _, value) in &entries {
        let pieces = std::iter::once(*value).chain(value.split(['\r', '\n']));
        for piece in pieces.filter(|piece| !piece.trim().is_empty()) {
            assert!(
                masks.iter().any(|mask| mask == piece),
                "no mask for {} (or one of its lines)",
                name(key)
            );
        }
    }
    // The committed TOML value is no secret; blank values cannot be masked and are not tried.
    assert!(
        !masks
            .iter()
            .any(|mask| mask == REGION.1 || mask.trim().is_empty())
    );
}

#[test]
fn github_masks_are_out_before_github_env_is_opened() {
    let project = project_with(&fixture(&[], true));
    let fifo = project.path("github_env");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let stdout_path = project.path("stdout");
    let mut child = project
        .process()
        .args(["env", "--format", "github"])
        .env("GITHUB_ENV", &fifo)
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Opening a FIFO for reading waits for the writer: when lsenv opens $GITHUB_ENV, every mask
    // must already be on its stdout. (A thread, so that a failing lsenv cannot hang the test.)
    let reader = {
        let (fifo, stdout_path) = (fifo.clone(), stdout_path.clone());
        std::thread::spawn(move || {
            let mut file = std::fs::File::open(&fifo).unwrap();
            let at_open = std::fs::read(&stdout_path).unwrap();
            let mut written = Vec::new();
            file.read_to_end(&mut written).unwrap();
            (at_open, written)
        })
    };
    assert!(child.wait().unwrap().success());
    let (at_open, written) = reader.join().unwrap();
    assert!(!at_open.is_empty());
    assert_eq!(at_open, std::fs::read(&stdout_path).unwrap());
    assert!(github_env_file(&String::from_utf8(written).unwrap()).is_ok());
}

#[test]
fn gitlab_reads_back_the_report_and_warnings_name_only_the_variable() {
    let mut entries = fixture(&["newline", "spaces"], false);
    entries.push(("token", "AKIA+/=-_@:.~0123", "AKIA+/=-_@:.~0123"));
    let project = project_with(&entries);
    let output = success(
        env(&project, &["--format", "gitlab", "-o", "build.env"]),
        false,
    );
    let text = String::from_utf8(std::fs::read(project.path("build.env")).unwrap()).unwrap();
    assert_values(
        "GitLab",
        &gitlab_dotenv_report(&text).unwrap(),
        &values(&entries),
    );

    let stderr = String::from_utf8(output.stderr).unwrap();
    // Only the token meets GitLab's masking rule; the TOML value is no secret.
    for (key, _, value) in &entries {
        let warned = stderr.lines().any(|line| {
            line.starts_with(&format!(
                "lsenv: warning: {}: GitLab cannot mask",
                name(key)
            ))
        });
        assert_eq!(warned, *key != "token", "{key}: {stderr}");
        if value.len() > 2 {
            assert!(!stderr.contains(value), "a value in the warnings: {stderr}");
        }
    }
    assert!(stderr.contains("lsenv: warning: LITESTREAM_DOLLAR: the value holds `$`"));
    assert!(!stderr.contains(REGION.0), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Refusals

/// A refusal: exit 3, one error naming `needle`, nothing on stdout and no file.
/// `case` is refused (exit 3, nothing on stdout) saying `needle`.
#[track_caller]
fn refused(case: Case, needle: impl Into<String>) -> Output {
    case.status(3).stdout_is("").said(needle).run()
}

#[test]
fn docker_refuses_line_breaks_naming_the_variable() {
    let project = project_with(AWKWARD);
    let output = refused(
        env(
            &project,
            &["--format", "docker", "--reveal", "-o", "docker.env"],
        ),
        "config/credentials.yml.enc: key `litestream.newline`: LITESTREAM_NEWLINE holds a line break, which docker --env-file cannot carry",
    );
    assert!(said(&output).contains("hint: "), "{}", said(&output));
    assert!(!project.path("docker.env").exists());

    refused(
        Case::new(&project)
            .args(["env", "--format", "docker", "--reveal"])
            .env("LITESTREAM_CR", "ends\r")
            .env("LITESTREAM_BIG", "x".repeat(70_000)),
        "environment: LITESTREAM_BIG is too long",
    );
    refused(
        Case::new(&project)
            .args(["env", "--format", "docker", "--reveal"])
            .env("LITESTREAM_CR", "ends\r"),
        "LITESTREAM_CR ends with a carriage return",
    );

    // Redacted, the listing still works: a fingerprint fits every format.
    success(env(&project, &["--format", "docker"]), false);
}

#[test]
fn dotenv_refuses_what_the_three_libraries_would_read_differently() {
    let project = project_with(AWKWARD);
    refused(
        env(&project, &["--format", "dotenv", "--reveal"]),
        "key `litestream.carriage_return`: LITESTREAM_CARRIAGE_RETURN holds a line break, which dotenv libraries do not read alike",
    );
    let project = project_with(&[]);
    for (value, problem) in [
        ("${HOME}", "holds `${…}`, which python-dotenv expands"),
        (
            "it's \"quoted\"",
            "holds quotes, backslashes or `$` in a combination",
        ),
        (
            "it's $HOME",
            "holds quotes, backslashes or `$` in a combination",
        ),
        (
            "it's C:\\",
            "holds quotes, backslashes or `$` in a combination",
        ),
    ] {
        refused(
            Case::new(&project)
                .args(["env", "--format", "dotenv", "--reveal"])
                .env("LITESTREAM_ODD", value),
            format!("environment: LITESTREAM_ODD {problem}"),
        );
    }
}

#[test]
fn values_a_format_cannot_hold_are_refused_by_name() {
    let project = project_with(&[("nul", r"a\0b", "a\0b")]);
    for format in ["dotenv", "shell", "json", "systemd", "docker"] {
        refused(
            env(&project, &["--format", format, "--reveal"]),
            "LITESTREAM_NUL holds a NUL byte",
        );
    }

    let project = project_with(&[]);
    let not_utf8 = OsStr::from_bytes(b"caf\xe9");
    for (format, consumer) in [
        ("json", "a JSON string"),
        ("dotenv", "a dotenv file"),
        ("systemd", "systemd"),
        ("docker", "docker --env-file"),
    ] {
        refused(
            Case::new(&project)
                .args(["env", "--format", format, "--reveal"])
                .env("LITESTREAM_LATIN1", not_utf8),
            format!("environment: LITESTREAM_LATIN1 is not valid UTF-8, which {consumer} requires"),
        );
    }
}

#[test]
fn github_needs_github_env_and_takes_no_reveal_or_output() {
    let project = project_with(&fixture(&[], false));
    refused(
        env(&project, &["--format", "github"]),
        "GITHUB_ENV is not set",
    );

    for extra in [&["--reveal"][..], &["-o", "x.env"]] {
        Case::new(&project)
            .args(["env", "--format", "github"])
            .args(extra)
            .env("GITHUB_ENV", project.path("github_env"))
            .status(2)
            .run();
        assert!(!project.path("github_env").exists());
    }
}

#[test]
fn gitlab_needs_a_file_and_refuses_what_its_report_cannot_carry() {
    let project = project_with(AWKWARD);
    env(&project, &["--format", "gitlab"])
        .status(2)
        .said("-o FILE")
        .run();

    refused(
        env(&project, &["--format", "gitlab", "-o", "build.env"]),
        "key `litestream.newline`: LITESTREAM_NEWLINE holds a line break, which a GitLab dotenv report cannot carry",
    );
    assert!(!project.path("build.env").exists());

    let project = project_with(&fixture(&["newline"], false));
    refused(
        env(&project, &["--format", "gitlab", "-o", "build.env"]),
        "LITESTREAM_SPACES starts or ends with whitespace",
    );
    assert!(!project.path("build.env").exists());
}

// ---------------------------------------------------------------------------------------------
// Files

#[test]
fn output_files_are_private_and_replaced_whole() {
    let project = project_with(&fixture(&[], false));
    let output = success(
        env(
            &project,
            &["--format", "shell", "--reveal", "-o", "vars.sh"],
        ),
        true,
    );
    assert!(output.stdout.is_empty());
    let path = project.path("vars.sh");
    let mode = |path: &PathBuf| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    let printed = success(env(&project, &["--format", "shell", "--reveal"]), true).stdout;
    assert_eq!(std::fs::read(&path).unwrap(), printed);

    // An existing file is replaced atomically and keeps the mode its owner gave it.
    std::fs::write(&path, "old").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    success(
        env(&project, &["--format", "json", "--reveal", "-o", "vars.sh"]),
        true,
    );
    assert_eq!(mode(&path), 0o640);
    let printed = success(env(&project, &["--format", "json", "--reveal"]), true).stdout;
    assert_eq!(std::fs::read(&path).unwrap(), printed);
    let names: Vec<_> = std::fs::read_dir(project.root())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(
        !names
            .iter()
            .any(|name| name.to_string_lossy().ends_with(".tmp")),
        "{names:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The canary

#[test]
fn without_reveal_no_format_prints_a_secret() {
    let multi_line = format!("first line\n{CANARY}\nlast line");
    let project = Project::new();
    project.credentials(&format!(
        "litestream:\n  secret_access_key: {CANARY}\n  certificate: \"{}\"\n",
        multi_line.replace('\n', "\\n")
    ));
    let formats = [
        "dotenv", "shell", "json", "systemd", "docker", "github", "gitlab",
    ];
    for format in formats {
        let output = Case::new(&project)
            .args(["env", "--format", format])
            .args(if format == "gitlab" {
                &["-o", "build.env"][..]
            } else {
                &[]
            })
            .env("GITHUB_ENV", project.path("github_env"))
            .any_status()
            // The github masks are secrets; the loop below checks the rest of the output.
            .reveals()
            .run();
        let mut stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if format == "github" {
            // The masks are how the runner learns the secrets; it swallows these lines.
            assert!(output.status.success(), "{}", said(&output));
            stdout = stdout
                .lines()
                .filter(|line| !line.starts_with("::add-mask::"))
                .collect();
        } else if format == "gitlab" {
            // The multi-line value cannot go into a report: refused, by name only.
            assert_eq!(output.status.code(), Some(3), "{}", said(&output));
        } else {
            assert!(output.status.success(), "{}", said(&output));
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        for text in [&stdout, &*stderr] {
            assert!(
                !text.contains(CANARY),
                "--format {format} printed the canary: {text}"
            );
        }
    }

    // Refusals of real values name the variable, never the value.
    let output = refused(
        env(&project, &["--format", "docker", "--reveal"]),
        "LITESTREAM_CERTIFICATE holds a line break",
    );
    assert!(!said(&output).contains(CANARY), "{}", said(&output));
}
