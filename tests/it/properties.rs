//! Properties over generated input, through the library: a Rails credentials file written by
//! lsenv reads back to the same text at every size that changes Marshal's length prefix; the
//! layers resolve name by name, the highest layer that has a name winning and remembering every
//! lower one; and `lsenv env` writes any values so that their consumers read them back exactly,
//! or refuses them (GitHub's and GitLab's formats print to the process's own stdout and stderr,
//! so they are left to the `output` fuzz target, which captures them).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lsenv::config::Config;
use lsenv::env::Env;
use lsenv::error::exit;
use lsenv::output::Format;
use lsenv::resolve::{Resolution, Source, Variable, resolve};
use lsenv::secret::Secret;
use lsenv::store::rails::{self, MasterKey};
use proptest::prelude::*;

use crate::consumers;

// ---------------------------------------------------------------------------------------------
// Rails files: write → read at every length-prefix width

/// Arbitrary UTF-8 text of exactly `len` bytes: as many random characters, cut at the last
/// character that fits, padded with ASCII.
fn text_of_len(len: impl Strategy<Value = usize>) -> impl Strategy<Value = String> {
    len.prop_flat_map(|len| {
        proptest::collection::vec(any::<char>(), len).prop_map(move |chars| {
            let mut text = String::with_capacity(len);
            for c in chars {
                if text.len() + c.len_utf8() > len {
                    break;
                }
                text.push(c);
            }
            text.extend(std::iter::repeat_n('a', len - text.len()));
            text
        })
    })
}

/// Encrypts `text` with `key`, checks that the Marshal payload has a length prefix of `width`
/// bytes (`04 08 22`, the prefix, the text), and that decrypting gives the text back.
fn round_trip(text: &str, key: [u8; 16], width: usize) -> Result<(), TestCaseError> {
    let hex: String = key.iter().fold(String::new(), |mut hex, byte| {
        write!(hex, "{byte:02x}").unwrap();
        hex
    });
    let key = MasterKey::parse(hex.as_bytes(), "generated").unwrap();
    let file = rails::encrypt(text.as_bytes(), &key);
    let ciphertext = STANDARD.decode(file.split("--").next().unwrap()).unwrap();
    prop_assert_eq!(ciphertext.len(), 3 + width + text.len());
    let read = rails::decrypt(file.as_bytes(), &key, Path::new("credentials.yml.enc")).unwrap();
    prop_assert_eq!(read.as_str(), text);
    Ok(())
}

proptest! {
    #[test]
    fn rails_files_read_back_with_a_one_byte_length(
        text in text_of_len(0..=122usize),
        key in any::<[u8; 16]>(),
    ) {
        round_trip(&text, key, 1)?;
    }

    #[test]
    fn rails_files_read_back_with_a_two_byte_length(
        text in text_of_len(123..=255usize),
        key in any::<[u8; 16]>(),
    ) {
        round_trip(&text, key, 2)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn rails_files_read_back_with_a_three_byte_length(
        text in text_of_len(256..=65_535usize),
        key in any::<[u8; 16]>(),
    ) {
        round_trip(&text, key, 3)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3))]
    #[test]
    fn rails_files_read_back_with_a_four_byte_length(
        text in text_of_len(65_536..=70_000usize),
        key in any::<[u8; 16]>(),
    ) {
        round_trip(&text, key, 4)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Precedence of the layers

/// The variables the generated layers may set, each with the spellings a layer may use for it
/// (key paths below the section; the gem's alias is a second spelling).
const SLOTS: &[(&str, &[&[&str]])] = &[
    ("LITESTREAM_REPLICA_BUCKET", &[&["replica_bucket"]]),
    (
        "LITESTREAM_ACCESS_KEY_ID",
        &[&["access_key_id"], &["replica_key_id"]],
    ),
    (
        "LITESTREAM_SECRET_ACCESS_KEY",
        &[&["secret_access_key"], &["replica_access_key"]],
    ),
    (
        "LITESTREAM_AZURE__ACCOUNT_KEY",
        &[&["azure", "account_key"]],
    ),
    (
        "LITESTREAM_AZURE__ACCOUNT_NAME",
        &[&["azure", "account_name"]],
    ),
    ("LITESTREAM_PORT", &[&["port"]]),
];

/// The layers, lowest first. `Staging` is an environment table that must never apply.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layer {
    Toml,
    Staging,
    Production,
    Credentials,
    Environment,
}

const LAYERS: [Layer; 5] = [
    Layer::Toml,
    Layer::Staging,
    Layer::Production,
    Layer::Credentials,
    Layer::Environment,
];

/// What one layer says about one slot: which spelling, and the value (`None`: YAML's null, which
/// means "not set"; only the credentials have it).
type Setting = Option<(usize, Option<String>)>;

fn layer_settings(layer: Layer) -> impl Strategy<Value = Vec<Setting>> {
    let value = if layer == Layer::Credentials {
        proptest::option::weighted(0.8, "[ -~]{0,8}").boxed()
    } else {
        "[ -~]{0,8}".prop_map(Some).boxed()
    };
    proptest::collection::vec(proptest::option::of((0..2usize, value)), SLOTS.len())
}

/// A key path's map of keys to values or submaps, as a layer writes it.
#[derive(Default)]
struct Tree(BTreeMap<String, Branch>);

enum Branch {
    Value(Option<String>),
    Map(Tree),
}

impl Tree {
    fn insert(&mut self, path: &[&str], value: Option<String>) {
        match path {
            [key] => {
                self.0.insert((*key).to_owned(), Branch::Value(value));
            }
            [key, rest @ ..] => {
                let branch = self
                    .0
                    .entry((*key).to_owned())
                    .or_insert_with(|| Branch::Map(Tree::default()));
                if let Branch::Map(tree) = branch {
                    tree.insert(rest, value);
                }
            }
            [] => unreachable!("key paths are not empty"),
        }
    }

    /// YAML, values single-quoted (which takes any printable ASCII as it is, `''` aside).
    fn yaml(&self, indent: usize, out: &mut String) {
        for (key, branch) in &self.0 {
            match branch {
                Branch::Value(Some(value)) => {
                    writeln!(out, "{:indent$}{key}: '{}'", "", value.replace('\'', "''")).unwrap();
                }
                Branch::Value(None) => writeln!(out, "{:indent$}{key}: ~", "").unwrap(),
                Branch::Map(tree) => {
                    writeln!(out, "{:indent$}{key}:", "").unwrap();
                    tree.yaml(indent + 2, out);
                }
            }
        }
    }

    /// TOML tables under `header`, values as basic strings.
    fn toml(&self, header: &str, out: &mut String) {
        writeln!(out, "[{header}]").unwrap();
        for (key, branch) in &self.0 {
            if let Branch::Value(Some(value)) = branch {
                let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
                writeln!(out, "{key} = \"{escaped}\"").unwrap();
            }
        }
        for (key, branch) in &self.0 {
            if let Branch::Map(tree) = branch {
                tree.toml(&format!("{header}.{key}"), out);
            }
        }
    }
}

/// The TOML table a layer writes, if it is one.
fn toml_table(layer: Layer) -> Option<&'static str> {
    match layer {
        Layer::Toml => Some("litestream"),
        Layer::Staging => Some("environments.staging.litestream"),
        Layer::Production => Some("environments.production.litestream"),
        Layer::Credentials | Layer::Environment => None,
    }
}

/// Writes the TOML and YAML of the generated layers, resolves them with the environment layer,
/// and checks every variable against the layers that set it.
fn check_precedence(layers: &[Vec<Setting>]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let toml_path = dir.path().join("lsenv.toml");
    let credentials_path = PathBuf::from("config/credentials.yml.enc");
    let mut trees: Vec<Tree> = LAYERS.iter().map(|_| Tree::default()).collect();
    let mut env: Vec<(String, String)> = vec![
        // Not LITESTREAM_* variables: never part of the resolution.
        ("OTHER".into(), "x".into()),
        ("litestream_port".into(), "x".into()),
    ];
    // Each variable expected: the sources that set it, lowest first, and the value of the last.
    let mut expected: BTreeMap<&str, (Vec<Source>, String)> = BTreeMap::new();
    for ((&layer, settings), tree) in LAYERS.iter().zip(layers).zip(&mut trees) {
        for ((name, spellings), setting) in SLOTS.iter().zip(settings) {
            let Some((spelling, value)) = setting else {
                continue;
            };
            let path = spellings[spelling % spellings.len()];
            if layer != Layer::Environment {
                tree.insert(path, value.clone());
            }
            let key = |table: &str| format!("{table}.{}", path.join("."));
            let source = match (layer, toml_table(layer)) {
                (Layer::Staging, _) => continue,
                (Layer::Environment, _) => {
                    env.push(((*name).to_owned(), value.clone().unwrap()));
                    Source::Environment {
                        name: (*name).to_owned(),
                    }
                }
                (_, Some(table)) => Source::Toml {
                    file: toml_path.as_path().into(),
                    key: key(table),
                },
                (_, None) => Source::Credentials {
                    file: credentials_path.as_path().into(),
                    key: key("litestream"),
                },
            };
            if let Some(value) = value {
                let entry = expected.entry(name).or_default();
                entry.0.push(source);
                entry.1.clone_from(value);
            }
        }
    }
    let mut toml = String::new();
    let mut yaml = String::from("litestream:\n");
    for (&layer, tree) in LAYERS.iter().zip(&trees) {
        match toml_table(layer) {
            Some(table) => tree.toml(table, &mut toml),
            None if layer == Layer::Credentials => tree.yaml(2, &mut yaml),
            None => {}
        }
    }
    std::fs::write(&toml_path, &toml).unwrap();

    let config = Config::load(toml_path.clone(), Some("production")).unwrap();
    let mut document = lsenv::yaml::parse(&yaml, &credentials_path).unwrap();
    let env: Env = env.into_iter().collect();
    let resolution = resolve(&config, Some((&mut document, &credentials_path)), &env).unwrap();

    let names: Vec<&str> = resolution.names().collect();
    let expected_names: Vec<&str> = expected.keys().copied().collect();
    prop_assert_eq!(names, expected_names, "\n{}\n{}", toml, yaml);
    for (name, (mut sources, value)) in expected {
        let variable = resolution.get(name).unwrap();
        let winner = sources.pop().unwrap();
        prop_assert_eq!(&variable.source, &winner, "{}", name);
        prop_assert_eq!(&variable.overridden, &sources, "{}", name);
        prop_assert_eq!(variable.value.expose(), value.as_bytes(), "{}", name);
    }
    Ok(())
}

proptest! {
    #[test]
    fn the_highest_layer_that_has_a_name_wins_and_remembers_the_lower_ones(
        layers in LAYERS.iter().map(|&layer| layer_settings(layer)).collect::<Vec<_>>(),
    ) {
        check_precedence(&layers)?;
    }
}

// ---------------------------------------------------------------------------------------------
// `lsenv env`: written exactly or refused

/// Values full of what formats trip over: quotes, `$`, backslashes, line breaks, `#`, `=`,
/// blanks, `%`, any character, and now and then a byte that is not UTF-8 or a NUL.
fn awkward_value() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => proptest::sample::select(b" '\"\\$`{}()#=%\n\r\t:-_~*".to_vec()).prop_map(|b| vec![b]),
        4 => "[a-zA-Z0-9]{1,3}".prop_map(String::into_bytes),
        2 => any::<char>().prop_map(|c| c.to_string().into_bytes()),
        1 => any::<u8>().prop_map(|b| vec![b]),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

/// Whether `format` may refuse `value`: only for what its consumer cannot carry. A NUL byte no
/// format holds; the shell format holds anything else; the others need UTF-8; docker cannot carry
/// line breaks or a final carriage return; dotenv needs values whose quotes, backslashes, `$` and
/// line breaks its three readers read alike.
fn may_refuse(format: Format, value: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(value) else {
        return format != Format::Shell || value.contains(&0);
    };
    text.contains('\0')
        || match format {
            Format::Shell | Format::Json | Format::Systemd => false,
            Format::Docker => text.contains('\n') || text.ends_with('\r'),
            _ => text.contains(['\'', '"', '\\', '$', '\n', '\r']),
        }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn every_format_writes_values_exactly_or_refuses_them(
        values in proptest::collection::vec(awkward_value(), 1..4),
    ) {
        let resolution: Resolution = values
            .iter()
            .enumerate()
            .map(|(index, value)| {
                let variable = Variable {
                    value: Secret::copy_from(value),
                    source: Source::Credentials {
                        file: Path::new("config/credentials.yml.enc").into(),
                        key: format!("litestream.v{index}"),
                    },
                    overridden: Vec::new(),
                    file: false,
                };
                (format!("LITESTREAM_V{index}"), variable)
            })
            .collect();
        let expected: consumers::Values = resolution
            .iter()
            .map(|(name, variable)| (name.to_owned(), variable.value.expose().to_vec()))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        for format in [Format::Dotenv, Format::Shell, Format::Json, Format::Systemd, Format::Docker] {
            let file = dir.path().join(format!("{format:?}"));
            match lsenv::output::run(&resolution, &Env::default(), format, true, Some(&file)) {
                Ok(()) => {
                    let written = std::fs::read(&file).unwrap();
                    if let Err(problem) = consumers::check(format, &written, b"", &expected, &[]) {
                        return Err(TestCaseError::fail(format!("--format {format:?}: {problem}")));
                    }
                }
                Err(err) => {
                    prop_assert_eq!(err.exit_code(), exit::CONFIG, "{}", err);
                    prop_assert!(
                        values.iter().any(|value| may_refuse(format, value)),
                        "--format {:?} refused values it can carry: {}", format, err
                    );
                    prop_assert!(!file.exists(), "--format {:?} refused and wrote: {}", format, err);
                }
            }
        }
    }
}
