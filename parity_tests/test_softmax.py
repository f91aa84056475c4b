"""Softmax loss: naive vs vectorized vs torch autograd (F.cross_entropy),
gradient checks, initial loss, max-shift stability, a wrong user
implementation caught, bad input.

Real CIFAR-10 dev batch (bias column appended), float64 and float32, cpu and cuda.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ref_torch.linear_svm import PARITY_CASES
from ref_torch.parity import check_parity, run_kind
from ref_torch.softmax import SOFTMAX_KIND, softmax_loss
from ref_torch.tolerances import GRAD_CHECK_RTOL
from scratch_numpy.gradient_check import grad_check_sparse
from scratch_numpy.softmax import softmax_loss_naive, softmax_loss_vectorized

IMPLEMENTATIONS = [softmax_loss_naive, softmax_loss_vectorized]


@pytest.mark.parametrize("case_index", range(len(PARITY_CASES)))
@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=lambda f: f.__name__)
def test_numpy_matches_torch(linear_parity_cases, case_index, impl, dtype, device):
    name, inputs = linear_parity_cases[case_index]
    report = check_parity(lambda inp: impl(inp["W"], inp["X"], inp["y"], inp["reg"]),
                          SOFTMAX_KIND.torch_loss, inputs, ("W",), dtype=dtype, device=device,
                          case=name)
    assert report.passed, str(report)


@pytest.mark.parametrize("case_index", range(len(PARITY_CASES)))
def test_naive_matches_vectorized(linear_parity_cases, case_index, dtype):
    _, inputs = linear_parity_cases[case_index]
    W, X = inputs["W"].astype(dtype), inputs["X"].astype(dtype)
    loss_n, dW_n = softmax_loss_naive(W, X, inputs["y"], inputs["reg"])
    loss_v, dW_v = softmax_loss_vectorized(W, X, inputs["y"], inputs["reg"])
    assert dW_n.dtype == dW_v.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-4
    assert abs(loss_n - loss_v) <= tol * abs(loss_v)
    assert np.abs(dW_n - dW_v).max() <= tol * np.abs(dW_v).max()


@pytest.mark.parametrize("reg", [0.0, 1e2])
def test_gradient_check(dev_batch_bias, reg):
    X, y = dev_batch_bias
    W = 1e-3 * np.random.default_rng(1).standard_normal((X.shape[1], 10))
    _, dW = softmax_loss_vectorized(W, X, y, reg)
    check = grad_check_sparse(lambda w: softmax_loss_vectorized(w, X, y, reg)[0], W, dW,
                              num_checks=20, seed=2)
    print(check)
    assert not check.kinks, "the softmax loss is smooth: no probe may be flagged as a kink"
    assert check.max_rel_error < GRAD_CHECK_RTOL, str(check)


def test_gradient_check_fails_a_wrong_gradient(dev_batch_bias):
    X, y = dev_batch_bias
    W = 1e-3 * np.random.default_rng(1).standard_normal((X.shape[1], 10))
    reg = 1e2
    _, dW = softmax_loss_vectorized(W, X, y, reg)
    check = grad_check_sparse(lambda w: softmax_loss_vectorized(w, X, y, reg)[0], W,
                              dW - reg * W, num_checks=20, seed=2)
    assert check.max_rel_error > 100 * GRAD_CHECK_RTOL, str(check)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=lambda f: f.__name__)
def test_initial_loss_is_log_num_classes(dev_batch_bias, impl, dtype):
    """Tiny W: all 10 classes equally likely, loss ~ -log(0.1) = 2.3026."""
    X, y = dev_batch_bias
    X = X.astype(dtype)
    W = (1e-4 * np.random.default_rng(0).standard_normal((X.shape[1], 10))).astype(dtype)
    loss, _ = impl(W, X, y, 0.0)
    assert loss == pytest.approx(-np.log(0.1), abs=0.02)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("scores", [[123.0, 456.0, 789.0], [1e4, -1e4, 5e3], [-1e4, 1e4, 9999.0]])
def test_large_scores_are_stable(impl, scores, dtype):
    """Without the max shift exp(789) overflows float64 and exp(123) float32."""
    W = np.array([scores], dtype=dtype)
    X = np.ones((1, 1), dtype=dtype)
    y = np.array([0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, dW = impl(W, X, y, 0.0)
    assert np.isfinite(loss) and np.isfinite(dW).all()
    W_t = torch.tensor(np.array(scores)[None], dtype=torch.float64, requires_grad=True)
    expected = softmax_loss(W_t, torch.ones(1, 1, dtype=torch.float64), torch.tensor([0]), 0.0)
    expected.backward()
    assert loss == pytest.approx(float(expected.detach()), rel=1e-6)
    np.testing.assert_allclose(dW, W_t.grad.numpy(), rtol=1e-6, atol=1e-6)


def wrong_missing_reg(W, X, y, reg):
    return softmax_loss_vectorized(W, X, y, 0.0)


def wrong_sign_of_correct_class(W, X, y, reg):
    """Uses p_j + 1(j == y_i) instead of p_j - 1(j == y_i)."""
    loss, dW = softmax_loss_vectorized(W, X, y, reg)
    onehot = np.zeros((X.shape[0], W.shape[1]), dtype=dW.dtype)
    onehot[np.arange(len(y)), y] = 2.0
    return loss, dW + X.T @ onehot / len(y)


def wrong_reg_factor(W, X, y, reg):
    loss, dW = softmax_loss_vectorized(W, X, y, reg)
    return loss, dW - reg * W


def wrong_no_mean(W, X, y, reg):
    """Sums the data loss and gradient over the batch instead of averaging."""
    loss, dW = softmax_loss_vectorized(W, X, y, 0.0)
    n = X.shape[0]
    return n * loss + reg * np.sum(W * W), n * dW + 2 * reg * W


@pytest.mark.parametrize("wrong, bad_entries", [
    (wrong_missing_reg, {"loss", "dW"}),
    (wrong_sign_of_correct_class, {"dW"}),
    (wrong_reg_factor, {"dW"}),
    (wrong_no_mean, {"loss", "dW"}),
])
def test_wrong_implementation_fails_and_is_named(dev_batch, wrong, bad_entries):
    X, y = dev_batch
    reports = run_kind(SOFTMAX_KIND, wrong, X, y, devices=["cpu"])
    failed = [r for r in reports if not r.passed]
    assert failed, "a wrong implementation passed"
    assert set().union(*(r.failed_names for r in failed)) == bad_entries
    for dtype in ("float64", "float32"):
        assert any(r.dtype == dtype for r in failed), f"{wrong.__name__} passes in {dtype}"


def test_check_gradient_command_names_the_wrong_entry(tmp_path, capsys, cifar10):
    from scripts.check_gradient import main

    user_file = tmp_path / "my_softmax.py"
    user_file.write_text(
        "from scratch_numpy.softmax import softmax_loss_vectorized\n"
        "def softmax_doubled_loss(W, X, y, reg):\n"
        "    loss, dW = softmax_loss_vectorized(W, X, y, reg)\n"
        "    return 2 * loss, dW\n"
    )
    code = main([f"{user_file}:softmax_doubled_loss", "--kind", "softmax", "--num-dev", "100",
                 "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL loss" in out and "FAIL dW" not in out


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("W, X, y, reg, message", [
    (np.zeros((4, 3)), np.zeros((2, 5)), np.array([0, 1]), 0.0, "features"),
    (np.zeros((4, 3)), np.zeros((2, 4)), np.array([0, 1, 2]), 0.0, "labels"),
    (np.zeros((4, 3)), np.zeros((2, 4)), np.array([0, 3]), 0.0, "0..2"),
    (np.zeros((4, 3)), np.full((2, 4), np.inf), np.array([0, 1]), 0.0, "infinite"),
    (np.full((4, 3), np.nan), np.zeros((2, 4)), np.array([0, 1]), 0.0, "NaN"),
    (np.zeros((4, 3)), np.zeros((2, 4)), np.array([0, 1]), -0.5, "reg"),
    (np.zeros((4, 3)), np.zeros((2, 4)), np.array([0, 1]), float("nan"), "reg"),
])
def test_bad_input_raises(impl, W, X, y, reg, message):
    with pytest.raises(ValueError, match=message):
        impl(W, X, y, reg)
