"""Softmax (cross-entropy) loss with L2 regularization, naive and vectorized.

For scores ``s = x_i W`` of example ``i`` with correct class ``y_i``:

    p_j = exp(s_j) / sum_k exp(s_k)
    L_i = -log p_{y_i} = log sum_k exp(s_k) - s_{y_i}
    L   = (1/N) sum_i L_i + reg * sum(W**2)

Gradient: ``dL_i/ds_j = p_j - 1(j == y_i)``, so

    dL/dW = (1/N) X^T (P - Y) + 2 reg W

with ``P`` the (N, C) probabilities and ``Y`` the one-hot labels.

Numerical stability: ``exp`` overflows for scores above ~709 (float64) or
~88 (float32). Subtracting the row maximum ``m = max_k s_k`` first changes
nothing mathematically, ``p_j = exp(s_j - m) / sum_k exp(s_k - m)``, and keeps
every exponent <= 0, so the sum lies in [1, C] and its log is finite.
"""

from __future__ import annotations

import numpy as np

from scratch_numpy.overflow import finite_result, l2_penalty
from scratch_numpy.validation import check_linear_float_inputs


def softmax_loss_naive(W, X, y, reg):
    """Softmax loss with explicit loops over examples and classes.

    Inputs:
    - W: (D, C) weights.
    - X: (N, D) data, one example per row.
    - y: (N,) integer labels in 0..C-1.
    - reg: L2 regularization strength, >= 0.

    Returns (loss, dW): loss a float, dW (D, C) in the dtype of W and X.
    """
    W, X, y, reg = check_linear_float_inputs(W, X, y, reg)
    num_train, num_classes = X.shape[0], W.shape[1]
    dW = np.zeros_like(W)
    loss = 0.0
    for i in range(num_train):
        scores = X[i].dot(W)
        scores -= scores.max()
        log_sum_exp = np.log(np.sum(np.exp(scores)))
        loss += log_sum_exp - scores[y[i]]
        for j in range(num_classes):
            probability = np.exp(scores[j] - log_sum_exp)
            dW[:, j] += (probability - (j == y[i])) * X[i]
    loss /= num_train
    dW /= num_train
    loss += l2_penalty(reg, W)
    dW += 2 * reg * W
    return finite_result(loss, dW)


def softmax_loss_vectorized(W, X, y, reg):
    """Softmax loss without loops; same inputs and outputs as :func:`softmax_loss_naive`."""
    return softmax_loss_core(*check_linear_float_inputs(W, X, y, reg))


def softmax_loss_core(W, X, y, reg):
    """:func:`softmax_loss_vectorized` without the input checks: the path of a training loop
    whose inputs were checked once (W and X of one float dtype, labels in range)."""
    num_train = X.shape[0]
    rows = np.arange(num_train)
    shifted = X @ W
    shifted -= shifted.max(axis=1, keepdims=True)
    log_sum_exp = np.log(np.exp(shifted).sum(axis=1))
    loss = (log_sum_exp - shifted[rows, y]).sum() / num_train + l2_penalty(reg, W)

    dscores = np.exp(shifted - log_sum_exp[:, None])
    dscores[rows, y] -= 1
    dW = X.T @ dscores
    dW /= num_train
    dW += 2 * reg * W
    return finite_result(loss, dW)
