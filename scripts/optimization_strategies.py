"""Compare the notes' three optimization strategies at equal numbers of loss evaluations.

    python -m scripts.optimization_strategies [--num-evals 1000] [--num-train 5000]

The loss is the multiclass SVM loss without regularization (as in the CS231n
notes) on the first ``--num-train`` training images (their mean image subtracted, bias
column appended). Random search draws ``W = 1e-4 * randn``; random local
search starts from ``1e-3 * randn`` with step ``1e-4``; following the gradient
starts there too (gradient descent on the same images). Validation accuracy
of each strategy's kept W is plotted against the number of evaluations
(``optimization_strategies.png``). The notes report ~15.5% (random search) and
~21.4% (random local search) test accuracy after 1,000 tries each.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from scratch_numpy.linear_svm import svm_loss_vectorized
from scratch_numpy.preprocessing import linear_rows
from scratch_numpy.progress import progress
from scratch_numpy.optimization_strategies import (follow_gradient, random_local_search,
                                                   random_search)
from scratch_numpy.data import split_cifar10
from scripts.cli import add_cifar10_argument, command, load_data, output_folder, positive_int
from scripts.report import ReportContext, ResultRow, format_table, save_figure

NOTES_ACCURACY = {"random search": 0.155, "random local search": 0.214}
GRADIENT_LEARNING_RATE = 1e-6  # full-batch steps on mean-subtracted pixels; 1e-5 diverges


def compare(X_train, y_train, num_evals: int, seed: int = 0, snapshot_every: int = 50):
    """Run the three strategies with ``num_evals`` loss evaluations each; returns SearchRuns."""
    dim, num_classes = X_train.shape[1], 10
    bar = progress(None, "loss evaluations", total=3 * num_evals, unit="eval")

    def loss(W):
        bar.update()
        return svm_loss_vectorized(W, X_train, y_train, 0.0)[0]

    def loss_and_grad(W):
        bar.update()
        return svm_loss_vectorized(W, X_train, y_train, 0.0)

    W0 = 1e-3 * np.random.default_rng(seed).standard_normal((dim, num_classes))
    runs = [
        random_search(loss, (dim, num_classes), num_evals, scale=1e-4, seed=seed,
                      snapshot_every=snapshot_every),
        random_local_search(loss, W0, num_evals, step_size=1e-4, seed=seed + 1,
                            snapshot_every=snapshot_every),
        follow_gradient(loss_and_grad, W0, num_evals, GRADIENT_LEARNING_RATE,
                        snapshot_every=snapshot_every),
    ]
    bar.close()
    return runs


def accuracy_curves(runs, X, y):
    """{strategy: ([evaluations], [accuracy of the kept W on X, y])}."""
    return {run.name: ([e for e, _ in run.snapshots],
                       [float((np.argmax(X @ W, axis=1) == y).mean()) for _, W in run.snapshots])
            for run in runs}


def plot_curves(ctx, curves, split_name: str) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name, (evals, acc) in curves.items():
        ax.plot(evals, acc, marker=".", label=name)
    ax.axhline(0.1, color="grey", lw=0.8, ls=":", label="chance")
    ax.set_xlabel("loss evaluations")
    ax.set_ylabel(f"{split_name} accuracy")
    ax.set_title("optimization strategies, SVM loss (equal budgets)")
    ax.legend()
    return save_figure(fig, ctx, "optimization_strategies.png")


def run_comparison(ctx, num_evals: int, num_train: int, snapshot_every: int):
    """Rows of the results table: each strategy's final validation and test accuracy."""
    p = linear_rows(ctx.splits, num_train=num_train, dtype=np.float64)
    runs = compare(p.X_train[:num_train], p.y_train[:num_train], num_evals,
                   snapshot_every=snapshot_every)
    curves = accuracy_curves(runs, p.X_val, p.y_val)
    plot_curves(ctx, curves, "validation")
    rows = []
    for run in runs:
        test = float((np.argmax(p.X_test @ run.W, axis=1) == p.y_test).mean())
        notes = NOTES_ACCURACY.get(run.name)
        rows.append(ResultRow(
            "optimization", f"{run.name}, {num_evals} evals: val / test acc",
            f"{curves[run.name][1][-1]:.3f} / {test:.3f}",
            f"notes ~{notes:.3f}" if notes else ""))
    return rows


def report_section(ctx: ReportContext) -> list[ResultRow]:
    if ctx.quick:
        return run_comparison(ctx, num_evals=20, num_train=500, snapshot_every=5)
    return run_comparison(ctx, num_evals=1000, num_train=5000, snapshot_every=50)


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-evals", type=positive_int, default=1000)
    parser.add_argument("--num-train", type=positive_int, default=5000,
                        help="training images the loss is evaluated on")
    parser.add_argument("--out", type=output_folder, default="reports")
    add_cifar10_argument(parser)
    args = parser.parse_args(argv)
    data = load_data(args.cifar10_dir)
    ctx = ReportContext(data=data, splits=split_cifar10(data), out_dir=args.out)
    print(format_table(run_comparison(ctx, args.num_evals, args.num_train, 50)))
    print(f"plot written to {(args.out / 'optimization_strategies.png').resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
