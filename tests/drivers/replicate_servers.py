#!/usr/bin/env python3
"""End-to-end check that `lsenv replicate` drives the real litestream against real SFTP, WebDAV,
NATS, Azure Blob (emulator) and S3 (temporary keys) servers on loopback, with the secrets from encrypted credentials only.

Run from the repo root inside a private network namespace, as root:

    LSENV_BIN=target/debug/lsenv unshare -n -- python3 tests/drivers/replicate_servers.py --server sftp

    sftp    Debian's OpenSSH sshd on 127.0.0.1, public-key authentication only. The private key
            reaches litestream as a [files] secret (a sealed memfd, never on disk) and the host
            key is pinned: a key the server does not know, and a server with another host key,
            are refused.
    webdav  PyPI wsgidav with basic authentication; a wrong password is refused.
    gs      PyPI gcp-storage-emulator (no authentication: Google's client sends none to an
            emulator), the service-account JSON delivered as a [files] memfd.
    abs     npm's azurite (Blob) with an account of its own, by account key and by a container SAS
            token; a wrong key and a SAS signed with a wrong key are refused.
    nats    Debian's nats-server with JetStream and a user and password; a wrong password is
            refused.
    nats-tls  the same server requiring TLS with a client certificate; the client's private key
            reaches litestream as a [files] memfd; a certificate from another authority is
            refused.
    s3-session  moto with authentication on and temporary keys (an assumed role's): the session
            token comes from the credentials through [env] AWS_SESSION_TOKEN; a wrong one is refused.

Each good case writes rows while `lsenv replicate` runs, stops it with SIGTERM, restores with
`lsenv exec -- litestream restore` and compares the rows. The last stdout line is a JSON
summary starting with {"ok":true; exit 0 only then.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replicate import (  # noqa: E402  (the S3 driver's helpers, shared)
    Failure, die_with_parent, enter_sandbox, free_port, kill_all, log, report, start_moto, stop,
    wait_for, write_credentials,
)

LITESTREAM_YML = """\
logging:
  level: info
  stderr: true
shutdown-sync-timeout: 3s
dbs:
  - path: {db}
    monitor-interval: 100ms
    replica:
{replica}      sync-interval: 100ms
"""

SFTP_REPLICA = """\
      type: sftp
      host: $LITESTREAM_SFTP_HOST
      user: $LITESTREAM_SFTP_USER
      key-path: $LITESTREAM_SFTP_KEY_PATH
      host-key: $LITESTREAM_SFTP_HOST_KEY
      path: {path}
"""

WEBDAV_REPLICA = """\
      type: webdav
      webdav-url: $LITESTREAM_WEBDAV_URL
      webdav-username: $LITESTREAM_WEBDAV_USERNAME
      webdav-password: $LITESTREAM_WEBDAV_PASSWORD
      path: {path}
"""


def files_under(directory):
    return sorted(str(p.relative_to(directory)) for p in Path(directory).rglob("*") if p.is_file())


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Project:
    def __init__(self, root, name, creds, replica, toml_extra, litestream, env=None):
        self.root = root / name
        self.env = env or {}
        self.name = name
        self.db = self.root / "db" / "app.sqlite3"
        config = self.root / "config"
        config.mkdir(parents=True)
        self.db.parent.mkdir()
        (config / "litestream.yml").write_text(LITESTREAM_YML.format(db=self.db, replica=replica))
        (config / "lsenv.toml").write_text(
            f"{toml_extra}[replicate]\nlitestream = {json.dumps(str(litestream))}\n")
        write_credentials(config, creds, "rails")
        with closing(sqlite3.connect(self.db)) as db, db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        self.rows = []

    def insert(self, n):
        with closing(sqlite3.connect(self.db)) as db, db:
            for _ in range(n):
                body = os.urandom(8).hex()
                cur = db.execute("INSERT INTO items (body) VALUES (?)", (body,))
                self.rows.append((cur.lastrowid, body))

    def lsenv(self, args, **kwargs):
        # lsenv gets no LITESTREAM_* at all: the credentials are the only source.
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **self.env}
        return subprocess.Popen([os.environ["LSENV_BIN"], "-C", str(self.root), *args], env=env,
                                preexec_fn=die_with_parent, **kwargs)

    def start_replicate(self):
        self.out = self.root.parent / f"{self.name}.replicate.log"
        with open(self.out, "wb") as log_file:
            proc = self.lsenv(["replicate"], stdin=subprocess.DEVNULL, stdout=log_file,
                              stderr=subprocess.STDOUT)
        return proc

    def output(self):
        return self.out.read_text(errors="replace")

    def restore(self, litestream):
        restored = self.root / "restored.sqlite3"
        proc = self.lsenv(["exec", "--", str(litestream), "restore", "-config",
                           "config/litestream.yml", "-o", str(restored), str(self.db)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = proc.communicate(timeout=20)
        if proc.returncode != 0 or not restored.exists():
            raise Failure(f"{self.name}: restore failed ({proc.returncode}): {out.decode(errors='replace')}")
        with closing(sqlite3.connect(restored)) as db:
            got = db.execute("SELECT id, body FROM items ORDER BY id").fetchall()
        if got != self.rows:
            raise Failure(f"{self.name}: restored {len(got)} rows, wrote {len(self.rows)}; they differ")
        return len(got)


def case_good(project, litestream, written, secret_bytes, checks=None, places=("cmdline",)):
    """`written()` lists what reached the server."""
    proc = project.start_replicate()
    project.insert(50)
    try:
        wait_for("first replica files", written, 20, proc)
    except Failure as e:
        raise Failure(f"{project.name}: {e}\n--- litestream output ---\n{project.output()}") from None
    result = {}
    if checks:
        result.update(checks(proc))
    # The secret is in no argument of litestream (and a file secret in no variable either).
    for what in places:
        if secret_bytes in Path(f"/proc/{proc.pid}/{what}").read_bytes():
            raise Failure(f"{project.name}: the secret is in litestream's {what}")
    project.insert(50)
    code, _ = stop(proc)
    if code != 0:
        raise Failure(f"{project.name}: litestream exited {code}\n{project.output()}")
    result["rows"] = project.restore(litestream)
    result["files"] = len(written())
    return result


def case_refused(project, written, needle):
    t0 = time.monotonic()
    proc = project.start_replicate()
    project.insert(20)
    # Litestream either gives up at once (it cannot open the store) or keeps retrying; either
    # way the refusal must show, and after at least 2 s nothing may have been written.
    try:
        wait_for(f"{needle!r} in litestream's output",
                 lambda: needle in project.output() and (time.monotonic() - t0 >= 2
                                                         or proc.poll() is not None), 20)
    except Failure as e:
        raise Failure(f"{project.name}: {e}\n--- litestream output ---\n{project.output()}") from None
    code = proc.poll()
    if code is None:
        stop(proc)
    elif code == 0:
        raise Failure(f"{project.name}: litestream exited 0\n{project.output()}")
    if written():
        raise Failure(f"{project.name}: files reached the server: {written()[:5]}")
    return {"refused": needle}


# --- sftp -------------------------------------------------------------------

def keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)],
                   check=True, timeout=10)
    return path.read_text(), (path.parent / (path.name + ".pub")).read_text().strip()


def start_sshd(tmp, port, host_key, authorized):
    (tmp / "authorized_keys").write_text(authorized + "\n")
    (tmp / "authorized_keys").chmod(0o600)
    config = tmp / "sshd_config"
    config.write_text(f"""\
ListenAddress 127.0.0.1:{port}
HostKey {host_key}
AuthorizedKeysFile {tmp / "authorized_keys"}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
StrictModes no
Subsystem sftp internal-sftp
PidFile {tmp / "sshd.pid"}
""")
    # sshd's privilege separation directory.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log_file = open(tmp / "sshd.log", "wb")
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
                            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                            preexec_fn=die_with_parent)
    log_file.close()
    wait_for("sshd to listen", lambda: port_open(port), 10, proc)
    return proc


def run_sftp(tmp, litestream, summary, servers):
    port = free_port()
    client_key, client_pub = keygen(tmp / "client_key")
    other_key, _ = keygen(tmp / "other_key")
    _, host_pub = keygen(tmp / "host_key")
    _, other_host_pub = keygen(tmp / "other_host_key")
    # Only the credentials hold the private keys from here on.
    for name in ("client_key", "other_key"):
        (tmp / name).unlink()
    servers.append(start_sshd(tmp, port, tmp / "host_key", client_pub))
    log(f"sshd up on 127.0.0.1:{port}")
    files = "[files]\nLITESTREAM_SFTP_KEY_PATH = \"litestream.sftp_private_key\"\n"

    def project(name, key, host_key):
        replica_dir = tmp / "replicas" / name
        creds = {"sftp_host": f"127.0.0.1:{port}", "sftp_user": "root",
                 "sftp_host_key": host_key, "sftp_private_key": key}
        return Project(tmp, name, creds, SFTP_REPLICA.format(path=replica_dir), files,
                       litestream), lambda: files_under(replica_dir)

    summary["cases"] = {}
    good, good_dir = project("good", client_key, host_pub)
    summary["cases"]["good"] = case_good(good, litestream, good_dir,
                                         client_key.splitlines()[1].encode(),
                                         lambda proc: memfd_of(proc, "LITESTREAM_SFTP_KEY_PATH"),
                                         ("cmdline", "environ"))
    summary["passed"].append("good")
    bad, bad_dir = project("wrong_key", other_key, host_pub)
    summary["cases"]["wrong_key"] = case_refused(bad, bad_dir, "unable to authenticate")
    summary["passed"].append("wrong_key")
    bad, bad_dir = project("wrong_host_key", client_key, other_host_pub)
    summary["cases"]["wrong_host_key"] = case_refused(bad, bad_dir, "host key mismatch")
    summary["passed"].append("wrong_host_key")


# --- webdav -----------------------------------------------------------------

def run_wsgidav_server(config_path):
    """Child mode: wsgidav under cheroot, with its request body read in full first.

    wsgidav (4.4.0) answers some requests (a PROPFIND of a missing collection: 404) without
    reading a chunked body, which Go's client sends; cheroot then reads the leftover chunks as
    the next request on the connection, which fails (400 or a broken pipe). Authentication is
    wsgidav's own, untouched: a wrong password is still refused (the driver asserts that)."""
    import io

    from cheroot import wsgi
    from wsgidav.wsgidav_app import WsgiDAVApp

    config = json.loads(Path(config_path).read_text())
    app = WsgiDAVApp(config)

    def drained(environ, start_response):
        body = environ["wsgi.input"].read()
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return app(environ, start_response)

    server = wsgi.Server((config["host"], config["port"]), drained, numthreads=10)
    server.start()


def run_webdav(tmp, litestream, summary, servers):
    port = free_port()
    root = tmp / "dav"
    root.mkdir()
    password = os.urandom(12).hex()
    config = tmp / "wsgidav.yaml"
    config.write_text(json.dumps({
        "host": "127.0.0.1", "port": port, "provider_mapping": {"/": str(root)},
        "http_authenticator": {"domain_controller": None, "accept_basic": True,
                               "accept_digest": False, "default_to_digest": False},
        "simple_dc": {"user_mapping": {"*": {"backup": {"password": password}}}},
        "verbose": 3,
    }))
    log_file = open(tmp / "wsgidav.log", "wb")
    proc = subprocess.Popen([sys.executable, __file__, "--wsgidav-server", str(config)],
                            stdin=subprocess.DEVNULL, stdout=log_file,
                            stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    log_file.close()
    servers.append(proc)
    wait_for("wsgidav to listen", lambda: port_open(port), 15, proc)
    log(f"wsgidav up on 127.0.0.1:{port}")

    def project(name, secret):
        creds = {"webdav_url": f"http://127.0.0.1:{port}", "webdav_username": "backup",
                 "webdav_password": secret}
        return Project(tmp, name, creds, WEBDAV_REPLICA.format(path=f"backups/{name}"), "",
                       litestream), lambda: files_under(root / "backups" / name)

    summary["cases"] = {}
    good, good_dir = project("good", password)
    summary["cases"]["good"] = case_good(good, litestream, good_dir, password.encode())
    summary["passed"].append("good")
    bad, bad_dir = project("wrong_password", password[::-1])
    summary["cases"]["wrong_password"] = case_refused(bad, bad_dir, "401")
    summary["passed"].append("wrong_password")


# --- s3 with temporary keys ----------------------------------------------------

S3_SESSION_REPLICA = """\
      type: s3
      bucket: $LITESTREAM_REPLICA_BUCKET
      path: {path}
      region: $LITESTREAM_REPLICA_REGION
      endpoint: $LITESTREAM_REPLICA_ENDPOINT
      force-path-style: true
"""


def run_s3_session(tmp, litestream, summary, servers):
    """moto with authentication on; the keys are an assumed role's (ASIA…), which moto accepts
    only with their session token. Keys in litestream.yml would carry no token, so it names none:
    the AWS SDK reads AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (copied by litestream from
    LITESTREAM_*) and AWS_SESSION_TOKEN, which [env] maps from the credentials."""
    from replicate import BUCKET, REGION, aws_client, http

    proc, endpoint = start_moto(tmp)
    servers.append(proc)
    iam = aws_client("iam", endpoint, "setup", "setup")
    role = iam.create_role(RoleName="lsenv-e2e", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName="lsenv-e2e", PolicyName="s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    keys = aws_client("sts", endpoint, "setup", "setup").assume_role(
        RoleArn=role["Role"]["Arn"], RoleSessionName="e2e")["Credentials"]
    aws_client("s3", endpoint, "setup", "setup").create_bucket(Bucket=BUCKET)
    http(f"{endpoint}/moto-api/reset-auth", data=b"0", headers={"Content-Type": "text/plain"})
    log(f"moto up on {endpoint}, auth on, temporary keys {keys['AccessKeyId'][:4]}…")

    import boto3
    from botocore.config import Config
    s3 = boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"], aws_session_token=keys["SessionToken"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

    def listing(prefix):
        return lambda: [o["Key"] for o in s3.list_objects_v2(
            Bucket=BUCKET, Prefix=prefix).get("Contents", [])]

    session = "[env]\nAWS_SESSION_TOKEN = \"litestream.replica_session_token\"\n"

    def project(name, token):
        creds = {"replica_bucket": BUCKET, "replica_endpoint": endpoint, "replica_region": REGION,
                 "replica_key_id": keys["AccessKeyId"],
                 "replica_access_key": keys["SecretAccessKey"], "replica_session_token": token}
        return Project(tmp, name, creds, S3_SESSION_REPLICA.format(path=f"{name}/app"), session,
                       litestream), listing(f"{name}/")

    summary["cases"] = {}
    good, written = project("good", keys["SessionToken"])
    summary["cases"]["good"] = case_good(good, litestream, written, keys["SessionToken"].encode())
    summary["passed"].append("good")
    bad, written = project("wrong_token", keys["SessionToken"][::-1])
    summary["cases"]["wrong_token"] = case_refused(bad, written, "InvalidToken")
    summary["passed"].append("wrong_token")


# --- nats -------------------------------------------------------------------

NATS_REPLICA = """\
      type: nats
      url: $LITESTREAM_NATS_URL
      username: $LITESTREAM_NATS_USERNAME
      password: $LITESTREAM_NATS_PASSWORD
      path: {path}
"""


class NatsClient:
    """Just enough of the NATS protocol to ask the JetStream API (request, one reply)."""

    def __init__(self, port, user=None, password=None, tls=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        self.line()  # INFO, in the clear; with TLS required the client then upgrades
        if tls:
            self.sock = tls.wrap_socket(self.sock, server_hostname="127.0.0.1")
        connect = {"verbose": False, "pedantic": False, "headers": False}
        if user:
            connect.update(user=user, **{"pass": password})
        self.sock.sendall(f"CONNECT {json.dumps(connect)}\r\nPING\r\n".encode()
                          + b"SUB _INBOX.lsenv 1\r\n")
        reply = self.line()
        if reply != b"PONG":
            raise Failure(f"nats CONNECT: {reply!r}")

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Failure("nats closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def request(self, subject, payload):
        body = json.dumps(payload).encode()
        self.sock.sendall(f"PUB {subject} _INBOX.lsenv {len(body)}\r\n".encode() + body + b"\r\n")
        while True:
            line = self.line()
            if line.startswith(b"MSG "):
                size = int(line.split()[-1])
                while len(self.buf) < size + 2:
                    self.buf += self.sock.recv(65536)
                data, self.buf = self.buf[:size], self.buf[size + 2:]
                return json.loads(data)
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")

    def object_store(self, bucket):
        """A JetStream object store named `bucket`; a function listing what reached it."""
        # What `nats object add` creates: the object store is a stream with these subjects.
        created = self.request(f"$JS.API.STREAM.CREATE.OBJ_{bucket}", {
            "name": f"OBJ_{bucket}", "subjects": [f"$O.{bucket}.C.>", f"$O.{bucket}.M.>"],
            "storage": "file", "num_replicas": 1, "discard": "new", "allow_rollup_hdrs": True,
            "allow_direct": True, "retention": "limits", "max_msgs": -1, "max_bytes": -1,
            "max_age": 0, "max_msgs_per_subject": -1, "max_msg_size": -1})
        if "error" in created:
            raise Failure(f"nats: cannot create the object store: {created['error']}")

        def written():
            # One metadata subject per object.
            info = self.request(f"$JS.API.STREAM.INFO.OBJ_{bucket}",
                                {"subjects_filter": f"$O.{bucket}.M.>"})
            return sorted((info.get("state") or {}).get("subjects") or {})
        return written


def run_nats(tmp, litestream, summary, servers):
    port = free_port()
    password = os.urandom(12).hex()
    config = tmp / "nats.conf"
    config.write_text(f"""\
listen: 127.0.0.1:{port}
jetstream {{ store_dir: {json.dumps(str(tmp / "jetstream"))} }}
authorization {{ users = [ {{ user: backup, password: {json.dumps(password)} }} ] }}
""")
    log_file = open(tmp / "nats.log", "wb")
    proc = subprocess.Popen(["nats-server", "-c", str(config)], stdin=subprocess.DEVNULL,
                            stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    log_file.close()
    servers.append(proc)
    wait_for("nats-server to listen", lambda: port_open(port), 10, proc)
    nats = NatsClient(port, "backup", password)
    log(f"nats-server up on 127.0.0.1:{port} with JetStream and a user")

    def project(name, secret):
        # Litestream's NATS client ignores `path`: a bucket per case.
        bucket = name.replace("_", "-")
        creds = {"nats_url": f"nats://127.0.0.1:{port}/{bucket}", "nats_username": "backup",
                 "nats_password": secret}
        return Project(tmp, name, creds, NATS_REPLICA.format(path=name), "",
                       litestream), nats.object_store(bucket)

    summary["cases"] = {}
    good, written = project("good", password)
    summary["cases"]["good"] = case_good(good, litestream, written, password.encode())
    summary["passed"].append("good")
    bad, written = project("wrong_password", password[::-1])
    summary["cases"]["wrong_password"] = case_refused(bad, written, "Authorization Violation")
    summary["passed"].append("wrong_password")


NATS_TLS_REPLICA = """\
      type: nats
      url: $LITESTREAM_NATS_URL
      tls: true
      root-cas: [{ca}]
      client-cert: {cert}
      client-key: $LITESTREAM_NATS_CLIENT_KEY_PATH
      path: {path}
"""


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


def certificate(tmp, name, ca, extension):
    """A P-256 key (its PEM text) and a certificate for it signed by `ca` (a name made by
    `authority`), valid for a day."""
    key, csr, cert, ext = (tmp / f"{name}.{s}" for s in ("key", "csr", "crt", "ext"))
    ext.write_text(extension + "\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(tmp / f"{ca}.crt"), "-CAkey",
            str(tmp / f"{ca}.key"), "-CAcreateserial", "-days", "1", "-out", str(cert),
            "-extfile", str(ext))
    return key, cert


def authority(tmp, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(tmp / f"{name}.key"), "-out", str(tmp / f"{name}.crt"), "-days", "1",
            "-subj", f"/CN={name}")


def run_nats_tls(tmp, litestream, summary, servers):
    """nats-server requiring TLS with a client certificate (`verify: true`). The client's
    private key reaches litestream only as a [files] memfd; the certificates are not secret
    and are plain files. A client whose certificate another authority signed is refused."""
    import ssl

    authority(tmp, "ca")
    authority(tmp, "other_ca")
    server_key, server_cert = certificate(tmp, "server", "ca", "subjectAltName=IP:127.0.0.1")
    client = "extendedKeyUsage=clientAuth"
    client_key, client_cert = certificate(tmp, "client", "ca", client)
    other_key, other_cert = certificate(tmp, "other", "other_ca", client)
    port = free_port()
    config = tmp / "nats.conf"
    config.write_text(f"""\
listen: 127.0.0.1:{port}
jetstream {{ store_dir: {json.dumps(str(tmp / "jetstream"))} }}
tls {{
  cert_file: {json.dumps(str(server_cert))}
  key_file: {json.dumps(str(server_key))}
  ca_file: {json.dumps(str(tmp / "ca.crt"))}
  verify: true
}}
""")
    log_file = open(tmp / "nats.log", "wb")
    proc = subprocess.Popen(["nats-server", "-c", str(config)], stdin=subprocess.DEVNULL,
                            stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    log_file.close()
    servers.append(proc)
    wait_for("nats-server to listen", lambda: port_open(port), 10, proc)
    context = ssl.create_default_context(cafile=str(tmp / "ca.crt"))
    context.load_cert_chain(str(client_cert), str(client_key))
    nats = NatsClient(port, tls=context)
    log(f"nats-server up on 127.0.0.1:{port} with JetStream, TLS and client certificates")
    # Only the credentials hold the client keys from here on.
    keys = {"client": client_key.read_text(), "other": other_key.read_text()}
    client_key.unlink()
    other_key.unlink()
    files = "[files]\nLITESTREAM_NATS_CLIENT_KEY_PATH = \"litestream.nats_client_key\"\n"

    def project(name, key, cert):
        bucket = name.replace("_", "-")
        written = nats.object_store(bucket)
        creds = {"nats_url": f"nats://127.0.0.1:{port}/{bucket}", "nats_client_key": key}
        replica = NATS_TLS_REPLICA.format(ca=json.dumps(str(tmp / "ca.crt")),
                                          cert=json.dumps(str(cert)), path=name)
        return Project(tmp, name, creds, replica, files, litestream), written

    summary["cases"] = {}
    good, written = project("good", keys["client"], client_cert)
    summary["cases"]["good"] = case_good(
        good, litestream, written, keys["client"].splitlines()[1].encode(),
        lambda proc: memfd_of(proc, "LITESTREAM_NATS_CLIENT_KEY_PATH"), ("cmdline", "environ"))
    summary["passed"].append("good")
    bad, written = project("wrong_certificate", keys["other"], other_cert)
    summary["cases"]["wrong_certificate"] = case_refused(bad, written, "nats: failed to connect")
    summary["passed"].append("wrong_certificate")


# --- abs --------------------------------------------------------------------

ABS_REPLICA = """\
      type: abs
      account-name: $LITESTREAM_AZURE_ACCOUNT_NAME
      bucket: $LITESTREAM_REPLICA_BUCKET
      endpoint: $LITESTREAM_REPLICA_ENDPOINT
      path: {path}
"""


def azure_request(endpoint, account, key, method, container, query):
    """One Blob service request signed with the account key (SharedKey, path-style as the
    emulator takes it); returns (status, body)."""
    import base64
    import hashlib
    import hmac
    import urllib.error
    import urllib.request
    from email.utils import formatdate

    headers = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": "2021-08-06"}
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()))
    resource = f"/{account}/{account}/{container}" + "".join(
        f"\n{k}:{v}" for k, v in sorted(query.items()))
    # urllib sends a Content-Type with any body, and it is signed.
    content_type = "application/octet-stream" if method == "PUT" else ""
    fields = [method, "", "", "", "", content_type, "", "", "", "", "", ""]
    to_sign = "\n".join(fields) + "\n" + canonical_headers + resource
    signature = base64.b64encode(hmac.new(base64.b64decode(key), to_sign.encode(),
                                          hashlib.sha256).digest()).decode()
    headers["Authorization"] = f"SharedKey {account}:{signature}"
    url = f"{endpoint}/{container}?" + "&".join(f"{k}={v}" for k, v in query.items())
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, method=method, headers=headers,
                                     data=b"" if method == "PUT" else None)
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def service_sas(account, key, container):
    """A container SAS (read, add, create, write, delete, list) signed with the account key."""
    import base64
    import hashlib
    import hmac
    from datetime import datetime, timedelta, timezone
    from urllib.parse import quote

    expiry = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    version, permissions = "2021-08-06", "racwdl"
    fields = [permissions, "", expiry, f"/blob/{account}/{container}", "", "", "", version, "c",
              "", "", "", "", "", "", ""]
    signature = base64.b64encode(hmac.new(base64.b64decode(key), "\n".join(fields).encode(),
                                          hashlib.sha256).digest()).decode()
    return f"sv={version}&sr=c&sp={permissions}&se={quote(expiry)}&sig={quote(signature, safe='')}"


def run_abs(tmp, litestream, summary, servers):
    import base64
    import re

    port = free_port()
    account = "lsenvacct"
    key = base64.b64encode(os.urandom(32)).decode()
    endpoint = f"http://127.0.0.1:{port}/{account}"
    log_file = open(tmp / "azurite.log", "wb")
    proc = subprocess.Popen(
        ["azurite-blob", "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location",
         str(tmp / "azurite"), "--skipApiVersionCheck", "--disableProductStyleUrl",
         "--disableTelemetry", "--debug", str(tmp / "azurite-debug.log")],
        env={**os.environ, "AZURITE_ACCOUNTS": f"{account}:{key}"}, stdin=subprocess.DEVNULL,
        stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    log_file.close()
    servers.append(proc)
    wait_for("azurite to listen", lambda: port_open(port), 30, proc)

    def container(name):
        status, body = azure_request(endpoint, account, key, "PUT", name, {"restype": "container"})
        if status != 201:
            raise Failure(f"azurite: cannot create container {name}: {status} {body[:200]}")
        # Signed with a wrong key, the same request is refused: authentication is on.
        wrong = base64.b64encode(os.urandom(32)).decode()
        status, _ = azure_request(endpoint, account, wrong, "GET", name,
                                  {"comp": "list", "restype": "container"})
        if status != 403:
            raise Failure(f"azurite accepted a wrong key ({status})")

        def written():
            status, body = azure_request(endpoint, account, key, "GET", name,
                                         {"comp": "list", "restype": "container"})
            if status != 200:
                raise Failure(f"azurite: cannot list {name}: {status}")
            return re.findall(r"<Name>([^<]+)</Name>", body)
        return written

    log(f"azurite up on 127.0.0.1:{port}, account {account}")

    def project(name, secret, kind="azure_account_key"):
        bucket = name.replace("_", "-")
        written = container(bucket)
        if kind == "azure_sas_token":
            secret = service_sas(account, secret, bucket)
        creds = {"replica_bucket": bucket, "azure_account_name": account, kind: secret,
                 "replica_endpoint": endpoint}
        return Project(tmp, name, creds, ABS_REPLICA.format(path=name), "", litestream), \
            written, secret

    summary["cases"] = {}
    other_key = base64.b64encode(os.urandom(32)).decode()
    for name, secret, kind, good in (
            ("good", key, "azure_account_key", True),
            ("wrong_key", other_key, "azure_account_key", False),
            ("sas", key, "azure_sas_token", True),
            ("wrong_sas", other_key, "azure_sas_token", False)):
        case, written, secret = project(name, secret, kind)
        summary["cases"][name] = (case_good(case, litestream, written, secret.encode()) if good
                                  else case_refused(case, written, "403"))
        summary["passed"].append(name)


# --- gs ---------------------------------------------------------------------

GS_REPLICA = """\
      type: gs
      bucket: $LITESTREAM_REPLICA_BUCKET
      path: {path}
"""


def memfd_of(proc, name):
    """What litestream's variable `name` points at: a memfd with no link, else a failure."""
    env = dict(item.partition("=")[::2] for item in
               Path(f"/proc/{proc.pid}/environ").read_text().split("\0") if item)
    path = env[name]
    fd = path.rsplit("/", 1)[1]
    target = os.readlink(f"/proc/{proc.pid}/fd/{fd}")
    links = os.stat(f"/proc/{proc.pid}/fd/{fd}").st_nlink
    if not target.startswith("/memfd:") or links != 0:
        raise Failure(f"{name}={path} is {target} with {links} links, not a memfd")
    return {"key_path": path, "memfd": target}


def run_gs(tmp, litestream, summary, servers):
    """gcp-storage-emulator. Google's Go client, pointed at an emulator by STORAGE_EMULATOR_HOST,
    sends no credentials, so the emulator proves replication through lsenv but cannot prove
    the service-account file: that it reaches litestream as a memfd is checked in litestream's
    own process, and a child reading it is in the file-secret tests."""
    import urllib.request

    port = free_port()
    log_file = open(tmp / "gcs.log", "wb")
    proc = subprocess.Popen(["gcp-storage-emulator", "start", "--host", "127.0.0.1", "--port",
                             str(port), "--in-memory"], stdin=subprocess.DEVNULL,
                            stdout=log_file, stderr=subprocess.STDOUT,
                            preexec_fn=die_with_parent)
    log_file.close()
    servers.append(proc)
    wait_for("gcp-storage-emulator to listen", lambda: port_open(port), 20, proc)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    base = f"http://127.0.0.1:{port}/storage/v1/b"
    bucket = "lsenv-e2e"
    opener.open(urllib.request.Request(f"{base}?project=lsenv", method="POST",
                                       data=json.dumps({"name": bucket}).encode(),
                                       headers={"Content-Type": "application/json"}), timeout=5)
    log(f"gcp-storage-emulator up on 127.0.0.1:{port}")

    def written():
        with opener.open(f"{base}/{bucket}/o?prefix=good/", timeout=5) as response:
            return [item["name"] for item in json.loads(response.read()).get("items", [])]

    service_account = json.dumps({"type": "service_account", "project_id": "lsenv",
                                  "private_key_id": os.urandom(8).hex()})
    creds = {"replica_bucket": bucket, "gcs_credentials_json": service_account}
    files = ("[files]\nGOOGLE_APPLICATION_CREDENTIALS = \"litestream.gcs_credentials_json\"\n"
             "[exec]\npass = [\"STORAGE_EMULATOR_HOST\"]\n")
    good = Project(tmp, "good", creds, GS_REPLICA.format(path="good"), files, litestream,
                   env={"STORAGE_EMULATOR_HOST": f"127.0.0.1:{port}"})
    summary["cases"] = {"good": case_good(
        good, litestream, written, service_account.encode(),
        lambda proc: memfd_of(proc, "GOOGLE_APPLICATION_CREDENTIALS"), ("cmdline", "environ"))}
    summary["passed"].append("good")


def main():
    if sys.argv[1:2] == ["--wsgidav-server"]:
        return run_wsgidav_server(sys.argv[2])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=["sftp", "webdav", "s3-session", "nats", "nats-tls", "abs", "gs"], required=True)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    def on_sigterm(*_):
        raise Failure("interrupted by SIGTERM")

    signal.signal(signal.SIGTERM, on_sigterm)
    summary = {"ok": False, "passed": [], "server": args.server}
    servers = []
    tmp = Path(tempfile.mkdtemp(prefix=f"lsenv-e2e-{args.server}-"))
    try:
        litestream = enter_sandbox()
        run = {"sftp": run_sftp, "webdav": run_webdav, "s3-session": run_s3_session,
               "nats": run_nats, "nats-tls": run_nats_tls, "abs": run_abs, "gs": run_gs}
        run[args.server](tmp, litestream, summary, servers)
        summary["ok"] = True
    except Exception as e:  # report, never hang or leave children behind
        report(summary, e)
    finally:
        kill_all(servers)
        if not summary["ok"]:
            for name in ("sshd.log", "wsgidav.log", "moto.log", "nats.log", "azurite.log", "gcs.log"):
                if (tmp / name).exists():
                    print(f"--- {name} (tail) ---\n" + "".join(
                        (tmp / name).read_text(errors="replace").splitlines(True)[-15:]),
                        file=sys.stderr)
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(summary, separators=(",", ":")), flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
