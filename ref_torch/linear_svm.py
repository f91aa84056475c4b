"""Multiclass SVM loss in torch ops; autograd gives the gradient.

Twin of ``scratch_numpy/linear_svm.py`` (the math is in its docstring):
``L = mean_i sum_{j != y_i} max(0, s_j - s_{y_i} + delta) + reg * sum(W**2)``
with scores ``s = X @ W``: the hinge of ``ref_torch.layers.svm_loss`` on
those scores, plus the L2 term (exactly 0 at ``reg == 0``, whatever W).

Kinks: the hinge is ``F.relu``, whose backward passes the gradient only where
its input is > 0, so the derivative of ``max(0, z)`` at ``z == 0`` is 0 - the
NumPy convention. (``clamp(min=0)`` would give 1 there.)
"""

from __future__ import annotations

import torch

from ref_torch.layers import SVM_DELTA, hinge, l2_term
from ref_torch.validation import check_finite_loss, check_linear_tensors
from scratch_numpy.validation import check_delta


def svm_loss(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, reg: float,
             delta: float = SVM_DELTA) -> torch.Tensor:
    """Mean hinge loss (margin ``delta``) + ``reg * sum(W**2)``. W (D, C), X (N, D), y (N,)
    integer labels in 0..C-1 -> scalar. Inputs checked as ``svm_loss_vectorized`` checks them;
    a loss beyond the float range is a ``NonFiniteResultError``."""
    W, X, y, reg = check_linear_tensors(W, X, y, reg)
    return check_finite_loss(svm_loss_core(W, X, y, reg, check_delta(delta)))


def svm_loss_core(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, reg: float,
                  delta: float = SVM_DELTA) -> torch.Tensor:
    """:func:`svm_loss` without the checks: the training loop's path (inputs checked once)."""
    return hinge(X @ W, y, delta) + l2_term(reg, W)
