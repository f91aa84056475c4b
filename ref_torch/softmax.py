"""Softmax (cross-entropy) loss in torch ops; autograd gives the gradient.

Twin of ``scratch_numpy/softmax.py``:
``L = mean_i (log sum_k exp(s_ik) - s_{i y_i}) + reg * sum(W**2)`` with
``s = X @ W``, computed by ``ref_torch.layers.cross_entropy``
(``F.cross_entropy``, which shifts by the row maximum internally, as the
NumPy side does by hand); the L2 term is exactly 0 at ``reg == 0``, whatever W.
"""

from __future__ import annotations

import torch

from ref_torch.layers import cross_entropy, l2_term
from ref_torch.validation import check_finite_loss, check_linear_tensors


def softmax_loss(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, reg: float) -> torch.Tensor:
    """Mean cross-entropy + ``reg * sum(W**2)``. W (D, C), X (N, D), y (N,) integer labels in
    0..C-1 -> scalar. Inputs checked as ``softmax_loss_vectorized`` checks them (so a label -100
    is refused, never skipped as ``F.cross_entropy``'s ``ignore_index``); a loss beyond the
    float range is a ``NonFiniteResultError``."""
    return check_finite_loss(softmax_loss_core(*check_linear_tensors(W, X, y, reg)))


def softmax_loss_core(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, reg: float) -> torch.Tensor:
    """:func:`softmax_loss` without the checks: the training loop's path (inputs checked once)."""
    return cross_entropy(X @ W, y) + l2_term(reg, W)
