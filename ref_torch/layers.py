"""Torch twins of ``scratch_numpy/layers.py``.

The twins are forward functions only: autograd supplies the backward pass that
the NumPy side writes by hand. A forward/backward layer is checked through the
scalar ``L = sum(out * dout)`` with a fixed random ``dout``: its gradient with
respect to each input is exactly what ``*_backward(dout, cache)`` must return
(the kinds ``affine``, ``relu``, ``sigmoid``, ``tanh``, ``softmax_scores`` and
``svm_scores`` of ``ref_torch/oracle/kinds.py``).

The public functions check their inputs as the NumPy twins do, with the same
messages (``ref_torch/validation.py``); the loss layers also refuse a non-finite
loss of finite scores. ``cross_entropy``, ``hinge`` and ``l2_term`` are the
unchecked paths the losses and training loops build on, with ``affine``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ref_torch.validation import all_finite, check_finite_loss, check_label_tensor, check_tensor
from scratch_numpy.validation import (NONFINITE_SCORES, check_affine_shapes, check_delta, check_has_rows,
                                      check_int)

SVM_DELTA = 1.0  # the SVM margin; the NumPy side's scratch_numpy.linear_svm.SVM_DELTA


def affine_forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``x (N, ...) -> x.reshape(N, D) @ w (D, M) + b (M,)``."""
    check_affine_shapes(tuple(x.shape), tuple(w.shape), tuple(b.shape))
    return x.reshape(x.shape[0], -1) @ w + b


def affine(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """:func:`affine_forward` of rows (N, D), unchecked: one GEMM with the bias as its
    accumulator (``addmm``, as ``nn.Linear``), not a product and a second pass to add ``b``."""
    return torch.addmm(b, x, w)


def relu_forward(x: torch.Tensor) -> torch.Tensor:
    """``max(0, x)``; torch's derivative at 0 is 0, the project's convention."""
    return torch.relu(x)


def sigmoid_forward(x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(x)


def tanh_forward(x: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x)


ACTIVATIONS = {"relu": relu_forward, "sigmoid": sigmoid_forward, "tanh": tanh_forward}


class _SumOfSquares(torch.autograd.Function):
    """``sum(W**2)`` as one dot product (one read of W, no temporary), whose gradient is one
    multiplication ``W * (2 g)``: ``2 g`` is exact, so it equals, bit for bit, the
    ``g W + g W`` autograd gives ``(W * W).sum()`` (three passes over W and a temporary)."""

    @staticmethod
    def forward(ctx, W):
        ctx.save_for_backward(W)
        flat = W.reshape(-1)
        return torch.dot(flat, flat)

    @staticmethod
    def backward(ctx, grad):
        (W,) = ctx.saved_tensors
        return W * (2 * grad)


def l2_term(reg: float, *weights: torch.Tensor):
    """``reg * sum_k sum(W_k**2)``; exactly 0 when ``reg == 0``, since ``0 * inf`` would be
    NaN for a finite weight whose square overflows (the NumPy side's ``l2_penalty``)."""
    if reg == 0:
        return 0.0
    return reg * sum(_SumOfSquares.apply(W) for W in weights)


def cross_entropy(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """:func:`softmax_loss` without the checks (labels already in ``0..C-1``)."""
    return F.cross_entropy(scores, y)


def hinge(scores: torch.Tensor, y: torch.Tensor, delta: float = SVM_DELTA) -> torch.Tensor:
    """:func:`svm_loss` without the checks.

    relu rather than clamp: relu's derivative at a zero margin is 0, as in the
    NumPy indicator 1(margin > 0).
    """
    correct = scores.gather(1, y.reshape(-1, 1))
    others = torch.ones_like(scores).scatter_(1, y.reshape(-1, 1), 0.0)
    return (torch.relu(scores - correct + delta) * others).sum() / scores.shape[0]


def _check_scores(scores, y) -> tuple[torch.Tensor, torch.Tensor]:
    """Finite scores (N, C), N >= 1 (integers as float64, as NumPy does), labels in 0..C-1."""
    scores = check_tensor(scores, "scores", 2)
    if not scores.is_floating_point():
        scores = scores.double()
    check_has_rows(scores.shape[0], "scores")
    return scores, check_label_tensor(y, scores.shape[0], scores.shape[1], device=scores.device)


def softmax_loss(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean softmax cross-entropy of ``scores (N, C)`` for labels ``y (N,)``."""
    return check_finite_loss(cross_entropy(*_check_scores(scores, y)))


def svm_loss(scores: torch.Tensor, y: torch.Tensor, delta: float = SVM_DELTA) -> torch.Tensor:
    """Mean multiclass hinge loss with margin ``delta`` (default 1), correct class excluded."""
    scores, y = _check_scores(scores, y)
    return check_finite_loss(hinge(scores, y, check_delta(delta)))


@torch.no_grad()
def predict_labels(forward, X: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Labels (N,) int64 of ``forward(rows) -> scores (n, C)``, in chunks of ``batch_size`` rows
    (the scores of every test image at once need not fit in memory); on X's device.

    FloatingPointError when scores are NaN or infinite: argmax would silently say class 0."""
    batch_size = check_int(batch_size, "batch_size")
    labels = [torch.zeros(0, dtype=torch.int64, device=X.device)]
    for i in range(0, X.shape[0], batch_size):
        scores = forward(X[i:i + batch_size])
        if not all_finite(scores):
            raise FloatingPointError(NONFINITE_SCORES)
        labels.append(scores.argmax(dim=1))
    return torch.cat(labels)
