"""The commands refuse nonsense before any work, never lose or half-write a result, and
exit 2 with ``error: <message>`` when the data is missing or damaged (``load_data``, or
the command's own handler), never with a traceback."""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from scratch_numpy.checkpoints import atomic_output
from scratch_numpy.data import META_FILE, TEST_FILE, TRAIN_FILES
from scratch_numpy.two_layer_net import TwoLayerNet
from scripts import (bench_fc_net, fc_net, knn, linear_classifiers, optimization_strategies, reproduce,
                     two_layer_net)
from scripts.cli import UsageError, non_negative_float, non_negative_int, output_file

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """CIFAR10_DIR at an empty folder: a command that reached its data loading would fail
    there, so an error about the arguments proves nothing was loaded first."""
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path / "empty"))


@pytest.mark.parametrize("main, argv, message", [
    (two_layer_net.main, ["train", "--epochs", "nan"], "finite number > 0"),
    (two_layer_net.main, ["train", "--epochs", "0"], "finite number > 0"),
    (two_layer_net.main, ["train", "--epochs", "-1"], "finite number > 0"),
    (two_layer_net.main, ["search", "--hidden", "0"], "positive integer"),
    (knn.main, ["--full", "--num-test", "-9995"], "positive integer"),
    (knn.main, ["--k-choices", "1", "x"], "positive integer"),
    (linear_classifiers.main, ["--num-iters", "0"], "positive integer"),
    (optimization_strategies.main, ["--num-evals", "-3"], "positive integer"),
    (reproduce.main, ["--only", "bogus"], "invalid choice"),
    (reproduce.main, ["--device", "tpu"], "device"),
    (fc_net.main, ["train", "--reg", "nan"], "finite number >= 0"),
    (fc_net.main, ["search", "--reg", "-1"], "finite number >= 0"),
    (bench_fc_net.main, ["--repeats", "0"], "positive integer"),
])
def test_nonsense_numbers_are_refused_by_argparse(no_data, capsys, main, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("main", [two_layer_net.main, fc_net.main])
def test_compile_without_the_torch_backend_is_refused(no_data, capsys, main):
    assert main(["train", "--compile"]) == 2
    assert "--compile applies to --backend torch only" in capsys.readouterr().err


@pytest.mark.parametrize("parse, text, value", [
    (non_negative_int, "0", 0), (non_negative_int, "3", 3),
    (non_negative_float, "0", 0.0), (non_negative_float, "0.5", 0.5)])
def test_non_negative_numbers_take_zero(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize("parse, text", [
    (non_negative_int, "-1"), (non_negative_int, "1.5"), (non_negative_int, "x"),
    (non_negative_float, "-0.1"), (non_negative_float, "nan"), (non_negative_float, "inf")])
def test_negative_or_non_numbers_are_refused(parse, text):
    with pytest.raises(argparse.ArgumentTypeError, match=">= 0|at least 0"):
        parse(text)


def test_output_paths_are_checked_before_any_work(no_data, tmp_path, capsys):
    assert two_layer_net.main(["train", "--save", str(tmp_path / "absent" / "net")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "net.npz").write_bytes(b"what the user had")
    assert two_layer_net.main(["train", "--save", str(tmp_path / "net")]) == 2
    err = capsys.readouterr().err
    assert "exists" in err and "--overwrite" in err
    assert (tmp_path / "net.npz").read_bytes() == b"what the user had"
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(SystemExit):
        reproduce.main(["--out", str(not_a_folder)])
    assert "not a folder" in capsys.readouterr().err


def test_output_file_names_what_will_be_written(tmp_path):
    assert output_file(tmp_path / "net", ".npz") == tmp_path / "net.npz"
    assert output_file(tmp_path / "net.npz", ".npz") == tmp_path / "net.npz"
    (tmp_path / "net.npz").write_text("old")
    with pytest.raises(UsageError, match="exists"):
        output_file(tmp_path / "net", ".npz")
    assert output_file(tmp_path / "net", ".npz", overwrite=True) == tmp_path / "net.npz"


def test_atomic_output_never_leaves_half_a_file(tmp_path):
    target = tmp_path / "results.txt"
    target.write_text("previous results\n")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "previous results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.txt"]
    archive = tmp_path / "params.npz"
    with atomic_output(archive) as temporary:
        np.savez(temporary, a=np.arange(3))  # the temporary name ends in .npz: savez adds nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.npz", "results.txt"]
    np.testing.assert_array_equal(np.load(archive)["a"], np.arange(3))
    umask = os.umask(0)
    os.umask(umask)
    assert archive.stat().st_mode & 0o777 == 0o666 & ~umask  # the usual permissions


def test_save_writes_the_file_it_names(cifar10, tmp_path, capsys):
    code = two_layer_net.main(["train", "--epochs", "0.01", "--save", str(tmp_path / "net"),
                               "--out", str(tmp_path / "plots")])
    out = capsys.readouterr().out
    assert code == 0
    assert f"wrote {tmp_path / 'net.npz'}" in out
    assert (tmp_path / "net.npz").exists() and not (tmp_path / "net").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.npz", "plots"]


def test_a_file_that_appeared_while_training_ran_is_kept(cifar10, tmp_path, capsys, monkeypatch):
    """--save without --overwrite never replaces a file, even one written while training ran:
    the network goes to net.1.npz, and both survive."""
    target = tmp_path / "net.npz"
    real_train = two_layer_net.train_net_config

    def train_then_someone_writes(*args, **kwargs):
        result = real_train(*args, **kwargs)
        target.write_text("theirs")
        return result

    monkeypatch.setattr(two_layer_net, "train_net_config", train_then_someone_writes)
    code = two_layer_net.main(["train", "--epochs", "0.01", "--save", str(target),
                               "--out", str(tmp_path / "plots")])
    captured = capsys.readouterr()
    assert code == 0 and target.read_text() == "theirs"
    assert f"{target} appeared while this ran and is kept; wrote {tmp_path / 'net.1.npz'}" \
        in captured.err
    assert TwoLayerNet.load(tmp_path / "net.1.npz").sizes[1] > 0


def test_a_full_disk_for_the_plots_keeps_the_trained_network(cifar10, tmp_path, capsys,
                                                             monkeypatch):
    """The checkpoint is written before the PNGs, and a PNG that cannot be written is a
    warning, not a traceback that loses the run."""
    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(two_layer_net, "plot_curves", disk_full)
    code = two_layer_net.main(["train", "--epochs", "0.01", "--save", str(tmp_path / "net"),
                               "--out", str(tmp_path / "plots")])
    captured = capsys.readouterr()
    assert code == 0 and (tmp_path / "net.npz").exists()
    assert "warning: the plots were not written: [Errno 28] No space left on device" in captured.err


# ---- missing or damaged data ----------------------------------------------------------------

# module -> the shortest argv that reaches the data loading.
COMMANDS = {
    "knn": [],
    "linear_classifiers": [],
    "optimization_strategies": [],
    "two_layer_net": ["train"],
    "fc_net": ["train"],
    "exp_initialisation": [],
    "exp_network_size": [],
    "exp_preprocessing": [],
    "exp_zero_centred": [],
    "bench_knn": [],
    "bench_fc_net": [],
    "bench_knn_cuda": [],
    "bench_linear": [],
    "bench_two_layer_net": [],
    "bench_step_parts": [],
    "check_training_identical": ["--save", "fingerprint.npz"],
    "reproduce": ["--device", "cpu"],
    "check_gradient": [f"{REPO / 'scratch_numpy' / 'linear_svm.py'}:svm_loss_vectorized",
                       "--kind", "svm", "--device", "cpu"],
}


def _damaged_copy(folder: Path) -> Path:
    """A complete-looking folder whose first batch holds a label of 2**70 (an
    OverflowError escaped the loader for it)."""
    folder.mkdir()
    batch = {"data": np.zeros((10_000, 3072), np.uint8), "labels": [2**70] + [0] * 9_999}
    (folder / TRAIN_FILES[0]).write_bytes(pickle.dumps(batch, protocol=2))
    for name in (*TRAIN_FILES[1:], TEST_FILE, META_FILE):
        (folder / name).write_bytes(b"")
    return folder


@pytest.mark.parametrize("module", COMMANDS)
@pytest.mark.parametrize("problem", ["damaged", "missing"])
def test_data_problem_exits_2_with_the_message(module, problem, tmp_path, monkeypatch, capsys):
    if problem == "damaged":
        folder = _damaged_copy(tmp_path / "cifar")
        expected = f"error: {folder / TRAIN_FILES[0]}: labels must lie in 0..9"
    else:
        folder = tmp_path / "typo"
        expected = f"{folder}  (CIFAR10_DIR: no such folder)"
    monkeypatch.setenv("CIFAR10_DIR", str(folder))
    monkeypatch.chdir(tmp_path)  # whatever a command might write stays here
    if module == "bench_knn_cuda":  # it refuses to start without a GPU, before loading
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    main = importlib.import_module(f"scripts.{module}").main
    assert main(COMMANDS[module]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_a_reader_that_goes_away_ends_the_command_quietly():
    """``cs231n-check-gradient --list | head -1``: no BrokenPipeError traceback, status 141."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "import sys; from scripts.cli import command\n"
                             "@command\ndef main(argv):\n    for i in range(10**6): print(i)\n"
                             "    return 0\nsys.exit(main(None))"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    proc.stdout.readline()
    proc.stdout.close()  # the reader goes away
    assert proc.wait(timeout=60) == 141
    err = proc.stderr.read().decode()
    assert "Traceback" not in err and "BrokenPipe" not in err, err
