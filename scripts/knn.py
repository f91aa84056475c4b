"""The kNN command: cross-validation on the assignment subset, full-scale runs.

    python -m scripts.knn [--out reports] [--folds 5] [--k-choices 1 3 5 ...]
    python -m scripts.knn --full [--metric l2 l1] [--backend numpy|torch] [--device cpu|cuda]

Default: the assignment's subset (first 5,000 training and 500 test images,
raw pixels), L2, ``--folds``-fold cross-validation over ``--k-choices``; writes
``knn_cross_validation.png`` (per-fold accuracies and mean +- std per k) into
``--out`` and prints the best k and its test accuracy.

``--full``: 1-NN on all 50,000 training vs 10,000 test images for each
``--metric``, with a progress bar, printing accuracy, time and the search
that ran. With the NumPy backend L2 uses the exact float32-screened search
(one GEMM) and L1 the exact lower-bound-pruned search; ``--backend torch``
runs the torch twin with ``search="fast"`` (L2 screened the same way, L1 by
float32 ``torch.cdist``; cpu or cuda), not its float64 oracle.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from scratch_numpy.data import split_cifar10
from scratch_numpy.knn import KNearestNeighbor, best_k, cross_validate
from scratch_numpy.preprocessing import assignment_subset, pixel_rows
from scratch_numpy.progress import progress
from scripts.cli import (UsageError, add_cifar10_argument, command, device_name, load_data,
                         output_folder, positive_int)
from scripts.report import ReportContext, ResultRow, save_figure

K_CHOICES = (1, 3, 5, 8, 10, 12, 15, 20, 50, 100)
# The assignment's published figures on its subset (L2) and the CS231n notes'
# full-scale 1-NN accuracies.
SUBSET_CORRECT = {1: 137, 5: 139}
SUBSET_BEST_K, SUBSET_BEST_CORRECT = 10, 141
FULL_SCALE_PERCENT = {"l2": 35.4, "l1": 38.6}
# What --full runs, per (backend, metric): printed with the result.
FULL_SCALE_PATHS = {
    ("numpy", "l2"): "NumPy predict: float32 screen + float64 re-rank",
    ("numpy", "l1"): "NumPy predict: lower-bound pruning + float64 L1",
    ("torch", "l2"): "torch search='fast': float32 screen + float64 re-rank",
    ("torch", "l1"): "torch search='fast': float32 cdist",
}


def plot_cross_validation(accuracies: dict[int, list[float]], ctx: ReportContext,
                          name: str = "knn_cross_validation.png") -> Path:
    """Accuracy vs k: every fold as a dot, the mean with a +-1 std error bar."""
    import matplotlib.pyplot as plt

    ks = sorted(accuracies)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k in ks:
        ax.scatter([k] * len(accuracies[k]), accuracies[k], color="tab:blue", s=12, alpha=0.6)
    means = [np.mean(accuracies[k]) for k in ks]
    stds = [np.std(accuracies[k]) for k in ks]
    ax.errorbar(ks, means, yerr=stds, color="tab:red", marker="o", capsize=3, label="mean +- std")
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("k")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"kNN (L2) cross-validation, {len(accuracies[ks[0]])} folds")
    ax.legend()
    return save_figure(fig, ctx, name)


def full_scale_1nn(data, metric: str, backend: str = "numpy", device: str = "cpu",
                   chunk_size: int = 1024, num_test: int | None = None) -> tuple[float, float]:
    """1-NN accuracy and seconds on all training images vs ``num_test`` test images."""
    X_train = pixel_rows(data.X_train, np.float32)
    X_test = pixel_rows(data.X_test[:num_test], np.float32)
    y_test = data.y_test[:num_test]
    start = time.perf_counter()
    if backend == "torch":
        from ref_torch.knn import KNearestNeighbor as TorchKNN

        model = TorchKNN(metric, device=device, dtype=np.float32, chunk_size=chunk_size, search="fast")
        model.train(X_train, data.y_train)
        predict = lambda X: model.predict(X, 1).cpu().numpy()  # noqa: E731
    else:
        model = KNearestNeighbor(metric, chunk_size=chunk_size).train(X_train, data.y_train)
        predict = lambda X: model.predict(X, 1)  # noqa: E731
    predicted = np.empty(len(y_test), dtype=np.int64)
    label = f"1-NN {metric} ({FULL_SCALE_PATHS[backend, metric]})"
    for s in progress(range(0, len(y_test), chunk_size), label, unit="chunk"):
        predicted[s:s + chunk_size] = predict(X_test[s:s + chunk_size])
    seconds = time.perf_counter() - start
    return float(np.mean(predicted == y_test)), seconds


def subset_rows(ctx: ReportContext) -> list[ResultRow]:
    """The assignment's figures on its subset (``ctx.quick``: a 1,000 x 100 smoke test)."""
    sizes = dict(num_train=1000, num_test=100) if ctx.quick else {}
    X_train, y_train, X_test, y_test = assignment_subset(ctx.data, **sizes)
    model = KNearestNeighbor().train(X_train, y_train)
    rows = []
    for k, target in SUBSET_CORRECT.items():
        correct = int(np.sum(model.predict(X_test, k) == y_test))
        rows.append(ResultRow("knn", f"L2 k={k}, {len(X_train)} train / {len(X_test)} test",
                              f"{correct}/{len(y_test)}",
                              "" if ctx.quick else f"{target}/500",
                              None if ctx.quick else correct == target))
    k_choices = (1, 5, 10) if ctx.quick else K_CHOICES
    accuracies = cross_validate(X_train, y_train, k_choices, num_folds=5)
    plot_cross_validation(accuracies, ctx)
    best = best_k(accuracies)
    correct = int(np.sum(model.predict(X_test, best) == y_test))
    rows.append(ResultRow("knn", "5-fold CV best k", str(best),
                          "" if ctx.quick else str(SUBSET_BEST_K),
                          None if ctx.quick else best == SUBSET_BEST_K))
    rows.append(ResultRow("knn", f"L2 best k={best} test", f"{correct}/{len(y_test)}",
                          "" if ctx.quick else f"{SUBSET_BEST_CORRECT}/500",
                          None if ctx.quick else correct == SUBSET_BEST_CORRECT))
    return rows


def report_section(ctx: ReportContext) -> list[ResultRow]:
    """Subset figures, CV plot, and full-scale L2 1-NN (about a minute on 2 cores).

    Full-scale L1 takes far longer (see ``python -m scripts.knn --full``) and
    is left to the command.
    """
    rows = subset_rows(ctx)
    num_test = 200 if ctx.quick else None
    accuracy, seconds = full_scale_1nn(ctx.data, "l2", num_test=num_test)
    target = FULL_SCALE_PERCENT["l2"]
    rows.append(ResultRow(
        "knn", f"L2 1-NN, 50000 train / {num_test or 10000} test ({seconds:.0f} s)",
        f"{100 * accuracy:.1f}%", "" if ctx.quick else f"{target}%",
        None if ctx.quick else round(100 * accuracy, 1) == target))
    return rows


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=output_folder, default="reports", help="folder for the PNG")
    add_cifar10_argument(parser)
    parser.add_argument("--folds", type=positive_int, default=5)
    parser.add_argument("--k-choices", type=positive_int, nargs="+", default=list(K_CHOICES))
    parser.add_argument("--full", action="store_true", help="1-NN on all 50,000 vs 10,000 images")
    parser.add_argument("--metric", nargs="+", choices=["l2", "l1"], default=["l2", "l1"],
                        help="metrics for --full")
    parser.add_argument("--backend", choices=["numpy", "torch"], default="numpy", help="for --full")
    parser.add_argument("--device", type=device_name, default="cpu", help="torch device for --backend torch")
    parser.add_argument("--chunk-size", type=positive_int, default=1024, help="test rows per chunk")
    parser.add_argument("--num-test", type=positive_int, default=None, help="--full on the first N test images")
    args = parser.parse_args(argv)

    data = load_data(args.cifar10_dir)

    if args.full:
        for metric in args.metric:
            try:
                accuracy, seconds = full_scale_1nn(data, metric, args.backend, args.device,
                                                   args.chunk_size, args.num_test)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            print(f"1-NN {metric.upper()} [{FULL_SCALE_PATHS[args.backend, metric]}]: "
                  f"accuracy {100 * accuracy:.2f}% in {seconds:.1f} s "
                  f"(CS231n notes: {FULL_SCALE_PERCENT[metric]}%)")
        return 0

    ctx = ReportContext(data=data, splits=split_cifar10(data), out_dir=args.out)
    X_train, y_train, X_test, y_test = assignment_subset(data)
    try:
        accuracies = cross_validate(X_train, y_train, args.k_choices, num_folds=args.folds)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for k in sorted(accuracies):
        folds = ", ".join(f"{a:.3f}" for a in accuracies[k])
        print(f"k = {k:3d}: mean {np.mean(accuracies[k]):.4f} +- {np.std(accuracies[k]):.4f}  ({folds})")
    best = best_k(accuracies)
    model = KNearestNeighbor().train(X_train, y_train)
    correct = int(np.sum(model.predict(X_test, best) == y_test))
    print(f"best k = {best}: test {correct}/{len(y_test)} = {correct / len(y_test):.3f}")
    print(f"plot: {plot_cross_validation(accuracies, ctx)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
