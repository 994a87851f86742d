#!/usr/bin/env python3
"""End-to-end check of `lsenv replicate --serve-credentials`: the real litestream replicates to
a real S3 API (moto, IAM authentication on) with keys it fetched itself from lsenv's loopback
endpoint, short-lived AssumeRole keys that lsenv refreshes; none of them is ever in its
environment.

Run from the repo root inside a private network namespace:

    LSENV_BIN=target/debug/lsenv unshare -n -- python3 tests/drivers/serve.py

The stored user may only call sts:AssumeRole, so every S3 request that succeeds was signed with
the role's keys; moto's signer log (every access key id it saw, per service) proves which.
STS is reached through a relay in this driver, which can be switched to answer 503, to show the
last good keys being served through an outage.

The last stdout line is a JSON summary, {"ok":true,...} on success; exit 0 only then.
"""

import http.client
import http.server
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import replicate as r  # noqa: E402  (the shared moto and project helpers)

BUCKET, REGION = r.BUCKET, r.REGION
DURATION_S, MARGIN_S = 30, 20  # keys live 30 s and are replaced after 10 s
r.RUN_BUDGET_S = 150
SIGNERS_VAR = "LSENV_E2E_SIGNERS"

LITESTREAM_YML = """\
logging:
  level: info
  stderr: true
shutdown-sync-timeout: 5s
dbs:
  - path: {db}
    monitor-interval: 100ms
    replica:
      type: s3
      bucket: $LITESTREAM_REPLICA_BUCKET
      path: app
      region: $LITESTREAM_REPLICA_REGION
      endpoint: $LITESTREAM_REPLICA_ENDPOINT
      force-path-style: true
      sync-interval: 100ms
"""


def run_recording_moto(argv):
    """Child mode: moto as replicate.py runs it, also writing the service and access key id of
    every signed request, and its action, to the file named by $LSENV_E2E_SIGNERS."""
    from moto.iam import access_control

    original = access_control.IAMRequestBase.__init__
    signers = open(os.environ[SIGNERS_VAR], "a", buffering=1)

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        signers.write(f"{self._service} {self._access_key._access_key_id} {self._action}\n")

    access_control.IAMRequestBase.__init__ = init
    r.run_moto_server(argv)


class Relay(http.server.ThreadingHTTPServer):
    """Passes STS requests on to moto unchanged (Host too, which is signed), or, while `down`,
    answers 503 as an unavailable STS would."""

    daemon_threads = True

    def __init__(self, target_port):
        super().__init__(("127.0.0.1", 0), RelayHandler)
        self.target_port = target_port
        self.down = False
        self.calls = {"passed": 0, "refused": 0}


class RelayHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *_):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.server.down:
            self.server.calls["refused"] += 1
            answer = (b"<ErrorResponse><Error><Code>ServiceUnavailable</Code>"
                      b"<Message>down</Message></Error></ErrorResponse>")
            self.send_response(503)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return
        self.server.calls["passed"] += 1
        conn = http.client.HTTPConnection("127.0.0.1", self.server.target_port, timeout=10)
        conn.putrequest("POST", self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.getheader("Content-Type", "text/xml"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()


def setup_moto(endpoint):
    """A user allowed nothing but sts:AssumeRole and sts:GetSessionToken, a role allowed s3:*, the bucket; then auth on,
    and proof that the user's own keys cannot touch the bucket."""
    iam = r.aws_client("iam", endpoint, "setup", "setup")
    iam.create_user(UserName="lsenv-serve")
    policy = iam.create_policy(PolicyName="assume-only", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:GetSessionToken"],
                       "Resource": "*"}]}))
    iam.attach_user_policy(UserName="lsenv-serve", PolicyArn=policy["Policy"]["Arn"])
    key = iam.create_access_key(UserName="lsenv-serve")["AccessKey"]
    role = iam.create_role(RoleName="lsenv-serve-s3", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName="lsenv-serve-s3", PolicyName="s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    r.aws_client("s3", endpoint, "setup", "setup").create_bucket(Bucket=BUCKET)
    r.http(f"{endpoint}/moto-api/reset-auth", data=b"0", headers={"Content-Type": "text/plain"})
    denied = r.error_code(lambda: r.aws_client("s3", endpoint, key["AccessKeyId"],
                                               key["SecretAccessKey"]).list_objects_v2(Bucket=BUCKET))
    if denied != "AccessDenied":
        raise r.Failure(f"the stored user's own keys should be refused by S3, got {denied}")
    return key["AccessKeyId"], key["SecretAccessKey"], role["Role"]["Arn"]


def fetch(url, token):
    """(status, parsed JSON or None) of a GET of the endpoint with `token` (None: no header)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    headers = {} if token is None else {"Authorization": token}
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, None


def children(pid):
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def environ(pid):
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.decode(errors="replace").partition("=")[::2]
                for item in raw.split(b"\0") if item)


def signers(path, service):
    if not path.exists():
        return []
    return [line.split()[1] for line in path.read_text().splitlines()
            if line.split()[:1] == [service]]


def main():
    if sys.argv[1:2] == ["--moto-server"]:
        return run_recording_moto(sys.argv[2:])
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(r.Failure("interrupted")))
    summary = {"ok": False, "passed": []}
    procs = []
    relay = None
    tmp = Path(tempfile.mkdtemp(prefix="lsenv-serve-"))
    try:
        litestream = r.enter_sandbox()
        lsenv = Path(os.environ["LSENV_BIN"]).resolve()
        signer_log = tmp / "signers.log"
        moto, endpoint = r.start_moto(tmp, __file__, {**os.environ, SIGNERS_VAR: str(signer_log)})
        procs.append(moto)
        key_id, secret, role_arn = setup_moto(endpoint)
        signer_log.write_text("")  # from here on, only what lsenv and litestream sign
        relay = Relay(int(endpoint.rsplit(":", 1)[1]))
        threading.Thread(target=relay.serve_forever, daemon=True).start()
        sts = f"http://127.0.0.1:{relay.server_address[1]}"
        r.log(f"moto up on {endpoint}, auth on; STS through {sts}")

        root = tmp / "app"
        (root / "config").mkdir(parents=True)
        (root / "db").mkdir()
        db = root / "db" / "app.sqlite3"
        (root / "config" / "litestream.yml").write_text(LITESTREAM_YML.format(db=db))
        (root / "config" / "lsenv.toml").write_text(
            # AWS_* of lsenv's own environment would pass, but not the keys among them.
            f"[exec]\npass = [\"AWS_*\"]\n\n"
            f"[replicate]\nlitestream = {json.dumps(str(litestream))}\n\n[serve]\n"
            f"duration = {DURATION_S}\nrefresh_margin = {MARGIN_S}\n"
            f"sts_endpoint = {json.dumps(sts)}\nsts_region = {json.dumps(REGION)}\n")
        # The role comes from the credentials (litestream.role_arn → LITESTREAM_ROLE_ARN).
        creds = {"replica_bucket": BUCKET, "replica_endpoint": endpoint, "replica_region": REGION,
                 "access_key_id": key_id, "secret_access_key": secret, "role_arn": role_arn}
        key_env = r.write_credentials(root / "config", creds, "rails")
        with closing(sqlite3.connect(db)) as conn, conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        rows = []

        def insert(n):
            with closing(sqlite3.connect(db)) as conn, conn:
                for _ in range(n):
                    body = os.urandom(8).hex()
                    rows.append((conn.execute("INSERT INTO items (body) VALUES (?)",
                                              (body,)).lastrowid, body))

        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **key_env,
               # lsenv's own environment holds keys too: they must not reach litestream either.
               "AWS_SECRET_ACCESS_KEY": "outer-canary-secret", "AWS_ACCESS_KEY_ID": "AKIAOUTERCANARY00000"}
        err_path = tmp / "lsenv.err"
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(
                [str(lsenv), "-C", str(root), "replicate", "--serve-credentials"],
                env=env, cwd=tmp, stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT,
                preexec_fn=r.die_with_parent)
        procs.append(proc)
        said = lambda: err_path.read_text(errors="replace")  # noqa: E731

        def running_litestream():
            for child in children(proc.pid):
                try:
                    if Path(os.readlink(f"/proc/{child}/exe")) == litestream.resolve():
                        return child
                except OSError:
                    pass
            return None

        try:
            lit = r.wait_for("litestream under lsenv", running_litestream, 15, proc)
            insert(50)
            first = r.wait_for("litestream to sign S3 requests",
                               lambda: signers(signer_log, "s3"), 20, proc)
        except r.Failure as e:
            raise r.Failure(f"{e}\n--- lsenv and litestream ---\n{said()}") from None

        # What litestream's environment holds: the endpoint and token, no key of any kind.
        child_env = environ(lit)
        url = child_env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
        token = child_env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
        if not url.startswith("http://127.0.0.1:") or not token:
            raise r.Failure(f"litestream's environment lacks the endpoint: {sorted(child_env)}")
        status, keys = fetch(url, token)
        if status != 200 or not keys["AccessKeyId"].startswith("ASIA") or not keys.get("Token"):
            raise r.Failure(f"the endpoint answered {status} {keys and sorted(keys)}")
        raw = Path(f"/proc/{lit}/environ").read_bytes()
        leaked = [name for name in ("ACCESS_KEY", "SECRET", "SESSION_TOKEN", "ROLE") if name.encode() in raw]
        leaked += [what for what, value in (("stored key id", key_id), ("stored secret", secret),
                                            ("served key id", keys["AccessKeyId"]),
                                            ("served secret", keys["SecretAccessKey"]),
                                            ("served token", keys["Token"]),
                                            ("outer secret", "outer-canary-secret"))
                   if value.encode() in raw]
        if leaked:
            raise r.Failure(f"litestream's environment holds {leaked}")
        summary["environment"] = sorted(child_env)
        # Refused without the token, or with a wrong one.
        refusals = [fetch(url, None)[0], fetch(url, token[::-1])[0], fetch(url, "")[0]]
        if refusals != [401, 401, 401]:
            raise r.Failure(f"the endpoint answered {refusals} without the right token")
        summary["refused"] = refusals
        s3_signers = set(first)
        if key_id in s3_signers or not all(k.startswith("ASIA") for k in s3_signers):
            raise r.Failure(f"S3 saw keys other than assumed-role ones: {s3_signers}")
        if key_id not in signers(signer_log, "sts"):
            raise r.Failure("STS never saw the stored key: where did the role's keys come from?")
        summary["passed"].append("endpoint")

        # Refresh: new keys are served before the first ones expire, and litestream goes on
        # with them (the SDK asks again once its keys expire), with no restart.
        first_key = keys["AccessKeyId"]
        first_expiry = keys["Expiration"]
        def refreshed():
            got = fetch(url, token)[1]
            return got if got and got["AccessKeyId"] != first_key else None
        r.wait_for("refreshed keys", refreshed, DURATION_S, proc)
        seen_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if seen_at >= first_expiry:
            raise r.Failure(f"new keys only at {seen_at}, the first expired at {first_expiry}")
        insert(30)
        try:
            later = r.wait_for("litestream to sign with refreshed keys", lambda: [
                k for k in signers(signer_log, "s3") if k != first_key], DURATION_S + 10, proc)
        except r.Failure as e:
            raise r.Failure(f"{e}\n--- lsenv and litestream ---\n{said()}") from None
        if running_litestream() != lit:
            raise r.Failure("litestream was restarted")
        if sum(1 for line in said().splitlines() if "credentials: serving ASIA" in line) < 2:
            raise r.Failure(f"no log line per refresh:\n{said()}")
        summary["refresh"] = {"first_expiry": first_expiry, "new_keys_seen": seen_at,
                              "s3_signers": len(set(signers(signer_log, "s3"))),
                              "later_signer_is_new": later[0] != first_key}
        summary["passed"].append("refresh")

        # STS down: the failure is logged, the last good keys go on being served.
        relay.down = True
        last = fetch(url, token)[1]
        try:
            r.wait_for("the STS failure in lsenv's log",
                       lambda: "AssumeRole failed: AssumeRole answered 503" in said(), MARGIN_S, proc)
        except r.Failure as e:
            raise r.Failure(f"{e}\n--- lsenv and litestream ---\n{said()}") from None
        status, during = fetch(url, token)
        if status != 200 or during["AccessKeyId"] != last["AccessKeyId"]:
            raise r.Failure(f"during the outage the endpoint answered {status} with other keys")
        if "serving the last keys until" not in said():
            raise r.Failure(f"the outage log does not say what is served:\n{said()}")
        summary["outage"] = {"relay": dict(relay.calls)}
        summary["passed"].append("sts_down")

        # Rows written just before SIGTERM reach the replica: litestream's final sync, with
        # the keys lsenv still serves; lsenv exits with litestream's status.
        insert(20)
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise r.Failure("lsenv did not exit within 20 s of SIGTERM") from None
        if code != 0:
            raise r.Failure(f"lsenv exited {code} after SIGTERM\n{said()}")
        if Path(f"/proc/{lit}").exists() and "Z" not in Path(f"/proc/{lit}/stat").read_text().split()[2]:
            raise r.Failure("litestream outlived lsenv")
        relay.down = False
        restored = tmp / "restored.sqlite3"
        res = subprocess.run(
            [str(lsenv), "-C", str(root), "exec", "--serve-credentials", "--", str(litestream),
             "restore", "-config", "config/litestream.yml", "-o", str(restored), str(db)],
            env=env, cwd=tmp, capture_output=True, text=True, timeout=30,
            preexec_fn=r.die_with_parent)
        if res.returncode != 0 or not restored.exists():
            raise r.Failure(f"restore failed ({res.returncode}): {res.stdout}{res.stderr}")
        with closing(sqlite3.connect(restored)) as conn:
            got = conn.execute("SELECT id, body FROM items ORDER BY id").fetchall()
        if got != rows:
            raise r.Failure(f"restored {len(got)} rows, wrote {len(rows)}; they differ")
        summary["rows"] = len(got)
        summary["passed"].append("restore")
        # Without a role: GetSessionToken, signed with the stored pair, served the same way.
        session_root = tmp / "session"
        (session_root / "config").mkdir(parents=True)
        (session_root / "config" / "lsenv.toml").write_text(
            f"[serve]\nsts_endpoint = {json.dumps(sts)}\n")
        r.write_credentials(session_root / "config",
                            {k: v for k, v in creds.items() if k != "role_arn"}, "rails")
        probe = ("import json, os, urllib.request as u\n"
                 "req = u.Request(os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI'], headers="
                 "{'Authorization': os.environ['AWS_CONTAINER_AUTHORIZATION_TOKEN']})\n"
                 "keys = json.loads(u.build_opener(u.ProxyHandler({})).open(req).read())\n"
                 "print(keys['AccessKeyId'] if keys.get('Token') else 'no token')")
        before = len(signers(signer_log, "sts"))
        res = subprocess.run(
            [str(lsenv), "-C", str(session_root), "exec", "--serve-credentials", "--",
             sys.executable, "-c", probe],
            env=env, cwd=tmp, capture_output=True, text=True, timeout=30,
            preexec_fn=r.die_with_parent)
        served = res.stdout.strip()
        calls = [line.split() for line in signer_log.read_text().splitlines()
                 if line.startswith("sts ")][before:]
        # moto's session keys begin with AKIA (AWS's with ASIA): they differ from the stored one.
        if res.returncode != 0 or served in (key_id, "no token", ""):
            raise r.Failure(f"GetSessionToken: exit {res.returncode}, not new keys: {res.stderr}")
        if [key_id, "sts:GetSessionToken"] not in [call[1:] for call in calls]:
            raise r.Failure(f"GetSessionToken: STS saw {calls}")
        summary["passed"].append("session_token")
        summary["log"] = [line for line in said().splitlines() if line.startswith("lsenv:")][:6]
        summary["ok"] = True
    except Exception as e:  # report, never hang or leave children behind
        r.report(summary, e)
    finally:
        r.kill_all(procs)
        if relay:
            relay.shutdown()
        if not summary["ok"] and (tmp / "lsenv.err").exists():
            print("--- lsenv and litestream (tail) ---\n" + "".join(
                (tmp / "lsenv.err").read_text(errors="replace").splitlines(True)[-25:]),
                file=sys.stderr)
        if not summary["ok"] and (tmp / "moto.log").exists():
            print("--- moto log (tail) ---\n" + "".join(
                (tmp / "moto.log").read_text(errors="replace").splitlines(True)[-15:]),
                file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(summary, separators=(",", ":")), flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
