"""The seed notes' worked examples, asserted on both sides: the SVM example with margin
10, the softmax example that overflows unless shifted, and sigma'(x) = sigma(x)(1 - sigma(x))."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ref_torch import layers as torch_layers
from ref_torch.linear_svm import svm_loss as torch_svm_loss
from ref_torch.parity import check_parity
from ref_torch.softmax import softmax_loss as torch_softmax_loss
from ref_torch.tolerances import GRAD_CHECK_RTOL
from scratch_numpy import layers
from scratch_numpy.gradient_check import eval_numerical_gradient_array, rel_error
from scratch_numpy.linear_svm import svm_loss_naive, svm_loss_vectorized
from scratch_numpy.softmax import softmax_loss_naive, softmax_loss_vectorized

# The SVM example: three classes, scores [13, -7, 11], the first class correct, margin 10:
# L = max(0, -7 - 13 + 10) + max(0, 11 - 13 + 10) = 0 + 8.
SVM_SCORES, SVM_LABEL, SVM_DELTA_EXAMPLE, SVM_LOSS = [13.0, -7.0, 11.0], 0, 10.0, 8.0
# The softmax example: exp(789) overflows in float64; shifted by the maximum the scores
# are [-666, -333, 0], so the probabilities are ~[e^-666, e^-333, 1].
SOFTMAX_SCORES = [123.0, 456.0, 789.0]


def test_svm_example_has_loss_8_with_margin_10():
    scores, y = np.array([SVM_SCORES]), np.array([SVM_LABEL])
    # As a linear loss: X = [[1]] and W the scores, so that X @ W gives them back.
    X, W = np.ones((1, 1)), np.array([SVM_SCORES])
    for fn in (svm_loss_naive, svm_loss_vectorized):
        loss, dW = fn(W, X, y, 0.0, delta=SVM_DELTA_EXAMPLE)
        assert loss == SVM_LOSS
        np.testing.assert_array_equal(dW, [[-1.0, 0.0, 1.0]])  # only class 2 violates the margin
    assert layers.svm_loss(scores, y, delta=SVM_DELTA_EXAMPLE)[0] == SVM_LOSS
    assert float(torch_layers.svm_loss(torch.tensor(scores), torch.tensor(y),
                                       delta=SVM_DELTA_EXAMPLE)) == SVM_LOSS
    assert float(torch_svm_loss(torch.tensor(W), torch.tensor(X), torch.tensor(y), 0.0,
                                delta=SVM_DELTA_EXAMPLE)) == SVM_LOSS
    # With the default margin 1 neither wrong class violates it: 0 + max(0, -1).
    assert svm_loss_vectorized(W, X, y, 0.0)[0] == 0.0
    assert layers.svm_loss(scores, y)[0] == 0.0


def test_svm_margin_is_a_parameter_on_both_sides(dev_batch):
    """The dev batch at margin 10: NumPy naive, vectorized and the layer all match torch."""
    X, y = dev_batch
    X = np.hstack([X, np.ones((len(X), 1))])
    W = 1e-3 * np.random.default_rng(0).standard_normal((X.shape[1], 10))
    torch_fn = lambda t: torch_svm_loss(t["W"], t["X"], t["y"], 0.1, delta=10.0)  # noqa: E731
    for fn in (svm_loss_naive, svm_loss_vectorized):
        report = check_parity(lambda i: fn(i["W"], i["X"], i["y"], 0.1, delta=10.0), torch_fn,
                              dict(W=W, X=X, y=y), ("W",), case=f"{fn.__name__}, delta 10")
        assert report.passed, str(report)
    at_one = svm_loss_vectorized(W, X, y, 0.1)[0]
    at_ten = svm_loss_vectorized(W, X, y, 0.1, delta=10.0)[0]
    assert at_ten > at_one + 8  # a wider margin: more, and larger, violations


@pytest.mark.parametrize("delta", [-1.0, float("nan"), "10"])
def test_bad_margin_is_refused(delta):
    W, X, y = np.zeros((1, 3)), np.ones((1, 1)), np.array([0])
    for call in (lambda: svm_loss_vectorized(W, X, y, 0.0, delta=delta),
                 lambda: svm_loss_naive(W, X, y, 0.0, delta=delta),
                 lambda: layers.svm_loss(np.zeros((1, 3)), y, delta=delta),
                 lambda: torch_layers.svm_loss(torch.zeros(1, 3), torch.tensor(y), delta=delta)):
        with pytest.raises(ValueError, match="delta"):
            call()


def test_softmax_example_overflows_unshifted_and_not_shifted():
    f = np.array(SOFTMAX_SCORES)
    with np.errstate(over="ignore", invalid="ignore"):
        naive = np.exp(f) / np.sum(np.exp(f))  # the notes' "bad" version
    assert not np.isfinite(naive).all()
    shifted = f - f.max()
    np.testing.assert_array_equal(shifted, [-666.0, -333.0, 0.0])
    scores = np.array([SOFTMAX_SCORES] * 3)
    y = np.array([0, 1, 2])
    X, W = np.ones((1, 1)), np.array([SOFTMAX_SCORES])
    # Per-class losses -log p_y: 666, 333 and log(1 + e^-333 + e^-666) ~ 0.
    expected = np.mean([666.0, 333.0, 0.0])
    assert layers.softmax_loss(scores, y)[0] == pytest.approx(expected, rel=1e-15)
    assert float(torch_layers.softmax_loss(torch.tensor(scores), torch.tensor(y))) == pytest.approx(
        expected, rel=1e-15)
    for label, per_class in zip(y, [666.0, 333.0, 0.0]):
        for fn in (softmax_loss_naive, softmax_loss_vectorized):
            loss, dW = fn(W, X, np.array([label]), 0.0)
            assert loss == pytest.approx(per_class, abs=1e-12) and np.isfinite(dW).all()
        assert float(torch_softmax_loss(torch.tensor(W), torch.tensor(X),
                                        torch.tensor([label]), 0.0)) == pytest.approx(per_class,
                                                                                      abs=1e-12)


def test_sigmoid_derivative_is_sigma_times_one_minus_sigma():
    x = np.linspace(-8.0, 8.0, 33)
    s = 1 / (1 + np.exp(-x))
    ones = np.ones_like(x)
    analytic = layers.sigmoid_backward(ones, layers.sigmoid_forward(x)[1])
    np.testing.assert_allclose(analytic, s * (1 - s), rtol=1e-15)
    numerical = eval_numerical_gradient_array(lambda v: layers.sigmoid_forward(v)[0], x.copy(), ones)
    assert rel_error(numerical, s * (1 - s)) <= GRAD_CHECK_RTOL
    xt = torch.tensor(x, requires_grad=True)
    torch_layers.sigmoid_forward(xt).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), s * (1 - s), rtol=1e-14)
    assert analytic.max() == 0.25 and analytic[16] == 0.25  # at x = 0, its maximum
