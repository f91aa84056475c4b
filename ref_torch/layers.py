"""Torch twins of ``scratch_numpy/layers.py``.

The twins are forward functions only: autograd supplies the backward pass that
the NumPy side writes by hand. A forward/backward layer is checked through the
scalar ``L = sum(out * dout)`` with a fixed random ``dout``: its gradient with
respect to each input is exactly what ``*_backward(dout, cache)`` must return
(the kinds ``affine``, ``relu``, ``sigmoid``, ``tanh``, ``softmax_scores`` and
``svm_scores`` of ``ref_torch/kinds.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from scratch_numpy.validation import check_real

SVM_DELTA = 1.0  # the SVM margin; the NumPy side's scratch_numpy.linear_svm.SVM_DELTA


def affine_forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``x (N, ...) -> x.reshape(N, D) @ w (D, M) + b (M,)``."""
    return x.reshape(x.shape[0], -1) @ w + b


def relu_forward(x: torch.Tensor) -> torch.Tensor:
    """``max(0, x)``; torch's derivative at 0 is 0, the project's convention."""
    return torch.relu(x)


def sigmoid_forward(x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(x)


def tanh_forward(x: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x)


ACTIVATIONS = {"relu": relu_forward, "sigmoid": sigmoid_forward, "tanh": tanh_forward}


def softmax_loss(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean softmax cross-entropy of ``scores (N, C)`` for labels ``y (N,)``."""
    return F.cross_entropy(scores, y)


def svm_loss(scores: torch.Tensor, y: torch.Tensor, delta: float = SVM_DELTA) -> torch.Tensor:
    """Mean multiclass hinge loss with margin ``delta`` (default 1), correct class excluded.

    relu rather than clamp: relu's derivative at a zero margin is 0, as in the
    NumPy indicator 1(margin > 0).
    """
    correct = scores.gather(1, y.reshape(-1, 1))
    others = torch.ones_like(scores).scatter_(1, y.reshape(-1, 1), 0.0)
    delta = check_real(delta, "delta", low=0)  # the same check as the NumPy side's
    return (torch.relu(scores - correct + delta) * others).sum() / scores.shape[0]
