"""Dropout's reference: inverted dropout with the mask the user's forward drew.

A correct dropout may draw its mask in many ways (``np.random.rand(*x.shape) < p``,
``np.random.binomial``, another seed), so the reference cannot guess it. It reads it
from the user's output instead: ``mask = out / x`` (the cases' ``x`` has no zeros). In
train mode inverted dropout with keep probability ``p`` (CS231n's convention since 2017)
makes every entry ``0`` or ``1 / p`` and keeps about a fraction ``p``; in test mode the
mask is all ones. When the output is such a mask, the reference is ``x * mask`` and the
backward must return ``dout * mask``. When it is not, the reference uses the mask
CS231n's own code draws, ``(np.random.RandomState(seed).rand(*x.shape) < p) / p``, so the
output fails, and :func:`mask_problem` says what the output looked like instead.
"""

from __future__ import annotations

import numpy as np

from ref_torch.tolerances import DROPOUT_KEPT_SIGMAS, DROPOUT_MASK_RTOL


def reference_mask(inputs: dict) -> np.ndarray:
    """CS231n's own mask for the case: ones in test mode, else the seeded draw."""
    x, param = inputs["x"], inputs["dropout_param"]
    if param["mode"] != "train":
        return np.ones_like(x)
    draw = np.random.RandomState(param["seed"]).rand(*x.shape)
    return ((draw < param["p"]) / param["p"]).astype(x.dtype)


def _is_mask(ratio: np.ndarray, scale: float) -> bool:
    return bool(np.all(np.isclose(ratio, 0.0, atol=DROPOUT_MASK_RTOL * scale)
                       | np.isclose(ratio, scale, rtol=DROPOUT_MASK_RTOL)))


def _kept_plausibly(kept: np.ndarray, p: float) -> bool:
    n = kept.size
    return abs(kept.sum() - p * n) <= DROPOUT_KEPT_SIGMAS * np.sqrt(n * p * (1 - p)) + 1


def read_mask(inputs: dict, out) -> np.ndarray | None:
    """The mask of the user's output when it is inverted dropout of ``x``, else None."""
    x, param = inputs["x"], inputs["dropout_param"]
    if out is None or np.shape(out) != x.shape or not np.all(np.isfinite(out)):
        return None
    ratio = np.asarray(out, dtype=np.float64) / x.astype(np.float64)
    if param["mode"] != "train":
        return np.ones_like(x) if np.allclose(ratio, 1.0, rtol=DROPOUT_MASK_RTOL) else None
    p = param["p"]
    if not _is_mask(ratio, 1 / p) or not _kept_plausibly(ratio > 0, p):
        return None
    return ((ratio > 0) / p).astype(x.dtype)


def reference_inputs(inputs: dict, out) -> dict:
    """The case's inputs plus the ``mask`` the torch reference multiplies by."""
    mask = read_mask(inputs, out)
    return dict(inputs, mask=reference_mask(inputs) if mask is None else mask)


def mask_problem(inputs: dict, out) -> str:
    """What the user's train-mode output is instead of inverted dropout ("" when it is)."""
    x, param = inputs["x"], inputs["dropout_param"]
    if out is None or np.shape(out) != x.shape or read_mask(inputs, out) is not None:
        return ""
    if param["mode"] != "train":
        return "in test mode dropout returns x unchanged (inverted dropout scales at train time)"
    p = param["p"]
    ratio = np.asarray(out, dtype=np.float64) / x.astype(np.float64)
    kept = ratio > 0
    if kept.all():
        return f"nothing is dropped in train mode: every unit is kept (p = {p:g})"
    fraction = f"it keeps {kept.mean():.2f} of the units"
    if _is_mask(ratio, 1 / (1 - p)):
        return (f"p is used as the probability of dropping a unit (kept units x / (1 - p), "
                f"{fraction}): since 2017 CS231n's p is the probability of keeping one")
    if _is_mask(ratio, 1.0):
        return (f"kept units are not divided by p ({fraction}): inverted dropout scales them "
                "by 1 / p at train time")
    if _is_mask(ratio, 1 / p):
        return (f"{fraction} where p = {p:g}: keep each unit with probability p "
                "(np.random.rand(*x.shape) < p)")
    return (f"the output is not x times a mask of 0 and 1 / p = {1 / p:.4g} "
            "(inverted dropout with keep probability p)")
