"""Parity toolkit: a NumPy loss with a hand-written gradient vs torch autograd.

:func:`check_parity` runs a NumPy function returning ``(loss, grads)`` and a
torch function returning the same scalar loss on identical inputs, lets
autograd differentiate the torch side, and compares loss and every gradient
with the normwise error of :mod:`ref_torch.tolerances`. The report names the
worst element of each array (index and both values) so a wrong gradient is
located, not just detected.

:func:`torch_reference` and :func:`compare_result` are the two halves of
:func:`check_parity`; the gradient oracle (``ref_torch/oracle.py``) uses them
to call a user's function once and compare it with several references.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ref_torch.devices import resolve_device, to_tensor
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
    reference: str = "torch"  # what the array was compared with, as the report names it
    remark: str = ""  # printed after the numbers (e.g. probes left out at kinks)

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
            f"  {self.reference} {self.torch_value: .10e}" + (f"  ({self.remark})" if self.remark else "")
        )

    __repr__ = __str__  # a notebook shows the line, not the fields


def describe_non_finite(a: np.ndarray) -> str:
    """Which non-finite values an array holds and where: ``"NaN at (2,)"``,
    ``"+inf at (); 3 NaN, first at (0, 4)"``."""
    parts = []
    for label, mask in (("NaN", np.isnan(a)), ("+inf", np.isposinf(a)), ("-inf", np.isneginf(a))):
        count = int(mask.sum())
        if count:
            first = tuple(int(i) for i in np.argwhere(mask)[0])
            parts.append(f"{label} at {first}" if count == 1 else f"{count} {label}, first at {first}")
    return "not finite: " + "; ".join(parts)


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
        return ArrayDiff(name, float("inf"), tolerance, problem=describe_non_finite(a))
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
    """One case, dtype and device: the loss and every gradient against torch.

    role: ``"correctness"`` (must pass), ``"stability"`` (must pass: large scores
        that need the max shift) or ``"advisory"`` (scores beyond what ``exp`` can
        represent in this dtype: a failure is a warning unless strict).
    error: why the user's function gave nothing to compare (it raised, returned
        the wrong thing, modified its inputs).
    skipped: why the case was not run (the target lacks an argument it needs).
    note: a one-line explanation printed under the case (non-finite values).
    """

    case: str
    dtype: str
    device: str
    loss: ArrayDiff
    grads: list[ArrayDiff] = field(default_factory=list)
    error: str = ""
    role: str = "correctness"
    skipped: str = ""
    note: str = ""

    @property
    def passed(self) -> bool:
        """Every array within tolerance (a skipped case did not pass: it was not run)."""
        return (not self.error and not self.skipped and self.loss.passed
                and all(g.passed for g in self.grads))

    @property
    def status(self) -> str:
        """PASS, FAIL, SKIP, or WARN (an advisory case that did not pass)."""
        if self.skipped:
            return "SKIP"
        if self.passed:
            return "PASS"
        return "WARN" if self.role == "advisory" else "FAIL"

    @property
    def failed_names(self) -> list[str]:
        """Names of the arrays that fail (``"loss"``, ``"dW"``, ...)."""
        return [d.name for d in (self.loss, *self.grads) if not d.passed]

    def __str__(self) -> str:
        role = f" [{self.role}]" if self.role != "correctness" else ""
        head = f"[{self.status}] {self.case} | {self.dtype} | {self.device}{role}"
        if self.skipped:
            lines = [head, f"  skipped: {self.skipped}"]
        elif self.error:
            lines = [head, f"  {self.error}"]
        else:
            lines = [head, str(self.loss), *map(str, self.grads)]
        if self.note:
            lines.append(f"  note: {self.note}")
        return "\n".join(lines)

    __repr__ = __str__


def cast_inputs(inputs: dict, dtype) -> dict:
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


def torch_reference(torch_fn: Callable, inputs: dict, wrt: tuple[str, ...], device="cpu"):
    """``(value, {name: gradient})`` of ``torch_fn`` by autograd, as float64 NumPy values.

    torch_fn(tensors) -> a scalar (a loss: the value is the scalar), or ``(scalar, value)``
    (a layer: autograd differentiates the scalar, the value is its output).
    inputs: already cast to the dtype under test (see :func:`cast_inputs`); NumPy
    arrays become tensors on ``device``, other values are passed unchanged.
    """
    device = resolve_device(device)
    tensors = {k: to_tensor(v, device) if isinstance(v, np.ndarray) else v
               for k, v in inputs.items()}
    for key in wrt:
        tensors[key] = tensors[key].detach().clone().requires_grad_(True)
    loss = torch_fn(tensors)
    # A layer's reference gives (L, out): autograd differentiates L, out is compared.
    loss, value = loss if isinstance(loss, tuple) else (loss, loss)
    grads = torch.autograd.grad(loss, [tensors[k] for k in wrt], allow_unused=True)
    reference = {k: (g if g is not None else torch.zeros_like(tensors[k])).detach().cpu().numpy()
                 for k, g in zip(wrt, grads)}
    value = value.detach().cpu().numpy().astype(np.float64)
    return (float(value) if value.ndim == 0 else value), reference


def compare_result(loss, grads: dict, reference, wrt: tuple[str, ...], tolerance: float,
                   value_name: str = "loss"):
    """``(value ArrayDiff, [gradient ArrayDiff])`` of a user's result against a reference
    ``(value, {name: gradient})``: the value is a loss, or a layer's output (named
    ``value_name``); a name absent from ``grads`` is reported missing."""
    ref_loss, ref_grads = reference
    loss_diff = compare_arrays(value_name, np.asarray(loss, dtype=np.float64),
                               np.asarray(ref_loss, dtype=np.float64), tolerance)
    diffs = []
    for key in wrt:
        name = grad_name(key)
        if key not in grads:
            diffs.append(ArrayDiff(name, float("inf"), tolerance, problem="gradient missing"))
        else:
            diffs.append(compare_arrays(name, grads[key], ref_grads[key], tolerance))
    return loss_diff, diffs


def as_grad_dict(grads, wrt: tuple[str, ...]) -> dict:
    """A dict keyed by ``wrt`` from a dict, one array (one name) or a tuple in ``wrt`` order."""
    if isinstance(grads, dict):
        return grads
    if len(wrt) == 1 and not isinstance(grads, (tuple, list)):
        return {wrt[0]: grads}
    grads = tuple(grads)
    if len(grads) != len(wrt):
        raise ValueError(f"expected {len(wrt)} gradients ({', '.join(wrt)}), got {len(grads)}")
    return dict(zip(wrt, grads))


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
    np_inputs = cast_inputs(inputs, dtype)
    reference = torch_reference(torch_fn, np_inputs, wrt, device)
    label = dict(case=case, dtype=str(dtype), device=str(resolve_device(device)))
    # The user's code gets its own copies: an in-place edit must not leak into the reference.
    np_copies = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in np_inputs.items()}
    try:
        loss, grads = numpy_fn(np_copies)
        loss = np.asarray(loss, dtype=np.float64)
        if loss.shape != ():
            raise ValueError(f"the loss has shape {loss.shape}, expected a scalar")
        grads = as_grad_dict(grads, wrt)
    except Exception as exc:  # report what the user's code did, whatever it was
        missing = ArrayDiff("loss", float("inf"), tol, problem="not computed")
        return ParityReport(loss=missing, error=f"{type(exc).__name__}: {exc}", **label)
    loss_diff, diffs = compare_result(loss, grads, reference, wrt, tol)
    return ParityReport(loss=loss_diff, grads=diffs, **label)
