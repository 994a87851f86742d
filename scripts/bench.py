#!/usr/bin/env python3
"""Benchmark: what does `lsenv exec -- true` cost over a bare exec chain?

Measures, in one run on this machine:
  floor  `env -i A=1 true`   one spawn of a tiny program that execs another
  lsenv  `lsenv exec -- true` in a temporary Rails-style project whose
         config/credentials.yml.enc (written by the real ActiveSupport, via
         tests/support/rails_oracle.rb) holds ~20 keys under `litestream:`
Both run with the environment {PATH: /usr/bin:/bin} and the same spawn method
(os.posix_spawn + os.waitpid), interleaved ABBA so machine noise hits both.

Peak RSS comes from wait4()'s ru_maxrss, but NOT taken from Python: Linux
carries a process's high-water mark across execve, and a child spawned by a
~10 MB Python starts out with Python's mark, which would swamp both figures.
A tiny C launcher (compiled here with cc; GNU `time -f %M` as a fallback)
spawns the command and reports its wait4() ru_maxrss, so the inherited part
is only the launcher's ~1 MB (shown as "launcher baseline").

    python3 scripts/bench.py [--runs 300] [--warmup 30] [--keys 20]
                             [--lsenv target/release/lsenv] [--json]

Targets: median ratio lsenv/floor <= 1.5, lsenv peak RSS <= 10 MiB. MISS is
reported but exits 0; a non-zero exit means something failed to run.
Needs Python 3.11 stdlib, Ruby with ActiveSupport, cargo (unless --lsenv), cc.
Without --lsenv it measures the shipped build, from scripts/build-release.sh.
"""

import argparse
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ORACLE = REPO / "tests" / "support" / "rails_oracle.rb"
MIN_PATH = "/usr/bin:/bin"  # the minimal environment both commands get
CHILD_ENV = {"PATH": MIN_PATH}
RATIO_TARGET = 1.5
RSS_TARGET_KIB = 10 * 1024  # 10 MiB

# Realistic Litestream settings; more keys (--keys) become extra_NN.
KEY_NAMES = [
    "access_key_id", "secret_access_key", "bucket", "region", "endpoint",
    "path", "sync_interval", "retention", "retention_check_interval",
    "snapshot_interval", "validation_interval", "force_path_style",
    "skip_verify", "age_identity", "age_recipient", "sftp_host", "sftp_user",
    "sftp_password", "sftp_key_path", "gcs_bucket",
]

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


def build_lsenv():
    """The shipped build (scripts/build-release.sh prints the binary's path)."""
    if not shutil.which("cargo"):
        raise Failure("cargo not found; build lsenv yourself and pass --lsenv PATH")
    proc = run_checked([str(REPO / "scripts" / "build-release.sh")], "scripts/build-release.sh", cwd=REPO)
    return Path(proc.stdout.decode().strip().splitlines()[-1])


def make_project(root, n_keys):
    """A Rails-style project: config/credentials.yml.enc + config/master.key, by real ActiveSupport."""
    if not shutil.which("ruby"):
        raise Failure("ruby not found: it is needed to write the credentials with the real "
                      "ActiveSupport (install ruby and ruby-activesupport)")
    names = KEY_NAMES[:n_keys] + [f"extra_{i:02d}" for i in range(len(KEY_NAMES), n_keys)]
    # Quoted values: YAML must not turn any hex token into a number or a bool.
    lines = [
        "# aws:",
        "#   access_key_id: 123",
        "",
        "# Used as the base secret for all MessageVerifiers in Rails, including the one protecting cookies.",
        f"secret_key_base: {secrets.token_hex(64)}",
        "",
        "litestream:",
        *(f'  {name}: "{secrets.token_urlsafe(30)}"' for name in names),
        "",
    ]
    config = root / "config"
    config.mkdir()
    enc, key = config / "credentials.yml.enc", config / "master.key"
    # RAILS_MASTER_KEY would override the key file the oracle creates.
    env = {k: v for k, v in os.environ.items() if k != "RAILS_MASTER_KEY"}
    run_checked(["ruby", str(ORACLE), "write", str(enc), str(key)],
                "writing credentials with ActiveSupport (rails_oracle.rb)",
                input="\n".join(lines).encode(), env=env)
    return {"LITESTREAM_" + name.upper() for name in names}


def check_lsenv(lsenv, project, expected):
    """Make sure we time a real decrypt: `lsenv exec -- env` must print exactly the expected names."""
    proc = run_checked([str(lsenv), "exec", "--", "env"], "lsenv exec -- env",
                       cwd=project, env=CHILD_ENV)
    got = {line.split("=", 1)[0] for line in proc.stdout.decode().splitlines()}
    if got != expected:
        raise Failure(f"lsenv exec -- env gave {sorted(got)}, expected {sorted(expected)}")


def spawn_wait_ns(argv, devnull):
    """One timed run: posix_spawn (vfork-based, cheapest from Python) + waitpid."""
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, CHILD_ENV, file_actions=[
        (os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)])
    _, status = os.waitpid(pid, 0)
    t1 = time.perf_counter_ns()
    if os.waitstatus_to_exitcode(status) != 0:
        raise Failure(f"{shlex.join(argv)} exited with status {os.waitstatus_to_exitcode(status)}")
    return t1 - t0


def time_both(cmds, project, runs, warmup):
    """Warm-up, then interleaved runs in ABBA order so drift and ordering hit both equally."""
    samples = {name: [] for name in cmds}
    names = list(cmds)
    os.chdir(project)  # posix_spawn has no cwd argument; both commands run here
    with open(os.devnull, "wb") as null:
        fd = null.fileno()
        for _ in range(warmup):
            for name in names:
                spawn_wait_ns(cmds[name], fd)
        for i in range(runs):
            for name in (names if i % 2 == 0 else names[::-1]):
                samples[name].append(spawn_wait_ns(cmds[name], fd))
    return samples


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
            raise Failure("peak RSS needs cc (for a tiny wait4 launcher) or GNU time; found neither")

    def once(self, argv, cwd):
        if self.prefix:
            out = run_checked(self.prefix + argv, f"RSS run of {shlex.join(argv)}",
                              cwd=cwd, env=CHILD_ENV).stdout.split()
            status, kib = int(out[0]), int(out[1])
            if os.waitstatus_to_exitcode(status) != 0:
                raise Failure(f"RSS run of {shlex.join(argv)} exited with wait status {status}")
            return kib
        run_checked([self.gnu_time, "-f", "%M", "-o", str(self.out), *argv],
                    f"RSS run of {shlex.join(argv)}", cwd=cwd, env=CHILD_ENV)
        return int(self.out.read_text().split()[-1])

    def peak(self, argv, cwd, runs):
        return max(self.once(argv, cwd) for _ in range(runs))


def summary(ns):
    ms = sorted(x / 1e6 for x in ns)
    p90 = ms[math.ceil(0.9 * len(ms)) - 1]  # nearest-rank
    return {"min_ms": ms[0], "median_ms": statistics.median(ms), "p90_ms": p90,
            "mean_ms": statistics.fmean(ms), "n": len(ms)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=300, help="timed runs of each command (default 300)")
    ap.add_argument("--warmup", type=int, default=30, help="untimed runs of each first (default 30)")
    ap.add_argument("--rss-runs", type=int, default=5, help="runs for peak RSS, max taken (default 5)")
    ap.add_argument("--keys", type=int, default=20, help="keys in the litestream: section (default 20)")
    ap.add_argument("--lsenv", type=Path, help="use this binary instead of building the release one")
    ap.add_argument("--json", action="store_true", help="also print a JSON object")
    args = ap.parse_args()
    if args.runs < 1 or args.warmup < 0 or args.rss_runs < 1 or args.keys < 1:
        ap.error("--runs, --rss-runs and --keys must be >= 1, --warmup >= 0")

    lsenv = (args.lsenv or build_lsenv()).resolve()
    if not os.access(lsenv, os.X_OK):
        raise Failure(f"{lsenv} is not an executable file")
    version = run_checked([str(lsenv), "--version"], "lsenv --version").stdout.decode().strip()
    env_bin, true_bin = shutil.which("env", path=MIN_PATH), shutil.which("true", path=MIN_PATH)
    if not (env_bin and true_bin):
        raise Failure(f"env and true must be on {MIN_PATH}")
    cmds = {
        "floor": [env_bin, "-i", "A=1", "true"],
        "lsenv": [str(lsenv), "exec", "--", "true"],
    }

    with tempfile.TemporaryDirectory(prefix="lsenv-bench-") as tmp:
        tmp = Path(tmp)
        project = tmp / "app"
        project.mkdir()
        expected = make_project(project, args.keys)
        check_lsenv(lsenv, project, expected)
        meter = RssMeter(tmp)
        baseline = meter.peak([true_bin], project, args.rss_runs)
        rss = {name: meter.peak(argv, project, args.rss_runs) for name, argv in cmds.items()}
        start = time.monotonic()
        samples = time_both(cmds, project, args.runs, args.warmup)
        elapsed = time.monotonic() - start
        os.chdir(REPO)  # leave the temp dir before it is removed

    stats = {name: summary(ns) | {"peak_rss_kib": rss[name]} for name, ns in samples.items()}
    ratio = stats["lsenv"]["median_ms"] / stats["floor"]["median_ms"]
    overhead = stats["lsenv"]["median_ms"] - stats["floor"]["median_ms"]
    ratio_ok, rss_ok = ratio <= RATIO_TARGET, rss["lsenv"] <= RSS_TARGET_KIB
    invocation = shlex.join([Path(sys.executable).name, *sys.argv])

    print(f"command:   {invocation}")
    print(f"system:    kernel {platform.release()}, nproc {len(os.sched_getaffinity(0))}, "
          f"Python {platform.python_version()}")
    print(f"lsenv:     {version} ({lsenv})")
    print(f"project:   {args.keys} keys under litestream: + secret_key_base, env {CHILD_ENV}")
    print(f"timing:    {args.warmup} warm-up + {args.runs} interleaved runs each, "
          f"posix_spawn+waitpid, {elapsed:.1f}s")
    print(f"rss:       max of {args.rss_runs} runs, {meter.method}; "
          f"launcher baseline (plain `true`) {baseline / 1024:.2f} MiB")
    print()
    print(f"{'':6} {'min ms':>8} {'median':>8} {'p90':>8} {'peak RSS':>10}  command")
    for name, s in stats.items():
        print(f"{name:6} {s['min_ms']:8.3f} {s['median_ms']:8.3f} {s['p90_ms']:8.3f} "
              f"{s['peak_rss_kib'] / 1024:6.2f} MiB  {shlex.join(cmds[name])}")
    print()
    print(f"median ratio lsenv/floor: {ratio:.2f}x  (target <= {RATIO_TARGET}x)  "
          f"{'PASS' if ratio_ok else 'MISS'}   median overhead +{overhead:.3f} ms")
    print(f"lsenv peak RSS: {rss['lsenv'] / 1024:.2f} MiB  (target <= {RSS_TARGET_KIB // 1024} MiB)  "
          f"{'PASS' if rss_ok else 'MISS'}")

    if args.json:
        print(json.dumps({
            "command": invocation, "kernel": platform.release(),
            "nproc": len(os.sched_getaffinity(0)), "lsenv_version": version,
            "runs": args.runs, "warmup": args.warmup, "keys": args.keys,
            "rss_method": meter.method, "rss_launcher_baseline_kib": baseline,
            "commands": {name: shlex.join(argv) for name, argv in cmds.items()},
            "floor": stats["floor"], "lsenv": stats["lsenv"],
            "median_ratio": ratio, "median_overhead_ms": overhead,
            "ratio_target": RATIO_TARGET, "ratio_pass": ratio_ok,
            "rss_target_kib": RSS_TARGET_KIB, "rss_pass": rss_ok,
        }, indent=None))


if __name__ == "__main__":
    try:
        main()
    except Failure as err:
        print(f"bench: error: {err}", file=sys.stderr)
        sys.exit(1)
