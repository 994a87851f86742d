//! lsenv's integration tests: the binary driven end to end, and the real tools it must agree
//! with (Ruby's ActiveSupport, litestream, an S3 API). A missing tool fails a test; none skip.

mod age;
mod age_plugin;
mod ambient;
mod audit;
mod bad_input;
mod case;
#[path = "../consumers/mod.rs"]
mod consumers;
mod crash;
mod credentials;
mod exec;
mod filesecret;
mod hostile;
mod init;
mod integrations;
mod leaks;
mod litestream_breaks;
mod litestream_schema;
mod newcomer;
mod observe;
mod output;
mod preflight;
mod properties;
mod rails_interop;
mod redact;
mod replica_types;
mod replicate;
mod replicate_servers;
mod resolve;
mod scan;
mod serve;
mod support;
mod tamper;
mod transcripts;
mod verify;
mod watch;
mod yaml_oracle;
