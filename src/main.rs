//! The `lsenv` binary: runs the library and turns its error into a message and an exit code.

use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let env = lsenv::Env::from_process();
    let Err(err) = lsenv::run(std::env::args_os(), &env) else {
        return ExitCode::SUCCESS;
    };
    if let lsenv::Error::Cli(clap_err) = &err {
        // clap formats help, version and usage errors itself, on the right stream.
        let _ = clap_err.print();
    } else {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "lsenv: {err}");
        if let Some(hint) = err.hint() {
            let _ = writeln!(stderr, "lsenv: hint: {hint}");
        }
    }
    ExitCode::from(err.exit_code())
}
