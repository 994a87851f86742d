#!/usr/bin/env python3
"""End-to-end check of `lsenv verify` against a real S3 API (moto, authentication
on) on loopback only, with the real litestream; the set-up is replicate.py's.

Run from the repo root inside a private network namespace:

    LSENV_BIN=target/debug/lsenv unshare -n -- python3 tests/drivers/verify.py

Cases: `verified` (lsenv replicate runs, verify exits 0), `behind` (replication
stopped, verify exits 7 within its timeout), `wrong_secret` (credentials with a
wrong secret: verify exits 8 and prints neither secret).

The last stdout line is a JSON summary starting with
{"ok":true,"passed":["verified","behind","wrong_secret"] on success; exit 0 only then.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import replicate as e2e  # noqa: E402  (the moto set-up, projects and runner)


class Args:
    direct = False


def verify(runner, project, *args):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **project.key_env}
    t = time.monotonic()
    res = subprocess.run([str(runner.lsenv), "-C", str(project.root), "verify", *args], env=env,
                         cwd=runner.workdir, capture_output=True, text=True,
                         timeout=min(30, max(e2e.remaining(), 1)), preexec_fn=e2e.die_with_parent)
    return res, round(time.monotonic() - t, 2)


def case_verified(runner, project, s3):
    proc = runner.start_replicate(project)
    project.insert(20)
    e2e.wait_for("first objects in the bucket",
                 lambda: e2e.keys_under(s3, project.replica_prefix + "/"), 15, proc)
    res, took = verify(runner, project, "--json")
    report = json.loads(res.stdout or "{}")
    if res.returncode != 0 or report.get("databases", [{}])[0].get("status") != "verified":
        raise e2e.Failure(f"verified: exit {res.returncode}: {res.stdout}{res.stderr}"
                          f"\n--- litestream ---\n{e2e.output_of(proc)}")
    code, _ = e2e.stop(proc)
    if code != 0:
        raise e2e.Failure(f"verified: litestream exited {code}\n{e2e.output_of(proc)}")
    return {"ok": True, "verify_s": took}


def case_behind(runner, project, s3):
    res, took = verify(runner, project, "--timeout", "2")
    if res.returncode != 7 or "behind" not in res.stdout:
        raise e2e.Failure(f"behind: exit {res.returncode}: {res.stdout}{res.stderr}")
    if took > 8:
        raise e2e.Failure(f"behind: took {took}s with --timeout 2")
    return {"ok": True, "verify_s": took}


def case_wrong_secret(runner, project, s3, secrets):
    res, took = verify(runner, project, "--timeout", "5")
    said = res.stdout + res.stderr
    if res.returncode != 8 or "failed" not in res.stdout:
        raise e2e.Failure(f"wrong_secret: exit {res.returncode}: {said}")
    leaked = [name for name, value in secrets.items() if value in said]
    if leaked:
        raise e2e.Failure(f"wrong_secret: verify printed {leaked}")
    return {"ok": True, "verify_s": took, "said": res.stdout.strip()[:200]}


def main():
    summary = {"ok": False, "passed": []}
    moto = runner = None
    tmp = Path(tempfile.mkdtemp(prefix="lsenv-e2e-verify-"))
    try:
        litestream = e2e.enter_sandbox()
        moto, endpoint = e2e.start_moto(tmp)
        key_id, secret, s3 = e2e.setup_moto(endpoint)
        base = {"replica_bucket": e2e.BUCKET, "replica_key_id": key_id,
                "replica_endpoint": endpoint, "replica_region": e2e.REGION}
        good = e2e.Project(tmp, "good", {**base, "replica_access_key": secret}, litestream, "rails")
        bad = e2e.Project(tmp, "wrong_secret", {**base, "replica_access_key": e2e.wrong(secret)},
                          litestream, "rails")
        runner = e2e.Runner(Args(), litestream, tmp)
        summary["cases"] = {}
        for name, case in (("verified", lambda: case_verified(runner, good, s3)),
                           ("behind", lambda: case_behind(runner, good, s3)),
                           ("wrong_secret", lambda: case_wrong_secret(
                               runner, bad, s3, {"secret": secret, "wrong": e2e.wrong(secret)}))):
            e2e.log(f"case {name}")
            summary["cases"][name] = case()
            summary["passed"].append(name)
        summary["ok"] = True
    except Exception as e:  # report, never hang or leave children behind
        e2e.report(summary, e)
    finally:
        e2e.kill_all((runner.procs if runner else []) + ([moto] if moto else []))
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(summary, separators=(",", ":")), flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
