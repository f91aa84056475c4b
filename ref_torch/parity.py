"""Parity toolkit: a NumPy loss with a hand-written gradient vs torch autograd.

:func:`check_parity` runs a NumPy function returning ``(loss, grads)`` and a
torch function returning the same scalar loss on identical inputs, lets
autograd differentiate the torch side, and compares loss and every gradient
with the normwise error of :mod:`ref_torch.tolerances`. The report names the
worst element of each array (index and both values) so a wrong gradient is
located, not just detected.

:func:`run_kind` runs one loss kind of ``ref_torch/kinds.py`` (the table of
what a user can check) on every case, dtype and device.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ref_torch.devices import available_devices, resolve_device, to_tensor
from ref_torch.tolerances import parity_rtol


@dataclass(frozen=True)
class ArrayDiff:
    """How one array (the loss or a gradient) of the NumPy side differs from torch."""

    name: str
    error: float  # max |numpy - torch| / max |torch|; inf when unusable
    tolerance: float
    worst_index: tuple = ()
    numpy_value: float = float("nan")
    torch_value: float = float("nan")
    problem: str = ""  # shape mismatch, non-finite values, missing gradient

    @property
    def passed(self) -> bool:
        return not self.problem and self.error <= self.tolerance

    def __str__(self) -> str:
        verdict = "ok  " if self.passed else "FAIL"
        if self.problem:
            return f"  {verdict} {self.name:<8} {self.problem}"
        return (
            f"  {verdict} {self.name:<8} err {self.error:9.2e} (tol {self.tolerance:.0e})"
            f"  worst at {self.worst_index}: numpy {self.numpy_value: .10e}"
            f"  torch {self.torch_value: .10e}"
        )


def compare_arrays(name: str, numpy_value, torch_value, tolerance: float) -> ArrayDiff:
    """Normwise comparison ``max|a - b| / max|b|`` with the worst element located."""
    a = np.asarray(numpy_value)
    b = np.asarray(torch_value, dtype=np.float64)
    if a.shape != b.shape:
        return ArrayDiff(name, float("inf"), tolerance,
                         problem=f"shape {a.shape} but the reference has shape {b.shape}")
    if not np.issubdtype(a.dtype, np.number):
        return ArrayDiff(name, float("inf"), tolerance, problem=f"non-numeric dtype {a.dtype}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        return ArrayDiff(name, float("inf"), tolerance, problem=f"non-finite value at {where}")
    diff = np.abs(a - b)
    worst = np.unravel_index(np.argmax(diff), diff.shape) if diff.size else ()
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    max_diff = float(diff.max()) if diff.size else 0.0
    # An all-zero reference makes any nonzero difference an infinite error.
    error = max_diff / scale if scale > 0 else (0.0 if max_diff == 0 else float("inf"))
    worst = tuple(int(i) for i in worst)
    return ArrayDiff(name, error, tolerance, worst, float(a[worst]), float(b[worst]))


@dataclass
class ParityReport:
    """Result of one :func:`check_parity` run."""

    case: str
    dtype: str
    device: str
    loss: ArrayDiff
    grads: list[ArrayDiff] = field(default_factory=list)
    error: str = ""  # the NumPy function raised

    @property
    def passed(self) -> bool:
        return not self.error and self.loss.passed and all(g.passed for g in self.grads)

    @property
    def failed_names(self) -> list[str]:
        """Names of the arrays that fail (``"loss"``, ``"dW"``, ...)."""
        return [d.name for d in (self.loss, *self.grads) if not d.passed]

    def __str__(self) -> str:
        head = f"[{'PASS' if self.passed else 'FAIL'}] {self.case} | {self.dtype} | {self.device}"
        if self.error:
            return f"{head}\n  the NumPy function raised: {self.error}"
        return "\n".join([head, str(self.loss), *map(str, self.grads)])


def _as_grad_dict(grads, wrt: tuple[str, ...]) -> dict:
    if isinstance(grads, dict):
        return grads
    if len(wrt) == 1 and not isinstance(grads, (tuple, list)):
        return {wrt[0]: grads}
    grads = tuple(grads)
    if len(grads) != len(wrt):
        raise ValueError(f"expected {len(wrt)} gradients ({', '.join(wrt)}), got {len(grads)}")
    return dict(zip(wrt, grads))


def _cast_inputs(inputs: dict, dtype) -> dict:
    """Float arrays to ``dtype``; ints, scalars and other values unchanged."""
    out = {}
    for key, value in inputs.items():
        if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
            value = value.astype(dtype)
        out[key] = value
    return out


def grad_name(param: str) -> str:
    """CS231n's naming: a single gradient is ``dW``, ``dx``, ``db``; a network's
    grads dict reuses its parameter names (``W1``, ``b1``, ...), numbered."""
    return param if any(ch.isdigit() for ch in param) else f"d{param}"


def check_parity(numpy_fn: Callable, torch_fn: Callable, inputs: dict, wrt: tuple[str, ...],
                 dtype=np.float64, device="cpu", case: str = "") -> ParityReport:
    """Compare a NumPy loss+gradient with torch autograd on the same inputs.

    numpy_fn(inputs) -> (loss, grads): ``grads`` a dict keyed by the names in
        ``wrt``, or one array (single parameter), or a tuple in ``wrt`` order.
    torch_fn(tensors) -> scalar loss tensor, built from torch ops only.
    inputs: name -> NumPy array or scalar; float arrays are cast to ``dtype``
        for both sides, integer arrays (labels) are passed unchanged.
    wrt: the input names to differentiate.
    """
    dtype = np.dtype(dtype)
    tol = parity_rtol(dtype)
    device = resolve_device(device)
    np_inputs = _cast_inputs(inputs, dtype)

    tensors = {}
    for key, value in np_inputs.items():
        tensors[key] = to_tensor(value, device) if isinstance(value, np.ndarray) else value
    for key in wrt:
        tensors[key] = tensors[key].detach().clone().requires_grad_(True)
    torch_loss = torch_fn(tensors)
    torch_grads = torch.autograd.grad(torch_loss, [tensors[k] for k in wrt], allow_unused=True)
    reference = {
        k: (g if g is not None else torch.zeros_like(tensors[k])).detach().cpu().numpy()
        for k, g in zip(wrt, torch_grads)
    }
    torch_loss = float(torch_loss.detach().cpu())

    label = dict(case=case, dtype=str(dtype), device=str(device))
    # The user's code gets its own copies: an in-place edit must not leak into the reference.
    np_copies = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in np_inputs.items()}
    try:
        loss, grads = numpy_fn(np_copies)
        grads = _as_grad_dict(grads, wrt)
    except Exception as exc:  # report what the user's code did, whatever it was
        missing = ArrayDiff("loss", float("inf"), tol, problem="not computed")
        return ParityReport(loss=missing, error=f"{type(exc).__name__}: {exc}", **label)

    loss_diff = compare_arrays("loss", np.asarray(loss, dtype=np.float64).reshape(()),
                               np.float64(torch_loss), tol)
    diffs = []
    for key in wrt:
        name = grad_name(key)
        if key not in grads:
            diffs.append(ArrayDiff(name, float("inf"), tol, problem="gradient missing"))
        else:
            diffs.append(compare_arrays(name, grads[key], reference[key], tol))
    return ParityReport(loss=loss_diff, grads=diffs, **label)


def run_kind(kind, user_obj, X: np.ndarray, y: np.ndarray,
             dtypes=(np.float64, np.float32), devices=None) -> list[ParityReport]:
    """Check ``user_obj`` against ``kind``'s torch reference on every case, dtype and device.

    kind: a ``ref_torch.kinds.LossKind`` (cases, caller, torch reference, wrt).
    """
    devices = available_devices() if devices is None else devices
    reports = []
    for case, inputs in kind.make_cases(X, y):
        for dtype in dtypes:
            for device in devices:
                reports.append(check_parity(
                    lambda inp: kind.call_numpy(user_obj, inp), kind.torch_loss, inputs,
                    kind.wrt, dtype=dtype, device=device, case=f"{kind.name}: {case}"))
    return reports
