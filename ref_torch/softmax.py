"""Softmax (cross-entropy) loss in torch ops; autograd gives the gradient.

Twin of ``scratch_numpy/softmax.py``:
``L = mean_i (log sum_k exp(s_ik) - s_{i y_i}) + reg * sum(W**2)`` with
``s = X @ W``, computed by ``ref_torch.layers.softmax_loss``
(``F.cross_entropy``, which shifts by the row maximum internally, as the
NumPy side does by hand).
"""

from __future__ import annotations

import torch

from ref_torch.layers import softmax_loss as cross_entropy


def softmax_loss(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, reg: float) -> torch.Tensor:
    """Mean cross-entropy + ``reg * sum(W**2)``. W (D, C), X (N, D), y (N,) int64 -> scalar."""
    return cross_entropy(X @ W, y) + reg * (W * W).sum()
