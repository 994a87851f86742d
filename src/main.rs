//! The `lsenv` binary: runs the library and turns its error into a message and an exit code.

use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let env = lsenv::Env::from_process();
    let Err(err) = lsenv::run(std::env::args_os(), &env) else {
        return ExitCode::SUCCESS;
    };
    match &err {
        // clap formats help, version and usage errors itself, on the right stream.
        lsenv::Error::Cli(clap_err) => {
            let _ = clap_err.print();
        }
        // A supervised command's own status: it said whatever it had to say.
        lsenv::Error::ChildExited { .. } => {}
        _ => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "lsenv: {err}");
            if let Some(hint) = err.hint() {
                let _ = writeln!(stderr, "lsenv: hint: {hint}");
            }
        }
    }
    ExitCode::from(err.exit_code())
}
