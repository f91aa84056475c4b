"""Input checks shared by every model: clear ``ValueError`` messages instead of
a silent wrong answer or a broadcasting error deep inside NumPy."""

from __future__ import annotations

import numpy as np


def check_array(a, name: str, ndim: int, floating: bool = True) -> np.ndarray:
    """Return ``a`` as an array with ``ndim`` dims, real-valued and finite."""
    a = np.asarray(a)
    if a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {a.shape}")
    if floating and not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{name} must be a real-valued array, got dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def check_labels(y, num_rows: int, num_classes: int, name: str = "y") -> np.ndarray:
    """Labels ``(N,)`` integers in ``0..num_classes-1``, one per row."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (N,), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if y.shape[0] != num_rows:
        raise ValueError(f"{name} has {y.shape[0]} labels but X has {num_rows} rows")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"{name} labels must lie in 0..{num_classes - 1}, found {y.min()}..{y.max()}"
        )
    return y


def is_real(value) -> bool:
    """A real number (Python or NumPy), not a bool, not a string."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def check_int(value, name: str, minimum: int | None = 1, maximum: int | None = None) -> int:
    """An integer (Python or NumPy, not a bool) in ``minimum..maximum`` (None: unbounded)."""
    if minimum is not None and maximum is not None:
        kind = f"an integer in {minimum}..{maximum}"
    elif minimum == 1:
        kind = "a positive integer"
    elif minimum is not None:
        kind = f"an integer >= {minimum}"
    else:
        kind = "an integer"
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
            or (minimum is not None and value < minimum) or (maximum is not None and value > maximum)):
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return int(value)


def _interval(low, high, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high:g}"
    return ""


def check_real(value, name: str, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number (not a bool or a string) in the interval given by its bounds.

    ``low``/``high`` None: unbounded on that side; ``*_open``: the bound itself is excluded.
    """
    ok = is_real(value) and bool(np.isfinite(value))
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise ValueError(f"{name} must be a finite number"
                         f"{_interval(low, high, low_open, high_open)}, got {value!r}")
    return float(value)


def check_float_dtype(dtype) -> np.dtype:
    """float32 or float64, the two precisions the models compute in."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def check_reg(reg) -> float:
    """Regularization strength: a finite number >= 0."""
    return check_real(reg, "reg", low=0)


def check_linear_inputs(W, X, y, reg):
    """Validate ``W (D, C)``, ``X (N, D)``, ``y (N,)`` and ``reg`` for a linear loss."""
    W = check_array(W, "W", 2)
    X = check_array(X, "X", 2)
    if X.shape[1] != W.shape[0]:
        raise ValueError(
            f"X has {X.shape[1]} features per row but W expects {W.shape[0]} (W is {W.shape})"
        )
    if X.shape[0] == 0:
        raise ValueError("X has no rows: the mean loss over zero examples is undefined")
    y = check_labels(y, X.shape[0], W.shape[1])
    return W, X, y, check_reg(reg)


def check_linear_float_inputs(W, X, y, reg):
    """:func:`check_linear_inputs`, then ``W`` and ``X`` cast to their common float dtype.

    float32 inputs stay float32 (so float32 parity is tested in float32);
    integer inputs become float64.
    """
    W, X, y, reg = check_linear_inputs(W, X, y, reg)
    dtype = np.promote_types(np.result_type(W, X), np.float32)
    return W.astype(dtype, copy=False), X.astype(dtype, copy=False), y, reg
