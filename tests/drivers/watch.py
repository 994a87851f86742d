#!/usr/bin/env python3
"""End-to-end check of `lsenv replicate --watch` with the real litestream against a
real S3 API (moto, authentication on) on loopback only; the set-up is replicate.py's.

Run from the repo root inside a private network namespace:

    LSENV_BIN=target/debug/lsenv unshare -n -- python3 tests/drivers/watch.py

Litestream uploads only every minute here (sync-interval: 1m), so rows written
just before a change reach the bucket only through the final sync of the
litestream that the restart stops.

Cases:
  restart  rows are written, then `lsenv credentials edit` changes the secret to
           one moto refuses and config/lsenv.toml is rewritten twice right after
           (a burst): lsenv restarts litestream once; the rows were not in the
           replica before the change and are in a restore after it (only the old
           litestream, with the good secret, could have uploaded them); the new
           litestream signs with the new secret (moto refuses it).
  refused  the credentials file is tampered with: lsenv says the change is
           refused and the running litestream is kept (same PID).

The last stdout line is a JSON summary starting with
{"ok":true,"passed":["restart","refused"] on success; exit 0 only then.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import replicate as e2e  # noqa: E402  (the moto set-up, projects and runner)

# moto's start, a shutdown sync and two restores take longer than replicate.py's budget.
e2e.RUN_BUDGET_S = 100


class Watch:
    """`lsenv -C ROOT replicate --watch`, its output in files."""

    def __init__(self, project, tmp):
        self.out = tmp / "watch.out"
        self.err = tmp / "watch.err"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **project.key_env}
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [os.environ["LSENV_BIN"], "-C", str(project.root), "replicate", "--watch"],
                env=env, cwd=tmp, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                preexec_fn=e2e.die_with_parent)

    def said(self):
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def lines(self, needle):
        return [line for line in self.said().splitlines() if needle in line]

    def child(self):
        """The PID of the command lsenv supervises (its only child)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return int(children[0]) if len(children) == 1 else None


def restore(litestream, project, output):
    """`litestream restore` with the good credentials, whatever the project's now hold."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **project.litestream_env()}
    return subprocess.run(
        [str(litestream), "restore", "-config", "config/litestream.yml", "-o", str(output),
         str(project.db)],
        env=env, cwd=project.root, capture_output=True, text=True,
        timeout=min(20, max(e2e.remaining(), 1)), preexec_fn=e2e.die_with_parent)


def restored_rows(litestream, project, name):
    output = project.root.parent / f"{name}.sqlite3"
    res = restore(litestream, project, output)
    if res.returncode != 0 or not output.exists():
        return None, res.stderr.strip()[-300:]
    with closing(sqlite3.connect(output)) as db:
        rows = db.execute("SELECT id, body FROM items ORDER BY id").fetchall()
    output.unlink()
    return rows, ""


def edit_credentials(project, old, new):
    editor = project.root.parent / "editor.sh"
    editor.write_text(f"#!{sys.executable}\nimport sys\nfrom pathlib import Path\n"
                      f"p = Path(sys.argv[1])\np.write_text(p.read_text().replace({old!r}, {new!r}))\n")
    editor.chmod(0o755)
    scratch = project.root.parent / "scratch"
    scratch.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "EDITOR": str(editor),
           "XDG_RUNTIME_DIR": str(scratch), "TMPDIR": str(scratch), **project.key_env}
    res = subprocess.run([os.environ["LSENV_BIN"], "-C", str(project.root), "credentials", "edit"],
                         env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=20)
    if res.returncode != 0:
        raise e2e.Failure(f"credentials edit failed: {res.stderr.strip()}")


def case_restart(watch, litestream, project, secret):
    result = {}
    first = e2e.wait_for("litestream under lsenv", watch.child, 10, watch.proc)
    e2e.wait_for("litestream's first snapshot", lambda: watch.lines("snapshot complete"), 15,
                 watch.proc)
    project.insert(40)
    time.sleep(1)  # several monitor intervals: the rows are in litestream's local LTX files
    rows, _ = restored_rows(litestream, project, "before")
    if rows == project.rows:
        raise e2e.Failure("restart: the rows were in the replica before the change; "
                          "the final sync would prove nothing")
    result["rows_before_change"] = len(rows or [])
    edit_credentials(project, secret, e2e.wrong(secret))
    toml = project.root / "config" / "lsenv.toml"
    for _ in range(2):
        time.sleep(0.1)
        toml.write_text(toml.read_text())
    t = time.monotonic()
    e2e.wait_for("lsenv to restart litestream", lambda: watch.lines("restarting the command"),
                 10, watch.proc)
    second = e2e.wait_for("a new litestream", lambda: (watch.child() or first) != first and
                          watch.child(), 30, watch.proc)
    result["restart_s"] = round(time.monotonic() - t, 2)
    e2e.wait_for("the new litestream to be refused by S3",
                 lambda: "SignatureDoesNotMatch" in watch.said(), 20, watch.proc)
    time.sleep(1)  # a second restart would have begun by now
    restarts = watch.lines("restarting the command")
    if len(restarts) != 1 or "LITESTREAM_SECRET_ACCESS_KEY changed" not in restarts[0]:
        raise e2e.Failure(f"restart: want one restart for the secret, got {restarts}")
    if watch.lines("did not stop within") or watch.lines("shutdown sync failed"):
        raise e2e.Failure(f"restart: the final sync did not complete:\n{watch.said()}")
    rows, why = restored_rows(litestream, project, "after")
    if rows != project.rows:
        raise e2e.Failure(f"restart: restored {len(rows or [])} rows of {len(project.rows)} {why}")
    result.update(rows_restored=len(rows), first_pid=first, second_pid=second)
    return result


def case_refused(watch, project):
    before = watch.child()
    enc = project.root / "config" / "credentials.yml.enc"
    data = bytearray(enc.read_bytes())
    data[5] ^= 1
    enc.write_bytes(bytes(data))
    e2e.wait_for("lsenv to refuse the change", lambda: watch.lines("the change is refused"),
                 10, watch.proc)
    time.sleep(1)
    if watch.child() != before or len(watch.lines("restarting the command")) != 1:
        raise e2e.Failure(f"refused: litestream was restarted:\n{watch.said()}")
    return {"kept_pid": before, "said": watch.lines("the change is refused")[0][:160]}


def main():
    summary = {"ok": False, "passed": []}
    moto = watch = None
    tmp = Path(tempfile.mkdtemp(prefix="lsenv-e2e-watch-"))
    try:
        litestream = e2e.enter_sandbox()
        moto, endpoint = e2e.start_moto(tmp)
        key_id, secret, _ = e2e.setup_moto(endpoint)
        creds = {"replica_bucket": e2e.BUCKET, "replica_key_id": key_id,
                 "replica_endpoint": endpoint, "replica_region": e2e.REGION,
                 "replica_access_key": secret}
        project = e2e.Project(tmp, "watched", creds, litestream, "rails")
        config = project.root / "config" / "litestream.yml"
        config.write_text(config.read_text().replace("sync-interval: 100ms", "sync-interval: 1m")
                          .replace("shutdown-sync-timeout: 3s", "shutdown-sync-timeout: 10s"))
        watch = Watch(project, tmp)
        summary["cases"] = {}
        for name, case in (("restart", lambda: case_restart(watch, litestream, project, secret)),
                           ("refused", lambda: case_refused(watch, project))):
            e2e.log(f"case {name}")
            summary["cases"][name] = case()
            summary["passed"].append(name)
        code, summary["stop_s"] = e2e.stop(watch.proc)
        summary["exit_code"] = code
        summary["ok"] = True
    except Exception as e:  # report, never hang or leave children behind
        e2e.report(summary, e)
        if watch:
            print(f"--- lsenv and litestream ---\n{watch.said()[-4000:]}", file=sys.stderr)
    finally:
        e2e.kill_all(([watch.proc] if watch else []) + ([moto] if moto else []))
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(summary, separators=(",", ":")), flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
