"""Every GPU check and benchmark in one command, and one results file.

    scripts/gpu_check [--out DIR] [--quick] [--only STEP ...] [--dry-run]

On a machine with a CUDA device this runs, each as its own process with a time
limit and a log: the environment (GPU, driver, torch, numpy), every
``cuda``-marked test, the parity of every loss kind on cuda in float64 and
float32 (the main job's parity section), one full two-layer training on cuda
and the same command on the CPU, the two-layer epoch benchmark (NumPy, torch
cpu, torch cuda), full-scale kNN on cuda against the float64 CPU
reference, the torch-step benchmark (idiomatic PyTorch, the twins eager and compiled,
images/s), the time the compiled fully-connected twin takes to 58% test accuracy (all of
CIFAR-10 needed: on the first batch alone it reports how far it got), the compiled
fully-connected training, and 8 compiled sweep trials sharing
one GPU against the same 8 one after another. It writes ``gpu_check.md`` (each step's status, time and final
table) and one log per step into ``--out`` ($OUT when set, else
``reports/gpu_check``). Exit status 0 when every step passed, 1 when one
failed, 2 when there is no CUDA device.

It needs the repository and CIFAR-10 only. Where just a few batch files could
be copied (a 64 MiB limit, say), set ``CIFAR10_TRAIN_BATCHES=1`` and copy
``data_batch_1``, ``test_batch`` and ``batches.meta``: every step then runs
on the 9,000/1,000 split of the first batch, and the results file says so.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from scratch_numpy.data import TRAIN_BATCHES_VARIABLE
from scripts.cli import command, output_folder


@dataclass(frozen=True)
class Step:
    name: str
    argv: tuple[str, ...]
    timeout_s: int
    what: str


def python(*args: str) -> tuple[str, ...]:
    return (sys.executable, *args)


def steps(out: Path, quick: bool) -> list[Step]:
    """The checks, in order (``quick``: fewer repeats and epochs, for a short lease)."""
    epochs = "2" if quick else "20"
    return [
        Step("environment", python("-c", ENVIRONMENT_PROBE), 60,
             "GPU, driver, torch and numpy versions"),
        Step("cuda_tests", python("-m", "pytest", "-m", "cuda", "--require-cifar", "-q",
                                  "-p", "no:cacheprovider"), 420, "every cuda-marked test"),
        Step("parity_on_cuda", python("-m", "scripts.reproduce", "--only", "data_report",
                                      "--device", "cuda", "--out", str(out / "report")), 300,
             "every loss kind, NumPy vs torch on cuda, float64 and float32"),
        Step("two_layer_train_cuda", python("-m", "scripts.two_layer_net", "train", "--backend",
                                            "torch", "--device", "cuda", "--epochs", epochs,
                                            "--out", str(out / "two_layer_cuda")), 600,
             f"the chosen two-layer net, {epochs} epochs, torch on cuda"),
        Step("two_layer_train_cpu", python("-m", "scripts.two_layer_net", "train", "--backend",
                                           "torch", "--device", "cpu", "--epochs", epochs,
                                           "--out", str(out / "two_layer_cpu")), 900,
             "the same command on the CPU"),
        Step("two_layer_bench", python("-m", "scripts.bench_two_layer_net", "--repeats",
                                       "2" if quick else "3", *(["--skip-time-to-50"] if quick else [])),
             600, "one epoch: numpy cpu, torch cpu, torch cuda"),
        Step("fc_net_train_cuda", python("-m", "scripts.fc_net", "train", "--backend", "torch",
                                         "--device", "cuda", "--epochs", "2" if quick else "30",
                                         "--out", str(out / "fc_net_cuda")), 600,
             "the chosen fully-connected net, torch on cuda"),
        Step("fc_net_bench", python("-m", "scripts.bench_fc_net", "--repeats", "2" if quick else "3",
                                    "--skip-two-layer"), 600,
             "one epoch of the fully-connected net: numpy cpu, torch cpu, torch cuda"),
        Step("knn_cuda", python("-m", "scripts.bench_knn_cuda", *(["--l1-num-test", "200"] if quick else [])),
             600, "full-scale 1-NN on cuda vs the float64 CPU reference"),
        Step("torch_step_bench", python("-m", "scripts.bench_torch_step", "--repeats",
                                        "2" if quick else "3"), 600,
             "images/s: idiomatic PyTorch, the twin eager, the twin compiled; GEMM bound"),
        Step("time_to_58_cuda", python("-m", "scripts.bench_torch_step", "--devices", "cuda",
                                       "--repeats", "1", "--time-to", "0.58"), 600,
             "seconds of compiled training until the fully-connected twin's test accuracy is 58%"),
        Step("fc_net_train_cuda_compiled", python(
            "-m", "scripts.fc_net", "train", "--backend", "torch", "--device", "cuda", "--compile",
            "--epochs", "2" if quick else "30", "--out", str(out / "fc_net_cuda_compiled")), 600,
             "the chosen fully-connected net, compiled (CUDA graphs), torch on cuda"),
        *(Step(f"sweep_gpu_{name}", python(
            "-m", "scripts.sweep", "two_layer_net", "--backend", "torch", "--compile",
            "--scheduler", "fifo", "--gpus-per-trial", share, "--num-samples", "1",
            "--space", "epochs=2", "learning_rate=grid:1e-4,2e-4,3e-4,4e-4", "reg=grid:0.01,0.03",
            "--out", str(out / "sweeps"), "--name", f"gpu-{name}"), 600,
             f"8 compiled two-layer trials, {what}") for name, share, what in (
            ("shared", "0.125", "sharing one GPU (0.125 each)"),
            ("alone", "1", "one after another (a whole GPU each)"))),
    ]


ENVIRONMENT_PROBE = """
import subprocess, numpy, torch
print("torch", torch.__version__, "| cuda", torch.version.cuda, "| numpy", numpy.__version__)
print("device:", torch.cuda.get_device_name() if torch.cuda.is_available() else "none")
try:
    print(subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                          "--format=csv,noheader"], capture_output=True, text=True).stdout.strip())
except FileNotFoundError:
    print("nvidia-smi not found")
"""


@dataclass
class Outcome:
    step: Step
    status: int | None  # None: timed out
    seconds: float
    log: Path

    @property
    def passed(self) -> bool:
        return self.status == 0


def run_step(step: Step, out: Path) -> Outcome:
    """Run one step; its output goes to ``out/<name>.log`` (and to our stdout)."""
    log = out / f"{step.name}.log"
    print(f"== {step.name}: {step.what}", flush=True)
    start = time.perf_counter()
    with log.open("w") as handle:
        try:
            status = subprocess.run(step.argv, stdout=handle, stderr=subprocess.STDOUT,
                                    timeout=step.timeout_s, env=dict(os.environ, PYTHONUNBUFFERED="1")).returncode
        except subprocess.TimeoutExpired:
            status = None
    outcome = Outcome(step, status, time.perf_counter() - start, log)
    verdict = "passed" if outcome.passed else ("TIMED OUT" if status is None else f"FAILED ({status})")
    print(f"== {step.name}: {verdict} in {outcome.seconds:.0f} s", flush=True)
    return outcome


def final_table(log: Path, max_lines: int = 30) -> str:
    """The last result table of a log (from its last header line on), else its last lines."""
    lines = [line.rstrip() for line in log.read_text(errors="replace").splitlines()]
    headers = [i for i, line in enumerate(lines) if line.startswith("section ")]
    tail = lines[headers[-1]:] if headers else lines[-max_lines:]
    return "\n".join(tail[-max_lines:])


def write_results(outcomes: list[Outcome], out: Path, subset: str | None) -> Path:
    """``out/gpu_check.md``: each step's verdict, time and final table."""
    parts = ["# GPU check", ""]
    if subset:
        parts += [f"Data: subset mode, {TRAIN_BATCHES_VARIABLE}={subset} (training batches "
                  "loaded); figures are on that split, not the full CIFAR-10.", ""]
    parts += ["| step | what | result | seconds |", "| --- | --- | --- | --- |"]
    for o in outcomes:
        result = "passed" if o.passed else ("timed out" if o.status is None else f"failed ({o.status})")
        parts.append(f"| {o.step.name} | {o.step.what} | {result} | {o.seconds:.0f} |")
    for o in outcomes:
        parts += ["", f"## {o.step.name}", "", "```", final_table(o.log), "```"]
    path = out / "gpu_check.md"
    path.write_text("\n".join(parts) + "\n")
    return path


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=output_folder,
                        default=os.environ.get("OUT") or "reports/gpu_check")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and epochs")
    parser.add_argument("--only", nargs="+", default=None, help="run only these steps")
    parser.add_argument("--dry-run", action="store_true", help="list the steps and exit")
    args = parser.parse_args(argv)

    plan = steps(args.out, args.quick)
    if args.only:
        unknown = set(args.only) - {s.name for s in plan}
        if unknown:
            parser.error(f"unknown steps {sorted(unknown)}; choose from {[s.name for s in plan]}")
        plan = [s for s in plan if s.name in args.only]
    if args.dry_run:
        for step in plan:
            shown = "(probe)" if step.argv[1] == "-c" else " ".join(step.argv[1:])
            print(f"{step.name:<22} {step.timeout_s:>4} s  {shown}")
        return 0
    if not cuda_available():
        print("error: no CUDA device visible to torch: nothing to check here", file=sys.stderr)
        return 2
    outcomes = [run_step(step, args.out) for step in plan]
    path = write_results(outcomes, args.out, os.environ.get(TRAIN_BATCHES_VARIABLE))
    failed = [o.step.name for o in outcomes if not o.passed]
    print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} steps passed; results in {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
