//! The `lsenv` binary: runs the library and turns its result into an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    let env = lsenv::Env::from_process();
    match lsenv::run(std::env::args_os(), &env) {
        Ok(lsenv::Status(code)) => ExitCode::from(code),
        Err(err) => {
            lsenv::terminal::report(&err);
            ExitCode::from(err.exit_code())
        }
    }
}
