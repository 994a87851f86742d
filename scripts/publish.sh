#!/usr/bin/env bash
# Publishes a release: the one place the steps live. Builds the wheel and the gem
# (scripts/build-wheel.sh, scripts/build-gem.sh), checks them as installed packages
# (scripts/test-packages.sh), then uploads both: the wheel to PyPI with twine, the gem to
# RubyGems with `gem push`. Nothing is uploaded without --yes; without it this is a dry run that
# stops after the checks.
#
# Credentials are the tools' own: twine reads TWINE_USERNAME/TWINE_PASSWORD (or ~/.pypirc), `gem
# push` GEM_HOST_API_KEY (or ~/.gem/credentials). After a release, `pip install lsenv` and `gem
# install lsenv` work as the README says.
set -euo pipefail
cd "$(dirname "$0")/.."

upload=false
case ${1:-} in
  --yes) upload=true ;;
  "") ;;
  *) echo "usage: scripts/publish.sh [--yes]" >&2; exit 2 ;;
esac

scripts/test-packages.sh
wheel=$(scripts/build-wheel.sh)
gem_file=$(scripts/build-gem.sh)
echo "to publish: $wheel"
echo "to publish: $gem_file"
if ! $upload; then
  echo "dry run: nothing uploaded (scripts/publish.sh --yes uploads)"
  exit 0
fi
tools=target/packaging/venv
[ -x "$tools/bin/python" ] || python3 -m venv "$tools"
"$tools/bin/python" -m pip install --quiet --disable-pip-version-check 'twine==7.0.0'
"$tools/bin/twine" upload "$wheel"
gem push "$gem_file"
