"""Diagnosis of a failed gradient check: the usual mistakes, each named in one line.

:func:`diagnose_array` compares one of the user's arrays ``G`` with the
reference ``R`` (same case):

* a transposed gradient (``G.T == R``), or one of the right numbers in another
  shape (a flattened ``dx`` for a 4-D ``x``);
* ``G = s R`` for one factor ``s``: ``s = N`` (not divided by the number of
  examples), ``s = -1`` (sign flipped everywhere), any other ``s``;
* ``G`` wrong in a few columns only, or with the sign flipped in some columns.

:func:`diagnose` looks across the cases of one target:

* reg = 0 cases pass and reg > 0 cases fail: the reg term, with the coefficients
  found in the loss and the gradient (``ref_torch/conventions.py``);
* the loss off by the same constant in every case while the gradients agree (an
  SVM that counts the correct class's own margin is off by exactly 1);
* 2-D inputs pass and 4-D ``(N, 3, 32, 32)`` inputs fail: a missing reshape;
* only some parameters wrong.

Runs are the oracle's (``ref_torch/oracle.py``): each has ``report`` (a
``ParityReport`` against the chosen convention), ``user_loss``/``user_grads``,
``reference`` (the chosen convention's loss and gradients), ``refs`` (every
convention's), ``reg`` and ``inputs``.
"""

from __future__ import annotations

import numpy as np

from ref_torch.conventions import DESCRIPTION, REG_SCALE, fit_reg, reg_mismatch
from ref_torch.parity import grad_name
from ref_torch.tolerances import parity_rtol

# Two arrays "agree" for a diagnosis when they do to this multiple of the parity tolerance.
DIAGNOSIS_SLACK = 100
SVM_DELTA_MESSAGE = ("the correct class's own margin max(0, s_y - s_y + 1) = 1 is counted; "
                     "skip j == y_i")


def _close(a, b, tol: float) -> bool:
    scale = float(np.max(np.abs(b))) if np.size(b) else 0.0
    return bool(np.max(np.abs(a - b), initial=0.0) <= tol * max(scale, 1e-300))


def _same_as(value: float, target: float) -> bool:
    return abs(value - target) <= 1e-6 * abs(target)


def _factor(s: float, name: str, num_examples: int | None) -> str:
    if num_examples and _same_as(s, num_examples):
        return f"{name} is N = {num_examples} times the reference: divide by the number of examples"
    if num_examples and _same_as(s, 1 / num_examples):
        return f"{name} is 1/N of the reference: it is divided by the number of examples twice"
    if _same_as(s, -1.0):
        return f"{name} has the wrong sign everywhere"
    return f"{name} is {s:.6g} times the reference"


def _columns(G, R, name: str, tol: float) -> str:
    bad = [j for j in range(R.shape[1]) if not _close(G[:, j], R[:, j], tol)]
    flipped = [j for j in bad if _close(G[:, j], -R[:, j], tol)]
    if bad and flipped == bad:
        return f"{name} has the wrong sign in column(s) {', '.join(map(str, flipped))}"
    if 0 < len(bad) <= 3 and len(bad) < R.shape[1]:
        return f"{name} is wrong only in column(s) {', '.join(map(str, bad))}"
    return ""


def diagnose_array(name: str, G, R, tol: float, num_examples: int | None = None) -> str:
    """One line on how ``G`` differs from the reference ``R`` ("" when nothing simple fits)."""
    G = np.asarray(G, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    if G.shape != R.shape:
        if G.ndim == 2 and G.shape == R.shape[::-1]:
            return f"{name} is transposed: shape {G.shape}, expected {R.shape}"
        if G.size == R.size:
            same = " (the right numbers)" if _close(G.reshape(R.shape), R, tol) else ""
            return (f"{name} has shape {G.shape} but its input has shape {R.shape}{same}: "
                    f"return it in the input's shape (reshape)")
        return ""
    if not np.isfinite(G).all() or not np.any(R):
        return ""
    s = float(np.vdot(G, R) / np.vdot(R, R))
    if G.ndim == 0:  # any wrong scalar is "s times" the reference: name only telling factors
        telling = [num_examples, 1 / num_examples] if num_examples else []
        return _factor(s, name, num_examples) if any(
            _same_as(s, t) for t in (*telling, -1.0, 2.0, 0.5)) else ""
    if _close(G, s * R, tol):
        return _factor(s, name, num_examples)
    return _columns(G, R, name, tol) if G.ndim == 2 else ""


def _tol(run) -> float:
    return DIAGNOSIS_SLACK * parity_rtol(run.dtype)


def _array_lines(run, num_examples) -> dict[str, str]:
    """name -> diagnosis for each failing array of one run."""
    lines = {}
    loss, grads = run.reference
    if not run.report.loss.passed and np.isfinite(run.user_loss):
        line = diagnose_array("the loss", run.user_loss, loss, _tol(run), num_examples)
        if line:
            lines["loss"] = line
    for key, ref in grads.items():
        name = grad_name(key)
        if name in run.report.failed_names and key in run.user_grads:
            line = diagnose_array(name, run.user_grads[key], ref, _tol(run), num_examples)
            if line:
                lines[name] = line
    return lines


def _reg_line(runs, reg_params) -> str:
    """reg = 0 passes, reg > 0 fails: what the reg term is."""
    checked = [r for r in runs if r.report.status in ("PASS", "FAIL")]
    if not reg_params or not any(r.reg > 0 and r.report.status == "FAIL" for r in checked):
        return ""
    if not all(r.report.passed for r in checked if r.reg == 0):
        return ""
    failing = sorted((r for r in checked if r.reg > 0 and r.report.status == "FAIL"),
                     key=lambda r: r.dtype != np.float64)[0]
    if failing.user_loss is None:
        return ""
    fit = fit_reg(failing.user_loss, failing.user_grads, failing.refs, reg_params)
    detail = reg_mismatch(fit) or _other_convention(fit, failing.convention)
    return ("the reg = 0 cases pass and the reg > 0 cases fail"
            + (f": {detail}" if detail else ": the reg term is wrong"))


def _other_convention(fit, judged_by: str) -> str:
    """A consistent reg term of the convention the target was not judged by (a forced one)."""
    for name, scale in REG_SCALE.items():
        if name != judged_by and fit.loss_coef == scale and set(fit.grad_coefs.values()) == {
                2 * scale}:
            return f"the target uses {DESCRIPTION[name]}, not the convention forced"
    return ""


def _loss_offset(failing, kind_name: str) -> str:
    """The loss off by one constant in every failing case, the gradients right."""
    only_loss = [r for r in failing if r.report.failed_names == ["loss"]]
    if len(only_loss) < 2 or len(only_loss) != len(failing):
        return ""
    offsets = [float(r.user_loss - r.reference[0]) for r in only_loss]
    if not all(abs(o - offsets[0]) <= 1e-4 * abs(offsets[0]) for o in offsets):
        return ""
    if kind_name.startswith("svm") and abs(offsets[0] - 1) <= 1e-4:
        return f"the loss is 1 too high in every case while the gradients agree: {SVM_DELTA_MESSAGE}"
    return f"the loss is off by {offsets[0]:.6g} in every case while the gradients agree"


def _images_line(runs) -> str:
    """2-D inputs pass, (N, d1, ..., dk) inputs fail: a reshape is missing."""
    def is_4d(run):
        return any(isinstance(v, np.ndarray) and v.ndim > 2 for k, v in run.inputs.items()
                   if k != "dout")
    flat = [r for r in runs if not is_4d(r) and r.report.status != "SKIP"]
    images = [r for r in runs if is_4d(r) and r.report.status == "FAIL"]
    if images and flat and all(r.report.passed for r in flat):
        return ("2-D inputs pass and 4-D inputs (N, 3, 32, 32) fail: reshape x to (N, D) in the "
                "forward pass and return dx in x's shape in the backward pass")
    return ""


def _only_some(failing, names: list[str]) -> str:
    wrong = sorted({n for r in failing for n in r.report.failed_names} - {"loss"},
                   key=names.index)
    right = [n for n in names if n not in wrong and n != "loss"]
    if not wrong or not right or any(r.report.error for r in failing):
        return ""
    verb = "is" if len(wrong) == 1 else "are"
    return f"only {', '.join(wrong)} {verb} wrong; {', '.join(right)} agree in every case"


def diagnose(runs, kind_name: str, reg_params: tuple[str, ...], num_examples: int | None):
    """The diagnosis lines for one target's runs (empty when nothing required failed)."""
    if not any(r.report.status == "FAIL" for r in runs):
        return []
    failing = [r for r in runs if r.report.status == "FAIL" and not r.report.error]
    if not failing:
        return [_images_line(runs)] if _images_line(runs) else []
    names = ["loss", *(d.name for d in failing[0].report.grads)]
    reg_line = _reg_line(runs, reg_params)
    lines = [reg_line]
    per_array: dict[str, str] = {}
    for run in sorted(failing, key=lambda r: r.dtype != np.float64):
        if reg_line and run.reg > 0:
            continue
        for name, line in _array_lines(run, num_examples).items():
            per_array.setdefault(name, line)
    lines += [_loss_offset(failing, kind_name) or per_array.get("loss", "")]
    lines += [line for name, line in per_array.items() if name != "loss"]
    lines += [_images_line(runs), _only_some(failing, names)]
    return list(dict.fromkeys(line for line in lines if line))
