"""Layers of a fully-connected network, each a forward/backward pair (CS231n style).

Every ``*_forward`` returns ``(out, cache)``; the matching ``*_backward(dout,
cache)`` takes the upstream gradient ``dout = dL/dout`` (same shape as ``out``)
and returns the gradients of the loss with respect to the forward's inputs, by
the chain rule. The loss layers return ``(loss, dscores)`` directly.

Conventions (see DESIGN.md): rows are examples, ``x`` is ``(N, D)``, weights
are ``(D, M)``; the derivative of ``max(0, z)`` at ``z == 0`` is 0.

NumPy only.
"""

from __future__ import annotations

import numpy as np

from scratch_numpy.linear_svm import SVM_DELTA
from scratch_numpy.overflow import finite_result
from scratch_numpy.validation import (NONFINITE_SCORES, check_affine_shapes, check_array, check_delta,
                                      check_has_rows, check_int, check_labels)


def affine_forward(x, w, b):
    """Fully-connected layer ``out = x @ w + b``.

    x: (N, D) inputs, or (N, d_1, ..., d_k) with d_1 * ... * d_k = D (flattened per row).
    w: (D, M) weights.  b: (M,) biases.
    Returns out (N, M) and cache (x, w, b).
    """
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    check_affine_shapes(x.shape, w.shape, b.shape)
    return x.reshape(x.shape[0], -1) @ w + b, (x, w, b)


def affine_backward(dout, cache):
    """Backward pass of :func:`affine_forward`.

    dout: (N, M) upstream gradient; cache: (x, w, b) from the forward pass.
    Returns dx (shape of x) = dout @ w.T, dw (D, M) = x.T @ dout, db (M,) = sum_n dout[n].
    """
    x, w, _ = cache
    rows = x.reshape(x.shape[0], -1)
    dx = (dout @ w.T).reshape(x.shape)
    return dx, rows.T @ dout, dout.sum(axis=0)


def relu_forward(x):
    """Rectified linear unit ``out = max(0, x)``, elementwise. Returns out and cache x."""
    x = np.asarray(x)
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    """``dx = dout * 1(x > 0)``: the subgradient at exactly 0 is taken as 0."""
    return dout * (cache > 0)


def sigmoid_forward(x):
    """Logistic sigmoid ``out = 1 / (1 + exp(-x))``, elementwise. Returns out and cache out.

    Computed as ``exp(-|x|)`` based halves so that no ``exp`` overflows for large |x|.
    """
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return out, out


def sigmoid_backward(dout, cache):
    """``dx = dout * s (1 - s)`` with ``s = sigmoid(x)``: sigma' = (1 - sigma) sigma.

    sigma' <= 1/4 and it vanishes for |x| large (saturation), the first drawback
    the notes name; the second is that sigmoid outputs are all positive.
    """
    s = cache
    return dout * s * (1 - s)


def tanh_forward(x):
    """Hyperbolic tangent, elementwise (zero-centred, still saturates). Returns out and cache out."""
    out = np.tanh(np.asarray(x))
    return out, out


def tanh_backward(dout, cache):
    """``dx = dout * (1 - tanh(x)^2)``."""
    return dout * (1 - cache * cache)


# Elements per block of the blocked pass below: a few float32 blocks of this size (512 KiB
# each) stay in a 2 MiB L2 cache, so each array is read from memory once per pass, not
# once per ufunc; fewer, larger blocks save the ~1-2 us each ufunc call costs.
BLOCK = 1 << 17
# sum(W**2) is formed as np.dot over blocks of this many elements, added in order: the
# loss's last bits depend on that split, so it stays fixed (BLOCK is a multiple of it).
SUM_BLOCK = 1 << 15


def add_l2_term(W, dW, reg: float) -> float:
    """The L2 term of a weight matrix: returns ``reg * sum(W**2)`` and adds its gradient
    ``2 reg W`` to ``dW`` in place; exactly 0 (and dW untouched) when ``reg == 0``, since
    ``0 * inf`` would be NaN (see ``scratch_numpy.overflow``).

    W, dW: arrays of one shape (dW C-contiguous, e.g. the output of a matrix product).
    One blocked pass over W and dW: for the 3072 x 1000 first layer of a network this
    reads each array once instead of three times and allocates nothing of W's size.
    """
    if reg == 0:
        return 0.0
    # An overflow here is the caller's to report (a non-finite loss names it), not a warning.
    with np.errstate(over="ignore"):
        if not dW.flags.c_contiguous or not W.flags.c_contiguous:
            dW += (2 * reg) * W
            return reg * float(np.vdot(W.ravel(), W.ravel()))
        w, g = W.reshape(-1), dW.reshape(-1)
        scratch = np.empty(min(BLOCK, w.size), dtype=np.result_type(W, dW))
        total = 0.0
        for start in range(0, w.size, BLOCK):
            wb, gb = w[start:start + BLOCK], g[start:start + BLOCK]
            for i in range(0, len(wb), SUM_BLOCK):
                total += float(np.dot(wb[i:i + SUM_BLOCK], wb[i:i + SUM_BLOCK]))
            s = scratch[:len(wb)]
            np.multiply(wb, 2 * reg, out=s)
            gb += s
        return reg * total


def _check_scores(scores, y):
    scores = check_array(scores, "scores", 2)
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float64)
    check_has_rows(scores.shape[0], "scores")
    return scores, check_labels(y, scores.shape[0], scores.shape[1])


def softmax_loss(scores, y):
    """Mean cross-entropy of the softmax of ``scores``.

    scores: (N, C) class scores s; y: (N,) labels in 0..C-1.
    L = (1/N) sum_i [ -s_{i,y_i} + log sum_j exp(s_ij) ]
    dL/ds_ij = (1/N) (p_ij - 1(j == y_i)),  p_ij = exp(s_ij) / sum_k exp(s_ik).
    Returns (loss, dscores (N, C)). Scores are shifted by their row maximum
    first, which leaves p unchanged and keeps exp from overflowing.
    """
    scores, y = _check_scores(scores, y)
    n = scores.shape[0]
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_norm
    rows = np.arange(n)
    loss = -log_probs[rows, y].sum() / n
    dscores = np.exp(log_probs)
    dscores[rows, y] -= 1
    dscores /= n
    return finite_result(loss, dscores)


def svm_loss(scores, y, delta=SVM_DELTA):
    """Mean multiclass hinge loss with margin ``delta`` (default 1).

    scores: (N, C); y: (N,) labels in 0..C-1; delta: the margin, >= 0.
    L = (1/N) sum_i sum_{j != y_i} max(0, s_ij - s_{i,y_i} + delta)
    dL/ds_ij = (1/N) 1(margin_ij > 0) for j != y_i, and
    dL/ds_{i,y_i} = -(1/N) #{j != y_i : margin_ij > 0}.
    Returns (loss, dscores (N, C)).
    """
    scores, y = _check_scores(scores, y)
    delta = check_delta(delta)
    n = scores.shape[0]
    rows = np.arange(n)
    margins = scores - scores[rows, y][:, None] + delta
    margins[rows, y] = 0
    active = margins > 0
    loss = margins[active].sum() / n
    dscores = active.astype(scores.dtype)
    dscores[rows, y] = -active.sum(axis=1)
    dscores /= n
    return finite_result(loss, dscores)


def predict_labels(forward, X: np.ndarray, batch_size: int) -> np.ndarray:
    """Labels (N,) of ``forward(rows) -> scores (n, C)``, in chunks of ``batch_size`` rows
    (the scores of every test image at once need not fit in memory).

    FloatingPointError when scores are NaN or infinite: argmax would silently say class 0."""
    batch_size = check_int(batch_size, "batch_size")
    labels = [np.zeros(0, dtype=np.int64)]
    for i in range(0, X.shape[0], batch_size):
        with np.errstate(over="ignore", invalid="ignore"):
            scores = forward(X[i:i + batch_size])
        if not np.isfinite(scores).all():
            raise FloatingPointError(NONFINITE_SCORES)
        labels.append(scores.argmax(axis=1))
    return np.concatenate(labels)
