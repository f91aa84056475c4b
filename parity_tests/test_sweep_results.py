"""A sweep's results table: each trial's status from what Ray Tune recorded, the order, the
best trial, the CSV / JSON / heat map. Ray Tune's ``Result`` objects are stood in for by
plain ones with the same fields (metrics, config, error, path), so no Ray is needed."""

from __future__ import annotations

import csv
import io
import json
import math
from types import SimpleNamespace

import pytest

from scripts.sweep.models import MODELS
from scripts.sweep.results import (COLUMNS, best_row, format_top, heatmap_png, interrupted,
                                   sort_rows, started, table_csv, table_json, trial_row)

NET = MODELS["two_layer_net"]


def result(trial_id, lr, reg, epochs=None, best=math.nan, done=True, diverged=False, error=None,
           config=True, planned=4.0):
    """What Tune keeps of a trial that planned 4 epochs: its last report and its state."""
    metrics = {} if epochs is None else {"epochs": epochs, "best_val_acc": best, "done": done,
                                         "diverged": diverged, "time_total_s": 3.0, "node": "n1"}
    return SimpleNamespace(metrics=metrics, error=error, path=f"/sweeps/x/{trial_id}",
                           config={"learning_rate": lr, "reg": reg, "epochs": planned}
                           if config else None)


RESULTS = [
    result("t_stopped", 1e-3, 0.1, epochs=2, best=0.45),
    result("t_done", 2e-4, 0.03, epochs=4, best=0.55),
    result("t_diverged", 1.0, 0.1, epochs=0.4, diverged=True),
    result("t_failed", 3e-4, 0.3, error=RuntimeError("worker died")),
    result("t_running", 5e-4, 0.01, epochs=3, best=0.5, done=False),
    result("t_done_worse", 1e-4, 0.01, epochs=4, best=0.50),
]


def table():
    return sort_rows([trial_row(NET, r, 1000, retries=1 if r.error else 0, scheduler="asha")
                      for r in RESULTS])


def test_each_trial_gets_its_status_and_the_table_is_sorted():
    rows = table()
    assert [(r["rank"], r["trial_id"], r["status"]) for r in rows] == [
        (1, "t_done", "done"), (2, "t_done_worse", "done"), (3, "t_stopped", "stopped"),
        (4, "t_diverged", "diverged"), (5, "t_failed", "failed"), (6, "t_running", "unfinished")]
    assert best_row(rows)["trial_id"] == "t_done"
    assert rows[4]["retries"] == 1 and rows[0]["config"]["hidden_size"] == 1000  # base values
    assert best_row([r for r in rows if r["status"] not in ("done", "stopped")]) is None


def test_interrupted_and_unstarted_trials_are_told_apart():
    assert [interrupted(r) for r in RESULTS] == [False, False, False, False, True, False]
    assert started(RESULTS[0]) and not started(result("t_new", 1e-3, 0.1, config=False))


def test_csv_json_and_top_table_hold_every_trial():
    rows = table()
    lines = table_csv(rows).splitlines()
    assert lines[0] == ("rank,trial_id,status,val_acc,epochs_run,seconds,retries,node,"
                        "learning_rate,reg")  # only the values that vary
    assert lines[1].startswith("1,t_done,done,0.55,4,3.0,0,n1,0.0002,0.03")
    records = json.loads(table_json(rows))  # NaN is not JSON: it becomes null
    assert len(records) == 6 and records[3]["val_acc"] is None
    assert records[0]["config"]["epochs"] == 4.0
    top = format_top(rows, count=2).splitlines()
    assert len(top) == 4 and top[2].startswith("| 1 | 0.550 | done | 4 |")
    assert top[0].endswith("| seconds | learning_rate | reg |")
    same = [dict(r, config={"epochs": 4.0}) for r in rows[:2]]  # nothing varies: no empty column
    assert format_top(same).splitlines()[0] == "| rank | val acc | status | epochs run | seconds |"


def test_a_swept_epochs_and_the_epochs_run_are_two_columns_of_their_own():
    """1.04 epochs of 1000 rows in batches of 200 train 5 steps, 1.0 epoch: the CSV keeps the
    configured value under its own name and the epochs run under ``epochs_run``."""
    rows = sort_rows([trial_row(NET, result("t_short", 1e-3, 0.1, epochs=1.0, best=0.4,
                                            planned=1.04), 1000, 0, scheduler="asha"),
                      trial_row(NET, result("t_long", 1e-3, 0.1, epochs=2.0, best=0.5,
                                            planned=2.0), 1000, 0, scheduler="asha")])
    header = table_csv(rows).splitlines()[0].split(",")
    assert len(header) == len(set(header)) and "epochs" in header and "epochs_run" in header
    read = {r["trial_id"]: r for r in csv.DictReader(io.StringIO(table_csv(rows)))}
    assert (read["t_short"]["epochs"], read["t_short"]["epochs_run"]) == ("1.04", "1.0")
    assert read["t_short"]["status"] == "done"  # every step it planned


def test_no_hyperparameter_shares_a_name_with_a_column_of_the_table():
    for name, model in MODELS.items():
        assert not set(model.params) & set(COLUMNS), name


def test_fifo_never_stops_a_trial_early_but_asha_does():
    short = result("t", 1e-3, 0.1, epochs=2, best=0.45)  # 2 of 4 planned epochs, then done
    assert trial_row(NET, short, 1000, 0, scheduler="asha")["status"] == "stopped"
    assert trial_row(NET, short, 1000, 0, scheduler="fifo")["status"] == "done"


@pytest.mark.parametrize("rows", [table(), [r for r in table() if r["status"] == "failed"]],
                         ids=["mixed", "all-failed"])
def test_the_heat_map_is_a_png(rows):
    assert heatmap_png(rows, "two_layer_net")[:8] == b"\x89PNG\r\n\x1a\n"
