"""Experiment: the forms of data preprocessing, and the "common mistake".

    python -m scripts.exp_preprocessing [--quick] [--out reports]

The seed notes name mean subtraction (one global mean ``X -= np.mean(X)``, one per
channel, or the mean image), normalization (per-feature std, or scaling to
[-1, 1]), and warn that the statistics must be computed on the training data
only, not on all data before splitting. Each form of
``scratch_numpy.preprocessing.PREPROCESSING_FORMS`` is fit on the training split
and its rows train a softmax classifier and a two-layer ReLU net for a fixed
budget; validation accuracy is reported at the best learning rate of a grid:

* softmax (plain SGD): rates ``c / E|x|^2`` for c in RATE_FACTORS, so a form's
  global scale alone changes nothing (rescaling x by a and the rate by 1/a^2 gives
  the same run) and what remains is the effect of centring and per-feature scaling;
* two-layer net (SGD + momentum): first-layer weights He-scaled to the form's
  input rms, one rate grid shared by all forms (one rate serves both layers, so a
  form's global scale does matter here).

Then the mistake: the mean image (and std) fit on all 60,000 images (train, val
and test) instead of the 49,000 training images, same runs, several seeds.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace

import numpy as np

from scratch_numpy.data import NUM_CLASSES, Splits
from scratch_numpy.fc_net import FullyConnectedNet
from scratch_numpy.linear_classifier import Softmax
from scratch_numpy.preprocessing import PREPROCESSING_FORMS, FormPreprocessor
from scratch_numpy.progress import progress
from scripts.cli import command, section_command
from scripts.report import ReportContext, ResultRow, save_figure

RATE_FACTORS = (1.0, 3.0, 10.0, 30.0, 100.0)
NET_RATES = (1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
MISTAKE_FORMS = ("mean image", "mean image + std")


@dataclass(frozen=True)
class Budget:
    softmax_steps: int
    net_train: int  # training rows of the net
    net_epochs: float
    net_hidden: int
    seeds: int  # of the common-mistake comparison


FULL = Budget(softmax_steps=1500, net_train=10_000, net_epochs=3, net_hidden=100, seeds=3)
QUICK = Budget(softmax_steps=50, net_train=500, net_epochs=1, net_hidden=20, seeds=1)


def form_rows(splits: Splits, form: str, fit_on_all: bool = False) -> Splits:
    """Train/val/test rows of ``form``, fit on the training images (or, the mistake, on all)."""
    fit_on = (np.concatenate([splits.X_train, splits.X_val, splits.X_test]) if fit_on_all
              else splits.X_train)
    prep = FormPreprocessor(form).fit(fit_on)
    return replace(splits, X_train=prep.transform(splits.X_train), X_val=prep.transform(splits.X_val),
                   X_test=prep.transform(splits.X_test), X_dev=splits.X_dev[:0],
                   y_dev=splits.y_dev[:0], preprocessor=prep)


def with_bias(X: np.ndarray) -> np.ndarray:
    return np.hstack([X, np.ones((X.shape[0], 1), dtype=X.dtype)])


def train_softmax(rows: Splits, rate: float, budget: Budget, seed=0) -> tuple[float, float]:
    """(val, test) accuracy of plain-SGD softmax (batch 200, no reg) at ``rate``."""
    clf = Softmax()
    history = clf.train(with_bias(rows.X_train), rows.y_train, learning_rate=rate, reg=0.0,
                        num_iters=budget.softmax_steps, batch_size=200, seed=seed)
    if not np.isfinite(history[-1]) or not np.isfinite(clf.W).all():
        return float("nan"), float("nan")
    return (float(np.mean(clf.predict(with_bias(rows.X_val)) == rows.y_val)),
            float(np.mean(clf.predict(with_bias(rows.X_test)) == rows.y_test)))


def train_net(rows: Splits, rate: float, budget: Budget, seed=0) -> tuple[float, float]:
    """(val, test) accuracy of a two-layer ReLU net after ``budget.net_epochs`` epochs."""
    X, y = rows.X_train[:budget.net_train], rows.y_train[:budget.net_train]
    net = FullyConnectedNet([budget.net_hidden], X.shape[1], NUM_CLASSES, weight_scale="he",
                            seed=seed)
    rms = float(np.sqrt(np.mean(np.square(X, dtype=np.float64))))
    net.params["W1"] /= np.float32(rms)  # He for inputs of this form's scale
    num_iters = int(budget.net_epochs * len(y) / 200)
    try:
        net.train(X, y, rows.X_val, rows.y_val, learning_rate=rate, learning_rate_decay=1.0,
                  num_iters=num_iters, batch_size=200, momentum=0.9, seed=seed)
    except FloatingPointError:
        return float("nan"), float("nan")
    return net.accuracy(rows.X_val, rows.y_val), net.accuracy(rows.X_test, rows.y_test)


def softmax_rates(rows: Splits) -> list[float]:
    energy = float(np.mean(np.sum(np.square(rows.X_train[:5000], dtype=np.float64), axis=1))) + 1
    return [c / energy for c in RATE_FACTORS]


def best(results: list) -> tuple[float, float, float]:
    """(rate, val, test) of the best validation accuracy; NaN runs (diverged) lose."""
    return max(results, key=lambda r: -1 if np.isnan(r[1]) else r[1])


def compare_forms(splits: Splits, budget: Budget) -> dict:
    """{form: {"softmax": (rate, val, test), "net": (rate, val, test)}} at the best rate."""
    out = {}
    for form in progress(PREPROCESSING_FORMS, "preprocessing: forms", unit="form"):
        rows = form_rows(splits, form)
        out[form] = {
            "softmax": best([(r, *train_softmax(rows, r, budget)) for r in softmax_rates(rows)]),
            "net": best([(r, *train_net(rows, r, budget)) for r in NET_RATES]),
        }
    return out


def common_mistake(splits: Splits, budget: Budget, chosen: dict) -> dict:
    """{(form, model): (val/test accuracies fit on train, ... fit on all), per seed}."""
    out = {}
    for form in progress(MISTAKE_FORMS, "preprocessing: fit on all or on train", unit="form"):
        for fit_on_all in (False, True):
            rows = form_rows(splits, form, fit_on_all)
            for model, train in (("softmax", train_softmax), ("net", train_net)):
                rate = chosen[form][model][0]
                runs = [train(rows, rate, budget, seed) for seed in range(budget.seeds)]
                out.setdefault((form, model), {})[fit_on_all] = np.array(runs)
    return out


def plot(forms: dict, ctx: ReportContext, name="exp_preprocessing.png"):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5))
    names = list(forms)
    x = np.arange(len(names))
    for i, model in enumerate(("softmax", "net")):
        vals = [forms[f][model][1] for f in names]
        bars = ax.bar(x + (i - 0.5) * 0.38, vals, 0.38, label="softmax" if model == "softmax"
                      else "two-layer net")
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    ax.set_xticks(x, names)
    ax.set(ylabel="validation accuracy (best rate of the grid)",
           title="preprocessing forms, statistics fit on the training split")
    ax.legend()
    return save_figure(fig, ctx, name)


def report_section(ctx: ReportContext) -> list[ResultRow]:
    budget = QUICK if ctx.quick else FULL
    splits = ctx.splits
    if ctx.quick:
        splits = replace(splits, X_train=splits.X_train[:budget.net_train],
                         y_train=splits.y_train[:budget.net_train], X_val=splits.X_val[:200],
                         y_val=splits.y_val[:200], X_test=splits.X_test[:200],
                         y_test=splits.y_test[:200])
    forms = compare_forms(splits, budget)
    plot(forms, ctx)
    rows = [ResultRow("preprocessing", f"{form}: val acc softmax / two-layer net (their rates)",
                      f"{r['softmax'][1]:.3f} / {r['net'][1]:.3f} "
                      f"({r['softmax'][0]:.1e} / {r['net'][0]:.0e})")
            for form, r in forms.items()]
    for (form, model), runs in common_mistake(splits, budget, forms).items():
        right, wrong = runs[False], runs[True]
        delta = wrong - right  # (seeds, [val, test])
        rows.append(ResultRow(
            "preprocessing", f"mistake, {form}, {model}: fit on all minus fit on train, "
                             f"val / test acc ({len(delta)} seeds)",
            f"{delta[:, 0].mean():+.4f} / {delta[:, 1].mean():+.4f} "
            f"(test acc {right[:, 1].mean():.3f}, seed std {right[:, 1].std():.4f})"))
    return rows


@command
def main(argv: list[str] | None = None) -> int:
    return section_command(report_section, __doc__, argv)

if __name__ == "__main__":
    sys.exit(main())
