"""GPU benchmark of the torch kNN: full-scale 1-NN on CUDA against the CPU reference.

    python -m scripts.bench_knn_cuda [--num-test 10000] [--l1-num-test 1000] [--repeats 3]

On 50,000 training and ``--num-test`` test images (float32 pixel rows), times
``ref_torch.knn.KNearestNeighbor(search="fast").predict`` on CUDA (L2: float32
screen plus float64 re-rank; L1: float32 ``cdist`` blocks) and checks its
predictions against the float64 oracle (``search="plain"``, the default: all
distances in float64, torch on the CPU) in the same run: they must be equal,
label for label. Prints the GPU time, the CPU oracle time and their ratio,
and the test accuracy. Needs a CUDA device.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

from ref_torch.knn import KNearestNeighbor as TorchKNN
from scripts.cli import add_cifar10_argument, command, load_data, positive_int
from scripts.report import ResultRow, format_table


def timed_cuda(fn, repeats: int) -> tuple[float, object]:
    """Median seconds of ``fn()`` over ``repeats`` synchronized runs, and its last result."""
    times, result = [], None
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        result = fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-test", type=positive_int, default=10_000)
    parser.add_argument("--l1-num-test", type=positive_int, default=1_000)
    parser.add_argument("--repeats", type=positive_int, default=3)
    add_cifar10_argument(parser)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        parser.error("needs a CUDA device: torch.cuda.is_available() is False")

    data = load_data(args.cifar10_dir)
    X_train = data.X_train.reshape(len(data.X_train), -1).astype(np.float32)
    X_test = data.X_test.reshape(len(data.X_test), -1).astype(np.float32)
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}; "
          f"{len(X_train)} train rows, tf32 matmul {torch.backends.cuda.matmul.allow_tf32}")

    table = []
    for metric, num_test in (("l2", args.num_test), ("l1", args.l1_num_test)):
        test = X_test[:num_test]
        gpu = TorchKNN(metric, device="cuda", dtype=np.float32, search="fast").train(X_train, data.y_train)
        gpu.predict(test[:64])  # warm-up: CUDA context, kernels
        gpu_s, gpu_pred = timed_cuda(lambda: gpu.predict(test).cpu().numpy(), args.repeats)

        # The plain float64 oracle: all distances in float64 on the CPU, stable sort.
        ref = TorchKNN(metric, device="cpu", search="plain").train(X_train, data.y_train)
        start = time.perf_counter()
        ref_pred = ref.predict(test, 1).numpy()
        cpu_s = time.perf_counter() - start

        same = bool(np.array_equal(gpu_pred, ref_pred))
        acc = float(np.mean(gpu_pred == data.y_test[:num_test]))
        label = f"{metric.upper()} 1-NN, {num_test} test"
        table += [
            ResultRow(label, "cuda predict, search='fast', seconds (median)", f"{gpu_s:.3f}"),
            ResultRow(label, "float64 oracle, search='plain', seconds (cpu)", f"{cpu_s:.2f}"),
            ResultRow(label, "oracle / cuda time ratio", f"{cpu_s / gpu_s:.1f}"),
            ResultRow(label, "cuda labels equal the float64 oracle", str(same), "True", same),
            ResultRow(label, "test accuracy", f"{acc:.4f}"),
        ]
    print(format_table(table))
    return 0 if all(row.ok is not False for row in table) else 1


if __name__ == "__main__":
    sys.exit(main())
