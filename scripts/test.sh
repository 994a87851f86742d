#!/usr/bin/env bash
# The whole test suite: installs the real tools the tests need, builds the test age plugin, then
# runs cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
# The age plugin the plugin tests run (tests/it/age_plugin.rs builds it too, if this did not).
cargo build --locked --manifest-path tests/plugin/age-plugin-lsenvtest/Cargo.toml \
  --target-dir target/age-plugin-lsenvtest
cargo test --locked "$@"
