"""The Python API: check one target against torch autograd.

    from ref_torch.oracle import check_gradient
    report = check_gradient(svm_loss_vectorized)                 # the kind found by name
    report = check_gradient("cs231n/layers.py:conv_forward_naive")
    report            # the table the command prints; report.passed, report.verdict, report.cases
"""

from __future__ import annotations

import sys

import numpy as np

from ref_torch.oracle.adapters import backward_name_of
from ref_torch.oracle.engine import DTYPES, run_checks
from ref_torch.oracle.kinds import KINDS, KindMismatch, LossKind, get_kind, kind_of_name
from ref_torch.oracle.report import OracleReport
from ref_torch.oracle.user_code import TargetError, load_target
from scratch_numpy.data import load_cifar10, split_cifar10
from scratch_numpy.preprocessing import dev_batch
from scratch_numpy.validation import check_array, check_int, check_labels


def load_dev_batch(cifar10_dir=None, num_dev: int = 500, seed: int = 0):
    """The dev batch as float64 rows, mean image of the training split subtracted."""
    num_dev = check_int(num_dev, "num_dev", minimum=2)
    return dev_batch(split_cifar10(load_cifar10(cifar10_dir), num_dev=num_dev, seed=seed))


def target_name(obj) -> str:
    """``conv_forward_naive``, ``LinearSVM.loss``, ``TwoLayerNet``: what names a kind."""
    return getattr(obj, "__qualname__", None) or getattr(obj, "__name__", "") or ""


def fitting_kinds(obj, exclude: str = "") -> list[str]:
    """The kinds whose signature the target fits (its name aside)."""
    fits = []
    for kind in KINDS.values():
        if kind.setup or kind.name == exclude:
            continue
        try:
            kind.bind(obj)
        except TargetError:
            continue
        fits.append(kind.name)
    return fits


def _fit_hint(obj, exclude: str) -> str:
    """The kinds to try: by name first (``dropout_binomial_forward`` holds ``dropout``), else
    every kind whose signature the target fits."""
    fits = fitting_kinds(obj, exclude)
    name = target_name(obj)
    by_name = kind_of_name(name)
    named = [k for k in fits if k in name] or ([by_name.name] if by_name and
                                               by_name.name != exclude else [])
    fits = sorted(named, key=len, reverse=True)[:1] if named else fits
    if len(fits) > 3:  # the signature alone fits too many to be a hint
        return ""
    return f"; kinds that fit it: --kind {' / '.join(fits)}" if fits else ""


def resolve_kind(obj, kind: str | LossKind | None, name: str = "") -> LossKind:
    """The row to check ``obj`` as: ``kind`` when given, else the one its name has (``name``,
    the name it was asked by, else its own)."""
    if isinstance(kind, LossKind):
        return kind
    if kind is not None:
        return get_kind(kind)
    name = name or target_name(obj)
    found = kind_of_name(name)
    if found is None:
        raise TargetError(f"cannot tell what {name or obj!r} computes from its name: "
                          f"give --kind (see --list){_fit_hint(obj, '')}")
    return found


def check_data(X, y):
    X = check_array(X, "X", ndim=2).astype(np.float64)
    y = check_labels(y, X.shape[0], 10)
    if X.shape[0] < 2:
        raise ValueError("X needs at least 2 rows: one example cannot tell a sum from a mean")
    return X, y


def check_gradient(target, kind: str | None = None, *, X=None, y=None, num_dev: int = 500,
                   cifar10_dir=None, dtypes=DTYPES, devices=None,
                   reg_convention: str | None = None, strict: bool = False,
                   progress: bool | None = None, backward=None, inputs=None, shapes=None,
                   torch_forward=None, wrt=None) -> OracleReport:
    """Check a NumPy loss or layer and its hand-written gradient against torch autograd.

    target: the function or class itself (from a notebook), or ``"path/file.py:name"``.
    kind: a row of ``ref_torch.oracle.kinds.KINDS`` (``"svm"``, ``"conv"``, ...); default:
        the kind the target's name has (``conv_forward_naive`` is a ``conv``).
    X, y: the rows ``(N, 3072)`` and labels to build cases from; default the CIFAR-10
        dev batch (``num_dev`` rows from ``cifar10_dir`` or ``$CIFAR10_DIR``).
    reg_convention: ``"full"`` or ``"half"`` forces one; default: found.
    strict: advisory cases and warnings fail instead of warning.
    backward: a layer's backward (a function, or the name of one beside the forward);
        default the forward's name with ``forward`` made ``backward``.
    inputs, shapes, torch_forward, wrt: ``kind="layer"`` only (``ref_torch/oracle/layer.py``).
    Returns an :class:`OracleReport`; its repr is the report table.
    """
    label = target if isinstance(target, str) else None
    obj = load_target(target) if isinstance(target, str) else target
    # A target asked for by name is known by that name (an alias, a decorated function):
    # it says the kind, and its backward's name.
    asked = target.rpartition(":")[2] if label else ""
    row = resolve_kind(obj, kind, asked)
    if backward is None and "backward" in row.options and "forward" in asked:
        backward = backward_name_of(asked.rpartition(".")[2])
    progress = sys.stderr.isatty() if progress is None else progress
    if row.needs_data:
        if X is None:
            X, y = load_dev_batch(cifar10_dir, num_dev)
        X, y = check_data(X, y)
    options = dict(backward=backward, inputs=inputs, shapes=shapes, torch_forward=torch_forward,
                   wrt=wrt)
    try:
        return run_checks(row, obj, X, y, dtypes, devices, reg_convention, strict, progress,
                          label, options)
    except KindMismatch as exc:
        raise KindMismatch(f"{exc}{_fit_hint(obj, row.name)}") from None
