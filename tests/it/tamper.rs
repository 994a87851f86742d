//! Every single-byte change and every truncation of an encrypted credentials file, at every
//! position (not a sample): `lsenv exec -- true`, with the key or identity at hand, must refuse
//! it with exit 5, print nothing on stdout and never the planted secret (nor the identity) on
//! stderr. Rails files, and age files binary and armored.
//!
//! Each byte is changed by flipping its lowest bit and, for the Rails file, also replaced by
//! each of a few bytes that mean something to its parser: the separator's `-`, base64's padding
//! `=`, a blank (which the reader trims at either end) and a byte that is not UTF-8.
//!
//! Why 5 everywhere, from the code: a Rails file that is not `BASE64--BASE64--BASE64` any more
//! is refused as "not a Rails credentials file" (or as plaintext), bad base64 and a wrong IV or
//! tag length are integrity errors, and anything else fails the AES-GCM tag. An age file whose
//! first line changed is "not an age file, but named like one"; a changed header no longer
//! parses, or its stanza no longer unwraps the file key for the identity (age's "no matching
//! keys", not a missing key: exit 4 is only for having no identity at all), or it fails its MAC;
//! a changed or truncated payload fails its STREAM authentication. The empty file is refused like the rest: an
//! existing credentials file is never taken for an absent one.
//!
//! The one exception: the final line feed of an armored age file carries nothing (the armor ends
//! with its END line, whose line feed is optional), so removing it still opens the file, and the
//! test checks that it does.

use age::secrecy::ExposeSecret as _;

use crate::case::Case;
use crate::support::{CANARY, Project};

/// The test's credentials: one secret among ordinary values.
fn yaml() -> String {
    format!("litestream:\n  replica_bucket: tamper-test\n  secret_access_key: {CANARY}\n")
}

/// A changed copy of a file, and how it was changed.
struct Variant {
    what: String,
    bytes: Vec<u8>,
}

/// Every byte of `file` flipped in its lowest bit and replaced by each of `replacements`, and
/// `file` truncated at every length shorter than itself.
fn variants(file: &[u8], replacements: &[u8]) -> Vec<Variant> {
    let mut variants = Vec::new();
    for (at, &old) in file.iter().enumerate() {
        let mut news = vec![old ^ 0x01];
        news.extend(
            replacements
                .iter()
                .filter(|&&new| new != old && new != old ^ 0x01),
        );
        for new in news {
            let mut bytes = file.to_vec();
            bytes[at] = new;
            variants.push(Variant {
                what: format!("byte {at} changed from {old:#04x} to {new:#04x}"),
                bytes,
            });
        }
    }
    variants.extend((0..file.len()).map(|len| Variant {
        what: format!("truncated to {len} of {} bytes", file.len()),
        bytes: file[..len].to_vec(),
    }));
    variants
}

/// Writes each variant to `file` in a project of `make`'s and runs `lsenv exec -- true` there
/// with `env`, over two threads (each with a project of its own). Returns every variant that
/// was not refused as it must be, with what happened.
fn failures(
    make: &(dyn Fn() -> Project + Sync),
    file: &str,
    env: &[(&str, &str)],
    variants: &[Variant],
    secrets: &[&str],
) -> Vec<String> {
    let half = variants.len().div_ceil(2);
    std::thread::scope(|scope| {
        let workers: Vec<_> = variants
            .chunks(half)
            .map(|chunk| {
                scope.spawn(move || {
                    let project = make();
                    chunk
                        .iter()
                        .filter_map(|variant| {
                            project.file(file, &variant.bytes);
                            let case = Case::new(&project)
                                .named(&variant.what)
                                .envs(env.iter().copied())
                                .args(["exec", "--", "true"])
                                .status(5)
                                .stdout_is("");
                            secrets
                                .iter()
                                .fold(case, |case, secret| case.lacks(*secret))
                                .outcome()
                                .err()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect()
    })
}

fn assert_none(failures: &[String], tried: usize) {
    assert!(
        failures.is_empty(),
        "{} of {tried} changed files were not refused with exit 5:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_changed_byte_and_truncation_of_a_rails_file_is_refused() {
    const ENC: &str = "config/credentials.yml.enc";
    let make = || {
        let project = Project::new();
        project.credentials(&yaml());
        project
    };
    let file = std::fs::read(make().path(ENC)).unwrap();
    let variants = variants(&file, b"-= \xff");
    let failures = failures(&make, ENC, &[], &variants, &[CANARY]);
    assert_none(&failures, variants.len());
}

/// An age file of the test's YAML encrypted to a new identity, and that identity's key line.
fn age_file(armored: bool) -> (Vec<u8>, String) {
    let identity = age::x25519::Identity::generate();
    let file = lsenv::store::age::encrypt(
        yaml().as_bytes(),
        &[lsenv::store::age::Recipient::X25519(identity.to_public())],
        armored,
        std::path::Path::new("credentials.yml.age"),
    )
    .unwrap();
    (file, identity.to_string().expose_secret().to_owned())
}

fn check_age(armored: bool) {
    const AGE: &str = "config/credentials.yml.age";
    let (file, identity) = age_file(armored);
    let make = || Project::new();
    let env = [("LSENV_AGE_IDENTITY", identity.as_str())];
    let mut variants = variants(&file, b"");
    if armored {
        assert_eq!(file.last(), Some(&b'\n'));
        let without_line_feed = variants.pop().unwrap();
        let project = make();
        project.file(AGE, &without_line_feed.bytes);
        Case::new(&project)
            .named("the armor without its final line feed")
            .envs(env)
            .args(["exec", "--", "true"])
            .run();
    }
    let failures = failures(&make, AGE, &env, &variants, &[CANARY, &identity]);
    assert_none(&failures, variants.len());
}

#[test]
fn every_changed_byte_and_truncation_of_a_binary_age_file_is_refused() {
    check_age(false);
}

#[test]
fn every_changed_byte_and_truncation_of_an_armored_age_file_is_refused() {
    check_age(true);
}
