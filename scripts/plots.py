"""Figures that more than one command draws, so that no command imports another for them.

``plot_curves``: a network's training curves (the two-layer net's and the
fully-connected nets'), from the solver's history.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scripts.report import ReportContext, save_figure


def plot_curves(history, ctx: ReportContext, name: str) -> Path:
    """Minibatch loss (with its running mean over half an epoch) and train / validation
    accuracy per epoch, the kept epoch marked; written as ``ctx.out_dir/name``."""
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    loss = np.asarray(history["loss_history"])
    per_epoch = max(len(loss) / max(history["epochs"][-1], 1e-9), 1)
    ax_loss.plot(np.arange(len(loss)) / per_epoch, loss, lw=0.3, alpha=0.5, label="minibatch")
    window = max(int(per_epoch) // 2, 1)
    if len(loss) > window:
        smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
        ax_loss.plot((np.arange(len(smooth)) + window / 2) / per_epoch, smooth, label="running mean")
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="loss")
    ax_loss.legend()
    ax_acc.plot(history["epochs"], history["train_acc_history"], "o-", label="train (1,000 rows)")
    ax_acc.plot(history["epochs"], history["val_acc_history"], "o-", label="validation")
    ax_acc.axvline(history["best_epoch"], color="gray", ls=":", label="kept (best val)")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="classification accuracy")
    ax_acc.legend()
    return save_figure(fig, ctx, name)
