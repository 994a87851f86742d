//! `config/lsenv.toml`, read from a file for the `production` environment, then its
//! `[litestream]` tables resolved: any file gives settings or a configuration error (exit 3),
//! never a panic; a file over the size cap is refused for its size.
#![no_main]

use lsenv::Env;
use lsenv::config::Config;
use lsenv::error::exit;
use lsenv::resolve::{Source, resolve};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = lsenv_fuzz::scratch("lsenv.toml");
    if lsenv_fuzz::write_input(&path, data) {
        lsenv_fuzz::assert_size_refusal(Config::load(path, Some("production")));
        return;
    }
    let config = match Config::load(path, Some("production")) {
        Ok(config) => config,
        Err(err) => {
            assert_eq!(err.exit_code(), exit::CONFIG, "{err}");
            return;
        }
    };
    match resolve(&config, None, &Env::default()) {
        Ok(resolution) => {
            for (name, variable) in resolution.iter() {
                assert!(
                    name.starts_with("LITESTREAM_") && lsenv::names::is_valid_name(name),
                    "not a valid variable name: {name}"
                );
                assert!(
                    matches!(variable.source, Source::Toml { .. }),
                    "{name} comes from {}",
                    variable.source
                );
            }
        }
        Err(err) => assert_eq!(err.exit_code(), exit::CONFIG, "{err}"),
    }
});
