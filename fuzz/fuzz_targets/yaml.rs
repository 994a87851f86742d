//! Decrypted credentials text → variables, with the default settings: any text becomes
//! variables or a configuration error (exit 3), never a panic (alias bombs and deep nesting
//! included); reading only the section accepts every text a whole reading accepts, and gives
//! the same section, as does the reading with `check`'s remarks; every variable is a valid
//! `LITESTREAM_*` name holding exactly the scalar at the key path it names.
#![no_main]

use std::path::{Path, PathBuf};

use lsenv::Env;
use lsenv::config::Config;
use lsenv::error::exit;
use lsenv::resolve::{Source, resolve};
use lsenv::tree::Node;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("config/credentials.yml.enc");
    let read = lsenv::yaml::parse(text, file);
    let wanted = |path: &str| path == "litestream" || path.starts_with("litestream.");
    let section = lsenv::yaml::parse_only(text, file, &wanted);
    // Only unwanted aliases are not expanded, so the whole reading may refuse a bomb there.
    match (&read, &section) {
        (Ok(whole), Ok(part)) => assert_eq!(whole.get("litestream"), part.get("litestream")),
        (Ok(_), Err(err)) => panic!("only the section refused: {err}"),
        (Err(_), _) => {}
    }
    let remarked = lsenv::yaml::parse_with_remarks(text, file);
    assert_eq!(
        read.as_ref().map_err(ToString::to_string),
        remarked
            .as_ref()
            .map(|(node, _)| node)
            .map_err(ToString::to_string)
    );
    let document = match read {
        Ok(document) => document,
        Err(err) => {
            assert_eq!(err.exit_code(), exit::CONFIG, "{err}");
            return;
        }
    };
    let config = Config::defaults(PathBuf::from("config/lsenv.toml"));
    // Resolving moves the section out of the document; the variables are checked against it.
    let mut rest = document.clone();
    let resolution = match resolve(&config, Some((&mut rest, file)), &Env::default()) {
        Ok(resolution) => resolution,
        Err(err) => {
            assert_eq!(err.exit_code(), exit::CONFIG, "{err}");
            return;
        }
    };
    for (name, variable) in resolution.iter() {
        assert!(
            name.starts_with("LITESTREAM_") && lsenv::names::is_valid_name(name),
            "not a valid variable name: {name}"
        );
        assert!(variable.overridden.is_empty());
        let Source::Credentials { key, .. } = &variable.source else {
            panic!("{name} comes from {}", variable.source);
        };
        match document.get(key) {
            Some(Node::Scalar(value)) => assert!(*value == variable.value, "{name} ≠ {key}"),
            other => panic!("{name} names {key}, which is {other:?}"),
        }
    }
});
