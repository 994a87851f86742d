#!/usr/bin/env bash
# The whole test suite: installs the real tools the tests need, then runs cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
cargo test --locked "$@"
