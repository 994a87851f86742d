#!/usr/bin/env bash
# Supply chain: known advisories, licenses, duplicate versions and sources of every dependency
# (deny.toml). Uses an offline copy of the RustSec database when LSENV_ADVISORY_DB names one (CI
# has it beside the repository, in ../shared/advisory-db), else fetches it.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deny >/dev/null || cargo install cargo-deny --locked --version 0.20.2
offline_db=${LSENV_ADVISORY_DB:-../shared/advisory-db}
if [ -d "$offline_db" ]; then
  # cargo-deny reads a database as a git checkout named after its URL's hash.
  dbs=target/advisory-dbs/advisory-db-3157b0e258782691
  rm -rf "$dbs"
  mkdir -p "$dbs"
  cp -R "$offline_db/." "$dbs"
  git -C "$dbs" init -q
  git -C "$dbs" add -A
  git -C "$dbs" -c user.name=lsenv -c user.email=lsenv@localhost commit -qm snapshot
  cargo deny --offline check
else
  cargo deny check
fi
