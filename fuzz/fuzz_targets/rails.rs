//! A Rails credentials file (`BASE64--BASE64--BASE64`, AES-128-GCM over Marshal) read with a
//! fixed key: any bytes decrypt or are refused as an integrity error (exit 5), never a panic;
//! any text written with the key reads back exactly; a file over the size cap is refused for its
//! size through the store's entry point.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use lsenv::error::exit;
use lsenv::store::Keys;
use lsenv::store::rails::{self, MasterKey};

/// The test-only key of `fixtures/rails/realistic.yml.enc`, one of the seeds.
const KEY: &[u8] = include_bytes!("../../fixtures/rails/realistic.key");

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys::Rails(MasterKey::parse(KEY, "realistic.key").unwrap()))
}

libfuzzer_sys::fuzz_target!(|file: &[u8]| {
    let Keys::Rails(key) = keys() else {
        unreachable!("a Rails key")
    };
    let path = Path::new("config/credentials.yml.enc");
    if let Err(err) = rails::decrypt(file, key, path) {
        assert_eq!(err.exit_code(), exit::INTEGRITY, "{err}");
    }

    if let Ok(text) = std::str::from_utf8(file) {
        let written = rails::encrypt(text.as_bytes(), key);
        let read = rails::decrypt(written.as_bytes(), key, path).expect("what lsenv wrote");
        assert_eq!(read.as_str(), text);
    }

    let on_disk = lsenv_fuzz::scratch("credentials.yml.enc");
    if lsenv_fuzz::write_input(&on_disk, file) {
        lsenv_fuzz::assert_size_refusal(keys().read(&on_disk));
    }
});
