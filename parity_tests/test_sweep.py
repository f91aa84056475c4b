"""The sweep command: its usage errors (no Ray needed), and real sweeps on Ray Tune.

The Ray tests run ``python -m scripts.sweep`` in a subprocess, as a user does, on
small CIFAR-10 subsets; they skip with the reason where Ray Tune is not installed
(CI installs it: ``.[dev,sweep]``):

* a tiny local sweep: ASHA stops a bad trial at an epoch boundary, a diverging trial
  is recorded as diverged, every trial read the shared rows from the object store,
  the table, heat map and best configuration (retrained, tested once) are written;
* faults: a trial's worker process is killed mid-run and retried; the driver is
  interrupted (SIGINT) and ``--resume`` finishes the sweep without rerunning the
  trials that had finished;
* a two-node cluster on this machine (``ray.cluster_utils.Cluster``): ``--address``
  runs trials on both nodes.
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts.sweep import command as sweep

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("argv, message", [
    ([], "name the MODEL to tune, or --resume FOLDER"),
    (["svm", "--space", "lr=1"], "unknown hyperparameter 'lr'"),
    (["svm", "--scheduler", "asha"], "svm reports once, at the end of training"),
    (["svm", "--gpus-per-trial", "0.5"], "the numpy backend trains on CPU"),
    (["svm", "--compile"], "it needs --backend torch"),
    (["two_layer_net", "--reduction-factor", "1"], "ASHA needs 2 or more"),
    (["svm", "--name", "a/b"], "must be a folder name, not a path"),
    (["two_layer_net", "--space-file", "nowhere.toml"], "cannot read the space file"),
    (["--resume", "nowhere"], "nowhere is not a sweep folder"),
    (["two_layer_net", "--space", "epochs=1e300"], "epochs must be a finite number in (0, 1000]"),
    (["svm", "--num-samples", "1000"], "12000 trials: a sweep runs at most 10000"),
])
def test_usage_errors_exit_2_with_the_reason(tmp_path, capsys, no_work, argv, message):
    assert sweep.main([*argv, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


# A sweep.json as a new svm sweep writes it.
SETTINGS = {"model": "svm", "backend": "numpy", "compile": False,
            "space": {"learning_rate": {"kind": "grid", "values": [1e-7, 1e-6]},
                      "reg": {"kind": "fixed", "values": [1000.0]}},
            "num_samples": 1, "scheduler": "fifo", "grace_epochs": 2, "reduction_factor": 3,
            "cpus_per_trial": 1, "gpus_per_trial": 0.0, "max_failures": 2, "time_budget_s": None,
            "num_train": 500, "num_val": 100, "seed": 0, "name": "saved"}


class RunsCode:
    """A pickle that, loaded, writes a file: what a crafted tuner.pkl could do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def sweep_folder(parent: Path, name: str = "saved", settings=None, tuner: bool = True) -> Path:
    """A sweep folder as an interrupted sweep leaves it: sweep.json and Ray Tune's tuner.pkl
    (here one that writes PWNED beside the folder when unpickled)."""
    folder = parent / name
    folder.mkdir()
    (folder / "sweep.json").write_text(json.dumps(settings or dict(SETTINGS, name=name)))
    if tuner:
        (folder / "tuner.pkl").write_bytes(pickle.dumps(RunsCode(parent / "PWNED")))
    return folder


@pytest.fixture
def no_work(monkeypatch):
    """A sweep that gets as far as loading the data fails the test: every check comes first."""
    def load_data(cifar10_dir):
        raise AssertionError("the sweep loaded its data before refusing")

    monkeypatch.setattr(sweep, "load_data", load_data)


def test_a_new_sweep_refuses_an_existing_folder_and_resume_refuses_new_settings(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    assert sweep.main(["svm", "--out", str(tmp_path), "--name", "taken"]) == 2
    assert "exists: --resume it, or choose another --name" in capsys.readouterr().err
    folder = sweep_folder(tmp_path)
    assert sweep.main(["--resume", str(folder), "--num-samples", "3"]) == 2
    assert "--num-samples cannot change it" in capsys.readouterr().err
    assert sweep.main(["softmax", "--resume", str(folder)]) == 2
    assert "is a svm sweep, not softmax" in capsys.readouterr().err
    (folder / "best.json").write_text("{}")
    assert sweep.main(["--resume", str(folder)]) == 2
    assert "has finished (best.json): its test accuracy was measured once" in (
        capsys.readouterr().err)


# ---- --resume: a sweep folder is code ---------------------------------------------------------

def test_help_says_that_a_sweep_folder_is_code_to_trust_like_a_script(capsys):
    with pytest.raises(SystemExit):
        sweep.main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "A sweep folder is code" in help_text and "trust as you would a script" in help_text


def writable_by_group(folder: Path) -> str:
    folder.chmod(0o775)
    return "writable by group or others (drwxrwxr-x)"


def tuner_writable_by_all(folder: Path) -> str:
    (folder / "tuner.pkl").chmod(0o666)
    return "tuner.pkl: writable by group or others (-rw-rw-rw-)"


def trial_pickle_writable(folder: Path) -> str:
    (folder / "abc_00000").mkdir()
    (folder / "abc_00000" / "params.pkl").write_bytes(b"")
    (folder / "abc_00000" / "params.pkl").chmod(0o646)
    return "params.pkl: writable by group or others"


def owned_by_another_user(folder: Path, monkeypatch) -> str:
    uid = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: uid + 1)  # so every file is someone else's
    return f"owned by another user (uid {uid}, you are {uid + 1})"


def linked_elsewhere(folder: Path) -> str:
    (folder / "tuner.pkl").rename(folder.parent / "elsewhere.pkl")
    (folder / "tuner.pkl").symlink_to(folder.parent / "elsewhere.pkl")
    return "tuner.pkl: a symbolic link"


@pytest.mark.parametrize("make_unsafe", [writable_by_group, tuner_writable_by_all,
                                         trial_pickle_writable, owned_by_another_user,
                                         linked_elsewhere])
def test_resume_refuses_a_folder_someone_else_could_write_before_unpickling_it(
        tmp_path, capsys, monkeypatch, no_work, make_unsafe):
    folder = sweep_folder(tmp_path)
    args = (folder, monkeypatch) if make_unsafe is owned_by_another_user else (folder,)
    problem = make_unsafe(*args)
    assert sweep.main(["--resume", str(folder)]) == 2
    err = capsys.readouterr().err
    assert problem in err and "can run any code" in err and "Traceback" not in err
    assert not (tmp_path / "PWNED").exists()


def test_resume_checks_sweep_json_before_the_folder_owner(tmp_path, capsys, no_work):
    folder = sweep_folder(tmp_path)
    folder.chmod(0o777)
    (folder / "sweep.json").write_text("[]")
    assert sweep.main(["--resume", str(folder)]) == 2
    assert "sweep.json is not a sweep's settings" in capsys.readouterr().err


def without(key):
    return {k: v for k, v in SETTINGS.items() if k != key}


@pytest.mark.parametrize("content, problem", [
    (b"", "the file is empty"),
    (b"  \n", "the file is empty"),
    (json.dumps(SETTINGS).encode()[:40], "not valid JSON: Unterminated string"),
    (b'{"model": "svm",', "not valid JSON: Expecting property name"),
    (b"\xff\xfe{\x00}", "not UTF-8 text (byte 0xff at offset 0)"),
    (json.dumps(SETTINGS).encode("utf-16"), "not UTF-8 text"),
    (b"[]", "expected a JSON object of settings, got list"),
    (b"null", "expected a JSON object of settings, got NoneType"),
    (b'"svm"', "expected a JSON object of settings, got str"),
    (json.dumps(without("space")), "missing space"),
    (json.dumps({"model": "svm"}), "missing backend, space, num_samples"),
    (json.dumps(dict(SETTINGS, colour="blue")), "unknown setting 'colour'"),
    (json.dumps(dict(SETTINGS, model="resnet")), "model must be one of svm, softmax"),
    (json.dumps(dict(SETTINGS, model=["svm"])), "model must be a string, got ['svm']"),
    (json.dumps(dict(SETTINGS, backend="jax")), "backend must be one of numpy, torch"),
    (json.dumps(dict(SETTINGS, num_samples="3")),
     "num_samples must be a positive integer, got '3'"),
    (json.dumps(dict(SETTINGS, num_samples=True)), "num_samples must be a positive integer"),
    (json.dumps(dict(SETTINGS, num_samples=1.5)),
     "num_samples must be a positive integer, got 1.5"),
    (json.dumps(dict(SETTINGS, gpus_per_trial="auto")), "gpus_per_trial must be a finite number"),
    (json.dumps(dict(SETTINGS, time_budget_s=-1)), "time_budget_s must be a finite number > 0"),
    (json.dumps(dict(SETTINGS, seed=None)), "seed must be an integer >= 0, got None"),
    (json.dumps(dict(SETTINGS, name="../elsewhere")), "must be a folder name, not a path"),
    (json.dumps(dict(SETTINGS, name=7)), "name must be a string, got 7"),
    (json.dumps(dict(SETTINGS, scheduler="asha")), "svm reports once, at the end of training"),
    (json.dumps(dict(SETTINGS, space=[1, 2])), "expected an object of hyperparameters, got list"),
    (json.dumps(dict(SETTINGS, space={"reg": [1.0]})), "reg: expected {\"kind\": NAME"),
    (json.dumps(dict(SETTINGS, space={"reg": {"kind": "grid"}})), "reg: expected {\"kind\": NAME"),
    (json.dumps(dict(SETTINGS, space={"reg": {"kind": "grid", "values": 1}})), "reg: expected"),
    (json.dumps(dict(SETTINGS, space={"lr": {"kind": "fixed", "values": [1]}})),
     "unknown hyperparameter 'lr'"),
    (json.dumps(dict(SETTINGS, space={"reg": {"kind": "uniform", "values": [1]}})),
     "reg: unknown kind 'uniform'"),
    (json.dumps(dict(SETTINGS, space={"num_iters": {"kind": "fixed", "values": [1e300]}})),
     "num_iters must be an integer in 1..1000000, got 1e+300"),
    (json.dumps(dict(SETTINGS, num_samples=10_000)), "a sweep runs at most 10000"),
])
def test_resume_of_a_damaged_or_foreign_sweep_json_is_a_usage_error_naming_it(
        tmp_path, capsys, no_work, content, problem):
    folder = sweep_folder(tmp_path)
    path = folder / "sweep.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert sweep.main(["--resume", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path.resolve()} is not a sweep's settings: "), err
    assert problem in err and "Traceback" not in err
    assert not (tmp_path / "PWNED").exists()


# ---- a folder that Ray Tune never saved --------------------------------------------------------

def test_resume_of_a_folder_without_tuner_state_says_how_to_start_it_again(tmp_path, capsys,
                                                                           no_work):
    """Ctrl-C while Ray started used to leave sweep.json alone: --resume says what happened
    and gives the command that starts the same sweep afresh, in the same folder."""
    folder = sweep_folder(tmp_path, tuner=False)
    assert sweep.main(["--resume", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "holds no saved Ray Tune state (tuner.pkl)" in err and "no trial ran" in err
    again = shlex.split(err.strip().splitlines()[-1])
    assert again[:4] == ["python", "-m", "scripts.sweep", "svm"]
    restarted = sweep.new_settings(sweep.parse_args(again[3:]))
    assert restarted == dict(SETTINGS, gpus_per_trial=None)  # the same sweep; GPUs resolved later
    assert Path(again[again.index("--out") + 1]) / again[again.index("--name") + 1] == (
        folder.resolve())
    (folder / "trial_dir").mkdir()  # something else in it: move it away or choose another name
    assert sweep.main(["--resume", str(folder)]) == 2
    assert "after moving the folder away, or with another --name" in capsys.readouterr().err


def stand_in_data(seen: list, folder: Path):
    """load_data that records what the sweep folder holds when the data is loaded, then stops."""
    def load_data(cifar10_dir):
        seen.append(sorted(p.name for p in folder.iterdir()) if folder.is_dir() else None)
        raise sweep.UsageError("stand-in for the data")

    return load_data


def test_a_new_sweep_of_an_unsaved_folder_name_starts_there_and_keeps_its_files(
        tmp_path, capsys, monkeypatch):
    folder = sweep_folder(tmp_path, "half", tuner=False)
    before = (folder / "sweep.json").read_bytes()
    seen = []
    monkeypatch.setattr(sweep, "load_data", stand_in_data(seen, folder))
    assert sweep.main(["svm", "--out", str(tmp_path), "--name", "half"]) == 2
    out, err = capsys.readouterr()
    assert "stand-in for the data" in err and "exists" not in err
    assert "holds no saved sweep" in out and "starting afresh there" in out
    assert seen == [["sweep.json"]] and (folder / "sweep.json").read_bytes() == before


def test_ctrl_c_before_ray_tune_started_leaves_nothing_behind(tmp_path, capsys, monkeypatch):
    def interrupted(cifar10_dir):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep, "load_data", interrupted)
    assert sweep.main(["svm", "--out", str(tmp_path), "--name", "stopped"]) == 130
    assert "interrupted before Ray Tune started: no trial ran" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # a new sweep of this name starts as if none had


# ---- the sweep folder: claimed before any work -----------------------------------------------

def test_sweeps_started_in_the_same_second_get_names_of_their_own(tmp_path, capsys, monkeypatch):
    """The default name is MODEL-BACKEND-TIME to the second; a second sweep in that second
    claims NAME-2 before it loads any data (it used to fail after loading, on FileExistsError)."""
    real = time.strftime
    monkeypatch.setattr(time, "strftime", lambda fmt, *t: "20260101-120000"
                        if fmt == "%Y%m%d-%H%M%S" else real(fmt, *t))
    (tmp_path / "svm-numpy-20260101-120000").mkdir()
    seen = []
    monkeypatch.setattr(sweep, "load_data", stand_in_data(seen, tmp_path))
    assert sweep.main(["svm", "--out", str(tmp_path)]) == 2
    assert "stand-in for the data" in capsys.readouterr().err
    assert seen == [["svm-numpy-20260101-120000", "svm-numpy-20260101-120000-2"]]
    # The claimed folder held nothing when the sweep failed: it is gone, the other is kept.
    assert [p.name for p in tmp_path.iterdir()] == ["svm-numpy-20260101-120000"]
    for expected in ("svm-numpy-20260101-120000-2", "svm-numpy-20260101-120000-3"):
        settings = dict(SETTINGS, name="svm-numpy-20260101-120000")
        folder, created = sweep.claim_folder(tmp_path, settings, default_name=True)
        assert created and folder.name == settings["name"] == expected


@pytest.mark.parametrize("out", ["somefile/sub", "somefile"])
def test_an_out_folder_below_a_file_is_refused_before_any_work(tmp_path, capsys, no_work, out):
    (tmp_path / "somefile").write_text("mine")
    assert sweep.main(["svm", "--out", str(tmp_path / out)]) == 2
    assert f"{tmp_path / 'somefile'} is a file, not a folder" in capsys.readouterr().err
    assert (tmp_path / "somefile").read_text() == "mine"


@pytest.mark.parametrize("option, value", [("--num-samples", "0"), ("--cpus-per-trial", "x"),
                                           ("--gpus-per-trial", "-1"), ("--max-failures", "-1")])
def test_numbers_on_the_command_line_are_checked_by_argparse(capsys, option, value):
    with pytest.raises(SystemExit) as exit_info:
        sweep.main(["svm", option, value])
    assert exit_info.value.code == 2
    assert f"argument {option}" in capsys.readouterr().err


# ---- real sweeps on Ray ---------------------------------------------------------------------

@pytest.fixture
def ray_tune(cifar10):
    """Ray Tune, or a skip saying how to install it; CIFAR-10 must be there (the sweeps load it)."""
    return pytest.importorskip("ray.tune", reason="sweeps need Ray Tune: pip install -e '.[sweep]'")


def sweep_command(*args) -> list[str]:
    return [sys.executable, "-m", "scripts.sweep", *args]


def run_sweep(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(sweep_command(*args), cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def tune_records(folder: Path) -> dict[str, list[dict]]:
    """Every report of every trial, from Ray Tune's result.json files: {trial_id: [report]}."""
    records = {}
    for path in folder.glob("*/result.json"):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if lines:
            records[lines[0]["trial_id"]] = lines
    return records


def test_a_tiny_local_sweep_stops_bad_trials_records_divergence_and_tests_the_best_once(
        ray_tune, tmp_path):
    # Grid order matters: the two good rates start first (2 CPUs), so the useless rate
    # 1e-7 meets their epoch-1 accuracies at ASHA's first rung and is stopped there.
    # 4.04 epochs of 10 steps are 40 steps: a trial that ran them all is done at epoch 4.
    done = run_sweep("two_layer_net", "--num-train", "2000", "--num-val", "500",
                     "--space", "learning_rate=grid:5e-4,3e-4,1e-7,1e3", "hidden_size=50",
                     "epochs=4.04", "--num-samples", "1", "--grace-epochs", "1",
                     "--reduction-factor", "2", "--num-cpus", "2", "--out", str(tmp_path),
                     "--name", "tiny")
    assert done.returncode == 0, done.stdout + done.stderr
    folder = tmp_path / "tiny"
    rows = json.loads((folder / "trials.json").read_text())
    by_rate = {r["config"]["learning_rate"]: r for r in rows}
    assert [r["rank"] for r in rows] == [1, 2, 3, 4]
    assert by_rate[1e-7]["status"] == "stopped" and by_rate[1e-7]["epochs_run"] == 1
    assert by_rate[1e3]["status"] == "diverged" and rows[-1] is by_rate[1e3]
    assert rows[0]["status"] == "done" and rows[0]["epochs_run"] == 4
    for r in rows[:3]:
        assert r["status"] == ("done" if r["epochs_run"] == 4 else "stopped")
    assert rows[0]["val_acc"] > 0.25 and rows[0]["val_acc"] >= rows[1]["val_acc"]

    records = tune_records(folder)
    assert len(records) == 4
    # Every trial read the rows put into the object store once: read-only shared memory.
    assert all(report["shared_data"] for reports in records.values() for report in reports)
    assert len({reports[-1]["node"] for reports in records.values()}) == 1

    best = json.loads((folder / "best.json").read_text())
    assert best["trial_id"] == rows[0]["trial_id"] and best["config"] == rows[0]["config"]
    # The retraining repeats the trial exactly (same seed, one thread each).
    assert best["retrained_val_acc"] == pytest.approx(best["trial_val_acc"], abs=1e-12)
    assert 0.2 < best["test_acc"] < 0.6
    assert "test" in done.stdout and f"{best['test_acc']:.3f}" in done.stdout
    assert (folder / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv_lines = (folder / "trials.csv").read_text().splitlines()
    assert csv_lines[0] == ("rank,trial_id,status,val_acc,epochs_run,seconds,retries,node,"
                            "learning_rate")
    assert len(csv_lines) == 5
    assert [r["status"] for r in csv.DictReader(csv_lines)] == [r["status"] for r in rows]
    assert "| rank | val acc | status |" in done.stdout


def wait_for(condition, timeout: float, what: str):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def finished_trials(log: Path) -> list[str]:
    """Trial ids of the sweep's '[k/N] TRIAL ...' lines so far."""
    return [line.split()[1] for line in log.read_text().splitlines() if line.startswith("[")]


def training_workers(root: int) -> list[int]:
    """Pids of the Ray worker processes below ``root`` that are running a trial: Ray titles
    such a process ``ray::ImplicitFunc.train`` while the trial trains (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            todo.append(pid)
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::ImplicitFunc.train"):
                    found.append(pid)
            except OSError:
                pass
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds Ray's workers in /proc")
def test_a_killed_worker_is_retried_and_an_interrupted_sweep_resumes(ray_tune, tmp_path):
    folder, log = tmp_path / "faults", tmp_path / "first.log"
    with log.open("w") as out:
        driver = subprocess.Popen(sweep_command(
            "two_layer_net", "--backend", "torch", "--num-train", "6000", "--num-val", "500",
            "--space", "learning_rate=grid:2e-4,3e-4,4e-4", "hidden_size=100", "epochs=8",
            "--num-samples", "1", "--scheduler", "fifo", "--max-failures", "2", "--num-cpus", "2",
            "--out", str(tmp_path), "--name", "faults"),
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        # Kill the worker process of a trial while it trains.
        victim = wait_for(lambda: training_workers(driver.pid), 120, "a training trial")[0]
        os.kill(victim, signal.SIGKILL)
        # Interrupt the driver once a trial has finished (the others are running).
        wait_for(lambda: finished_trials(log), 180, "a finished trial")
        driver.send_signal(signal.SIGINT)
        assert driver.wait(timeout=120) == 130, log.read_text()
    finally:
        if driver.poll() is None:
            driver.kill()
    assert "continue with" in log.read_text()
    before = finished_trials(log)
    saved = {trial: reports for trial, reports in tune_records(folder).items() if trial in before}
    assert saved and len(saved) < 3

    resumed = run_sweep("--resume", str(folder))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    rerun = [line.split()[1] for line in resumed.stdout.splitlines() if line.startswith("[")]
    assert sorted(rerun + before) == sorted(tune_records(folder))  # each trial finished once
    for trial, reports in saved.items():  # and the finished ones were not run again
        assert tune_records(folder)[trial] == reports
    rows = json.loads((folder / "trials.json").read_text())
    assert len(rows) == 3 and all(r["status"] == "done" and r["epochs_run"] == 8 for r in rows)
    assert sorted(r["retries"] for r in rows) == [0, 0, 1]  # the killed trial, retried once
    killed = next(r["trial_id"] for r in rows if r["retries"])
    assert victim not in {report["pid"] for report in tune_records(folder)[killed]}
    assert (folder / "best.json").exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("client", [False, pytest.param(True, marks=pytest.mark.slow)],
                         ids=["gcs-address", "ray-client"])
def test_the_address_flag_runs_trials_on_every_node_of_a_cluster(ray_tune, tmp_path, client):
    """Two nodes of one CPU each on loopback; 4 trials of one CPU must use both. Each trial
    trains for seconds, so the second node's worker is up (it unpacks the project's packages
    first) before the first node's, reused from trial to trial, could run them all. The
    ``ray://`` variant connects through Ray Client instead of the cluster's address."""
    from ray.cluster_utils import Cluster

    port = free_port()
    cluster = Cluster(initialize_head=True, head_node_args=dict(
        num_cpus=1, **({"ray_client_server_port": port} if client else {})))
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        address = f"ray://127.0.0.1:{port}" if client else cluster.address
        done = run_sweep("svm", "--address", address, "--num-train", "6000",
                         "--num-val", "500", "--space", "learning_rate=grid:1e-7,1e-6",
                         "reg=grid:1e2,1e3", "num_iters=1500", "batch_size=500",
                         "--out", str(tmp_path), "--name", "cluster")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"cluster {address}, 2 CPUs, 0 GPUs, 2 node(s)" in done.stdout
        rows = json.loads((tmp_path / "cluster" / "trials.json").read_text())
        assert len(rows) == 4 and all(r["status"] == "done" for r in rows)
        assert {r["node"] for r in rows} == {node.node_id for node in cluster.list_all_nodes()}
    finally:
        cluster.shutdown()


@pytest.mark.cuda
def test_gpu_trials_share_a_gpu_and_train_on_cuda(ray_tune, tmp_path):
    done = run_sweep("two_layer_net", "--backend", "torch", "--gpus-per-trial", "0.5",
                     "--num-train", "2000", "--num-val", "500", "--space",
                     "learning_rate=grid:2e-4,4e-4", "hidden_size=50", "epochs=2",
                     "--num-samples", "1", "--out", str(tmp_path), "--name", "gpu")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "per trial 1 CPU, 0.5 GPU" in done.stdout
    records = tune_records(tmp_path / "gpu")
    assert len(records) == 2
    assert all(report["device"] == "cuda" for reports in records.values() for report in reports)


def test_a_sweep_json_from_before_compile_existed_still_reads(tmp_path):
    old = {k: v for k, v in SETTINGS.items() if k != "compile"}
    folder = sweep_folder(tmp_path, settings=dict(old, name="saved"))
    assert sweep.read_settings(folder / "sweep.json")["compile"] is False


def test_compile_is_part_of_the_rerun_command():
    settings = dict(SETTINGS, backend="torch", compile=True)
    assert " --backend torch --compile " in sweep.rerun_command(settings, Path("out"))
