//! `lsenv replicate` then `lsenv exec -- litestream restore` with the real litestream against
//! real servers on loopback in a private network namespace, driven by
//! `tests/drivers/replicate_servers.py`: SFTP (OpenSSH's sshd, the private key a memfd file secret,
//! the host key pinned), WebDAV (wsgidav with basic authentication), NATS (nats-server with
//! JetStream and a user, and with TLS client certificates, the key a memfd), Azure Blob Storage (azurite, an account key and a SAS token) and S3 with temporary keys
//! (moto). Each restore compares the rows; a wrong key, a wrong host key, a wrong password and
//! a wrong session token are refused with nothing written.
//!
//! Needs root, `unshare`, sshd, wsgidav, nats-server, azurite, gcp-storage-emulator, moto and
//! litestream (`scripts/install-test-deps.sh`); missing
//! any of it fails the test.

use crate::support::run_driver;

fn replicate_to(server: &str, passed: &str) {
    let (summary, report) = run_driver("replicate_servers.py", &["--server", server]);
    assert!(
        summary.starts_with(&format!(r#"{{"ok":true,"passed":{passed}"#)),
        "unexpected summary: {summary}\n{report}"
    );
}

#[test]
fn sftp_with_the_private_key_as_a_memfd_and_the_host_key_pinned() {
    replicate_to("sftp", r#"["good","wrong_key","wrong_host_key"]"#);
}

#[test]
fn webdav_with_basic_authentication() {
    replicate_to("webdav", r#"["good","wrong_password"]"#);
}

/// Temporary S3 keys: moto (authentication on) accepts an assumed role's keys only with their
/// session token, which reaches litestream as `AWS_SESSION_TOKEN` through `[env]`.
#[test]
fn s3_with_temporary_keys_and_their_session_token() {
    replicate_to("s3-session", r#"["good","wrong_token"]"#);
}

#[test]
fn nats_jetstream_with_a_user_and_password() {
    replicate_to("nats", r#"["good","wrong_password"]"#);
}

/// TLS with client certificates: the client's private key is a `[files]` memfd.
#[test]
fn nats_jetstream_with_a_tls_client_key_as_a_memfd() {
    replicate_to("nats-tls", r#"["good","wrong_certificate"]"#);
}

#[test]
fn abs_with_an_account_key_and_with_a_sas_token() {
    replicate_to("abs", r#"["good","wrong_key","sas","wrong_sas"]"#);
}

/// Google Cloud Storage through gcp-storage-emulator. Google's Go client sends no credentials to
/// an emulator, so this proves replication through lsenv and that the service-account JSON
/// reaches litestream as a memfd, not that Google would accept it.
#[test]
fn gs_through_an_emulator_with_the_service_account_as_a_memfd() {
    replicate_to("gs", r#"["good"]"#);
}
