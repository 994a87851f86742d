//! Bad input of every kind: each case gets its documented exit code, a message naming the file
//! and the problem, never a secret (a planted canary and the key itself), and no file changes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::case::{Case, Problem, problem};
use crate::support::{CANARY, KEY, Project, said};

const YAML: &str = "secret_key_base: canary-7f3e9a-secret\nlitestream:\n  replica_access_key: canary-7f3e9a-secret\n";

/// Replaces part `index` (0 ciphertext, 1 IV, 2 tag) of the credentials file with `change(part)`.
fn change_part(project: &Project, index: usize, change: impl Fn(&[u8]) -> Vec<u8>) {
    let text = std::fs::read_to_string(project.path("config/credentials.yml.enc")).unwrap();
    let mut parts: Vec<Vec<u8>> = text
        .split("--")
        .map(|p| STANDARD.decode(p).unwrap())
        .collect();
    parts[index] = change(&parts[index]);
    let text: Vec<String> = parts.iter().map(|p| STANDARD.encode(p)).collect();
    project.file("config/credentials.yml.enc", text.join("--"));
}

fn flip_first_byte(part: &[u8]) -> Vec<u8> {
    let mut part = part.to_vec();
    part[0] ^= 0x01;
    part
}

#[allow(
    clippy::too_many_lines,
    reason = "one table of cases reads best as one list"
)]
fn cases() -> Vec<Problem<'static>> {
    vec![
        problem(
            "wrong key",
            |p| {
                p.file("config/master.key", "ffffffffffffffffffffffffffffffff");
            },
            5,
            "config/credentials.yml.enc: cannot decrypt: wrong key, or the file was changed or damaged",
        ),
        problem(
            "tampered ciphertext",
            |p| change_part(p, 0, flip_first_byte),
            5,
            "cannot decrypt",
        ),
        problem(
            "tampered IV",
            |p| change_part(p, 1, flip_first_byte),
            5,
            "cannot decrypt",
        ),
        problem(
            "tampered tag",
            |p| change_part(p, 2, flip_first_byte),
            5,
            "cannot decrypt",
        ),
        problem(
            "short IV",
            |p| change_part(p, 1, |iv| iv[..8].to_vec()),
            5,
            "the IV is 8 bytes; Rails uses 12",
        ),
        problem(
            "short tag",
            |p| change_part(p, 2, |tag| tag[..12].to_vec()),
            5,
            "the authentication tag is 12 bytes",
        ),
        problem(
            "truncated file",
            |p| {
                let text = std::fs::read(p.path("config/credentials.yml.enc")).unwrap();
                p.file("config/credentials.yml.enc", &text[..text.len() / 2]);
            },
            5,
            "config/credentials.yml.enc: not a Rails credentials file",
        ),
        problem(
            "truncated tag",
            |p| {
                let text = std::fs::read(p.path("config/credentials.yml.enc")).unwrap();
                p.file("config/credentials.yml.enc", &text[..text.len() - 3]);
            },
            5,
            "config/credentials.yml.enc: the authentication tag is not valid base64",
        ),
        problem(
            "bad base64",
            |p| {
                let text = std::fs::read_to_string(p.path("config/credentials.yml.enc")).unwrap();
                p.file(
                    "config/credentials.yml.enc",
                    text.replacen(|c: char| c.is_ascii_alphanumeric(), "!", 1),
                );
            },
            5,
            "the ciphertext is not valid base64",
        ),
        problem(
            "empty file",
            |p| {
                p.file("config/credentials.yml.enc", "");
            },
            5,
            "not a Rails credentials file",
        ),
        problem(
            "plaintext YAML in the file",
            |p| {
                p.file("config/credentials.yml.enc", YAML);
            },
            5,
            "config/credentials.yml.enc: the file holds plaintext instead of ciphertext",
        ),
        problem(
            "conflict markers in the file",
            |p| {
                p.file(
                    "config/credentials.yml.enc",
                    format!("<<<<<<< HEAD\n{YAML}=======\n{YAML}>>>>>>> topic\n"),
                );
            },
            5,
            "the file holds git conflict markers instead of ciphertext",
        ),
        problem(
            "key too short",
            |p| {
                p.file("config/master.key", &KEY[..31]);
            },
            4,
            "config/master.key: the key is 31 characters long; a Rails key is 32 hex characters",
        ),
        problem(
            "key not hex",
            |p| {
                p.file("config/master.key", KEY.replace('a', "g"));
            },
            4,
            "config/master.key: the key has characters that are not hex digits",
        ),
        problem(
            "no key",
            |p| {
                std::fs::remove_file(p.path("config/master.key")).unwrap();
            },
            4,
            "config/credentials.yml.enc: no key found to decrypt this file",
        ),
        problem(
            "variable key too short",
            |_| {},
            4,
            "$RAILS_MASTER_KEY: the key is 16 characters long",
        )
        .env("RAILS_MASTER_KEY", "0123456789abcdef"),
        problem(
            "invalid YAML",
            |p| {
                p.credentials(&format!(
                    "litestream:\n  replica_access_key: {CANARY}\n   bad: [{CANARY}\n"
                ));
            },
            3,
            "config/credentials.yml.enc:3:",
        ),
        problem(
            "list where a value belongs",
            |p| {
                p.credentials(&format!("litestream:\n  replica_access_key: [{CANARY}]\n"));
            },
            3,
            "config/credentials.yml.enc: key `litestream.replica_access_key`: a list cannot become a variable",
        ),
        problem(
            "section is a value",
            |p| {
                p.credentials(&format!("litestream: {CANARY}\n"));
            },
            3,
            "key `litestream`: the section is a value",
        ),
        problem(
            "control character in the YAML",
            |p| {
                p.credentials(&format!("litestream:\n  a: {CANARY}\u{7}\n"));
            },
            3,
            "config/credentials.yml.enc:2:26: invalid YAML: a control character",
        ),
        problem(
            "malformed TOML",
            |p| {
                p.file(
                    "config/lsenv.toml",
                    format!("[litestream]\nreplica_bucket = \"{CANARY}\n"),
                );
            },
            3,
            "config/lsenv.toml:2:",
        ),
        problem(
            "TOML value of the wrong type",
            |p| {
                p.file(
                    "config/lsenv.toml",
                    format!("[exec]\npass = \"{CANARY}\"\n"),
                );
            },
            3,
            "config/lsenv.toml: key `exec.pass`: expected an array of strings, found string",
        ),
        problem(
            "unknown TOML key",
            |p| {
                p.file(
                    "config/lsenv.toml",
                    format!("[replicate]\nlitestrem = \"{CANARY}\"\n"),
                );
            },
            3,
            "config/lsenv.toml: key `replicate.litestrem`: unknown setting",
        ),
        problem(
            "huge credentials file",
            |p| {
                p.file("config/credentials.yml.enc", vec![b'A'; 17 << 20]);
            },
            3,
            "config/credentials.yml.enc: the file is larger than 16 MiB",
        ),
        problem(
            "not UTF-8 inside",
            |p| {
                let key = lsenv::store::rails::MasterKey::parse(KEY.as_bytes(), "k").unwrap();
                p.file(
                    "config/credentials.yml.enc",
                    lsenv::store::rails::encrypt(b"a: \xff\xfe", &key),
                );
            },
            5,
            "the decrypted text is not valid UTF-8",
        ),
    ]
}

#[test]
fn every_bad_input_is_refused_clearly_without_secrets_or_changes() {
    for case in cases() {
        let project = Project::new();
        project.credentials(YAML);
        case.set_up(&project);
        let before = project.snapshot();
        let output = case
            .expect(Case::new(&project))
            .args(["exec", "--", "env"])
            .lacks(KEY)
            .stdout_is("")
            .run();
        let text = said(&output);
        assert_eq!(
            text.lines()
                .filter(|l| !l.starts_with("lsenv: hint:"))
                .count(),
            1,
            "{}: one line: {text}",
            case.name
        );
        assert_eq!(project.snapshot(), before, "{}: files changed", case.name);
    }
}
