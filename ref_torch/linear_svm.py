"""Multiclass SVM loss in torch ops; autograd gives the gradient.

Twin of ``scratch_numpy/linear_svm.py`` (the math is in its docstring):
``L = mean_i sum_{j != y_i} max(0, s_j - s_{y_i} + 1) + reg * sum(W**2)``.

Kinks: ``F.relu``'s backward passes the gradient only where its input is
> 0, so the derivative of ``max(0, z)`` at ``z == 0`` is 0 - the NumPy
convention. (``clamp(min=0)`` would give 1 there.)

Registers the parity kind ``svm`` for ``scripts/check_gradient.py``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ref_torch.parity import LossKind, register_kind

SVM_DELTA = 1.0

# Weight scales and reg values of the parity cases. 1e-4 is the assignment's
# initial scale (scores near 0, every margin ~1 active); at 1e-3 and 1e-2 the
# scores spread over tens of units, so active and inactive margins mix. Each
# reg > 0 makes 2 * reg * W a sizeable part of dW (2.5e4 is the assignment's
# value), so a missing or mis-scaled reg term fails float32 too.
PARITY_CASES = ((1e-4, 0.0), (1e-4, 2.5e4), (1e-3, 5e2), (1e-2, 0.0), (1e-2, 1e2))


def svm_loss(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, reg: float) -> torch.Tensor:
    """Mean hinge loss + ``reg * sum(W**2)``. W (D, C), X (N, D), y (N,) int64 -> scalar."""
    scores = X @ W
    correct = scores.gather(1, y[:, None])
    wrong_class = torch.ones_like(scores, dtype=torch.bool).scatter(1, y[:, None], False)
    margins = F.relu(scores - correct + SVM_DELTA) * wrong_class
    return margins.sum() / X.shape[0] + reg * (W * W).sum()


def linear_cases(X: np.ndarray, y: np.ndarray, num_classes: int = 10, seed: int = 0):
    """Parity inputs from a real batch: the bias trick applied, W at several scales.

    X (N, D) float64 rows, y (N,) -> [(case name, {"W", "X", "y", "reg"})].
    """
    X = np.hstack([X, np.ones((X.shape[0], 1))])
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((X.shape[1], num_classes))
    return [(f"W scale {scale:g}, reg {reg:g}", {"W": scale * base, "X": X, "y": y, "reg": reg})
            for scale, reg in PARITY_CASES]


def call_linear_loss(user_fn, inputs):
    return user_fn(inputs["W"], inputs["X"], inputs["y"], inputs["reg"])


def _svm_from_tensors(t):
    return svm_loss(t["W"], t["X"], t["y"], t["reg"])


SVM_KIND = register_kind(LossKind(
    name="svm",
    signature="svm_loss_vectorized(W, X, y, reg) -> (loss, dW); W (D, C), X (N, D), y (N,)",
    make_cases=linear_cases,
    call_numpy=call_linear_loss,
    torch_loss=_svm_from_tensors,
    wrt=("W",),
    reference="scratch_numpy.linear_svm:svm_loss_vectorized",
))
