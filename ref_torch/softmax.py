"""Softmax (cross-entropy) loss in torch ops; autograd gives the gradient.

Twin of ``scratch_numpy/softmax.py``:
``L = mean_i (log sum_k exp(s_ik) - s_{i y_i}) + reg * sum(W**2)``, computed by
``F.cross_entropy`` (which shifts by the row maximum internally, as the NumPy
side does by hand).

Registers the parity kind ``softmax`` for ``scripts/check_gradient.py``; its
cases are those of the ``svm`` kind (see ``ref_torch/linear_svm.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ref_torch.linear_svm import call_linear_loss, linear_cases
from ref_torch.parity import LossKind, register_kind


def softmax_loss(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, reg: float) -> torch.Tensor:
    """Mean cross-entropy + ``reg * sum(W**2)``. W (D, C), X (N, D), y (N,) int64 -> scalar."""
    return F.cross_entropy(X @ W, y) + reg * (W * W).sum()


def _softmax_from_tensors(t):
    return softmax_loss(t["W"], t["X"], t["y"], t["reg"])


SOFTMAX_KIND = register_kind(LossKind(
    name="softmax",
    signature="softmax_loss_vectorized(W, X, y, reg) -> (loss, dW); W (D, C), X (N, D), y (N,)",
    make_cases=linear_cases,
    call_numpy=call_linear_loss,
    torch_loss=_softmax_from_tensors,
    wrt=("W",),
    reference="scratch_numpy.softmax:softmax_loss_vectorized",
))
