//! `lsenv env` in every format, for up to four values taken from the input (split at 0x1E,
//! ASCII's record separator) as `LITESTREAM_V0`…, the even ones from the credentials and the odd
//! ones from the TOML: each format either writes what every consumer of it reads back exactly
//! (the models of `tests/consumers`), or refuses with a configuration error (exit 3) naming the
//! variable, and writes and prints nothing. Without `--reveal` every format succeeds, and its
//! consumers read the fingerprints.
#![no_main]

#[path = "../../tests/consumers/mod.rs"]
mod consumers;

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use lsenv::Env;
use lsenv::error::exit;
use lsenv::output;
use lsenv::output::Format;
use lsenv::resolve::{Resolution, Source, Variable};
use lsenv::secret::Secret;

use consumers::Values;

const FORMATS: [Format; 7] = [
    Format::Dotenv,
    Format::Shell,
    Format::Json,
    Format::Systemd,
    Format::Docker,
    Format::Github,
    Format::Gitlab,
];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut variables = Vec::new();
    for (index, value) in data.split(|&byte| byte == 0x1e).take(4).enumerate() {
        let key = format!("litestream.v{index}");
        let source = if index % 2 == 0 {
            Source::Credentials {
                file: Path::new("config/credentials.yml.enc").into(),
                key,
            }
        } else {
            Source::Toml {
                file: Path::new("config/lsenv.toml").into(),
                key,
            }
        };
        let variable = Variable {
            value: Secret::copy_from(value),
            source,
            overridden: Vec::new(),
            file: false,
        };
        variables.push((format!("LITESTREAM_V{index}"), variable));
    }
    let resolution: Resolution = variables.into_iter().collect();
    let values = |value: &dyn Fn(&Variable) -> Vec<u8>| -> Values {
        resolution
            .iter()
            .map(|(name, variable)| (name.to_owned(), value(variable)))
            .collect()
    };
    let revealed = values(&|variable| variable.value.expose().to_vec());
    let fingerprints = values(&|variable| variable.value.fingerprint().into_bytes());
    let secrets: Vec<&str> = resolution
        .iter()
        .filter(|(_, variable)| variable.is_secret())
        .map(|(name, _)| name)
        .collect();
    for format in FORMATS {
        // GitHub and GitLab always write the values themselves (and refuse `--reveal`).
        let reveal = !matches!(format, Format::Github | Format::Gitlab);
        check(&resolution, format, reveal, &revealed, &secrets);
        if reveal {
            check(&resolution, format, false, &fingerprints, &[]);
        }
    }
});

/// Runs one format and checks what it wrote, or that its refusal wrote nothing.
fn check(
    resolution: &Resolution,
    format: Format,
    reveal: bool,
    expected: &Values,
    secrets: &[&str],
) {
    let file = lsenv_fuzz::scratch("written");
    match std::fs::remove_file(&file) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => panic!("{err}"),
        _ => {}
    }
    let (env, output) = if format == Format::Github {
        (Env::from_iter([("GITHUB_ENV", file.as_os_str())]), None)
    } else {
        (Env::default(), Some(file.as_path()))
    };
    let (result, stdout) = captured(format == Format::Gitlab, || {
        output::run(resolution, &env, format, reveal, output)
    });
    let written = std::fs::read(&file);
    // A file of fingerprints is never what anyone wants: `-o` without `--reveal` is refused.
    if !reveal && !matches!(format, Format::Github | Format::Gitlab) {
        let err = result.expect_err("-o without --reveal is refused");
        assert_eq!(err.exit_code(), exit::USAGE, "--format {format:?}: {err}");
        assert!(
            written.is_err(),
            "--format {format:?} refused and wrote: {err}"
        );
        return;
    }
    match result {
        Ok(()) => {
            let written = written.expect("the written file");
            if let Err(problem) = consumers::check(format, &written, &stdout, expected, secrets) {
                panic!("--format {format:?} (reveal {reveal}): {problem}");
            }
        }
        Err(err) => {
            assert!(
                reveal || matches!(format, Format::Github | Format::Gitlab),
                "--format {format:?} without --reveal: {err}"
            );
            assert_eq!(err.exit_code(), exit::CONFIG, "--format {format:?}: {err}");
            assert!(
                err.to_string().contains("LITESTREAM_V"),
                "--format {format:?}: {err}"
            );
            assert!(
                written.is_err() && stdout.is_empty(),
                "--format {format:?} wrote something and refused: {err}"
            );
        }
    }
}

/// Runs `run` with stdout going to a file, returning what it printed. With `quiet`, stderr
/// (GitLab's warnings, one per value) goes to a file too, so that libFuzzer's log stays readable;
/// should lsenv panic meanwhile, its message is in that file (`stderr` in the scratch directory:
/// reproduce without `scripts/fuzz.sh`, which removes it).
fn captured<T>(quiet: bool, run: impl FnOnce() -> T) -> (T, Vec<u8>) {
    struct Redirects {
        stdout: PathBuf,
        stdout_file: File,
        stderr_file: File,
        stderr: OwnedFd,
    }
    static REDIRECTS: OnceLock<Redirects> = OnceLock::new();
    // Appending: writes land at the end of the files, after they are emptied below.
    let append = |name: &str| {
        let path = lsenv_fuzz::scratch(name);
        let file = File::options().create(true).append(true).open(&path);
        (path, file.expect("a file to capture output"))
    };
    let redirects = REDIRECTS.get_or_init(|| {
        let (stdout, stdout_file) = append("stdout");
        rustix::stdio::dup2_stdout(&stdout_file).expect("stdout to a file");
        Redirects {
            stdout,
            stdout_file,
            stderr_file: append("stderr").1,
            stderr: rustix::io::dup(std::io::stderr()).expect("a copy of stderr"),
        }
    });
    redirects
        .stdout_file
        .set_len(0)
        .expect("empty the stdout file");
    if quiet {
        redirects
            .stderr_file
            .set_len(0)
            .expect("empty the stderr file");
        rustix::stdio::dup2_stderr(&redirects.stderr_file).expect("stderr to a file");
    }
    let result = run();
    if quiet {
        rustix::stdio::dup2_stderr(&redirects.stderr).expect("stderr back");
    }
    let stdout = std::fs::read(&redirects.stdout).expect("what was printed");
    (result, stdout)
}
