"""The gradient oracle from Python (a notebook), and its parts: guarded calls, loading,
reg conventions, score ranges, non-finite messages, diagnosis of single arrays."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from ref_torch.oracle.adapters import net_layout
from ref_torch.oracle.cases import STABILITY_OFFSETS, linear_stability_cases
from ref_torch.oracle.conventions import RegFit, reg_mismatch
from ref_torch.oracle.diagnosis import diagnose_array
from ref_torch.oracle import OracleReport, check_gradient
from ref_torch.parity import describe_non_finite
from ref_torch.oracle.stability import ScoreRange, overflow_limit, underflow_limit
from ref_torch.oracle.user_code import TargetError, UserCodeFailure, call_user, load_target
from scratch_numpy.linear_svm import svm_loss_vectorized
from scratch_numpy.two_layer_net import TwoLayerNet

FIXTURES = Path(__file__).parent / "oracle_fixtures"


@pytest.fixture
def rows(dev_batch):
    X, y = dev_batch
    return X[:60], y[:60]


def test_notebook_api_on_a_function(rows):
    X, y = rows
    report = check_gradient(svm_loss_vectorized, kind="svm", X=X, y=y, devices=["cpu"])
    assert isinstance(report, OracleReport) and report.passed
    assert repr(report) == str(report) and "10 passed, 0 failed" in repr(report)
    first = report.cases[0]
    assert (first.status, first.dtype, first.device) == ("PASS", "float64", "cpu")
    assert first.grads[0].name == "dW" and first.grads[0].error < 1e-13
    assert report.convention.startswith("reg * sum(W**2)")


def test_notebook_api_on_a_wrong_class_and_a_file(rows):
    class HalfBiasGradient(TwoLayerNet):
        def loss(self, X, y=None, reg=0.0):
            loss, grads = super().loss(X, y, reg)
            grads["b1"] = grads["b1"] / 2
            return loss, grads

    X, y = rows
    report = check_gradient(HalfBiasGradient, kind="two_layer_net", X=X, y=y, devices=["cpu"],
                            dtypes=["float64"])
    assert not report.passed
    assert {n for r in report.failed for n in r.failed_names} == {"b1"}
    assert "b1 is 0.5 times the reference" in report.diagnoses
    report = check_gradient(f"{FIXTURES}/softmax_2016.py:softmax_loss_vectorized", "softmax",
                            X=X, y=y, devices=["cpu"])
    assert report.passed and report.convention.startswith("0.5 * reg")


def test_notebook_api_refuses_bad_data(rows):
    X, y = rows
    with pytest.raises(ValueError, match="at least 2 rows"):
        check_gradient(svm_loss_vectorized, "svm", X=X[:1], y=y[:1])
    with pytest.raises(ValueError, match="labels"):
        check_gradient(svm_loss_vectorized, "svm", X=X, y=y[:5])
    with pytest.raises(ValueError, match="reg_convention"):
        check_gradient(svm_loss_vectorized, "svm", X=X, y=y, reg_convention="double")


def test_call_user_turns_every_exit_into_one_line_and_lets_ctrl_c_through():
    def exits():
        sys.exit(3)

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(UserCodeFailure, match=r"^your code called sys.exit\(3\) instead"):
        call_user(exits)
    with pytest.raises(UserCodeFailure, match=r"^your code raised ZeroDivisionError: division by zero"):
        call_user(lambda: 1 / 0)
    with pytest.raises(KeyboardInterrupt):
        call_user(interrupted)


def test_loading_a_method_a_static_method_and_missing_names():
    method = load_target(f"{FIXTURES}/misbehaving.py:LinearSVM.loss")
    assert method.__qualname__ == "LinearSVM.loss"
    with pytest.raises(TargetError, match="LinearSVM defines no 'los'; did you mean loss"):
        load_target(f"{FIXTURES}/misbehaving.py:LinearSVM.los")
    with pytest.raises(TargetError, match="expected path/to/file.py:name"):
        load_target("no_colon")


def test_net_layouts_are_read_from_the_signatures():
    a1 = load_target(f"{FIXTURES}/assignment1/cs231n/classifiers/neural_net.py:TwoLayerNet")
    assert net_layout(a1).reg_in_loss and not net_layout(a1).takes_activation
    a2 = load_target(f"{FIXTURES}/assignment2/cs231n/classifiers/fc_net.py:TwoLayerNet")
    layout = net_layout(a2)
    assert not layout.reg_in_loss and layout.reg_in_init and "loss(X, y)" in str(layout)


@pytest.mark.parametrize("fit, text", [
    (RegFit(1.0, {"W": 2.0}), ""),
    (RegFit(0.5, {"W": 1.0}), ""),
    (RegFit(1.0, {"W": 1.0}), "the gradient of reg * sum(W**2) is 2 * reg * W"),
    (RegFit(0.5, {"W": 2.0}), "the gradient of 0.5 * reg * sum(W**2) is reg * W"),
    (RegFit(0.0, {"W": 2.0}), "a gradient of 2 * reg * W belongs to a loss with reg * sum(W**2)"),
    (RegFit(1.0, {"W1": 2.0, "W2": 0.0}), "the gradient adds no reg term on W2"),
])
def test_reg_mismatch_says_which_term_is_off(fit, text):
    assert (text in reg_mismatch(fit)) if text else reg_mismatch(fit) == ""


def test_stability_case_sits_between_the_float64_limits(rows):
    """Largest score above exp's overflow, every row's spread below its underflow."""
    X, y = rows
    (_, inputs), = linear_stability_cases(X, y)
    scores = ScoreRange.of(inputs["X"] @ inputs["W"])
    assert scores.largest > overflow_limit(np.float64) > 709
    assert scores.spread < underflow_limit(np.float64) < 709
    assert not scores.extreme(np.float64) and scores.extreme(np.float32)
    assert STABILITY_OFFSETS.max() - STABILITY_OFFSETS.min() < 700


def test_non_finite_values_are_named_with_their_place():
    a = np.array([[0.0, np.nan], [np.inf, -np.inf]])
    assert describe_non_finite(a) == "not finite: NaN at (0, 1); +inf at (1, 0); -inf at (1, 1)"
    assert describe_non_finite(np.full(3, np.nan)) == "not finite: 3 NaN, first at (0,)"


def test_diagnose_array_on_single_mistakes():
    rng = np.random.default_rng(0)
    R = rng.standard_normal((6, 4))
    assert diagnose_array("dW", 50 * R, R, 1e-10, 50).startswith("dW is N = 50 times")
    assert diagnose_array("dW", -R, R, 1e-10) == "dW has the wrong sign everywhere"
    assert diagnose_array("dW", R.T, R, 1e-10).startswith("dW is transposed")
    flipped = R.copy()
    flipped[:, 1] *= -1
    assert diagnose_array("dW", flipped, R, 1e-10) == "dW has the wrong sign in column(s) 1"
    bumped = R.copy()
    bumped[:, 2] += 1
    assert diagnose_array("dW", bumped, R, 1e-10) == "dW is wrong only in column(s) 2"
    assert diagnose_array("the loss", 1.03, 1.0, 1e-10) == ""  # no factor for a mere difference
    assert diagnose_array("dW", R + rng.standard_normal(R.shape), R, 1e-10) == ""


@pytest.mark.cuda
def test_oracle_on_cuda(rows):
    """The fc_net package and a planted mistake, checked against torch on the GPU."""
    X, y = rows
    fc_net = f"{FIXTURES}/assignment2/cs231n/classifiers/fc_net.py:TwoLayerNet"
    report = check_gradient(fc_net, "two_layer_net", X=X, y=y, devices=["cuda"])
    assert report.passed, str(report)
    assert {r.device for r in report.cases if r.status == "PASS"} == {"cuda"}
    report = check_gradient(f"{FIXTURES}/svm_mistakes.py:not_divided_by_n", "svm", X=X, y=y,
                            devices=["cuda"])
    assert not report.passed and report.diagnoses[0].startswith("dW is N = 60 times")
