"""Benchmark: students graded per minute, sandbox on and off, local Ray and a 2-node cluster.

    python -m scripts.bench_grade [--num-cpus 2] [--no-cluster]

One run, one class: the demo class's students that are safe to run without a sandbox
(``scripts/grade/demo_class.py`` less its hostile ones: 19 students, every kind of
assignment 1 to 3, correct, with mistakes and not implemented), graded by
``cs231n-grade`` three ways on the same CPUs:

* sandbox on (bubblewrap + limits), local Ray on ``--num-cpus``;
* sandbox off (``--no-sandbox``: limits only), the same: the ratio on/off is the
  sandbox's cost;
* a two-node Ray cluster on this machine (``ray start --head`` and a second node joined
  to it, ``--num-cpus`` split between them), sandbox on, through ``--address``: the
  cost of shipping the packages and submissions through a cluster.

Each prints students per minute and its ratio to the first; the rows of the three runs
must agree (the verdicts do not depend on how they ran).
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts.bench_env import blas_line
from scripts.grade import command, demo_class


def safe_class(folder: Path) -> int:
    demo = folder / "demo"
    demo_class.build(demo, zip_bomb=False)
    klass = folder / "class"
    klass.mkdir()
    for entry in demo.iterdir():
        if not entry.name.startswith("hostile_"):
            shutil.move(str(entry), klass / entry.name)
    return len(list(klass.iterdir()))


def grade(klass: Path, out: Path, *extra: str) -> float:
    start = time.perf_counter()
    code = command.main([str(klass), "--out", str(out), *extra])
    if code != 0:
        raise SystemExit(f"cs231n-grade exited {code}")
    return time.perf_counter() - start


def rows(book: Path) -> list[tuple]:
    with open(book / "gradebook.csv", newline="") as f:
        return sorted((r["student"], r["target"], r["verdict"]) for r in csv.DictReader(f))


def cluster_grade(klass: Path, out: Path, num_cpus: int) -> float:
    """Grade through a two-node Ray cluster started here (stopped afterwards)."""
    ray = str(Path(sys.executable).with_name("ray"))
    head_cpus = max(1, num_cpus // 2)
    subprocess.run([ray, "start", "--head", "--port", "6390", "--num-cpus", str(head_cpus),
                    "--include-dashboard", "false"], check=True, capture_output=True)
    try:
        subprocess.run([ray, "start", "--address", "127.0.0.1:6390",
                        "--num-cpus", str(max(1, num_cpus - head_cpus))],
                       check=True, capture_output=True)
        return grade(klass, out, "--address", "127.0.0.1:6390")
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--no-cluster", action="store_true", help="skip the two-node cluster")
    args = parser.parse_args(argv)
    print(blas_line())
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        tmp = Path(tmp)
        students = safe_class(tmp)
        cpus = ["--num-cpus", str(args.num_cpus)]
        runs = {"sandbox on, local Ray": grade(tmp / "class", tmp / "on", *cpus),
                "sandbox off, local Ray": grade(tmp / "class", tmp / "off", "--no-sandbox", *cpus)}
        books = {"sandbox on, local Ray": tmp / "on", "sandbox off, local Ray": tmp / "off"}
        if not args.no_cluster:
            runs["sandbox on, 2-node cluster"] = cluster_grade(tmp / "class", tmp / "cluster",
                                                               args.num_cpus)
            books["sandbox on, 2-node cluster"] = tmp / "cluster"
        same = len({tuple(rows(b)) for b in books.values()}) == 1
        first = next(iter(runs.values()))
        print(f"\n{students} students, {args.num_cpus} CPUs")
        print(f"{'run':<28} {'seconds':>8} {'students/min':>13} {'ratio':>6}")
        for name, seconds in runs.items():
            print(f"{name:<28} {seconds:8.1f} {60 * students / seconds:13.1f} "
                  f"{seconds / first:6.2f}")
        off = runs["sandbox off, local Ray"]
        print(f"sandbox cost (on / off): {first / off:.2f}x (target <= 1.3)")
        print(f"rows identical across runs: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
