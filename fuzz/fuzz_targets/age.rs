//! The age store read with a fixed identity (`fuzz/age-identity.txt`, which the seeds are
//! encrypted to): any bytes decrypt or are refused as an integrity error (exit 5), never a
//! panic; a passphrase file asks for its passphrase (refused here, as with no terminal) and
//! never reaches scrypt's work.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use lsenv::Error;
use lsenv::error::{KeyProblem, exit};
use lsenv::store::age::{Identity, Unlock, decrypt, parse_identities};

fn identities() -> &'static [Identity] {
    static IDENTITIES: OnceLock<Vec<Identity>> = OnceLock::new();
    IDENTITIES.get_or_init(|| {
        parse_identities(include_bytes!("../age-identity.txt"), "age-identity.txt").unwrap()
    })
}

/// A passphrase file's passphrase, asked for: refused, as when there is no terminal.
fn no_passphrase() -> lsenv::Result<age::secrecy::SecretString> {
    Err(Error::key("fuzzing", KeyProblem::NoTerminal))
}

libfuzzer_sys::fuzz_target!(|file: &[u8]| {
    let unlock = Unlock {
        identities: identities(),
        passphrase: &no_passphrase,
    };
    match decrypt(file, &unlock, Path::new("config/credentials.yml.age")) {
        Ok(_) => {}
        Err(Error::Key { problem, .. }) => assert!(matches!(*problem, KeyProblem::NoTerminal)),
        Err(err) => assert_eq!(err.exit_code(), exit::INTEGRITY, "{err}"),
    }
});
