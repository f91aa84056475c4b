"""The linear losses, SVM and softmax, side by side: naive vs vectorized vs torch
autograd, gradient checks, what only one of them has (the SVM's hinge kinks, the
softmax's max shift), wrong user implementations caught, bad input.

All on the real CIFAR-10 dev batch (500 images, training mean subtracted, bias
column appended), float64 and float32, cpu and cuda.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ref_torch.oracle.cases import PARITY_CASES
from ref_torch.oracle.kinds import KINDS
from ref_torch.linear_svm import svm_loss as torch_svm_loss
from ref_torch.oracle import run_kind
from ref_torch.parity import check_parity
from ref_torch.softmax import softmax_loss as torch_softmax_loss
from ref_torch.tolerances import GRAD_CHECK_RTOL
from scratch_numpy import layers
from scratch_numpy.gradient_check import grad_check_sparse
from scratch_numpy.linear_svm import svm_loss_naive, svm_loss_vectorized
from scratch_numpy.softmax import softmax_loss_naive, softmax_loss_vectorized

# kind -> (naive, vectorized): the two NumPy computations of one loss.
NUMPY = {
    "svm": (svm_loss_naive, svm_loss_vectorized),
    "softmax": (softmax_loss_naive, softmax_loss_vectorized),
}
IMPLEMENTATIONS = [pytest.param(kind, impl, id=impl.__name__)
                   for kind, pair in NUMPY.items() for impl in pair]


# ---- the same loss three ways ----------------------------------------------------------------

@pytest.mark.parametrize("case_index", range(len(PARITY_CASES)))
@pytest.mark.parametrize("kind, impl", IMPLEMENTATIONS)
def test_numpy_matches_torch(linear_parity_cases, kind, impl, case_index, dtype, device):
    name, inputs = linear_parity_cases[case_index]
    report = check_parity(lambda inp: impl(inp["W"], inp["X"], inp["y"], inp["reg"]),
                          KINDS[kind].torch_loss, inputs, ("W",), dtype=dtype, device=device,
                          case=name)
    assert report.passed, str(report)


@pytest.mark.parametrize("case_index", range(len(PARITY_CASES)))
@pytest.mark.parametrize("kind", NUMPY)
def test_naive_matches_vectorized(linear_parity_cases, kind, case_index, dtype):
    naive, vectorized = NUMPY[kind]
    _, inputs = linear_parity_cases[case_index]
    W, X = inputs["W"].astype(dtype), inputs["X"].astype(dtype)
    loss_n, dW_n = naive(W, X, inputs["y"], inputs["reg"])
    loss_v, dW_v = vectorized(W, X, inputs["y"], inputs["reg"])
    assert dW_n.dtype == dW_v.dtype == dtype
    # Same math, different summation order: float64 to ~1e-15, float32 to ~1e-6.
    tol = 1e-12 if dtype == np.float64 else 1e-4
    assert abs(loss_n - loss_v) <= tol * abs(loss_v)
    assert np.abs(dW_n - dW_v).max() <= tol * np.abs(dW_v).max()


def test_svm_cases_have_active_and_inactive_margins(linear_parity_cases):
    """The larger W scales must exercise both sides of the hinge."""
    _, inputs = linear_parity_cases[-1]
    scores = inputs["X"] @ inputs["W"]
    margins = scores - scores[np.arange(len(scores)), inputs["y"]][:, None] + 1
    active = (margins > 0).mean()
    assert 0.2 < active < 0.9, active


# ---- numerical gradients -----------------------------------------------------------------------

@pytest.mark.parametrize("reg", [0.0, 1e2])
@pytest.mark.parametrize("kind", NUMPY)
def test_gradient_check(dev_batch_bias, kind, reg):
    loss_fn = NUMPY[kind][1]
    X, y = dev_batch_bias
    W = 1e-3 * np.random.default_rng(1).standard_normal((X.shape[1], 10))
    _, dW = loss_fn(W, X, y, reg)
    check = grad_check_sparse(lambda w: loss_fn(w, X, y, reg)[0], W, dW, num_checks=20, seed=2)
    print(check)
    if kind == "softmax":
        assert not check.kinks, "the softmax loss is smooth: no probe may be flagged as a kink"
    else:
        assert len(check.probes) - len(check.kinks) >= 15
    assert check.max_rel_error < GRAD_CHECK_RTOL, str(check)


@pytest.mark.parametrize("kind", NUMPY)
def test_gradient_check_fails_a_wrong_gradient(dev_batch_bias, kind):
    """The bar is tight enough to fail dW missing the 2 of the reg gradient."""
    loss_fn = NUMPY[kind][1]
    X, y = dev_batch_bias
    W = 1e-3 * np.random.default_rng(1).standard_normal((X.shape[1], 10))
    reg = 1e2
    _, dW = loss_fn(W, X, y, reg)
    check = grad_check_sparse(lambda w: loss_fn(w, X, y, reg)[0], W, dW - reg * W,
                              num_checks=20, seed=2)
    assert check.max_rel_error > 100 * GRAD_CHECK_RTOL, str(check)


def svm_kink_setup(dev_batch_bias):
    """W where example 0's margin for one wrong class is 1e-12: a hinge kink.

    Returns (f, x, analytic): f(x) is the loss as a function of the single
    weight x = W[d, j] with the largest |X[0, d]|, so a probe of +-h moves that
    margin by ~|X[0, d]| h >> 1e-12 and straddles the kink.
    """
    X, y = dev_batch_bias
    W = 1e-3 * np.random.default_rng(3).standard_normal((X.shape[1], 10))
    j = (y[0] + 1) % 10
    d = int(np.argmax(np.abs(X[0])))
    scores = X[0] @ W
    W[d, j] -= (scores[j] - scores[y[0]] + 1 - 1e-12) / X[0, d]

    def f(x):
        W_probe = W.copy()
        W_probe[d, j] = x[0]
        return svm_loss_vectorized(W_probe, X, y, 0.0)[0]

    return f, np.array([W[d, j]]), np.array([svm_loss_vectorized(W, X, y, 0.0)[1][d, j]])


def test_svm_kink_probe_is_detected_and_reported(dev_batch_bias):
    f, x, analytic = svm_kink_setup(dev_batch_bias)
    check = grad_check_sparse(f, x, analytic, num_checks=1, seed=0)
    report = str(check)
    print(report)
    assert len(check.kinks) == 1
    assert "straddles a kink" in report and "1 kink probe(s)" in report
    # The centred difference averages the two slopes, so it disagrees with the
    # (correct) one-sided subgradient: counted, it would fail the check.
    assert check.probes[0].rel_error > GRAD_CHECK_RTOL


def test_svm_subgradient_at_kink_is_zero_on_both_sides():
    """At margin exactly 0 both sides take d max(0, z)/dz = 0 (clamp would give 1)."""
    W = np.array([[1.0, 0.0]])  # scores (1, 0): margin of class 1 = 0 - 1 + 1 = 0
    X, y = np.array([[1.0]]), np.array([0])
    loss, dW = svm_loss_vectorized(W, X, y, 0.0)
    loss_n, dW_n = svm_loss_naive(W, X, y, 0.0)
    W_t = torch.tensor(W, requires_grad=True)
    torch_svm_loss(W_t, torch.tensor(X), torch.tensor(y), 0.0).backward()
    assert loss == loss_n == 0.0
    np.testing.assert_array_equal(dW, 0.0)
    np.testing.assert_array_equal(dW_n, 0.0)
    np.testing.assert_array_equal(W_t.grad.numpy(), 0.0)


# ---- known values and large scores -----------------------------------------------------------

@pytest.mark.parametrize("impl", NUMPY["svm"], ids=lambda f: f.__name__)
def test_svm_initial_loss_is_num_classes_minus_one(dev_batch_bias, impl):
    """Tiny W: every score ~0, each of the C - 1 wrong classes has margin ~1."""
    X, y = dev_batch_bias
    W = 1e-7 * np.random.default_rng(0).standard_normal((X.shape[1], 10))
    loss, _ = impl(W, X, y, 0.0)
    assert loss == pytest.approx(9.0, abs=0.01)


@pytest.mark.parametrize("impl", NUMPY["softmax"], ids=lambda f: f.__name__)
def test_softmax_initial_loss_is_log_num_classes(dev_batch_bias, impl, dtype):
    """Tiny W: all 10 classes equally likely, loss ~ -log(0.1) = 2.3026."""
    X, y = dev_batch_bias
    X = X.astype(dtype)
    W = (1e-4 * np.random.default_rng(0).standard_normal((X.shape[1], 10))).astype(dtype)
    loss, _ = impl(W, X, y, 0.0)
    assert loss == pytest.approx(-np.log(0.1), abs=0.02)


@pytest.mark.parametrize("impl", NUMPY["svm"], ids=lambda f: f.__name__)
@pytest.mark.parametrize("scores", [[123.0, 456.0, 789.0], [1e4, -1e4, 5e3]])
def test_svm_large_scores_are_stable(impl, scores, dtype):
    W = np.array([scores], dtype=dtype)
    X = np.ones((1, 1), dtype=dtype)
    y = np.array([0])
    loss, dW = impl(W, X, y, 0.0)
    s = np.asarray(scores)
    expected = np.maximum(s[1:] - s[0] + 1, 0).sum()
    assert np.isfinite(loss) and np.isfinite(dW).all()
    assert loss == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("impl", NUMPY["softmax"], ids=lambda f: f.__name__)
@pytest.mark.parametrize("scores", [[123.0, 456.0, 789.0], [1e4, -1e4, 5e3], [-1e4, 1e4, 9999.0]])
def test_softmax_large_scores_are_stable(impl, scores, dtype):
    """Without the max shift exp(789) overflows float64 and exp(123) float32."""
    W = np.array([scores], dtype=dtype)
    X = np.ones((1, 1), dtype=dtype)
    y = np.array([0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, dW = impl(W, X, y, 0.0)
    assert np.isfinite(loss) and np.isfinite(dW).all()
    W_t = torch.tensor(np.array(scores)[None], dtype=torch.float64, requires_grad=True)
    expected = torch_softmax_loss(W_t, torch.ones(1, 1, dtype=torch.float64), torch.tensor([0]), 0.0)
    expected.backward()
    assert loss == pytest.approx(float(expected.detach()), rel=1e-6)
    np.testing.assert_allclose(dW, W_t.grad.numpy(), rtol=1e-6, atol=1e-6)


# ---- wrong implementations are caught and named ---------------------------------------------

def missing_reg(kind):
    vectorized = NUMPY[kind][1]
    return lambda W, X, y, reg: vectorized(W, X, y, 0.0)


def reg_factor(kind):
    """Forgets the 2 of d(reg * W**2)/dW."""
    vectorized = NUMPY[kind][1]

    def wrong(W, X, y, reg):
        loss, dW = vectorized(W, X, y, reg)
        return loss, dW - reg * W

    return wrong


def svm_sign_of_correct_class(W, X, y, reg):
    """Adds x_i to the correct class column instead of subtracting it."""
    loss, dW = svm_loss_vectorized(W, X, y, reg)
    scores = X @ W
    margins = scores - scores[np.arange(len(y)), y][:, None] + 1
    margins[np.arange(len(y)), y] = 0
    count = (margins > 0).sum(axis=1)
    correction = np.zeros_like(scores)
    correction[np.arange(len(y)), y] = 2 * count
    return loss, dW + X.T @ correction / len(y)


def svm_loss_doubled(W, X, y, reg):
    loss, dW = svm_loss_vectorized(W, X, y, reg)
    return loss * 2 - reg * np.sum(W * W), dW


def softmax_sign_of_correct_class(W, X, y, reg):
    """Uses p_j + 1(j == y_i) instead of p_j - 1(j == y_i)."""
    loss, dW = softmax_loss_vectorized(W, X, y, reg)
    onehot = np.zeros((X.shape[0], W.shape[1]), dtype=dW.dtype)
    onehot[np.arange(len(y)), y] = 2.0
    return loss, dW + X.T @ onehot / len(y)


def softmax_no_mean(W, X, y, reg):
    """Sums the data loss and gradient over the batch instead of averaging."""
    loss, dW = softmax_loss_vectorized(W, X, y, 0.0)
    n = X.shape[0]
    return n * loss + reg * np.sum(W * W), n * dW + 2 * reg * W


@pytest.mark.parametrize("kind, wrong, bad_entries", [
    ("svm", missing_reg("svm"), {"loss", "dW"}),
    ("svm", svm_sign_of_correct_class, {"dW"}),
    ("svm", reg_factor("svm"), {"dW"}),
    ("svm", svm_loss_doubled, {"loss"}),
    ("softmax", missing_reg("softmax"), {"loss", "dW"}),
    ("softmax", softmax_sign_of_correct_class, {"dW"}),
    ("softmax", reg_factor("softmax"), {"dW"}),
    ("softmax", softmax_no_mean, {"loss", "dW"}),
], ids=["svm-missing-reg", "svm-sign", "svm-reg-factor", "svm-loss-doubled",
        "softmax-missing-reg", "softmax-sign", "softmax-reg-factor", "softmax-no-mean"])
def test_wrong_implementation_fails_and_is_named(dev_batch, kind, wrong, bad_entries):
    X, y = dev_batch
    reports = run_kind(KINDS[kind], wrong, X, y, devices=["cpu"])
    failed = [r for r in reports if not r.passed]
    assert failed, "a wrong implementation passed"
    assert set().union(*(r.failed_names for r in failed)) == bad_entries
    for dtype in ("float64", "float32"):
        assert any(r.dtype == dtype for r in failed), f"a wrong {kind} loss passes in {dtype}"
    if bad_entries == {"loss", "dW"} and "no_mean" not in getattr(wrong, "__name__", ""):
        # missing reg: exactly the reg > 0 cases fail, in both dtypes
        num_reg_cases = sum(reg > 0 for _, reg in PARITY_CASES)
        assert len(failed) == 2 * num_reg_cases
        assert not any(r.case.endswith(", reg 0") for r in failed)


USER_FILE = """
from scratch_numpy.linear_svm import svm_loss_vectorized
from scratch_numpy.softmax import softmax_loss_vectorized

def svm_reg_factor(W, X, y, reg):
    loss, dW = svm_loss_vectorized(W, X, y, reg)
    return loss, dW - reg * W

def svm_good(W, X, y, reg):
    return svm_loss_vectorized(W, X, y, reg)

def softmax_doubled_loss(W, X, y, reg):
    loss, dW = softmax_loss_vectorized(W, X, y, reg)
    return 2 * loss, dW
"""


@pytest.mark.parametrize("target, kind, status, failing, passing", [
    ("svm_reg_factor", "svm", 1, "FAIL dW", "FAIL loss"),
    ("svm_good", "svm", 0, None, "FAIL"),
    ("softmax_doubled_loss", "softmax", 1, "FAIL loss", "FAIL dW"),
])
def test_check_gradient_command_names_the_wrong_entry(tmp_path, capsys, cifar10, target, kind,
                                                      status, failing, passing):
    from scripts.check_gradient import main

    user_file = tmp_path / "my_losses.py"
    user_file.write_text(USER_FILE)
    code = main([f"{user_file}:{target}", "--kind", kind, "--num-dev", "100", "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == status
    if failing:
        assert failing in out
    assert passing not in out


# ---- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("W, X, y, reg, message", [
    (np.zeros((4, 3)), np.zeros((2, 5)), np.array([0, 1]), 0.0, "features"),
    (np.zeros((4, 3)), np.zeros((2, 4)), np.array([0, 1, 2]), 0.0, "labels"),
    (np.zeros((4, 3)), np.zeros((2, 4)), np.array([0, 3]), 0.0, "0..2"),
    (np.zeros((4, 3)), np.zeros((2, 4)), np.array([-1, 0]), 0.0, "0..2"),
    (np.zeros((4, 3)), np.zeros((2, 4)), np.array([0.0, 1.0]), 0.0, "integer"),
    (np.zeros((4, 3)), np.full((2, 4), np.nan), np.array([0, 1]), 0.0, "NaN"),
    (np.zeros((4, 3)), np.full((2, 4), np.inf), np.array([0, 1]), 0.0, "infinite"),
    (np.full((4, 3), np.nan), np.zeros((2, 4)), np.array([0, 1]), 0.0, "NaN"),
    (np.full((4, 3), np.inf), np.zeros((2, 4)), np.array([0, 1]), 0.0, "infinite"),
    (np.zeros((4, 3)), np.zeros((2, 4)), np.array([0, 1]), -1.0, "reg"),
    (np.zeros((4, 3)), np.zeros((2, 4)), np.array([0, 1]), float("nan"), "reg"),
    (np.zeros(4), np.zeros((2, 4)), np.array([0, 1]), 0.0, "dimension"),
])
def test_bad_input_raises(kind, impl, W, X, y, reg, message):
    with pytest.raises(ValueError, match=message):
        impl(W, X, y, reg)


@pytest.mark.parametrize("kind, impl", IMPLEMENTATIONS)
def test_empty_batch_and_string_reg_are_rejected(kind, impl):
    W = np.zeros((4, 3))
    with pytest.raises(ValueError, match="no rows"):
        impl(W, np.zeros((0, 4)), np.zeros(0, dtype=np.int64), 0.0)
    with pytest.raises(ValueError, match="reg must be"):
        impl(W, np.zeros((2, 4)), np.array([0, 1]), "0.1")


# ---- overflow: finite inputs never give NaN ---------------------------------------------------

def _huge_weights():
    """W of 1e160 (its square overflows float64) and rows small enough that the scores do not."""
    rng = np.random.default_rng(0)
    return 1e160 * rng.standard_normal((5, 3)), 1e-150 * rng.standard_normal((4, 5)), np.array([0, 1, 2, 0])


@pytest.mark.parametrize("kind, impl", IMPLEMENTATIONS)
def test_huge_weights_at_reg_0_give_the_finite_data_loss(kind, impl):
    # reg * sum(W**2) used to be 0 * inf = NaN: the loss came back NaN.
    W, X, y = _huge_weights()
    loss, dW = impl(W, X, y, 0.0)
    scores_loss, dscores = (layers.svm_loss if kind == "svm" else layers.softmax_loss)(X @ W, y)
    assert np.isfinite(loss) and loss == pytest.approx(scores_loss, rel=1e-12)
    np.testing.assert_allclose(dW, X.T @ dscores, rtol=1e-12)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")  # NumPy's, before the error
@pytest.mark.parametrize("kind, impl", IMPLEMENTATIONS)
def test_loss_beyond_the_float_range_is_a_clear_error(kind, impl):
    W, X, y = _huge_weights()
    with pytest.raises(ValueError, match="the loss is inf although every input is finite: "
                                         "the true value lies beyond the largest float64"):
        impl(W, X, y, 1.0)
    # Scores inf - inf = NaN: the naive SVM loop used to count NaN margins as inactive (loss 0).
    with pytest.raises(ValueError, match="beyond the largest float64"):
        impl(np.full((2, 2), 1e300), np.array([[1e300, -1e300]]), np.array([0]), 0.0)
