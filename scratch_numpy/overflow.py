"""What the NumPy losses do where float arithmetic overflows: never NaN from finite input.

Every input a loss accepts is finite, yet its arithmetic can leave the float range:
``W**2`` is inf for a finite weight above ~1.3e154 (float64; ~1.8e19 in float32), scores
``X @ W`` overflow for large enough inputs. NumPy then returns inf or NaN silently. Two
rules keep the answer honest:

* :func:`l2_penalty` is exactly 0 when ``reg == 0``: ``0 * inf`` would be NaN, though the
  regularization term is 0 whatever W is.
* :func:`finite_result` returns the loss and gradients only when they are finite. When
  they are not, the true value lies outside the float range, and the caller gets a
  :class:`NonFiniteResultError` that says so instead of a number;
  :func:`check_finite_scores` does the same for scores, where a NaN would be lost.

NumPy only.
"""

from __future__ import annotations

import numpy as np

# The error and its message are shared with the torch losses (scratch_numpy/validation.py).
from scratch_numpy.validation import NonFiniteResultError, beyond_float_range

__all__ = ["NonFiniteResultError", "check_finite_scores", "finite_result", "l2_penalty"]


def l2_penalty(reg: float, *weights: np.ndarray) -> float:
    """``reg * sum_k sum(W_k**2)`` over the weight arrays; exactly 0.0 when ``reg == 0``.

    ``np.vdot`` of the flattened array forms ``sum(W**2)`` without a temporary of W's size.
    """
    if reg == 0:
        return 0.0
    return reg * sum(np.vdot(w.ravel(), w.ravel()) for w in weights)


def check_finite_scores(scores: np.ndarray) -> None:
    """Raise :class:`NonFiniteResultError` when scores computed from finite inputs are not
    finite. Needed where a NaN score would vanish instead of spreading: ``NaN > 0`` is
    False, so a hinge loop would count a NaN margin as inactive and return a finite loss."""
    if not np.isfinite(scores).all():
        raise beyond_float_range("the scores X @ W are not finite", str(scores.dtype),
                                 float(np.finfo(scores.dtype).max))


def finite_result(loss, grads):
    """``(float(loss), grads)`` when the loss and every gradient are finite.

    grads: one array, or a dict name -> array. Raises :class:`NonFiniteResultError`
    naming what is not finite and its dtype otherwise.
    """
    arrays = grads if isinstance(grads, dict) else {"gradient": grads}
    dtype = next(iter(arrays.values())).dtype
    if not np.isfinite(loss):
        bad = f"the loss is {float(loss)}"
    else:
        bad = next((f"the gradient {name} has {int(np.sum(~np.isfinite(a)))} non-finite entries"
                    for name, a in arrays.items() if not np.isfinite(a).all()), None)
        if bad is None:
            return float(loss), grads
    raise beyond_float_range(bad, str(dtype), float(np.finfo(dtype).max))
