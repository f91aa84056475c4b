"""Benchmark the gradient checker on a complete assignment-2 ``layers.py``, one line per target.

    python -m scripts.bench_check_gradient [--repeats 3] [--num-dev 500]

The file is the 2024-style student fixture (``parity_tests/oracle_fixtures/
assignment2_2024/cs231n/layers.py``: naive, loop-based convolution and pooling) with its
unimplemented group norm filled in from ``groupnorm_layers.py``, so every layer of
assignment 2 is there: 13 targets (batch norm with both backwards, group norm under both
names). Each run checks the whole file as ``cs231n-check-gradient layers.py`` does, in
float64 and float32 on the cpu, CIFAR-10 already loaded; the table gives the median
seconds per target over ``--repeats`` runs and the total against the 60 s budget.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ref_torch.oracle import check_path
from ref_torch.oracle.api import load_dev_batch
from scripts.bench_env import blas_line
from scripts.cli import UsageError, add_cifar10_argument, command, int_at_least, positive_int

FIXTURES = Path(__file__).resolve().parents[1] / "parity_tests" / "oracle_fixtures"
LAYERS = FIXTURES / "assignment2_2024" / "cs231n" / "layers.py"
GROUPNORM = FIXTURES / "groupnorm_layers.py"
BUDGET_SECONDS = 60.0


def complete_layers(folder: Path) -> Path:
    """``layers.py`` with every layer implemented: the fixture, then group norm (a later
    definition replaces the starter code's)."""
    path = folder / "layers.py"
    path.write_text(LAYERS.read_text() + "\n\n" + GROUPNORM.read_text())
    return path


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=positive_int, default=3)
    parser.add_argument("--num-dev", type=int_at_least(2), default=500)
    add_cifar10_argument(parser)
    args = parser.parse_args(argv)
    if not LAYERS.is_file() or not GROUPNORM.is_file():
        raise UsageError(f"the fixtures are missing: {LAYERS}, {GROUPNORM}")
    print(blas_line())
    X, y = load_dev_batch(args.cifar10_dir, args.num_dev)
    seconds: dict[str, list[float]] = {}
    totals = []
    with tempfile.TemporaryDirectory() as folder:
        path = complete_layers(Path(folder))
        for _ in range(args.repeats):
            start = time.perf_counter()
            reports = check_path(path, X=X, y=y, devices=["cpu"])
            totals.append(time.perf_counter() - start)
            for report in reports:
                seconds.setdefault(report.target, []).append(report.seconds)
    verdicts = {r.target: r.verdict for r in reports}
    print(f"\n{len(seconds)} targets, float64 + float32, cpu, {args.num_dev} dev rows, "
          f"median of {args.repeats}")
    print(f"{'target':<46} {'verdict':<8} {'seconds':>8}")
    for target, times in seconds.items():
        print(f"{target:<46} {verdicts[target]:<8} {statistics.median(times):8.2f}")
    total = statistics.median(totals)
    print(f"{'whole file':<46} {'':<8} {total:8.2f}  ({total / BUDGET_SECONDS:.0%} of the "
          f"{BUDGET_SECONDS:.0f} s budget)")
    return 0 if all(v == "pass" for v in verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
