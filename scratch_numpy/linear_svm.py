"""Multiclass SVM (hinge) loss with L2 regularization, naive and vectorized.

For scores ``s = x_i W`` of example ``i`` with correct class ``y_i`` and margin
``delta`` (1 by default, :data:`SVM_DELTA`):

    L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + delta)
    L   = (1/N) sum_i L_i + reg * sum(W**2)

Gradient (a subgradient at the kinks): with the indicator
``m_ij = 1(s_j - s_{y_i} + delta > 0)`` for ``j != y_i``,

    dL_i/dW[:, j]   =  m_ij x_i                      (j != y_i)
    dL_i/dW[:, y_i] = -(sum_{j != y_i} m_ij) x_i
    dL/dW           = (1/N) sum_i dL_i/dW + 2 reg W

The derivative of ``max(0, z)`` at ``z == 0`` is taken to be 0 (the indicator
is strict), as in the seed notes; the torch twin uses the same convention.
"""

from __future__ import annotations

import numpy as np

from scratch_numpy.overflow import check_finite_scores, finite_result, l2_penalty
from scratch_numpy.validation import check_delta, check_linear_float_inputs

SVM_DELTA = 1.0


def svm_loss_naive(W, X, y, reg, delta=SVM_DELTA):
    """Multiclass SVM loss with explicit loops over examples and classes.

    Inputs:
    - W: (D, C) weights.
    - X: (N, D) data, one example per row.
    - y: (N,) integer labels in 0..C-1.
    - reg: L2 regularization strength, >= 0.
    - delta: the margin, >= 0.

    Returns (loss, dW): loss a float, dW (D, C) in the dtype of W and X.
    """
    W, X, y, reg = check_linear_float_inputs(W, X, y, reg)
    delta = check_delta(delta)
    num_train, num_classes = X.shape[0], W.shape[1]
    dW = np.zeros_like(W)
    loss = 0.0
    for i in range(num_train):
        scores = X[i].dot(W)
        check_finite_scores(scores)
        correct_class_score = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct_class_score + delta
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss /= num_train
    dW /= num_train
    loss += l2_penalty(reg, W)
    dW += 2 * reg * W
    return finite_result(loss, dW)


def svm_loss_vectorized(W, X, y, reg, delta=SVM_DELTA):
    """Multiclass SVM loss without loops; same inputs and outputs as :func:`svm_loss_naive`."""
    return svm_loss_core(*check_linear_float_inputs(W, X, y, reg), check_delta(delta))


def svm_loss_core(W, X, y, reg, delta=SVM_DELTA):
    """:func:`svm_loss_vectorized` without the input checks: the path of a training loop
    whose inputs were checked once (W and X of one float dtype, labels in range)."""
    num_train = X.shape[0]
    rows = np.arange(num_train)
    scores = X @ W
    margins = scores - scores[rows, y][:, None] + delta
    # The correct class would contribute max(0, delta) = delta to every row.
    margins[rows, y] = 0
    loss = np.maximum(margins, 0).sum() / num_train + l2_penalty(reg, W)

    # d loss / d scores: +1 for each violating class, minus their count at y_i.
    dscores = (margins > 0).astype(W.dtype)
    dscores[rows, y] = -dscores.sum(axis=1)
    dW = X.T @ dscores
    dW /= num_train
    dW += 2 * reg * W
    return finite_result(loss, dW)
