"""A sweep's results: the table of every trial (CSV and JSON), the heat map, the progress lines.

A trial's row: its id, status, validation accuracy (``val_acc``: the best epoch's,
whose parameters a run keeps), the epochs it ran (``epochs_run``: distinct from the
configuration's ``epochs``, which the CSV lists under the hyperparameters' own names),
seconds (of its last attempt), the times it was retried after a failure, the Ray
node it ran on, and its configuration. Status is one of

* ``done``: trained every planned epoch (under FIFO every trial that ended);
* ``stopped``: stopped early by the scheduler (ASHA) at an epoch boundary;
* ``diverged``: its loss or parameters stopped being finite (not retried);
* ``failed``: it raised, or its worker died, more often than ``max_failures`` allows;
* ``unfinished``: it was still running when the sweep's time budget ran out.

Rows are sorted by status (done and stopped together first, then diverged, failed,
unfinished), then by validation accuracy, best first. Trials that never started (the time
budget ran out first) have no row.
Outputs are written atomically (``scratch_numpy.checkpoints.atomic_output``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from pathlib import Path

from scratch_numpy.checkpoints import atomic_output
from scratch_numpy.progress import progress
from scripts.sweep.models import SweepModel, full_config

STATUS_ORDER = ("done", "stopped", "diverged", "failed", "unfinished")
# The CSV's first columns; the configuration's varying values follow under their own names,
# which no model's hyperparameter shares with these (tested).
COLUMNS = ("rank", "trial_id", "status", "val_acc", "epochs_run", "seconds", "retries", "node")


def started(result) -> bool:
    """Whether a Ray Tune ``Result`` belongs to a trial that started (it has a config)."""
    return result.config is not None


def interrupted(result) -> bool:
    """A started trial that neither ended, nor was stopped, nor failed."""
    return started(result) and result.error is None and not (result.metrics or {}).get("done")


def trial_id(result) -> str:
    """The trial's id: the name of its folder (``scripts.sweep.command.trial_dirname``)."""
    return Path(result.path).name


def trial_row(model: SweepModel, result, num_train: int, retries: int, scheduler: str) -> dict:
    """The table row of one started trial's Ray Tune ``Result`` (``retries``: its failures;
    ``scheduler``: ``asha`` or ``fifo``, which never stops a trial early)."""
    metrics = result.metrics or {}
    config = full_config(model, result.config)
    epochs = metrics.get("epochs", 0.0)
    if result.error is not None:
        status = "failed"
    elif metrics.get("diverged"):
        status = "diverged"
    elif not metrics.get("done"):  # Tune marks a trial done when it ends or is stopped
        status = "unfinished"
    else:
        full_run = epochs >= model.epochs(config, num_train) - 1e-9
        status = "done" if full_run or scheduler == "fifo" else "stopped"
    val = metrics.get("best_val_acc", math.nan)
    return {"trial_id": trial_id(result),
            "status": status, "val_acc": val, "epochs_run": round(epochs, 3),
            "seconds": round(metrics.get("time_total_s", math.nan), 1), "retries": retries,
            "node": metrics.get("node", ""), "config": config}


def sort_rows(rows: list[dict]) -> list[dict]:
    def key(row):
        val = row["val_acc"]
        group = 0 if row["status"] in ("done", "stopped") else STATUS_ORDER.index(row["status"])
        return group, -(val if not math.isnan(val) else -1.0)

    return [{"rank": rank, **row} for rank, row in enumerate(sorted(rows, key=key), 1)]


def best_row(rows: list[dict]) -> dict | None:
    """The best trial that finished without diverging or failing (rows sorted)."""
    return next((r for r in rows if r["status"] in ("done", "stopped")), None)


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_output(path) as temporary:
        temporary.write_text(text)


def varying_keys(rows: list[dict]) -> list[str]:
    """Configuration keys whose value differs between trials (the CSV's config columns)."""
    keys = list(rows[0]["config"]) if rows else []
    return [k for k in keys if len({repr(r["config"][k]) for r in rows}) > 1]


def table_csv(rows: list[dict]) -> str:
    keys = varying_keys(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*COLUMNS, *keys])
    for r in rows:
        writer.writerow([*(r[c] for c in COLUMNS), *(r["config"][k] for k in keys)])
    return out.getvalue()


def table_json(rows: list[dict]) -> str:
    def clean(value):  # JSON has no NaN
        return None if isinstance(value, float) and math.isnan(value) else value

    return json.dumps([{k: clean(v) for k, v in r.items()} for r in rows], indent=1) + "\n"


def format_top(rows: list[dict], count: int = 5) -> str:
    """The first ``count`` rows as a Markdown table (config: the varying keys)."""
    keys = varying_keys(rows)
    header = ["rank", "val acc", "status", "epochs run", "seconds", *keys]
    lines = ["| " + " | ".join(header) + " |", "| --- " * len(header) + "|"]
    for r in rows[:count]:
        cells = [str(r["rank"]), f"{r['val_acc']:.3f}", r["status"], f"{r['epochs_run']:g}",
                 f"{r['seconds']:.0f}"] + [format_value(r["config"][k]) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_value(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def heatmap_png(rows: list[dict], title: str) -> bytes:
    """CS231n's picture of a search: validation accuracy over log learning rate x log reg,
    one marker per trial (diverged and failed trials as red crosses)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    scored = [r for r in rows
              if r["status"] in ("done", "stopped") and not math.isnan(r["val_acc"])]
    bad = [r for r in rows if r not in scored]
    if scored:
        points = ax.scatter([r["config"]["learning_rate"] for r in scored],
                            [r["config"]["reg"] for r in scored], c=[r["val_acc"] for r in scored],
                            s=[90 if r["status"] == "done" else 40 for r in scored], cmap="viridis",
                            edgecolors="k", linewidths=0.4)
        fig.colorbar(points, ax=ax, label="validation accuracy")
        for r in scored[:1] if len(scored) > 30 else scored:  # label all of a small sweep
            ax.annotate(f"{r['val_acc']:.3f}", (r["config"]["learning_rate"], r["config"]["reg"]),
                        textcoords="offset points", xytext=(5, 5), fontsize=7)
    if bad:
        ax.scatter([r["config"]["learning_rate"] for r in bad], [r["config"]["reg"] for r in bad],
                   marker="x", color="red", label="diverged / failed")
        ax.legend(loc="best", fontsize=8)
    regs = [r["config"]["reg"] for r in rows]
    ax.set_xscale("log")
    ax.set_yscale("symlog" if min(regs, default=1) <= 0 else "log",
                  **({"linthresh": 1e-3} if min(regs, default=1) <= 0 else {}))
    if any(r["status"] == "stopped" for r in rows):
        title += "\n(large markers: trained every epoch; small: stopped early)"
    ax.set(xlabel="learning rate", ylabel="reg", title=title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def write_results(folder: Path, rows: list[dict], title: str) -> list[Path]:
    """trials.csv, trials.json and heatmap.png in ``folder``; returns their paths."""
    write_text_atomic(folder / "trials.csv", table_csv(rows))
    write_text_atomic(folder / "trials.json", table_json(rows))
    with atomic_output(folder / "heatmap.png") as temporary:
        temporary.write_bytes(heatmap_png(rows, title))
    return [folder / name for name in ("trials.csv", "trials.json", "heatmap.png")]


def progress_callback(describe):
    """A Ray Tune callback: one log line per finished trial (``describe(config)`` says which),
    and a bar on a terminal."""
    from ray import tune

    class ProgressLines(tune.Callback):
        bar = None

        def _line(self, trials, trial, what: str) -> None:
            # Counted from the trials' states, so a resumed sweep counts its earlier trials.
            finished = sum(t.status in ("TERMINATED", "ERROR") or t is trial for t in trials)
            text = f"[{finished}/{len(trials)}] {trial.trial_id} {what}: {describe(trial.config)}"
            if self.bar is None and sys.stderr.isatty():  # a log gets the lines only
                self.bar = progress(None, "trials", total=len(trials), unit="trial")
                self.bar.update(finished - 1)
            if self.bar is not None:
                self.bar.update(1)
                self.bar.write(text)
            else:
                print(text, flush=True)

        def on_trial_complete(self, iteration, trials, trial, **info):
            result = trial.last_result or {}
            if result.get("diverged"):
                what = f"diverged after {result.get('epochs', 0):.3g} epochs"
            else:
                what = (f"val {result.get('best_val_acc', math.nan):.3f} after "
                        f"{result.get('epochs', 0):.3g} epochs")
            self._line(trials, trial, f"{what}, {result.get('time_total_s', 0):.0f} s")

        def on_trial_error(self, iteration, trials, trial, **info):
            self._line(trials, trial, "failed")

        def __getstate__(self):  # Tune saves its callbacks with the experiment; not the bar
            return {}

    return ProgressLines()


def best_summary(best: dict, val: float, test: float) -> dict:
    """best.json: the chosen trial, its retrained validation and its one test accuracy."""
    return {"trial_id": best["trial_id"], "config": best["config"],
            "trial_val_acc": best["val_acc"], "retrained_val_acc": val, "test_acc": test}
