"""Whole files and whole assignments, unmodified (``parity_tests/oracle_fixtures/``), run as a
student runs them: ``cs231n-check-gradient assignment2/``, ``... cs231n/layers.py``,
``... cs231n/layers.py:NAME`` with no ``--kind``.

Every target gets its verdict and its diagnosis, the exit status follows the verdicts
(``--strict`` too), ``--json`` writes the same results, and nothing prints a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ref_torch.oracle import api, check_path
from ref_torch.oracle.command import write_json
from ref_torch.oracle.walk import assignment_files, find_targets
from scripts import check_gradient

FIXTURES = Path(__file__).parent / "oracle_fixtures"
A2_2024, A2_2018 = FIXTURES / "assignment2_2024", FIXTURES / "assignment2_2018_mistakes"
A3_2017, A3_MISTAKES = FIXTURES / "assignment3_2017", FIXTURES / "assignment3_mistakes"
A1_2022 = FIXTURES / "assignment1_2022"
LAYERS_2018 = A2_2018 / "cs231n" / "layers.py"

# (folder, {target: verdict}, exit status, exit status with --strict)
ASSIGNMENTS = [
    (A2_2024, {"affine_forward": "pass", "relu_forward": "pass", "softmax_loss": "pass",
               "svm_loss": "pass", "batchnorm_forward": "pass",
               "batchnorm_forward + batchnorm_backward_alt": "pass", "layernorm_forward": "pass",
               "dropout_forward": "pass", "conv_forward_naive": "pass",
               "max_pool_forward_naive": "pass", "spatial_batchnorm_forward": "pass",
               "spatial_groupnorm_forward": "not_implemented", "FullyConnectedNet": "pass"}, 0, 1),
    (A2_2018, {"affine_forward": "pass", "relu_forward": "pass", "batchnorm_forward": "fail",
               "batchnorm_forward + batchnorm_backward_alt": "pass", "layernorm_forward": "fail",
               "dropout_forward": "pass", "conv_forward_naive": "fail",
               "max_pool_forward_naive": "pass", "spatial_batchnorm_forward": "pass",
               "spatial_groupnorm_forward": "fail", "svm_loss": "fail", "softmax_loss": "pass"},
     1, 1),
    (A3_2017, {"rnn_step_forward": "pass", "rnn_forward": "pass",
               "word_embedding_forward": "pass", "lstm_step_forward": "pass",
               "lstm_forward": "pass", "temporal_affine_forward": "pass",
               "temporal_softmax_loss": "pass"}, 0, 1),
    (A3_MISTAKES, {"rnn_step_forward": "pass", "rnn_forward": "fail",
                   "word_embedding_forward": "fail", "lstm_step_forward": "pass",
                   "lstm_forward": "pass", "temporal_affine_forward": "fail",
                   "temporal_softmax_loss": "fail"}, 1, 1),
    (A1_2022, {"affine_forward": "pass", "relu_forward": "pass", "svm_loss": "pass",
               "softmax_loss": "pass", "TwoLayerNet": "pass", "LinearSVM.loss": "not_implemented",
               "Softmax.loss": "pass", "svm_loss_naive": "pass",
               "svm_loss_vectorized": "not_implemented", "softmax_loss_naive": "pass",
               "softmax_loss_vectorized": "pass"}, 0, 1),
]


@pytest.fixture
def rows_100(dev_batch, monkeypatch):
    X, y = dev_batch
    monkeypatch.setattr(api, "load_dev_batch", lambda *a, **k: (X[:100], y[:100]))


def run_command(args, capsys) -> tuple[int, str]:
    code = check_gradient.main([*map(str, args), "--device", "cpu"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("folder, verdicts, status, strict_status", ASSIGNMENTS,
                         ids=[a[0].name for a in ASSIGNMENTS])
def test_whole_assignment(folder, verdicts, status, strict_status, rows_100, capsys, tmp_path):
    out_json = tmp_path / "results.json"
    code, out = run_command([folder, "--json", out_json], capsys)
    assert "Traceback" not in out
    assert code == status, out
    results = json.loads(out_json.read_text())
    assert {t["target"]: t["verdict"] for t in results["targets"]} == verdicts
    for target in results["targets"]:
        assert f"{target['target']}" in out and target["file"].endswith(".py")
        assert (target["worst_error"] is None) == (target["verdict"] not in ("pass", "fail"))
        assert target["report"].startswith("[") and target["seconds"] >= 0
        if target["verdict"] == "fail":
            assert target["diagnosis"] or target["target"] in ("rnn_forward",), target
    assert results["summary"] in out
    code, out = run_command([folder, "--strict"], capsys)
    assert code == strict_status, out


def test_the_summary_and_what_is_not_checked(rows_100, capsys):
    code, out = run_command([A2_2024], capsys)
    assert "13 targets in 2 files" in out
    assert "not checked (no kind): cs231n/classifiers/cnn.py: ThreeLayerConvNet" in out
    assert "13 targets: 12 passed, 1 not implemented" in out
    assert ("NOT IMPLEMENTED   spatial_groupnorm_forward" in out
            and "returned out as None, expected a NumPy array (the starter code)" in out)


def test_a_failing_assignment_names_the_command_for_one_target(rows_100, capsys):
    code, out = run_command([A2_2018, "--details"], capsys)
    assert code == 1
    assert "==== cs231n/layers.py: batchnorm_forward" in out  # the full reports follow
    code, out = run_command([A2_2018], capsys)
    assert f"a target's full report: cs231n-check-gradient {LAYERS_2018}:batchnorm_forward" in out


# --kind layer with a torch forward, on x (3, 4)
LAYER_TORCH = ["--kind", "layer", "--shapes", "x=3,4", "--torch", "lambda x: torch.relu(x)"]

# One target, no --kind: (target, extra arguments, exit status, text the output holds)
TARGETS = [
    (f"{LAYERS_2018}:batchnorm_forward", [], 1,
     "diagnosis: dgamma and dbeta are swapped: return the gradients in the order "
     "(dx, dgamma, dbeta)"),
    (f"{LAYERS_2018}:batchnorm_forward", ["--backward", "batchnorm_backward_alt"], 0,
     "as kind 'batchnorm'"),
    (f"{LAYERS_2018}:batchnorm_forward", ["--backward", "batchnorm_backward_alternative"], 2,
     "batchnorm_backward_alternative not found beside batchnorm_forward; did you mean "
     "batchnorm_backward_alt"),
    (f"{LAYERS_2018}:conv_forward_naive", [], 1,
     "diagnosis: db is divided by 98 = N·H'·W': it is a sum over those, not a mean"),
    (f"{LAYERS_2018}:spatial_groupnorm_forward", [], 1,
     "diagnosis: the forward is wrong: out differs from the reference while your backward "
     "agrees with the numerical gradient of your own forward; fix the forward first"),
    (f"{LAYERS_2018}:svm_loss", [], 1,
     "diagnosis: the loss is 1 too high in every case: the correct class's own margin "
     "max(0, s_y - s_y + 1) = 1 is counted; skip j == y_i (in the gradient too)"),
    (f"{LAYERS_2018}:layernorm_forward", [], 1,
     "diagnosis: only dx is wrong; dgamma, dbeta agree in every case"),
    (f"{LAYERS_2018}:dropout_forward", [], 0,
     "warning: dropout_forward gives different outputs for the same inputs (a random draw on "
     "every call): seed the mask with np.random.seed(dropout_param['seed'])"),
    (f"{LAYERS_2018}:dropout_forward", ["--strict"], 1, "(failing: --strict)"),
    (f"{A3_2017}/cs231n/rnn_layers.py:lstm_step_forward", [], 0,
     "warning: lstm_step_backward modifies its argument dnext_c in place"),
    (f"{A3_2017}/cs231n/rnn_layers.py:lstm_step_forward", ["--strict"], 1,
     "lstm_step_backward modifies its argument dnext_c in place (the caller's array changes; "
     "work on a copy: dnext_c = dnext_c.copy()) (failing: --strict)"),
    (f"{A1_2022}/cs231n/layers.py:softmax_loss", [], 0,
     "warning: softmax_loss modifies its argument x in place"),
    (f"{A1_2022}/cs231n/classifiers/linear_svm.py:svm_loss_vectorized", [], 1,
     "not implemented: returns a loss of 0 and zero gradients (the starter code)"),
    (f"{A2_2024}/cs231n/layers.py:spatial_groupnorm_forward", [], 1,
     "not implemented: returned out as None, expected a NumPy array (the starter code)"),
    (f"{A3_MISTAKES}/cs231n/rnn_layers.py:word_embedding_forward", [], 1,
     "diagnosis: dW is wrong only in row(s) 0, 3"),
    (f"{A3_MISTAKES}/cs231n/rnn_layers.py:temporal_affine_forward", [], 1,
     "diagnosis: db is divided by 8 = N·T: it is a sum over those, not a mean"),
    ("conv_and_batchnorm.py:conv_db_mean_forward", ["--kind", "conv"], 1,
     "diagnosis: db is divided by 49 = H'·W': it is a sum over those, not a mean"),
    ("svm_mistakes.py:svm_loss_vectorized", ["--kind", "softmax"], 1,
     "diagnosis: the wrong kind? the loss is far from the softmax reference in every case, "
     "and it is what --kind svm computes"),
    ("dropout_variants.py:dropout_binomial_forward", ["--kind", "dropout"], 0, "8 passed"),
    ("dropout_variants.py:dropout_binomial_forward", [], 2,
     "cannot tell what 'dropout_binomial_forward' computes from its name: give --kind (see "
     "--list); kinds that fit it: --kind dropout"),
    ("dropout_variants.py:dropout_2016_forward", ["--kind", "dropout"], 1,
     "diagnosis: p is used as the probability of dropping a unit"),
    ("dropout_variants.py:dropout_unscaled_forward", ["--kind", "dropout"], 1,
     "diagnosis: kept units are not divided by p"),
    ("dropout_variants.py:dropout_unseeded_forward", ["--kind", "layer", "--inputs",
                                                      "dropout_inputs"], 1,
     "dropout_unseeded_forward gives different outputs for the same inputs (a random draw on "
     "every call): make it repeatable"),
    # --kind layer: the student's forward fails, not the torch expression
    ("broken_forwards.py:unfinished_forward", LAYER_TORCH, 1,
     "not implemented: returned out as None"),
    ("broken_forwards.py:wrong_shape_forward", LAYER_TORCH, 1,
     "wrong_shape_forward returned out of shape (3,), expected (3, 4)"),
    ("broken_forwards.py:no_cache_forward", LAYER_TORCH, 1,
     "no_cache_forward returned an array of shape (3, 4), expected the tuple (out, cache)"),
    ("conv_and_batchnorm.py:conv_forward_naive", ["--kind", "layer", "--inputs", "conv_inputs",
                                                  "--torch", "lambda x, w, b, p: x @ w"], 2,
     "the torch forward fails on these inputs: raised RuntimeError"),
    # what the review of real student habits found (more_mistakes.py)
    ("more_mistakes.py:relu_forward_ge", [], 1,
     "diagnosis: dx is wrong only where x == 0 (31163 entries): the derivative there is taken "
     "as 0 (max(0, x) has x > 0, not x >= 0)"),
    ("more_mistakes.py:conv_forward_axes", [], 1,
     "diagnosis: dw has its axes in another order: shape (3, 4, 3, 3), expected (4, 3, 3, 3); "
     "transpose it (dw.transpose(1, 0, 2, 3)), a reshape would scramble it"),
    ("more_mistakes.py:max_pool_forward_assign", [], 1,
     "diagnosis: only these cases fail, the others pass: overlapping: x (2, 2, 5, 6), 3x3, "
     "stride 1; N = 1: x (1, 3, 6, 9), 2x3 window, stride 2"),
    ("more_mistakes.py:layernorm_forward_axis0", [], 1,
     "diagnosis: out is what --kind batchnorm computes, not layernorm: is it computed over the "
     "right axes and terms?"),
    ("more_mistakes.py:dropout_forward_keeps_all", [], 1,
     "diagnosis: nothing is dropped in train mode: every unit is kept (p = 0.3)"),
    ("more_mistakes.py:affine_forward_complex", [], 1,
     "your code returned out with dtype complex128, expected a real array"),
    ("more_mistakes.py:affine_forward_half", [], 1,
     "your code returned out in float16, less precise than its float32 or float64 inputs"),
    ("more_mistakes.py:batchnorm_forward_eps", [], 1,
     "in float64, against 1e-12): nearly the same computation; a small constant (an epsilon"),
    ("more_mistakes.py:sigmoid_forward_locked", [], 0, "8 passed, 0 failed"),
    ("more_mistakes.py:relu_forward", [], 0, "as kind 'relu'"),  # an alias: named by its name
    ("broken_forwards.py:no_cache_forward",
     ["--kind", "layer", "--shapes", "x=3,4", "--torch", "lambda x: x.detach().sigmoid()"], 2,
     "the torch forward cannot be differentiated on these inputs"),
    ("layers_cs231n.py:relu_forward", ["--kind", "layer", "--shapes", "x=100000,100000"], 2,
     "the shape (100000, 100000) of input x has 10,000,000,000 elements; --shapes takes at most "
     "1,000,000 per input"),
    ("layers_cs231n.py:relu_forward", ["--kind", "svn"], 2,
     "unknown loss kind 'svn' (did you mean svm?); available: affine"),
    # names looked up in the target's file, or any file
    ("reexported_conv.py:conv_forward_naive",
     ["--kind", "layer", "--inputs", f"{FIXTURES}/conv_and_batchnorm.py:conv_inputs",
      "--torch", "torch_conv"], 0, "3 passed, 0 failed"),
    ("reexported_conv.py:conv_forward_naive",
     ["--kind", "layer", "--inputs", "conv_and_batchnorm.py:conv_inputs"], 2,
     "conv_and_batchnorm.py: no such file"),
]


@pytest.mark.parametrize("target, extra, status, text", TARGETS,
                         ids=[f"{t[0].split('/')[-1]}{'-' + t[1][-1] if t[1] else ''}"
                              for t in TARGETS])
def test_one_target(target, extra, status, text, rows_100, capsys):
    path = target if target.startswith("/") else f"{FIXTURES}/{target}"
    code, out = run_command([path, *extra], capsys)
    assert "Traceback" not in out
    assert code == status, out
    assert text in out, out


def test_a_file_with_no_target_is_not_imported(tmp_path, dev_batch):
    """What a file defines is read from its source: a script with nothing to check never runs."""
    (tmp_path / "train.py").write_text("raise SystemExit('this script must not run')\n")
    (tmp_path / "layers.py").write_text("import numpy as np\n\ndef relu_forward(x):\n"
                                        "    return np.maximum(x, 0), x\n\n"
                                        "def relu_backward(dout, cache):\n"
                                        "    return dout * (cache > 0)\n")
    assert [f.name for f in assignment_files(tmp_path)] == ["layers.py", "train.py"]
    assert find_targets(tmp_path / "train.py").targets == []
    X, y = dev_batch
    reports = check_path(tmp_path, X=X[:20], y=y[:20], devices=["cpu"], dtypes=["float64"])
    assert [(r.file, r.target, r.verdict) for r in reports] == [
        ("layers.py", "relu_forward", "pass")]


def test_files_that_do_not_load_are_errors_and_the_rest_is_checked(rows_100, capsys, tmp_path):
    (tmp_path / "broken.py").write_text("def relu_forward(x:\n")
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(3)\n\ndef relu_forward(x):\n"
                                       "    return x, x\n")
    (tmp_path / "fine.py").write_text("import numpy as np\n\ndef relu_forward(x):\n"
                                      "    return np.maximum(x, 0), x\n\n"
                                      "def relu_backward(dout, cache):\n"
                                      "    return dout * (cache > 0)\n\n"
                                      "def tanh_forward(x):\n    return np.tanh(x), x\n")
    code, out = run_command([tmp_path], capsys)
    assert code == 1 and "Traceback" not in out
    assert "ERROR" in out and "broken.py does not parse" in out
    assert "exits.py failed to load: called sys.exit(3)" in out
    assert "PASS              relu_forward" in out
    assert "USAGE             tanh_forward" in out and "tanh_backward not found" in out


def test_json_never_replaces_a_file(rows_100, capsys, tmp_path):
    existing = tmp_path / "results.json"
    existing.write_text("mine")
    code, out = run_command([A3_2017, "--json", existing], capsys)
    assert code == 2 and "exists; choose another name or pass --overwrite" in out
    assert existing.read_text() == "mine"
    with pytest.raises(FileExistsError):  # a file that appeared while the check ran is kept
        write_json(existing, {"targets": []})
    assert existing.read_text() == "mine"
    assert list(tmp_path.iterdir()) == [existing]  # no temporary file left behind
    code, out = run_command([A3_2017, "--json", existing, "--overwrite"], capsys)
    assert code == 0 and json.loads(existing.read_text())["targets"]


def test_folder_options_are_refused_for_one_target_only(capsys):
    code, out = run_command([A3_2017, "--backward", "x"], capsys)
    assert code == 2 and "--backward is for one target" in out


def test_what_student_code_prints_stays_out_of_the_report(rows_100, capsys):
    code, out = run_command([f"{FIXTURES}/more_mistakes.py:tanh_forward_prints"], capsys)
    assert code == 0 and "called" not in out


def test_students_in_plain_folders_get_their_own_neighbour_modules(rows_100, capsys, tmp_path):
    """Each student's ``helpers.py`` is imported beside their own file, never the one of the
    student checked before."""
    for student, db in (("alice", "dout.sum(axis=0)"), ("bob", "dout.sum(axis=0) / 7")):
        (tmp_path / student).mkdir()
        (tmp_path / student / "helpers.py").write_text(
            "def backward(dout, cache):\n    x, w = cache\n"
            f"    return (dout @ w.T).reshape(x.shape), x.reshape(len(x), -1).T @ dout, {db}\n")
        (tmp_path / student / "layers.py").write_text(
            "from helpers import backward\n\n\ndef affine_forward(x, w, b):\n"
            "    return x.reshape(len(x), -1) @ w + b, (x, w)\n\n\n"
            "def affine_backward(dout, cache):\n    return backward(dout, cache)\n")
    code, out = run_command([tmp_path, "--json", tmp_path / "r.json"], capsys)
    results = json.loads((tmp_path / "r.json").read_text())
    assert [(t["file"], t["verdict"]) for t in results["targets"]] == [
        ("alice/layers.py", "pass"), ("bob/layers.py", "fail")], out
    assert results["path"] == str(tmp_path)


def test_a_target_the_checker_cannot_run_ends_only_itself(rows_100, capsys, tmp_path):
    (tmp_path / "a_net.py").write_text("class TwoLayerNet:\n    def __init__(self, *args, **kw):\n"
                                       "        pass\n    loss = max\n")
    (tmp_path / "b_layers.py").write_text((FIXTURES / "layers_cs231n.py").read_text())
    code, out = run_command([tmp_path], capsys)
    assert code == 1 and "Traceback" not in out
    assert "ERROR             TwoLayerNet" in out
    assert "PASS              affine_forward" in out and "PASS              relu_forward" in out


def test_json_to_a_folder_is_refused_before_any_work(capsys, tmp_path):
    code, out = run_command([A3_2017, "--json", tmp_path, "--overwrite"], capsys)
    assert code == 2 and f"{tmp_path} is a folder; give a file name" in out


def test_the_python_api_names_an_unknown_kind_and_the_one_meant():
    with pytest.raises(ValueError, match=r"unknown loss kind 'softmx' \(did you mean softmax\?\)"):
        api.check_gradient(lambda W, X, y, reg: (0.0, W), kind="softmx")
