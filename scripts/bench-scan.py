#!/usr/bin/env python3
"""Benchmark: `lsenv scan` and `lsenv scan --history` on a generated git repository.

The repository has --files files (default 5 000) of ~2 KiB of source-like text in 100
directories, committed, then --commits more commits (default 20) that each change 5% of the
files, so the history holds several blobs per path. 20 LITESTREAM_* secret values (40
characters) come from the environment; one is planted base64-encoded in one file of the work
tree and one as it is in a file that a commit added and the next removed. Each command is first
checked to report those findings (exit 7) and no value, then timed --runs times (median and min,
wall clock, after that first run, which fills the page cache). `--history` is timed twice: with
the objects loose, as the commits left them, and packed by `git gc`; then, for comparison, git
alone reading every object of the packed history (`rev-list --objects --all | cat-file --batch`).

    python3 scripts/bench-scan.py [--files 5000] [--commits 20] [--runs 5] [--lsenv PATH]

Without --lsenv it measures the shipped build, from scripts/build-release.sh. Needs git.
"""

import argparse
import base64
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c", "init.defaultBranch=main"]


def git(repo, *args, stdin=None):
    subprocess.run(GIT + list(args), cwd=repo, check=True, input=stdin, stdout=subprocess.DEVNULL)


def text(rng, size):
    words = ["let", "value", "config", "return", "struct", "impl", "self", "match", "=>", "{", "}", ";", "fn"]
    lines, n = [], 0
    while n < size:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
        lines.append(line)
        n += len(line) + 1
    return "\n".join(lines) + "\n"


def make_repo(repo, files, commits, secrets):
    rng = random.Random(7)
    git(repo, "init", "-q")
    paths = [f"src/d{i % 100:03}/f{i:05}.rs" for i in range(files)]
    for path in paths:
        full = os.path.join(repo, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text(rng, 2048))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "initial")
    # A value added as it is, then removed: only --history can find it.
    with open(os.path.join(repo, "leak.txt"), "w") as f:
        f.write(f"key = {secrets[0]}\n")
    git(repo, "add", "leak.txt")
    git(repo, "commit", "-qm", "leak")
    git(repo, "rm", "-q", "leak.txt")
    git(repo, "commit", "-qm", "unleak")
    for c in range(commits):
        for path in rng.sample(paths, max(1, files // 20)):
            with open(os.path.join(repo, path), "a") as f:
                f.write(f"// change {c}\n")
        git(repo, "commit", "-qam", f"change {c}")
    # A value base64-encoded in the work tree (tracked, uncommitted change).
    with open(os.path.join(repo, paths[files // 2]), "a") as f:
        f.write(f'const BLOB: &str = "{base64.b64encode(secrets[1].encode()).decode()}";\n')
    return paths[files // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--commits", type=int, default=20)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--lsenv", help="the binary to time [default: scripts/build-release.sh]")
    args = ap.parse_args()
    lsenv = args.lsenv or subprocess.run(
        [os.path.join(ROOT, "scripts/build-release.sh")], check=True, capture_output=True, text=True
    ).stdout.strip()
    rng = random.Random(11)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    secrets = ["".join(rng.choice(alphabet) for _ in range(40)) for _ in range(20)]
    names = [f"LITESTREAM_SECRET_{i:02}" for i in range(20)]
    env = {"PATH": "/usr/bin:/bin", **dict(zip(names, secrets))}
    with tempfile.TemporaryDirectory() as repo:
        planted = make_repo(repo, args.files, args.commits, secrets)
        objects = len(subprocess.run(["git", "rev-list", "--objects", "--all"], cwd=repo,
                                   capture_output=True, text=True).stdout.splitlines())
        size = subprocess.run(["du", "-sh", "--apparent-size", "--exclude=.git", repo], capture_output=True, text=True).stdout.split()[0]
        print(f"repository: {args.files} files ({size} in the work tree), {args.commits + 3} commits, "
              f"{objects} objects reachable; 20 secret values")
        history = {f"{planted}:", ":leak.txt:1: LITESTREAM_SECRET_00 (as is)"}
        cases = [
            ("lsenv scan", [], {f"{planted}:"}),
            ("lsenv scan --history", ["--history"], history),
            # git gc: the objects in a pack, as in a cloned or long-lived repository.
            ("  the same, packed", ["--history"], history),
        ]
        for label, extra, expected in cases:
            if label.startswith("  "):
                git(repo, "gc", "-q")
            argv = [lsenv, "scan", *extra]
            first = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True)
            missing = [e for e in expected if e not in first.stdout]
            if first.returncode != 7 or missing or any(s in first.stdout + first.stderr for s in secrets):
                sys.exit(f"{label}: unexpected result (exit {first.returncode}):\n{first.stdout}{first.stderr}")
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                subprocess.run(argv, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                times.append(time.perf_counter() - start)
            print(f"{label:24} median {statistics.median(times) * 1000:8.1f} ms   min {min(times) * 1000:8.1f} ms"
                  f"   ({first.stderr.strip().splitlines()[-1]})")
        # What git alone takes to hand over every object of the history, packed.
        floor = "git rev-list --objects --all | cut -d' ' -f1 | git cat-file --batch --buffer >/dev/null"
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run(["sh", "-c", floor], cwd=repo, check=True)
            times.append(time.perf_counter() - start)
        print(f"{'  git alone, packed':24} median {statistics.median(times) * 1000:8.1f} ms   min {min(times) * 1000:8.1f} ms"
              f"   ({floor})")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
