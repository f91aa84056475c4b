"""Numerical gradients and the sparse check's kink detection."""

from __future__ import annotations

import numpy as np
import pytest

from ref_torch.tolerances import GRAD_CHECK_RTOL
from scratch_numpy.gradient_check import (
    eval_numerical_gradient, eval_numerical_gradient_array, grad_check_sparse, rel_error,
)


def smooth(x):
    return float(np.sum(np.sin(x) * x**2))


def smooth_grad(x):
    return np.cos(x) * x**2 + 2 * x * np.sin(x)


def hinge(x):
    """sum(max(0, x)): kinks where an entry of x is 0."""
    return float(np.maximum(0, x).sum())


def hinge_grad(x):
    return (x > 0).astype(x.dtype)


def test_centred_gradient_matches_analytic():
    x = np.random.default_rng(0).standard_normal((4, 5))
    assert rel_error(eval_numerical_gradient(smooth, x), smooth_grad(x)) < GRAD_CHECK_RTOL


def test_forward_difference_is_less_accurate_than_centred():
    x = np.random.default_rng(1).standard_normal(6)
    centred = np.abs(eval_numerical_gradient(smooth, x) - smooth_grad(x)).max()
    forward = np.abs(eval_numerical_gradient(smooth, x, method="forward") - smooth_grad(x)).max()
    assert forward < 1e-4 and centred < forward / 100  # O(h) vs O(h^2)


def test_probes_restore_x_bit_for_bit():
    # 0.1 + 1e-5 - 1e-5 != 0.1 in floating point: restoring by subtraction would drift.
    x = np.full((3, 3), 0.1) + np.random.default_rng(2).standard_normal((3, 3))
    before = x.copy()
    eval_numerical_gradient(smooth, x)
    eval_numerical_gradient_array(np.tanh, x, np.ones_like(x))
    grad_check_sparse(smooth, x, smooth_grad(x), num_checks=20, seed=0)
    assert np.array_equal(x, before)


def test_array_gradient_is_the_backward_pass():
    rng = np.random.default_rng(3)
    x, dout = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    numeric = eval_numerical_gradient_array(np.tanh, x, dout)
    assert rel_error(numeric, dout * (1 - np.tanh(x) ** 2)) < GRAD_CHECK_RTOL


def test_rel_error_edge_cases():
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(1.0, 1.0 + 1e-9) == pytest.approx(5e-10, rel=1e-3)
    with pytest.raises(ValueError, match="shapes differ"):
        rel_error(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        rel_error(np.array([np.nan]), np.array([1.0]))


@pytest.mark.parametrize("x, y, expected", [
    (1e308, -1e308, 1.0),           # x - y and |x| + |y| both overflow: used to be NaN
    (np.finfo(np.float64).max, -np.finfo(np.float64).max, 1.0),
    (1.7e308, 1.6e308, 0.1 / 3.3),
    (1e308, 1e308, 0.0),
    (5e-324, -5e-324, 2 * 5e-324 / 1e-8),  # the 1e-8 floor, at the smallest subnormal
])
def test_rel_error_of_finite_inputs_is_finite(x, y, expected):
    assert rel_error(np.array([x]), np.array([y])) == pytest.approx(expected, rel=1e-15, abs=0)


def test_sparse_check_passes_a_correct_smooth_gradient_with_no_kinks():
    # Entries in [0.5, 1.5] keep every partial derivative of order 1, so the
    # centred difference's cancellation error stays far below the bar.
    x = np.random.default_rng(4).uniform(0.5, 1.5, (10, 10))
    check = grad_check_sparse(smooth, x, smooth_grad(x), num_checks=30, seed=0)
    assert check.max_rel_error < GRAD_CHECK_RTOL
    assert check.kinks == []


def test_sparse_check_flags_probes_that_straddle_a_kink():
    # 3e-7 and 0 lie within h/10 of the hinge's kink: reported as kinks. 3e-6 and
    # -4e-6 lie between h/10 and h: judged at h/10, where they are smooth.
    x = np.array([3e-7, 0.0, 3e-6, -4e-6, 0.5, -0.5])
    check = grad_check_sparse(hinge, x, hinge_grad(x), num_checks=60, seed=0)
    assert {p.index[0] for p in check.kinks} == {0, 1}
    assert {p.index[0] for p in check.probes if not p.kink} == {2, 3, 4, 5}
    assert check.max_rel_error < 1e-9  # the judged probes are exact up to rounding
    assert "straddles a kink" in str(check)


def test_only_kink_probes_cannot_pass():
    check = grad_check_sparse(hinge, np.array([0.0]), np.array([0.0]), num_checks=3, seed=0)
    assert len(check.kinks) == 3
    assert not check.max_rel_error < GRAD_CHECK_RTOL  # NaN: nothing was judged


def test_sparse_check_does_not_hide_a_wrong_gradient_as_a_kink():
    x = np.random.default_rng(5).standard_normal((8, 8))
    check = grad_check_sparse(smooth, x, 2 * smooth_grad(x), num_checks=20, seed=0)
    assert check.kinks == []
    assert check.max_rel_error > 0.1
    wrong_hinge = grad_check_sparse(hinge, np.array([0.5, -0.5]), np.array([0.0, 1.0]),
                                    num_checks=10, seed=0)
    assert wrong_hinge.kinks == [] and wrong_hinge.max_rel_error == 1.0


@pytest.mark.parametrize("x0, analytic", [
    (0.01, 0.010005),   # f = x^2/2: one-sided slopes differ by h, the error is 2.5e-4
    (1e-6, 12e-6),      # f = x^2/2 near 0: six times too big
    (1e-6, -1e-6),      # wrong sign
])
def test_strong_curvature_is_not_mistaken_for_a_kink(x0, analytic):
    check = grad_check_sparse(lambda x: float(0.5 * x[0] ** 2), np.array([x0]),
                              np.array([analytic]), num_checks=1, seed=0)
    assert check.kinks == []
    assert check.max_rel_error > 1e-4
    correct = grad_check_sparse(lambda x: float(0.5 * x[0] ** 2), np.array([x0]),
                                np.array([x0]), num_checks=1, seed=0)
    assert correct.kinks == [] and correct.max_rel_error < GRAD_CHECK_RTOL


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="floating-point"):
        eval_numerical_gradient(smooth, np.arange(3))
    with pytest.raises(ValueError, match="h must be > 0"):
        eval_numerical_gradient(smooth, np.zeros(3), h=0)
    with pytest.raises(ValueError, match="method"):
        eval_numerical_gradient(smooth, np.zeros(3), method="backward")
    with pytest.raises(ValueError, match="shape"):
        grad_check_sparse(smooth, np.zeros(3), np.zeros(4))
