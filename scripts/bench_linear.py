"""Benchmark the linear losses and SGD training: NumPy naive vs vectorized vs torch CPU.

    python -m scripts.bench_linear [--repeats 7] [--threads N]

On the 500-image CIFAR-10 dev batch (bias column appended, W = 1e-4 * randn,
reg = 2.5e4), one table of medians over ``--repeats`` runs:

* naive vs vectorized NumPy loss + gradient, for the SVM and softmax;
* NumPy vectorized vs torch CPU autograd (forward + backward), float64 and
  float32 (the target: NumPy within 1.2x of torch, or faster);
* SGD training throughput (images/s), NumPy classifier vs torch.optim.SGD,
  batch 200, on 10,000 training images in float32.

Ratios compare two ways of doing the same work measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

from ref_torch.linear_classifier import TorchLinearSVM, TorchSoftmax
from ref_torch.linear_svm import svm_loss
from ref_torch.softmax import softmax_loss
from scratch_numpy.data import split_cifar10
from scratch_numpy.preprocessing import dev_batch, preprocess_splits
from scratch_numpy.linear_classifier import LinearSVM, Softmax
from scratch_numpy.linear_svm import svm_loss_naive, svm_loss_vectorized
from scratch_numpy.softmax import softmax_loss_naive, softmax_loss_vectorized
from scripts.bench_env import blas_line
from scripts.cli import add_cifar10_argument, command, load_data, positive_int

REG = 2.5e4


def median_seconds(fn, repeats: int, number: int = 1) -> float:
    """Median over ``repeats`` of the mean time of ``number`` calls (one warm-up call first)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def torch_forward_backward(loss_fn, W, X, y):
    """One autograd pass: returns a closure computing loss and dW from NumPy inputs."""
    W_t = torch.from_numpy(W).requires_grad_(True)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)

    def run():
        loss = loss_fn(W_t, X_t, y_t, REG)
        (grad,) = torch.autograd.grad(loss, [W_t])
        return float(loss.detach()), grad

    return run


def loss_rows(X, y, repeats):
    rows = []
    W = 1e-4 * np.random.default_rng(0).standard_normal((X.shape[1], 10))
    losses = {"svm": (svm_loss_naive, svm_loss_vectorized, svm_loss),
              "softmax": (softmax_loss_naive, softmax_loss_vectorized, softmax_loss)}
    for name, (naive, vectorized, torch_fn) in losses.items():
        t_naive = median_seconds(lambda: naive(W, X, y, REG), repeats)
        t_vec = median_seconds(lambda: vectorized(W, X, y, REG), repeats, number=10)
        rows.append((f"{name}: naive vs vectorized, float64", t_naive, t_vec,
                     "naive / vectorized"))
        for dtype in (np.float64, np.float32):
            Wd, Xd = W.astype(dtype), X.astype(dtype)
            t_np = median_seconds(lambda: vectorized(Wd, Xd, y, REG), repeats, number=10)
            t_torch = median_seconds(torch_forward_backward(torch_fn, Wd, Xd, y), repeats,
                                     number=10)
            rows.append((f"{name}: numpy vectorized vs torch cpu autograd, "
                         f"{np.dtype(dtype).name}", t_np, t_torch, "numpy / torch"))
    return rows


def training_rows(X, y, repeats, num_iters=100, batch_size=200):
    rows = []
    pairs = {"svm": (LinearSVM, TorchLinearSVM), "softmax": (Softmax, TorchSoftmax)}
    for name, (numpy_cls, torch_cls) in pairs.items():
        def numpy_run():
            clf = numpy_cls()
            clf.train(X, y, 1e-7, REG, num_iters, batch_size, seed=0)

        def torch_run():
            clf = torch_cls(device="cpu", dtype=np.float32)
            clf.train(X, y, 1e-7, REG, num_iters, batch_size, seed=0)

        images = num_iters * batch_size
        t_np = median_seconds(numpy_run, repeats)
        t_torch = median_seconds(torch_run, repeats)
        rows.append((f"{name}: SGD training, images/s (numpy | torch cpu)",
                     images / t_np, images / t_torch, "numpy / torch"))
    return rows


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=positive_int, default=7)
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="torch intra-op threads (default: torch's choice)")
    add_cifar10_argument(parser)
    args = parser.parse_args(argv)
    print(blas_line())
    if args.threads:
        torch.set_num_threads(args.threads)

    data = load_data(args.cifar10_dir)
    X_dev, y_dev = dev_batch(split_cifar10(data), bias_trick=True)
    small = split_cifar10(data, num_training=10_000, num_dev=0)
    train = preprocess_splits(small, bias_trick=True, dtype=np.float32)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}; "
          f"median of {args.repeats}; dev batch {X_dev.shape}")
    header = f"{'what':<62} {'first':>12} {'second':>12} {'ratio':>8}  ratio is"
    print(header)
    print("-" * len(header))
    for what, first, second, ratio_name in loss_rows(X_dev, y_dev, args.repeats):
        print(f"{what:<62} {first * 1e3:9.2f} ms {second * 1e3:9.2f} ms "
              f"{first / second:7.2f}x  {ratio_name}")
    for what, first, second, ratio_name in training_rows(train.X_train, train.y_train,
                                                         args.repeats):
        print(f"{what:<62} {first:12,.0f} {second:12,.0f} {first / second:7.2f}x  {ratio_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
