"""Benchmark: where the time of one NumPy two-layer training step goes, part by part.

    python -m scripts.bench_step_parts [--steps 200]
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m scripts.bench_step_parts

The step of ``scripts.configs.NET_CHOSEN`` (3072 - 1000 - 10, batch 200, float32, ReLU,
flips, L2, SGD + momentum) cut into its parts, each timed alone on real CIFAR-10 rows
with the functions training calls, median milliseconds over ``--steps`` steps; then the
whole step as ``Solver`` runs it. The matrix products are the GEMM bound's share; every
other line is overhead. Prints the BLAS kernel in use.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from scratch_numpy.data import split_cifar10
from scratch_numpy.layers import add_l2_term, relu_backward, relu_forward, softmax_loss
from scratch_numpy.overflow import finite_result
from scratch_numpy.preprocessing import network_rows, random_flips
from scratch_numpy.solver import BLOCK, Solver
from scratch_numpy.two_layer_net import TwoLayerNet
from scripts.bench_env import blas_line
from scripts.cli import add_cifar10_argument, command, load_data, positive_int
from scripts.configs import NET_CHOSEN
from scripts.report import ResultRow, format_table


def step_parts(net: TwoLayerNet, solver: Solver, X, y, idx, rng) -> dict[str, float]:
    """{part: seconds} of one training step, the parts run in training's order."""
    p, reg, times = net.params, NET_CHOSEN.reg, {}

    def timed(name, f, *args):
        start = time.perf_counter()
        out = f(*args)
        times[name] = times.get(name, 0.0) + time.perf_counter() - start
        return out

    Xb = timed("gather X[idx] (200 x 3072)", lambda: X[idx])
    Xb = timed("flips", random_flips, Xb, rng)
    z = timed("GEMM X @ W1", np.matmul, Xb, p["W1"])
    h = timed("bias + ReLU forward", lambda: relu_forward(z + p["b1"])[0])
    scores = timed("GEMM h @ W2 (+ b2)", lambda: h @ p["W2"] + p["b2"])
    timed("softmax loss (+ finite check)", lambda: np.isfinite(scores).all())
    loss, dscores = timed("softmax loss (+ finite check)", softmax_loss, scores, y[idx])
    dh = timed("GEMM dscores @ W2.T", lambda: dscores @ p["W2"].T)
    dW2 = timed("GEMM h.T @ dscores", lambda: h.T @ dscores)
    db2 = dscores.sum(axis=0)
    dz = timed("ReLU backward", relu_backward, dh, h)  # h > 0 exactly where z + b1 > 0
    dW1 = timed("GEMM X.T @ dz (dW1)", lambda: Xb.T @ dz)
    db1 = timed("db1 = sum dz", lambda: dz.sum(axis=0))
    timed("L2 terms (W1, W2)",
          lambda: add_l2_term(p["W1"], dW1, reg) + add_l2_term(p["W2"], dW2, reg))
    grads = {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
    timed("finite check of loss and grads", finite_result, loss, grads)
    timed("momentum update", solver._step, grads, NET_CHOSEN.learning_rate)
    return times


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=positive_int, default=200)
    add_cifar10_argument(parser)
    args = parser.parse_args(argv)
    print(blas_line())
    rows = network_rows(split_cifar10(load_data(args.cifar10_dir)))
    X, y = rows.X_train, rows.y_train
    config = NET_CHOSEN
    net = TwoLayerNet(X.shape[1], config.hidden_size, 10, std=config.std, seed=0, dtype=np.float32)
    rng = np.random.default_rng(0)
    batches = rng.integers(0, len(y), size=(args.steps, config.batch_size))
    solver = Solver(net.params, lambda Xb, yb: net._loss_and_grads(Xb, yb, config.reg), X, y,
                    rows.X_val, rows.y_val, predict_fn=net.predict, update_rule="sgd_momentum",
                    learning_rate=config.learning_rate, momentum=config.momentum,
                    batch_size=config.batch_size, num_iters=args.steps, batches=batches, rng=rng,
                    augment=random_flips)
    # What Solver.train sets up before its first step, for timing the update alone.
    solver.velocity = {k: np.zeros_like(v) for k, v in net.params.items()}
    solver._scratch = np.empty(BLOCK, dtype=np.float32)
    parts: dict[str, list[float]] = {}
    for idx in batches:
        for name, seconds in step_parts(net, solver, X, y, idx, rng).items():
            parts.setdefault(name, []).append(seconds)
    whole = solver.train()["train_seconds"][-1] / args.steps  # evaluations excluded

    table, gemm, total = [], 0.0, 0.0
    for name, seconds in parts.items():
        median = statistics.median(seconds)
        total += median
        gemm += median if name.startswith("GEMM") else 0.0
        table.append(ResultRow("step part", name, f"{median * 1e3:.2f} ms"))
    table += [ResultRow("step", "sum of the parts: GEMM / other", f"{gemm * 1e3:.2f} / "
                        f"{(total - gemm) * 1e3:.2f} ms"),
              ResultRow("step", "whole step in Solver.train (mean, evaluations excluded)",
                        f"{whole * 1e3:.2f} ms"),
              ResultRow("step", "rest: whole step (mean) - sum of the parts (medians)",
                        f"{(whole - total) * 1e3:.2f} ms")]
    print(format_table(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
