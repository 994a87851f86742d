#!/usr/bin/env bash
# Builds the platform gem (lsenv-VERSION-x86_64-linux.gem) that carries the release binary
# (scripts/build-release.sh: static, so one gem serves glibc and musl systems, which RubyGems'
# plain `x86_64-linux` platform both match) into dist/, and prints its path. Needs Ruby's `gem`
# (Debian: apt-get install ruby).
set -euo pipefail
cd "$(dirname "$0")/.."

binary=$(scripts/build-release.sh)
work=target/packaging/gem
rm -rf "$work"
mkdir -p "$work/stage/libexec" dist
# Cargo.toml is the one source of the version (and description and license): the gemspec reads
# this, as cargo itself reports it.
cargo metadata --no-deps --format-version 1 > "$work/cargo-metadata.json"
cp -R packaging/ruby/. "$work/stage"
cp "$binary" "$work/stage/libexec/lsenv"
chmod 0755 "$work/stage/libexec/lsenv" "$work/stage/exe/lsenv"

host=$(rustc -vV | sed -n 's/^host: //p')
case $host in
  *-linux-*) platform=${host%%-*}-linux ;;
  *) echo "build-gem: only Linux builds are packaged, not $host" >&2; exit 1 ;;
esac
rm -f dist/lsenv-*.gem
(cd "$work/stage" &&
  LSENV_CARGO_METADATA=../cargo-metadata.json LSENV_GEM_PLATFORM=$platform gem build --quiet lsenv.gemspec >&2)
built=("$work"/stage/lsenv-*.gem)
[ "${#built[@]}" = 1 ] || { echo "build-gem: expected one gem, found: ${built[*]}" >&2; exit 1; }
mv "${built[0]}" dist/
echo "$PWD/dist/$(basename "${built[0]}")"
