"""Report section for the data layer and the parity harness.

Data: split sizes, per-channel mean/std of the training images (compare with
the published 0.4914/0.4822/0.4465 and 0.2470/0.2435/0.2616), class balance,
and a grid of sample images per class (``samples.png``).

Parity: every registered loss kind, the project's own NumPy implementation
against the torch reference on the dev batch, float64 and float32.
"""

from __future__ import annotations

import numpy as np

from ref_torch.devices import available_devices
from ref_torch.oracle.kinds import load_reference, project_kinds
from ref_torch.oracle import run_kind
from scratch_numpy.preprocessing import dev_batch
from scripts.report import ReportContext, ResultRow, save_figure

PUBLISHED_MEAN = (0.49139968, 0.48215841, 0.44653091)


def plot_samples(ctx: ReportContext, per_class: int = 7):
    import matplotlib.pyplot as plt

    names = ctx.data.class_names
    fig, axes = plt.subplots(per_class, len(names), figsize=(len(names), per_class))
    for c, name in enumerate(names):
        idx = np.flatnonzero(ctx.splits.y_train == c)[:per_class]
        for row, i in enumerate(idx):
            ax = axes[row, c]
            ax.imshow(ctx.splits.X_train[i])
            ax.axis("off")
            if row == 0:
                ax.set_title(name, fontsize=8)
    return save_figure(fig, ctx, "samples.png")


def data_rows(ctx: ReportContext) -> list[ResultRow]:
    s = ctx.splits
    X = ctx.data.X_train.reshape(-1, 3) / 255.0
    mean, std = X.mean(axis=0), X.std(axis=0)
    counts = np.bincount(ctx.data.y_train, minlength=10)
    mean_ok = bool(np.allclose(mean, PUBLISHED_MEAN, atol=1e-6))
    plot_samples(ctx)
    return [
        ResultRow("data", "train / val / test / dev",
                  f"{len(s.y_train)} / {len(s.y_val)} / {len(s.y_test)} / {len(s.y_dev)}"),
        ResultRow("data", "train channel mean (R, G, B)", ", ".join(f"{m:.4f}" for m in mean),
                  "0.4914, 0.4822, 0.4465", mean_ok),
        ResultRow("data", "train channel std (R, G, B)", ", ".join(f"{v:.4f}" for v in std)),
        ResultRow("data", "images per class (50k train)", f"{counts.min()}..{counts.max()}",
                  "5000", bool(counts.min() == counts.max() == 5000)),
    ]


def parity_rows(ctx: ReportContext) -> list[ResultRow]:
    X, y = dev_batch(ctx.splits)
    rows = []
    for name, kind in project_kinds().items():
        reports = run_kind(kind, load_reference(kind), X, y, devices=available_devices())
        for dtype in ("float64", "float32"):
            mine = [r for r in reports if r.dtype == dtype]
            worst = max(d.error for r in mine for d in (r.loss, *r.grads))
            tol = mine[0].loss.tolerance
            rows.append(ResultRow(
                "parity", f"{name} numpy vs torch, {dtype} ({len(mine)} checks)",
                f"max err {worst:.1e}", f"<= {tol:.0e}", all(r.passed for r in mine)))
    return rows


def report_section(ctx: ReportContext) -> list[ResultRow]:
    return data_rows(ctx) + parity_rows(ctx)
