//! Crafted age headers: whatever the header, lsenv decrypts or refuses the file (exit 5) well
//! within a second. The age crate's header parser does work that grows with the square of the
//! header, so lsenv bounds the header first (`lsenv::store::age::check_header`).
//!
//! An input is a recipe, so that small inputs make the large headers the bound is about: two
//! bytes of repeat count, a prefix up to the first 0xFF byte, then a chunk; the header is the
//! magic line, the prefix, the chunk that many times (up to 1 MiB), a MAC line, then a payload.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lsenv::Error;
use lsenv::error::{KeyProblem, exit};
use lsenv::store::age::{Identity, Unlock, check_header, decrypt, parse_identities};

/// A refusal or a decryption must take less than this, unoptimised checks included.
const LIMIT: Duration = Duration::from_secs(1);

fn identities() -> &'static [Identity] {
    static IDENTITIES: OnceLock<Vec<Identity>> = OnceLock::new();
    IDENTITIES.get_or_init(|| {
        parse_identities(include_bytes!("../age-identity.txt"), "age-identity.txt").unwrap()
    })
}

fn no_passphrase() -> lsenv::Result<age::secrecy::SecretString> {
    Err(Error::key("fuzzing", KeyProblem::NoTerminal))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((count, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let (prefix, chunk) = rest
        .iter()
        .position(|&byte| byte == 0xFF)
        .map_or((rest, &[][..]), |at| (&rest[..at], &rest[at + 1..]));
    let count = usize::from(u16::from_le_bytes(*count)).min((1 << 20) / chunk.len().max(1));
    let mut file = b"age-encryption.org/v1\n".to_vec();
    file.extend_from_slice(prefix);
    for _ in 0..count {
        file.extend_from_slice(chunk);
    }
    file.extend_from_slice(b"\n--- AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n");
    file.extend_from_slice(&[0; 64]);
    let unlock = Unlock {
        identities: identities(),
        passphrase: &no_passphrase,
    };
    let started = Instant::now();
    let bounded = check_header(&file);
    let decrypted = decrypt(&file, &unlock, Path::new("config/credentials.yml.age"));
    let took = started.elapsed();
    assert!(took < LIMIT, "{} header bytes took {took:?}", file.len());
    match decrypted {
        Ok(_) => assert!(bounded.is_ok()),
        Err(Error::Key { .. }) => {}
        Err(err) => {
            assert_eq!(err.exit_code(), exit::INTEGRITY, "{err}");
            if let Err(problem) = bounded {
                assert!(err.to_string().ends_with(&problem.to_string()), "{err}");
            }
        }
    }
});
