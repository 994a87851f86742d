#!/usr/bin/env bash
# Builds the lsenv binary as it ships: [profile.release] (LTO, one codegen unit, stripped) and
# glibc linked statically. lsenv lives for one exec, so start-up is most of its cost, and the
# dynamic loader was half of it. `cargo rustc` puts the flag on the binary only (proc-macro
# crates cannot be built static). Prints the path of the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo rustc --locked --release --quiet --bin lsenv -- -C target-feature=+crt-static
echo "$PWD/target/release/lsenv"
