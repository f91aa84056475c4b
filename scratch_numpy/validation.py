"""Input checks shared by every model: clear ``ValueError`` messages instead of
a silent wrong answer or a broadcasting error deep inside NumPy.

Both sides run these checks, so NumPy and torch refuse the same input with the
same message. The checks that look at an array's description only (its shape,
its dtype's name and NumPy ``kind`` letter: ``"f"`` float, ``"i"``/``"u"`` integer,
``"b"`` bool, ...) take that description, not the array: ``ref_torch/validation.py``
describes a tensor from its metadata and reduces it on its own device for the
value checks (finiteness, label range), so no tensor is copied to the host.
"""

from __future__ import annotations

import numpy as np

REAL_KINDS = "iuf"  # integer, unsigned integer and floating dtypes; not bool, complex, text
INTEGER_KINDS = "iu"


class NonFiniteResultError(FloatingPointError, ValueError):
    """Finite inputs gave an infinite or NaN loss or gradient: the true value overflows.

    A ``ValueError`` (the inputs are out of the range the loss can represent) and a
    ``FloatingPointError``: a training loop treats it as divergence, as it does a
    non-finite loss.
    """


def beyond_float_range(problem: str, dtype_name: str, largest: float) -> NonFiniteResultError:
    """The error for a non-finite result of finite inputs: ``problem`` says which value
    (``"the loss is inf"``), ``largest`` is the dtype's largest finite number."""
    return NonFiniteResultError(
        f"{problem} although every input is finite: the true value lies beyond the largest "
        f"{dtype_name} ({largest:.1e}); scale the inputs down")


# Why a network refuses to give labels or a loss from its scores (both sides).
NONFINITE_SCORES = ("the scores are not finite (NaN or infinite): the inputs or the parameters "
                    "are too large, e.g. parameters after too high a learning rate")


# ---- checks on an array's description (shared with the torch side) -----------------------

def check_ndim(shape: tuple, name: str, ndim: int) -> None:
    if len(shape) != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {tuple(shape)}")


def check_real_kind(kind: str, dtype_name: str, name: str) -> None:
    """Integer or floating: not bool, complex, text or objects."""
    if kind not in REAL_KINDS:
        raise ValueError(f"{name} must be a real-valued array, got dtype {dtype_name}")


def check_all_finite(all_finite: bool, name: str) -> None:
    if not all_finite:
        raise ValueError(f"{name} contains NaN or infinite values")


def check_label_layout(shape: tuple, kind: str, dtype_name: str, num_rows: int,
                       name: str = "y") -> None:
    """Labels ``(N,)`` of an integer dtype, one per row of X."""
    if len(shape) != 1:
        raise ValueError(f"{name} must be 1-D (N,), got shape {tuple(shape)}")
    if kind not in INTEGER_KINDS:
        raise ValueError(f"{name} must hold integer class labels, got dtype {dtype_name}")
    if shape[0] != num_rows:
        raise ValueError(f"{name} has {shape[0]} labels but X has {num_rows} rows")


def check_label_range(low: int, high: int, num_classes: int | None, name: str = "y") -> None:
    """The smallest and largest label lie in ``0..num_classes-1`` (None: any label >= 0)."""
    if num_classes is None:
        if low < 0:
            raise ValueError(f"{name} labels must be >= 0, found {low}")
    elif low < 0 or high >= num_classes:
        raise ValueError(f"{name} labels must lie in 0..{num_classes - 1}, found {low}..{high}")


def check_has_rows(num_rows: int, name: str = "X") -> None:
    """A mean over examples needs at least one."""
    if num_rows == 0:
        raise ValueError(f"{name} has no rows: the loss of zero examples is undefined")


def check_width(num_features: int, expected: int, name: str, owner: str) -> None:
    """Rows of ``num_features`` entries where ``owner`` (e.g. ``"the network"``) expects ``expected``."""
    if num_features != expected:
        raise ValueError(f"{name} has {num_features} features per row but {owner} expects {expected}")


def check_affine_shapes(x_shape: tuple, w_shape: tuple, b_shape: tuple) -> None:
    """``x (N, d_1, ..., d_k)`` with ``d_1 * ... * d_k = D``, ``w (D, M)``, ``b (M,)``."""
    if len(x_shape) < 2:
        raise ValueError(f"x must be (N, D) (or (N, d_1, ..., d_k)), got shape {tuple(x_shape)}")
    if len(w_shape) != 2 or tuple(b_shape) != (w_shape[1],):
        raise ValueError(f"w must be (D, M) and b (M,), got w {tuple(w_shape)} and b {tuple(b_shape)}")
    check_width(int(np.prod(x_shape[1:])), w_shape[0], "x", f"w of shape {tuple(w_shape)}")


# ---- checks on NumPy arrays ----------------------------------------------------------------

def check_array(a, name: str, ndim: int, floating: bool = True) -> np.ndarray:
    """Return ``a`` as an array with ``ndim`` dims, real-valued and finite."""
    a = np.asarray(a)
    check_ndim(a.shape, name, ndim)
    if floating:
        check_real_kind(a.dtype.kind, str(a.dtype), name)
    if a.dtype.kind == "f":
        check_all_finite(bool(np.isfinite(a).all()), name)
    return a


def check_labels(y, num_rows: int, num_classes: int | None, name: str = "y") -> np.ndarray:
    """Labels ``(N,)`` integers in ``0..num_classes-1`` (None: any label >= 0), one per row."""
    y = np.asarray(y)
    check_label_layout(y.shape, y.dtype.kind, str(y.dtype), num_rows, name)
    if y.size:
        check_label_range(y.min(), y.max(), num_classes, name)
    return y


def layer_param_names(num_layers: int) -> list[str]:
    """``["W1", "b1", ..., "WL", "bL"]``."""
    return [f"{kind}{l}" for l in range(1, num_layers + 1) for kind in ("W", "b")]


def count_layers(params: dict) -> int:
    """The L of parameters named exactly W1, b1, ..., WL, bL (L >= 1)."""
    num_layers = sum(1 for name in params if name.startswith("W"))
    if num_layers == 0 or set(params) != set(layer_param_names(num_layers)):
        raise ValueError(f"parameters {', '.join(layer_param_names(max(num_layers, 1)))} expected, "
                         f"got {', '.join(sorted(params))}")
    return num_layers


def check_params(params: dict, shapes: dict) -> None:
    """Every name of ``shapes`` (name -> shape) present in ``params`` as a finite real
    array of that shape: what a network may load. Extra names are the caller's concern."""
    for name, shape in shapes.items():
        if name not in params:
            raise ValueError(f"parameter {name} missing (got {sorted(params)})")
        value = check_array(params[name], name, len(shape))
        if value.shape != tuple(shape):
            raise ValueError(f"{name} has shape {value.shape}, the network needs {tuple(shape)}")


def param_dtype(W1: np.ndarray) -> np.dtype:
    """The dtype a network loaded from parameters computes in: W1's when float32 or
    float64, else float64."""
    return W1.dtype if W1.dtype in (np.float32, np.float64) else np.dtype(np.float64)


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


def check_choice(value, name: str, choices) -> str:
    """``value`` when it is one of ``choices`` (a metric, a search, ...)."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")
    return value


def check_k(k, num_train: int) -> int:
    """The k of k-nearest neighbours: an int with ``1 <= k <= num_train``."""
    k = check_int(k, "k", minimum=None)
    if not 1 <= k <= num_train:
        raise ValueError(f"k must lie in 1..{num_train} (the number of training points), got {k}")
    return k


def check_delta(delta) -> float:
    """The SVM margin: a finite number >= 0."""
    return check_real(delta, "delta", low=0)


def check_linear_shapes(W_shape: tuple, X_shape: tuple) -> None:
    """``W (D, C)`` and ``X (N, D)`` with N >= 1, for a linear loss (dims already checked)."""
    check_width(X_shape[1], W_shape[0], "X", f"W of shape {tuple(W_shape)}")
    check_has_rows(X_shape[0])


def check_linear_inputs(W, X, y, reg):
    """Validate ``W (D, C)``, ``X (N, D)``, ``y (N,)`` and ``reg`` for a linear loss."""
    W = check_array(W, "W", 2)
    X = check_array(X, "X", 2)
    check_linear_shapes(W.shape, X.shape)
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


def check_fits_dtype(largest: float, dtype, name: str = "X") -> None:
    """``name``, whose largest magnitude is ``largest``, fits ``dtype`` when cast to it: a
    finite float64 1e39 would become inf in float32 and every score after it NaN or inf."""
    limit = float(np.finfo(dtype).max)
    if largest > limit:
        raise ValueError(f"{name} holds values up to {largest:.3g}, beyond what {np.dtype(dtype)} "
                         f"holds ({limit:.3g}): scale {name} down, or use float64")
