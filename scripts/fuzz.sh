#!/usr/bin/env bash
# Fuzzes every target of fuzz/ for SECONDS each (default 30), one after the other, starting from
# the committed seeds (fuzz/corpus/TARGET, left untouched: new inputs go to a scratch corpus).
# Every target runs; the script fails if any found a crash, a failed assertion, a timeout or a
# memory blow-up, printing what went wrong and the command that reproduces it (the input is kept
# in fuzz/artifacts/TARGET/).
#
# Stable toolchain: `-s none` builds without a sanitizer (sanitizers need nightly). Rust's own
# checks stay on: bounds, debug assertions and overflow checks (cargo-fuzz's default).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-30}

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --version 0.13.2
fi

# The targets' scratch files (and lsenv's fsyncs) on a RAM-backed filesystem when there is one.
TMPDIR=$(mktemp -d /dev/shm/lsenv-fuzz.XXXXXX 2>/dev/null || mktemp -d)
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT

cargo fuzz build -s none
failed=()
for target in $(cargo fuzz list); do
    corpus="$TMPDIR/corpus-$target"
    log="$TMPDIR/$target.log"
    mkdir "$corpus"
    # -timeout: seconds one input may take; -rss_limit_mb: lsenv reads at most 16 MiB at once;
    # -max_len: room beyond the largest seed, below anything that would only slow runs down.
    if ! cargo fuzz run -s none "$target" "$corpus" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -max_len=16384 \
        >"$log" 2>&1; then
        # From the panic or libFuzzer's error on, without the backtrace's frames.
        sed -n '/panicked at\|ERROR: libFuzzer/,$p' "$log" | grep -v '^ *[0-9]*: \|^ *at ' | head -n 40
        echo "fuzz: $target FAILED (log above; the input is in fuzz/artifacts/$target/)"
        failed+=("$target")
        continue
    fi
    echo "fuzz: $target ok, $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log")"
done
if ((${#failed[@]})); then
    echo "fuzz: failed: ${failed[*]}" >&2
    exit 1
fi
