"""The parity toolkit itself: it passes a correct gradient and fails wrong ones.

The loss under test is defined here (a softmax classifier with weights W and
bias b) so the harness is proven independently of the model modules: every
tolerance of ``ref_torch.tolerances.PARITY_RTOL`` must fail a wrong gradient.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ref_torch.oracle import kinds
from ref_torch.oracle.kinds import LossKind
from ref_torch.oracle import run_kind
from ref_torch.parity import check_parity, compare_arrays
from ref_torch.tolerances import PARITY_RTOL
from scripts import check_gradient

REG = 50.0  # large enough that a dropped reg term shows in float32 too


def softmax_wb(W, b, X, y, reg):
    """Softmax loss of scores X @ W + b with reg * sum(W**2); returns (loss, dW, db)."""
    scores = X @ W + b
    scores = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(axis=1, keepdims=True)
    n = len(y)
    loss = -np.log(p[np.arange(n), y]).mean() + reg * np.sum(W * W)
    p[np.arange(n), y] -= 1
    dscores = p / n
    return loss, X.T @ dscores + 2 * reg * W, dscores.sum(axis=0)


def torch_softmax_wb(t):
    return F.cross_entropy(t["X"] @ t["W"] + t["b"], t["y"]) + t["reg"] * (t["W"] ** 2).sum()


def as_numpy_fn(fn):
    def run(inp):
        loss, dW, db = fn(inp["W"], inp["b"], inp["X"], inp["y"], inp["reg"])
        return loss, {"W": dW, "b": db}
    return run


def inputs(X, y, seed=0):
    rng = np.random.default_rng(seed)
    return dict(W=rng.standard_normal((X.shape[1], 10)) * 1e-3,
                b=rng.standard_normal(10) * 1e-2, X=X, y=y, reg=REG)


# Deliberately wrong implementations, each with the array it corrupts.
def missing_reg(W, b, X, y, reg):
    loss, dW, db = softmax_wb(W, b, X, y, reg)
    return loss, dW - 2 * reg * W, db


def flipped_column(W, b, X, y, reg):
    loss, dW, db = softmax_wb(W, b, X, y, reg)
    dW = dW.copy()
    dW[:, 3] *= -1
    return loss, dW, db


def doubled_bias_grad(W, b, X, y, reg):
    loss, dW, db = softmax_wb(W, b, X, y, reg)
    return loss, dW, 2 * db


def loss_without_reg(W, b, X, y, reg):
    loss, dW, db = softmax_wb(W, b, X, y, reg)
    return loss - reg * np.sum(W * W), dW, db


WRONG = [(missing_reg, ["dW"]), (flipped_column, ["dW"]), (doubled_bias_grad, ["db"]),
         (loss_without_reg, ["loss"])]


def test_correct_gradient_passes_near_machine_precision(dev_batch, dtype, device):
    X, y = dev_batch
    report = check_parity(as_numpy_fn(softmax_wb), torch_softmax_wb, inputs(X, y), ("W", "b"),
                          dtype=dtype, device=device)
    assert report.passed, str(report)
    if dtype == np.float64:
        assert max(d.error for d in (report.loss, *report.grads)) < 1e-13


@pytest.mark.parametrize("wrong, names", WRONG, ids=[w.__name__ for w, _ in WRONG])
def test_wrong_gradient_fails_and_names_the_array(dev_batch, dtype, wrong, names):
    X, y = dev_batch
    report = check_parity(as_numpy_fn(wrong), torch_softmax_wb, inputs(X, y), ("W", "b"),
                          dtype=dtype)
    assert not report.passed
    assert report.failed_names == names, str(report)


def test_report_points_at_the_flipped_column(dev_batch):
    X, y = dev_batch
    report = check_parity(as_numpy_fn(flipped_column), torch_softmax_wb, inputs(X, y),
                          ("W", "b"))
    dW = report.grads[0]
    assert dW.worst_index[1] == 3
    assert dW.numpy_value == pytest.approx(-dW.torch_value)
    assert "FAIL dW" in str(report) and "worst at" in str(report)


def test_tolerances_sit_between_rounding_and_a_one_ulp_scale_bug(dev_batch):
    """A gradient scaled by (1 + 100 * tol) fails; rounding-level noise passes."""
    X, y = dev_batch
    for dtype, tol in PARITY_RTOL.items():
        def scaled(inp, factor):
            loss, grads = as_numpy_fn(softmax_wb)(inp)
            return loss, {k: v * factor for k, v in grads.items()}
        bad = check_parity(lambda inp: scaled(inp, 1 + 100 * tol), torch_softmax_wb,
                           inputs(X, y), ("W", "b"), dtype=dtype)
        good = check_parity(lambda inp: scaled(inp, 1 + tol / 100), torch_softmax_wb,
                            inputs(X, y), ("W", "b"), dtype=dtype)
        assert not bad.passed and good.passed, (str(bad), str(good))


def test_malformed_results_are_reported_not_crashed(dev_batch):
    X, y = dev_batch
    inp = inputs(X[:20], y[:20])

    def wrong_shape(i):
        loss, g = as_numpy_fn(softmax_wb)(i)
        return loss, {"W": g["W"][:-1], "b": g["b"]}

    def nan_grad(i):
        loss, g = as_numpy_fn(softmax_wb)(i)
        g["b"] = g["b"].copy()
        g["b"][2] = np.nan
        return loss, g

    def raises(i):
        raise IndexError("index 10 is out of bounds")

    def missing(i):
        loss, g = as_numpy_fn(softmax_wb)(i)
        return loss, {"W": g["W"]}

    cases = {wrong_shape: "shape", nan_grad: "not finite: NaN at (2,)", missing: "gradient missing"}
    for fn, text in cases.items():
        report = check_parity(fn, torch_softmax_wb, inp, ("W", "b"))
        assert not report.passed and text in str(report)
    report = check_parity(raises, torch_softmax_wb, inp, ("W", "b"))
    assert not report.passed and "IndexError: index 10" in str(report)


def test_in_place_edits_by_user_code_do_not_touch_the_reference(dev_batch):
    X, y = dev_batch
    inp = inputs(X[:50], y[:50])
    original = inp["W"].copy()

    def vandal(i):
        result = as_numpy_fn(softmax_wb)(i)
        i["W"][:] = 0
        i["X"][:] = 0
        return result

    assert check_parity(vandal, torch_softmax_wb, inp, ("W", "b")).passed
    np.testing.assert_array_equal(inp["W"], original)


def test_compare_arrays_zero_reference():
    assert compare_arrays("dx", np.zeros(3), np.zeros(3), 1e-12).passed
    assert compare_arrays("dx", np.array([0, 1e-30, 0]), np.zeros(3), 1e-12).error == float("inf")


# --- the user-facing command -------------------------------------------------

TEST_KIND = LossKind(
    name="test_softmax_wb",
    signature="softmax_wb(W, b, X, y, reg) -> (loss, dW, db)  [harness self-test]",
    make_cases=lambda X, y: [("W std 1e-3, reg 50", inputs(X, y))],
    call_numpy=lambda fn, inp, guard, backward=True: as_numpy_fn(fn)(inp),
    torch_loss=torch_softmax_wb,
    wrt=("W", "b"),
    reference=f"{__name__}:softmax_wb",
)


@pytest.fixture
def test_kind(monkeypatch):
    """TEST_KIND added to the table of kinds for the duration of one test."""
    monkeypatch.setitem(kinds.KINDS, TEST_KIND.name, TEST_KIND)
    return TEST_KIND


def test_run_kind_covers_both_dtypes(dev_batch):
    X, y = dev_batch
    reports = run_kind(TEST_KIND, softmax_wb, X, y, devices=["cpu"])
    assert [r.dtype for r in reports] == ["float64", "float32"]
    assert all(r.passed for r in reports)


USER_FILE = """
import numpy as np

def my_softmax(W, b, X, y, reg):
    scores = X @ W + b
    scores -= scores.max(axis=1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(axis=1, keepdims=True)
    n = len(y)
    loss = -np.log(p[np.arange(n), y]).mean() + reg * np.sum(W * W)
    p[np.arange(n), y] -= 1
    dW = X.T @ p / n {reg_term}
    return loss, dW, p.sum(axis=0) / n
"""


@pytest.mark.parametrize("reg_term, status", [("+ 2 * reg * W", 0), ("", 1)],
                         ids=["correct", "missing-reg"])
def test_check_gradient_command_on_a_user_file(cifar10, tmp_path, capsys, reg_term, status,
                                                test_kind):
    user = tmp_path / "my_code.py"
    user.write_text(textwrap.dedent(USER_FILE.format(reg_term=reg_term)))
    code = check_gradient.main([f"{user}:my_softmax", "--kind", "test_softmax_wb",
                                "--device", "cpu", "--num-dev", "100"])
    out = capsys.readouterr().out
    assert code == status
    if status:
        assert "FAIL dW" in out and "ok   db" in out
    assert ("2 passed, 0 failed" if status == 0 else "0 passed, 2 failed") in out


def test_check_gradient_command_usage_errors(capsys, tmp_path, test_kind):
    assert check_gradient.main(["--list"]) == 0
    assert "test_softmax_wb" in capsys.readouterr().out
    assert check_gradient.main(["no_colon_here", "--kind", "test_softmax_wb"]) == 2
    assert "--kind is for one target (path/to/file.py:name)" in capsys.readouterr().err
    assert check_gradient.main(["no_colon_here"]) == 2
    assert "no_colon_here: no such file or folder" in capsys.readouterr().err
    assert check_gradient.main([f"{tmp_path}/absent.py:f", "--kind", "test_softmax_wb"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert check_gradient.main(["x.py:f", "--kind", "no_such_kind"]) == 2
    assert "unknown loss kind" in capsys.readouterr().err
    (tmp_path / "empty.py").write_text("")
    assert check_gradient.main([f"{tmp_path}/empty.py:f", "--kind", "test_softmax_wb"]) == 2
    assert "defines no 'f'" in capsys.readouterr().err


def test_user_file_that_fails_to_load_is_a_usage_error(capsys, tmp_path, test_kind):
    (tmp_path / "broken.py").write_text("import no_such_module_here\n")
    assert check_gradient.main([f"{tmp_path}/broken.py:f", "--kind", "test_softmax_wb"]) == 2
    assert "failed to load: ModuleNotFoundError" in capsys.readouterr().err


def test_a_notebook_shows_a_comparison_as_its_report_line():
    """``>>> report.cases[2].grads[0]`` in a REPL shows the line the README shows."""
    diff = compare_arrays("dW", np.array([1.0, 2.0]), np.array([1.0, 3.0]), 1e-12)
    assert repr(diff) == str(diff) and repr(diff).startswith("  FAIL dW")
