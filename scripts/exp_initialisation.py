"""Experiment: activation statistics layer by layer in a 10-layer net, per initialisation.

    python -m scripts.exp_initialisation [--quick] [--out reports]

The seed notes: with too small weights the activations shrink towards zero layer
after layer (and so do the gradients); with too large ones tanh units saturate at
+-1; ``w ~ N(0, 1) * sqrt(1/n)`` (Xavier) keeps the variance of a layer's output
equal to its input's, and ``sqrt(2/n)`` (He) does so for ReLU, which zeroes half
of its inputs. Here 10 hidden layers of tanh or ReLU units take standardized
CIFAR-10 validation images, with weights of scale 0.01, 1.0, Xavier and He: the
mean and std of every layer's outputs, their histograms, and whether the net
then trains (validation accuracy after a short budget).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from scratch_numpy.data import NUM_CLASSES
from scratch_numpy.fc_net import FullyConnectedNet
from scratch_numpy.preprocessing import standardized_rows
from scratch_numpy.progress import progress as progress_of
from scripts.cli import command, section_command
from scripts.configs import FCConfig, train_fc_config
from scripts.report import ReportContext, ResultRow, save_figure

SCALES = (0.01, 1.0, "xavier", "he")
ACTIVATIONS = ("tanh", "relu")


@dataclass(frozen=True)
class Sizes:
    depth: int
    width: int
    num_train: int  # rows of the training check
    epochs: float


FULL = Sizes(depth=10, width=500, num_train=5000, epochs=2)
QUICK = Sizes(depth=10, width=40, num_train=300, epochs=1)


def layer_statistics(rows, sizes: Sizes) -> dict:
    """{(activation, scale): [hidden outputs (N, width) of each layer]} at initialisation."""
    out = {}
    for activation in ACTIVATIONS:
        for scale in SCALES:
            net = FullyConnectedNet([sizes.width] * sizes.depth, rows.X_val.shape[1], NUM_CLASSES,
                                    weight_scale=scale, seed=0, activation=activation)
            out[activation, scale] = net.hidden_activations(rows.X_val)
    return out


def training_check(rows, sizes: Sizes, progress=False) -> dict:
    """{(activation, scale): (best val accuracy, diverged)} after a short budget."""
    out = {}
    runs = [(a, s) for a in ACTIVATIONS for s in SCALES]
    for activation, scale in progress_of(runs, "initialisation: training runs", unit="run"):
        config = FCConfig(hidden_dims=(sizes.width,) * sizes.depth, learning_rate=1e-2,
                          learning_rate_decay=1.0, reg=0.0, epochs=sizes.epochs,
                          batch_size=100, weight_scale=scale, augment_flip=False,
                          activation=activation)
        _, history = train_fc_config(
            rows, config, num_train=sizes.num_train, progress=progress,
            expected_divergence=f"weights of scale {scale} are part of the experiment; "
                                "a scale too large diverges")
        steps = max(int(round(config.epochs * sizes.num_train / config.batch_size)), 1)
        out[activation, scale] = (history["best_val_acc"], len(history["loss_history"]) < steps)
    return out


def plot(stats: dict, ctx: ReportContext, name="exp_initialisation.png"):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 4, figsize=(16, 10))
    for row, activation in enumerate(ACTIVATIONS):
        for col, scale in enumerate(SCALES):
            ax = axes[row, col]
            layers = stats[activation, scale]
            values = np.concatenate([h.ravel() for h in layers])
            low, high = np.percentile(values, [0.5, 99.5]) if activation == "relu" else (-1, 1)
            bins = np.linspace(low, high if high > low else low + 1, 60)
            for l, h in enumerate(layers, start=1):
                ax.hist(np.clip(h.ravel(), bins[0], bins[-1]), bins=bins, histtype="step",
                        color=plt.cm.viridis(l / len(layers)), density=True,
                        label=f"layer {l}" if l in (1, len(layers)) else None)
            ax.set(title=f"{activation}, scale {scale}", yscale="log")
            ax.legend(fontsize=7)
        for i, scale in enumerate(SCALES):
            std = [float(h.std()) for h in stats[activation, scale]]
            axes[2, row * 2].plot(range(1, len(std) + 1), std, "o-", label=str(scale))
            mean = [float(h.mean()) for h in stats[activation, scale]]
            axes[2, row * 2 + 1].plot(range(1, len(mean) + 1), mean, "o-", label=str(scale))
        axes[2, row * 2].set(title=f"{activation}: std per layer", xlabel="layer", yscale="log")
        axes[2, row * 2 + 1].set(title=f"{activation}: mean per layer", xlabel="layer",
                                 yscale="symlog", )
        axes[2, row * 2].legend(fontsize=7)
    fig.suptitle("hidden-layer outputs at initialisation (1,000 standardized validation images)")
    fig.tight_layout()
    return save_figure(fig, ctx, name)


def report_section(ctx: ReportContext) -> list[ResultRow]:
    sizes = QUICK if ctx.quick else FULL
    rows = standardized_rows(ctx.splits)
    stats = layer_statistics(rows, sizes)
    trained = training_check(rows, sizes)
    plot(stats, ctx)
    result = []
    for (activation, scale), layers in stats.items():
        acc, diverged = trained[activation, scale]
        result.append(ResultRow(
            "initialisation", f"{sizes.depth}-layer {activation}, scale {scale}: output std "
                              f"layer 1 / {sizes.depth}; val acc after {sizes.epochs:g} epochs",
            f"{layers[0].std():.3g} / {layers[-1].std():.3g}; {acc:.3f}"
            + (" (diverged)" if diverged else "")))
    return result


@command
def main(argv: list[str] | None = None) -> int:
    return section_command(report_section, __doc__, argv)

if __name__ == "__main__":
    sys.exit(main())
