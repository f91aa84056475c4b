"""Experiment: do small networks reach less consistent losses than big ones?

    python -m scripts.exp_network_size [--quick] [--out reports]

The seed notes: smaller networks are harder to train with local methods; their
loss has fewer, worse minima and the final loss varies a lot with the
initialisation, while big networks reach consistently low loss. Here ReLU nets
of hidden width 10 to 1000 and depth 1 to 4 are trained from several
initialisation seeds with everything else fixed (the same training rows,
minibatches and learning rate): final training loss (over the whole training
subset, no reg) and validation accuracy per seed, and their spread per size.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from scratch_numpy.preprocessing import standardized_rows
from scratch_numpy.progress import progress as progress_of
from scripts.cli import command, section_command
from scripts.configs import FCConfig, train_fc_config
from scripts.report import ReportContext, ResultRow, save_figure


@dataclass(frozen=True)
class SizeGrid:
    widths: tuple[int, ...]
    depths: tuple[int, ...]
    seeds: int
    num_train: int
    epochs: float


FULL = SizeGrid(widths=(10, 32, 100, 316, 1000), depths=(1, 2, 3, 4), seeds=5, num_train=2000,
                epochs=10)
QUICK = SizeGrid(widths=(10, 100), depths=(1, 2), seeds=2, num_train=300, epochs=1)
DATA_SEED = 0  # one minibatch order for every run: only the initialisation changes


def final_training_loss(net, X, y) -> float:
    """Mean cross-entropy over the whole training subset (no reg term)."""
    saved, net.reg = net.reg, 0.0
    try:
        return net.loss(X, y)[0]
    finally:
        net.reg = saved


def run(rows, grid: SizeGrid, progress: bool = False) -> dict:
    """{(depth, width): [(final training loss, best val accuracy) per seed]}."""
    X, y = rows.X_train[:grid.num_train], rows.y_train[:grid.num_train]
    results = {}
    # A line at each tenth of the runs in a log (a bar on a terminal): the section speaks.
    runs = [(d, w, s) for d in grid.depths for w in grid.widths for s in range(grid.seeds)]
    for depth, width, seed in progress_of(runs, "network size: runs", unit="run"):
        config = FCConfig(hidden_dims=(width,) * depth, learning_rate=1e-2,
                          learning_rate_decay=1.0, reg=0.0, epochs=grid.epochs, batch_size=100,
                          augment_flip=False)
        net, history = train_fc_config(rows, config, seed=seed, data_seed=DATA_SEED,
                                       num_train=grid.num_train, progress=progress)
        results.setdefault((depth, width), []).append(
            (final_training_loss(net, X, y), history["best_val_acc"]))
    return results


def spread_rows(results: dict) -> list[ResultRow]:
    rows = []
    for (depth, width), runs in results.items():
        losses = np.array([loss for loss, _ in runs])
        accs = np.array([acc for _, acc in runs])
        rows.append(ResultRow(
            "network size", f"depth {depth} width {width}: final train loss (min..max, std) / val acc",
            f"{losses.mean():.3f} ({losses.min():.3f}..{losses.max():.3f}, {losses.std():.3f})"
            f" / {accs.mean():.3f} ± {accs.std():.3f}"))
    return rows


def plot(results: dict, ctx: ReportContext, name="exp_network_size.png"):
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4.5))
    depths = sorted({d for d, _ in results})
    for i, depth in enumerate(depths):
        widths = sorted(w for d, w in results if d == depth)
        shift = 1 + 0.06 * (i - (len(depths) - 1) / 2)  # side by side on the log axis
        for ax, k in ((ax_loss, 0), (ax_acc, 1)):
            values = [[run[k] for run in results[depth, w]] for w in widths]
            xs = [w * shift for w, v in zip(widths, values) for _ in v]
            ax.scatter(xs, [x for v in values for x in v], s=14, color=f"C{i}", alpha=0.7)
            ax.plot([w * shift for w in widths], [np.mean(v) for v in values], "-", color=f"C{i}",
                    label=f"{depth} hidden layer{'s' if depth > 1 else ''}")
    ax_loss.set(xscale="log", yscale="log", xlabel="hidden width", ylabel="final training loss",
                title="final training loss, one dot per initialisation seed")
    ax_acc.set(xscale="log", xlabel="hidden width", ylabel="best validation accuracy",
               title="validation accuracy per seed")
    ax_loss.legend()
    return save_figure(fig, ctx, name)


def report_section(ctx: ReportContext) -> list[ResultRow]:
    results = run(standardized_rows(ctx.splits), QUICK if ctx.quick else FULL)
    plot(results, ctx)
    return spread_rows(results)


@command
def main(argv: list[str] | None = None) -> int:
    return section_command(report_section, __doc__, argv)

if __name__ == "__main__":
    sys.exit(main())
