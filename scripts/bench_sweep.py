"""Benchmark: the same 16 trials through ``scripts.sweep`` (Ray Tune) and through a plain loop.

    python -m scripts.bench_sweep [--model svm] [--num-iters 1000] [--only loop1 sweep1]

16 trials: a 4 x 4 grid of learning rate x reg for a linear classifier on the full
training split (49,000 rows, float32, 600 MB), ``--num-iters`` SGD steps of batch 500
each, NumPy backend. Each way runs as its own command, from data loading to the best
configuration retrained and tested once, so both do the same work:

* loop, 1 thread / 2 threads: a plain sequential loop over the same ``fit`` the
  trials run (``scripts.sweep.models``), BLAS limited to 1 or 2 threads;
* sweep, 1 CPU: ``scripts.sweep`` on a local Ray with 1 CPU, 1 trial at a time,
  1 thread each: against the 1-thread loop this is Ray's overhead (target <= 1.15);
* sweep, 2 CPUs: 2 trials at a time, 1 per core: what parallel trials buy.

Wall time is the whole command (process start, data, Ray's start, the trials, the
retraining). Memory is sampled every 0.2 s from ``/proc`` (Linux): the peak of the
summed PSS of the command and every process below it (Ray's object store is shared
memory, counted once), and the peak private memory (USS) of any single Ray worker: a
worker holding its own copy of the data would show the data's 574 MiB there on top of
its imports' (printed too).
The validation accuracies of the loop and the sweep must agree trial for trial (same
seeds): the check that both did the same work. The BLAS kernel is printed
(threadpoolctl); run it with and without ``OPENBLAS_CORETYPE`` to compare kernels.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from scripts.bench_env import blas_line
from scripts.cli import UsageError, add_cifar10_argument, command, positive_int

LEARNING_RATES = (1e-7, 3e-7, 1e-6, 3e-6)
WAYS = {"loop1": "loop, 1 thread", "loop2": "loop, 2 threads",
        "sweep1": "sweep, 1 CPU (1 trial at a time)",
        "sweep2": "sweep, 2 CPUs (2 trials at a time)"}
REGS = (1e2, 3e2, 1e3, 1e4)


def memory_kib(pid: int) -> tuple[int, int]:
    """(PSS, USS) of one process in KiB, from /proc/PID/smaps_rollup; (0, 0) if it ended."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    fields = {line.split(":")[0]: int(line.split()[1]) for line in text.splitlines()[1:]}
    return fields.get("Pss", 0), fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def is_ray_worker(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::")
    except OSError:
        return False


def run_measured(argv: list[str], env: dict) -> dict:
    """Run ``argv``; wall seconds, peak summed PSS of its process tree, peak worker USS (MiB)."""
    peak = {"pss": 0, "worker_uss": 0}
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)

    def sample():
        while proc.poll() is None:
            tree = process_tree(proc.pid)
            usage = {pid: memory_kib(pid) for pid in tree}
            peak["pss"] = max(peak["pss"], sum(pss for pss, _ in usage.values()))
            workers = [uss for pid, (_, uss) in usage.items() if is_ray_worker(pid)]
            peak["worker_uss"] = max([peak["worker_uss"], *workers])
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = proc.communicate()[0]
    seconds = time.perf_counter() - start
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{output[-3000:]}")
    return {"seconds": seconds, "pss_mib": peak["pss"] / 1024,
            "worker_uss_mib": peak["worker_uss"] / 1024, "output": output}


def imports_uss_mib() -> float:
    """Private memory of a fresh process that imports what a trial imports, and holds no data."""
    code = ("import os, scripts.sweep.trial; from scripts.bench_sweep import memory_kib; "
            "print(memory_kib(os.getpid())[1])")
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True).stdout) / 1024


def run_loop(args) -> int:
    """The plain sequential loop (a child process of the benchmark): prints a JSON result."""
    from threadpoolctl import threadpool_limits

    from scratch_numpy.data import split_cifar10
    from scripts.cli import load_data
    from scripts.sweep.models import MODELS, accuracy, full_config, sweep_rows

    threadpool_limits(args.threads)
    model = MODELS[args.model]
    data, (X_test, y_test) = sweep_rows(model, split_cifar10(load_data(args.cifar10_dir)))
    results, start = [], time.monotonic()
    for lr, reg in itertools.product(LEARNING_RATES, REGS):
        config = full_config(model, {"learning_rate": lr, "reg": reg, "num_iters": args.num_iters})
        fitted = model.fit(data, config, "numpy", "cpu", 0, lambda history: False)
        results.append({"learning_rate": lr, "reg": reg,
                        "val_acc": accuracy(fitted, data.X_val, data.y_val)})
    trials = time.monotonic() - start
    best = max(results, key=lambda r: r["val_acc"])
    config = full_config(model, {"learning_rate": best["learning_rate"], "reg": best["reg"],
                                 "num_iters": args.num_iters})
    final = model.fit(data, config, "numpy", "cpu", 0, lambda history: False)
    print(f"time: trials {trials:.1f} s, retraining {time.monotonic() - start - trials:.1f} s")
    print(json.dumps({"trials": results, "test_acc": accuracy(final, X_test, y_test)}))
    return 0


def sweep_argv(args, cpus: int, out: Path, name: str) -> list[str]:
    grid = [f"learning_rate=grid:{','.join(map(str, LEARNING_RATES))}",
            f"reg=grid:{','.join(map(str, REGS))}", f"num_iters={args.num_iters}"]
    return [sys.executable, "-m", "scripts.sweep", args.model, "--space", *grid,
            "--num-cpus", str(cpus), "--cpus-per-trial", "1", "--out", str(out), "--name", name,
            *(["--cifar10-dir", args.cifar10_dir] if args.cifar10_dir else [])]


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["svm", "softmax"], default="svm")
    parser.add_argument("--num-iters", type=positive_int, default=1000, help="SGD steps per trial")
    parser.add_argument("--out", type=Path, default=None,
                        help="sweep folders (default: a temporary folder)")
    parser.add_argument("--only", nargs="+", choices=list(WAYS), default=list(WAYS),
                        help="run these ways only (the ratios need loop1)")
    parser.add_argument("--run-loop", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=positive_int, default=1, help=argparse.SUPPRESS)
    add_cifar10_argument(parser)
    args = parser.parse_args(argv)
    if args.run_loop:
        return run_loop(args)

    print(blas_line())
    print(f"{args.model}: 16 trials ({len(LEARNING_RATES)} learning rates x {len(REGS)} regs), "
          f"{args.num_iters} steps of batch 500 each, 49,000 training rows; {os.cpu_count()} CPUs",
          flush=True)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_sweep-"))
    loop = [sys.executable, "-m", "scripts.bench_sweep", "--run-loop", "--model", args.model,
            "--num-iters", str(args.num_iters),
            *(["--cifar10-dir", args.cifar10_dir] if args.cifar10_dir else [])]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    ways = {  # label -> (command, the sweep's folder name or None for a loop)
        WAYS["loop1"]: (loop + ["--threads", "1"], None),
        WAYS["loop2"]: (loop + ["--threads", "2"], None),
        WAYS["sweep1"]: (sweep_argv(args, 1, out, f"cpu1-{stamp}"), f"cpu1-{stamp}"),
        WAYS["sweep2"]: (sweep_argv(args, 2, out, f"cpu2-{stamp}"), f"cpu2-{stamp}"),
    }
    ways = {label: way for label, way in ways.items()
            if label in {WAYS[name] for name in args.only}}
    if WAYS["loop1"] not in ways:
        raise UsageError("the ratios are against the 1-thread loop: keep loop1 in --only")
    results, accuracies = {}, {}
    for label, (command_argv, sweep_name) in ways.items():
        print(f"running: {label}", flush=True)
        results[label] = run_measured(command_argv, env)
        if sweep_name is None:
            trials = json.loads(results[label]["output"].strip().splitlines()[-1])["trials"]
        else:
            trials = [{"learning_rate": r["config"]["learning_rate"], "reg": r["config"]["reg"],
                       "val_acc": r["val_acc"]}
                      for r in json.loads((out / sweep_name / "trials.json").read_text())]
        accuracies[label] = {(t["learning_rate"], t["reg"]): t["val_acc"] for t in trials}

    reference = accuracies[WAYS["loop1"]]
    base = results[WAYS["loop1"]]["seconds"]
    print("\n| way | wall seconds | / loop 1 thread | peak PSS, all processes (MiB) "
          "| peak USS of one Ray worker (MiB) | val accuracies = loop's |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, r in results.items():
        same = max(abs(accuracies[label][k] - v) for k, v in reference.items())
        worker = f"{r['worker_uss_mib']:.0f}" if label.startswith("sweep") else "-"
        print(f"| {label} | {r['seconds']:.1f} | {r['seconds'] / base:.2f} | {r['pss_mib']:.0f} "
              f"| {worker} | {'yes' if same < 1e-9 else f'no (max diff {same:.3f})'} |")
    if WAYS["sweep1"] in results:
        overhead = results[WAYS["sweep1"]]["seconds"] / base
        print(f"\nRay's overhead (sweep 1 CPU / loop 1 thread): {overhead:.2f} (target <= 1.15)")
    if WAYS["sweep2"] in results:
        parallel = results[WAYS["sweep2"]]["seconds"]
        print(f"parallel trials: sweep 2 CPUs is {base / parallel:.2f}x the 1-thread loop's speed"
              + (f", {results[WAYS['loop2']]['seconds'] / parallel:.2f}x the 2-thread loop's"
                 if WAYS["loop2"] in results else ""))
    print("\nwhere the time goes (each command's own 'time:' line; the rest of its wall time "
          "is the process start, imports and the data):")
    for label, r in results.items():
        line = next((l for l in r["output"].splitlines() if l.startswith("time: ")), "time: -")
        print(f"  {label}: {line[6:]}")
    print(f"training rows: {49_000 * 3073 * 4 / 2**20:.0f} MiB (float32); a process with a trial's "
          f"imports and no data: {imports_uss_mib():.0f} MiB private; sweep folders in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
