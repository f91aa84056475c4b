"""Train the linear SVM and softmax classifiers on CIFAR-10; search their hyperparameters.

    python -m scripts.linear_classifiers                  # chosen hyperparameters
    python -m scripts.linear_classifiers --search         # learning rate x reg grid
    python -m scripts.linear_classifiers --search --classifier svm --num-iters 1500

Data: the assignment's splits (49,000 train / 1,000 val / 10,000 test),
training-mean image subtracted, bias column appended, float32. The search
trains one model per (learning rate, reg) pair on the training split, picks
the best validation accuracy, and reports that model's test accuracy.

PNGs in ``--out``: ``linear_<name>_loss.png`` (minibatch loss curve),
``linear_<name>_templates.png`` (the 10 learned class templates),
``linear_<name>_search.png`` (validation-accuracy heat map, with --search).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

from scratch_numpy.data import Splits, split_cifar10
from scratch_numpy.preprocessing import linear_rows
from scratch_numpy.progress import progress
from scripts.cli import add_cifar10_argument, command, load_data, output_folder, positive_int
from scripts.configs import (LINEAR_CHOSEN, LINEAR_CLASSIFIERS, LINEAR_GRID, LINEAR_SCHEDULE,
                             fit_linear, fit_linear_torch)
from scripts.report import ReportContext, ResultRow, format_table, save_figure

TITLES = {"svm": "linear SVM", "softmax": "softmax"}
TARGET_VAL = 0.40  # the project's target; the assignment asks ~0.39 (SVM), > 0.35 (softmax)


def accuracy(clf, X, y) -> float:
    return float((clf.predict(X) == y).mean())


def search(name: str, data: Splits, grid: dict = LINEAR_GRID, schedule: dict = LINEAR_SCHEDULE):
    """Train one model per grid point; returns {(lr, reg): (val acc, clf, history)}."""
    results = {}
    points = list(itertools.product(grid["learning_rate"], grid["reg"]))
    bar = progress(points, f"{name} search", unit="model")
    for lr, reg in bar:
        clf, history = fit_linear(name, data, dict(learning_rate=lr, reg=reg), schedule)
        results[(lr, reg)] = (accuracy(clf, data.X_val, data.y_val), clf, history)
        best = max(v[0] for v in results.values())
        bar.set_postfix(lr=f"{lr:g}", reg=f"{reg:g}", val=f"{results[(lr, reg)][0]:.3f}",
                             best=f"{best:.3f}")
    return results


def plot_loss(ctx, name: str, history) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(history, lw=0.6)
    ax.set_xlabel("iteration")
    ax.set_ylabel("minibatch loss")
    ax.set_title(f"{TITLES[name]}: SGD loss")
    return save_figure(fig, ctx, f"linear_{name}_loss.png")


def plot_templates(ctx, name: str, W: np.ndarray, class_names) -> Path:
    """Each column of W without its bias row, as a 32x32x3 image rescaled to 0..255."""
    import matplotlib.pyplot as plt

    templates = W[:-1].T.reshape(-1, 32, 32, 3)
    low, high = templates.min(), templates.max()
    fig, axes = plt.subplots(1, len(class_names), figsize=(len(class_names) * 1.2, 1.6))
    for ax, template, label in zip(axes, templates, class_names):
        ax.imshow((255 * (template - low) / (high - low)).astype(np.uint8))
        ax.set_title(label, fontsize=8)
        ax.axis("off")
    return save_figure(fig, ctx, f"linear_{name}_templates.png")


def plot_search(ctx, name: str, results: dict, grid: dict = LINEAR_GRID) -> Path:
    import matplotlib.pyplot as plt

    lrs, regs = grid["learning_rate"], grid["reg"]
    acc = np.array([[results[(lr, reg)][0] for reg in regs] for lr in lrs])
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    image = ax.imshow(acc, cmap="viridis")
    ax.set_xticks(range(len(regs)), [f"{r:g}" for r in regs])
    ax.set_yticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
    ax.set_xlabel("reg")
    ax.set_ylabel("learning rate")
    middle = (acc.min() + acc.max()) / 2
    for (i, j), value in np.ndenumerate(acc):
        ax.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=8,
                color="k" if value > middle else "w")
    fig.colorbar(image, ax=ax, label="validation accuracy")
    ax.set_title(f"{TITLES[name]}: validation accuracy")
    return save_figure(fig, ctx, f"linear_{name}_search.png")


def report_section(ctx: ReportContext) -> list[ResultRow]:
    """Both classifiers with the chosen hyperparameters: val and test accuracy, PNGs."""
    if ctx.quick:
        data = linear_rows(ctx.splits, num_train=2000, num_eval=500)
        schedule = dict(LINEAR_SCHEDULE, num_iters=50, batch_size=100)
    else:
        data = linear_rows(ctx.splits)
        schedule = LINEAR_SCHEDULE
    rows = []
    for name in LINEAR_CLASSIFIERS:
        start = time.perf_counter()
        clf, history = fit_linear(name, data, LINEAR_CHOSEN[name], schedule,
                                  progress=not ctx.quick)
        seconds = time.perf_counter() - start
        val = accuracy(clf, data.X_val, data.y_val)
        test = accuracy(clf, data.X_test, data.y_test)
        plot_loss(ctx, name, history)
        plot_templates(ctx, name, clf.W, ctx.data.class_names)
        hyper = f"lr {LINEAR_CHOSEN[name]['learning_rate']:g}, reg {LINEAR_CHOSEN[name]['reg']:g}"
        torch_clf, torch_seconds = fit_linear_torch(name, data, LINEAR_CHOSEN[name], schedule,
                                                    ctx.device, progress=not ctx.quick)
        torch_val = accuracy(torch_clf, data.X_val, data.y_val)
        rows += [
            ResultRow(TITLES[name], f"val accuracy ({hyper}, {seconds:.0f} s)", f"{val:.3f}",
                      f">= {TARGET_VAL:.2f}", None if ctx.quick else val >= TARGET_VAL),
            ResultRow(TITLES[name], "test accuracy", f"{test:.3f}"),
            ResultRow(TITLES[name], f"torch SGD on {ctx.device}: val accuracy "
                      f"({torch_seconds:.0f} s)", f"{torch_val:.3f}"),
        ]
    return rows


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search", action="store_true", help="grid search lr x reg on val")
    parser.add_argument("--classifier", nargs="+", default=list(LINEAR_CLASSIFIERS),
                        choices=list(LINEAR_CLASSIFIERS))
    parser.add_argument("--num-iters", type=positive_int, default=LINEAR_SCHEDULE["num_iters"])
    parser.add_argument("--out", type=output_folder, default="reports")
    add_cifar10_argument(parser)
    args = parser.parse_args(argv)
    data_set = load_data(args.cifar10_dir)
    ctx = ReportContext(data=data_set, splits=split_cifar10(data_set), out_dir=args.out)
    if not args.search:
        print(format_table(report_section(ctx)))
        return 0

    data = linear_rows(ctx.splits)
    schedule = dict(LINEAR_SCHEDULE, num_iters=args.num_iters)
    print(f"schedule: {schedule}")
    for name in args.classifier:
        results = search(name, data, LINEAR_GRID, schedule)
        for (lr, reg), (val, _, _) in sorted(results.items()):
            print(f"{name:<8} lr {lr:8.1e}  reg {reg:8.1e}  val {val:.3f}")
        (lr, reg), (val, clf, history) = max(results.items(), key=lambda item: item[1][0])
        test = accuracy(clf, data.X_test, data.y_test)
        print(f"best {name}: lr {lr:g}, reg {reg:g}: val {val:.3f}, test {test:.3f}")
        plot_search(ctx, name, results)
        plot_loss(ctx, name, history)
        plot_templates(ctx, name, clf.W, data_set.class_names)
    print(f"plots written to {args.out.resolve()}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
