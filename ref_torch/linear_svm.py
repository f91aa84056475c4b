"""Multiclass SVM loss in torch ops; autograd gives the gradient.

Twin of ``scratch_numpy/linear_svm.py`` (the math is in its docstring):
``L = mean_i sum_{j != y_i} max(0, s_j - s_{y_i} + delta) + reg * sum(W**2)``
with scores ``s = X @ W``: the hinge of ``ref_torch.layers.svm_loss`` on
those scores, plus the L2 term.

Kinks: the hinge is ``F.relu``, whose backward passes the gradient only where
its input is > 0, so the derivative of ``max(0, z)`` at ``z == 0`` is 0 - the
NumPy convention. (``clamp(min=0)`` would give 1 there.)
"""

from __future__ import annotations

import torch

from ref_torch.layers import SVM_DELTA
from ref_torch.layers import svm_loss as hinge_loss


def svm_loss(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, reg: float,
             delta: float = SVM_DELTA) -> torch.Tensor:
    """Mean hinge loss (margin ``delta``) + ``reg * sum(W**2)``. W (D, C), X (N, D), y (N,)
    int64 -> scalar."""
    return hinge_loss(X @ W, y, delta) + reg * (W * W).sum()
