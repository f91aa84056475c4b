"""Experiment: sigmoid outputs are not zero-centred, so weight gradients share one sign.

    python -m scripts.exp_zero_centred [--quick] [--out reports]

The seed notes: if the inputs x of a unit are all positive, the gradient on its
incoming weights ``dL/dw = x * dL/dz`` has the sign of ``dL/dz`` in every entry
(per example), which makes gradient descent zig-zag; summed over a batch the
signs can differ, which mitigates it. Measured on a net with two hidden layers
(the second layer's inputs are the first layer's sigmoid, tanh or ReLU
outputs), on a fixed batch of training rows at every epoch:

* per example: the fraction of (example, unit) pairs whose incoming-weight
  gradient ``h1[n] * dz2[n, j]`` has a single sign (zeros ignored);
* per batch: the fraction of units whose summed incoming-weight gradient
  ``sum_n h1[n] * dz2[n, j]`` (a column of dW2) has a single sign;

with the training curves of the three activations.
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
class Sizes:
    num_train: int
    epochs: float
    hidden: int
    batch: int  # rows of the fixed batch the gradients are measured on


FULL = Sizes(num_train=10_000, epochs=8, hidden=100, batch=200)
QUICK = Sizes(num_train=400, epochs=1, hidden=20, batch=50)
RUNS = {"sigmoid": "xavier", "tanh": "xavier", "relu": "he"}  # activation: initialisation


def single_sign(rows: np.ndarray) -> np.ndarray:
    """For each row (..., K): True when its nonzero entries share one sign (and one is nonzero)."""
    positive, negative = (rows > 0).any(axis=-1), (rows < 0).any(axis=-1)
    return positive ^ negative


def sign_fractions(h_in: np.ndarray, dz: np.ndarray) -> tuple[float, float]:
    """(per-example, per-batch) single-sign fractions of the incoming-weight gradients.

    h_in (N, K): the layer's inputs; dz (N, M): dL/dz of its units. The gradient of
    unit j's incoming weights from example n is ``h_in[n] * dz[n, j]``: single-signed
    exactly when the nonzero entries of ``h_in[n]`` share a sign and ``dz[n, j] != 0``.
    """
    per_example = single_sign(h_in)[:, None] & (dz != 0)
    active = (dz != 0).sum()
    batch_columns = single_sign((h_in.T @ dz).T)
    return float(per_example.sum() / max(active, 1)), float(batch_columns.mean())


def run(rows, sizes: Sizes, progress: bool = False) -> dict:
    """{activation: history} with ``per_example_single_sign`` and ``batch_single_sign``."""
    X_b, y_b = rows.X_train[:sizes.batch], rows.y_train[:sizes.batch]
    results = {}
    for activation, init in progress_of(list(RUNS.items()), "zero-centred: runs", unit="run"):
        config = FCConfig(hidden_dims=(sizes.hidden, sizes.hidden), learning_rate=1e-2,
                          learning_rate_decay=1.0, reg=0.0, epochs=sizes.epochs,
                          weight_scale=init, augment_flip=False, activation=activation)

        def metrics(net):
            h_in, dz = net.layer_signals(X_b, y_b)[1]  # layer 2: its inputs are h1
            per_example, per_batch = sign_fractions(h_in, dz)
            return {"per_example_single_sign": per_example, "batch_single_sign": per_batch}

        results[activation] = train_fc_config(rows, config, num_train=sizes.num_train,
                                              epoch_metrics=metrics, progress=progress)[1]
    return results


def plot(results: dict, ctx: ReportContext, name="exp_zero_centred.png"):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for i, (activation, h) in enumerate(results.items()):
        axes[0].plot(h["epochs"], h["per_example_single_sign_history"], "o--", color=f"C{i}",
                     label=f"{activation}: per example")
        axes[0].plot(h["epochs"], h["batch_single_sign_history"], "s-", color=f"C{i}",
                     label=f"{activation}: batch sum")
        loss = np.asarray(h["loss_history"])
        per_epoch = max(len(loss) / max(h["epochs"][-1], 1e-9), 1)
        window = max(int(per_epoch) // 2, 1)
        smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
        axes[1].plot((np.arange(len(smooth)) + window / 2) / per_epoch, smooth, color=f"C{i}",
                     label=activation)
        axes[2].plot(h["epochs"], h["val_acc_history"], "o-", color=f"C{i}", label=activation)
    axes[0].set(xlabel="epoch", ylabel="fraction", ylim=(-0.02, 1.02),
                title="single-sign incoming-weight gradients, layer 2")
    axes[1].set(xlabel="epoch", ylabel="training loss (running mean)", title="training loss")
    axes[2].set(xlabel="epoch", ylabel="validation accuracy", title="validation accuracy")
    for ax in axes:
        ax.legend(fontsize=7)
    return save_figure(fig, ctx, name)


def report_section(ctx: ReportContext) -> list[ResultRow]:
    results = run(standardized_rows(ctx.splits), QUICK if ctx.quick else FULL)
    plot(results, ctx)
    rows = []
    for activation, h in results.items():
        rows.append(ResultRow(
            "zero-centred", f"{activation}: single-sign gradients per example / per batch "
                            "(mean over epochs), best val acc",
            f"{np.mean(h['per_example_single_sign_history']):.1%} / "
            f"{np.mean(h['batch_single_sign_history']):.1%}, {h['best_val_acc']:.3f}"))
    return rows


@command
def main(argv: list[str] | None = None) -> int:
    return section_command(report_section, __doc__, argv)

if __name__ == "__main__":
    sys.exit(main())
