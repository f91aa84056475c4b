"""Benchmark: one training epoch of the fully-connected nets against the GEMM bound of their FLOPs.

    python -m scripts.bench_fc_net [--repeats 3] [--hidden 1000,1000,1000] [--skip-two-layer]
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m scripts.bench_fc_net   # other kernels

One epoch = 49,000 images in minibatches of 200, float32, SGD + momentum, flips:

* the chosen fully-connected net (``scripts.configs.FC_CHOSEN``, 3 hidden layers),
  NumPy vs torch-CPU (target: NumPy <= 1.2x torch's time), and on CUDA when present;
* the two-layer net (``NET_CHOSEN``), NumPy;

each against its GEMM bound: the time of exactly the matrix products of an
epoch (forward ``h @ W`` of every layer, ``h.T @ dz`` of every layer, ``dz @ W.T``
of every layer but the first), run back to back in NumPy into preallocated
outputs (target: epoch <= 1.3x the bound). Everything else in an epoch
(minibatch gather, flips, activations, softmax, the L2 term, the update) is the
overhead. Prints the BLAS library and kernel in use (threadpoolctl) and the
OpenBLAS variables, medians of ``--repeats`` runs taken in turns.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace

import numpy as np
import torch

from ref_torch.devices import available_devices
from scratch_numpy.data import NUM_CLASSES, NUM_FEATURES, split_cifar10
from scratch_numpy.preprocessing import network_rows, standardized_rows
from scripts.bench_env import blas_line, gemm_shapes
from scripts.cli import add_cifar10_argument, command, hidden_sizes, load_data, positive_int
from scripts.configs import FC_CHOSEN, NET_CHOSEN, train_fc_config, train_net_config
from scripts.report import ResultRow, format_table

RATIO_TARGET = 1.2  # NumPy / torch-CPU epoch time
BOUND_TARGET = 1.3  # epoch / GEMM bound


def gemm_bound(sizes: list[int], batch: int, steps: int, repeats: int = 5) -> tuple[float, float]:
    """(seconds, FLOPs) of one epoch's matrix products, median of ``repeats`` timings of
    20 steps scaled to ``steps``."""
    rng = np.random.default_rng(0)
    work = []
    for m, k, n, transposed in gemm_shapes(sizes, batch):
        a = rng.standard_normal((k, m) if transposed else (m, k)).astype(np.float32)
        work.append((a.T if transposed else a, rng.standard_normal((k, n)).astype(np.float32),
                     np.empty((m, n), dtype=np.float32)))
    flops = 2.0 * sum(m * k * n for m, k, n, _ in gemm_shapes(sizes, batch)) * steps
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(20):
            for a, b, out in work:
                np.matmul(a, b, out=out)
        times.append((time.perf_counter() - start) / 20 * steps)
    return statistics.median(times), flops


def epoch_seconds(train, ways, repeats) -> dict:
    """{way: [training seconds of one epoch per repeat]}, the ways taking turns."""
    times = {way: [] for way in ways}
    for seed in range(repeats):
        for way in ways:
            _, history = train(way, seed)
            times[way].append(history["train_seconds"][-1])
    return times


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=positive_int, default=3)
    parser.add_argument("--hidden", type=hidden_sizes, default=FC_CHOSEN.hidden_dims)
    parser.add_argument("--skip-two-layer", action="store_true")
    add_cifar10_argument(parser)
    args = parser.parse_args(argv)

    splits = split_cifar10(load_data(args.cifar10_dir))
    fc_rows = standardized_rows(splits)
    config = replace(FC_CHOSEN, hidden_dims=args.hidden, epochs=1)
    steps = len(fc_rows.y_train) // config.batch_size
    print(blas_line())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; fc net {config}")

    ways = [("numpy", "cpu"), ("torch", "cpu")] + ([("torch", "cuda")]
                                                   if "cuda" in available_devices() else [])
    fc_times = epoch_seconds(lambda way, seed: train_fc_config(fc_rows, config, *way, seed=seed,
                                                               progress=False), ways, args.repeats)
    sizes = [NUM_FEATURES, *config.hidden_dims, NUM_CLASSES]
    bound, flops = gemm_bound(sizes, config.batch_size, steps)
    table = [ResultRow("fc epoch", "FLOPs in matrix products", f"{flops / 1e12:.2f} TFLOP"),
             ResultRow("fc epoch", "GEMM bound (NumPy, back to back)",
                       f"{bound:.2f} s ({flops / bound / 1e9:.0f} GFLOP/s)")]
    medians = {}
    for (backend, device), times in fc_times.items():
        medians[backend, device] = median = statistics.median(times)
        table.append(ResultRow("fc epoch", f"{backend} {device}: s (median of {len(times)}), images/s",
                               f"{median:.2f} [{', '.join(f'{t:.2f}' for t in times)}], "
                               f"{len(fc_rows.y_train) / median:,.0f}"))
    ratio = medians["numpy", "cpu"] / medians["torch", "cpu"]
    table.append(ResultRow("fc epoch", "numpy / torch cpu", f"{ratio:.2f}", f"<= {RATIO_TARGET}",
                           ratio <= RATIO_TARGET))
    over = medians["numpy", "cpu"] / bound
    table.append(ResultRow("fc epoch", "numpy / GEMM bound", f"{over:.2f}", f"<= {BOUND_TARGET}",
                           over <= BOUND_TARGET))
    if not args.skip_two_layer:
        net_rows = network_rows(splits)
        net_config = replace(NET_CHOSEN, epochs=1)
        times = epoch_seconds(lambda way, seed: train_net_config(net_rows, net_config, *way,
                                                                 seed=seed, progress=False),
                              [("numpy", "cpu")], args.repeats)[("numpy", "cpu")]
        bound2, flops2 = gemm_bound([NUM_FEATURES, net_config.hidden_size, NUM_CLASSES],
                                    net_config.batch_size, steps)
        median = statistics.median(times)
        table += [
            ResultRow("two-layer epoch", "GEMM bound (FLOPs)", f"{bound2:.2f} s ({flops2 / 1e12:.2f} TFLOP)"),
            ResultRow("two-layer epoch", f"numpy cpu: s (median of {len(times)})",
                      f"{median:.2f} [{', '.join(f'{t:.2f}' for t in times)}]"),
            ResultRow("two-layer epoch", "numpy / GEMM bound", f"{median / bound2:.2f}",
                      f"<= {BOUND_TARGET}", median / bound2 <= BOUND_TARGET),
        ]
    print(format_table(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
