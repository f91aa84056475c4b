"""Diagnosis of a failed gradient check: the usual mistakes, each named in one line.

:func:`diagnose_array` compares one of the user's arrays ``G`` with the
reference ``R`` (same case):

* a transposed gradient (``G.T == R``), or one of the right numbers in another
  shape (a flattened ``dx`` for a 4-D ``x``);
* ``G = s R`` for one factor ``s``, named by what it means where the kind's inputs
  tell (``ref_torch/oracle/kinds.py``, ``dims``): ``N`` (a sum over the examples not
  averaged, or averaged twice), any product of the inputs' dimensions (``db`` divided by
  ``128 = N·H'·W'``: a sum over positions made a mean), ``-1`` (sign flipped), any other;
* ``G`` wrong in a few columns (or rows) only, or with the sign flipped in some columns.

:func:`diagnose` looks across the cases of one target:

* reg = 0 cases pass and reg > 0 cases fail: the reg term, with the coefficients
  found in the loss and the gradient (``ref_torch/oracle/conventions.py``);
* the loss off by the same constant in every case (an SVM that counts the correct
  class's own margin is off by exactly 1: the kind's ``loss_offsets`` say so);
* two gradients swapped (``dgamma`` returned where ``dbeta`` belongs); a gradient wrong only
  where its input is exactly 0 (ReLU's derivative at 0); every failure tiny (an epsilon);
  a 4-D gradient with its axes in another order;
* 2-D inputs pass and 4-D ``(N, 3, 32, 32)`` inputs fail: a missing reshape;
* only some parameters wrong (not said when the forward itself is wrong);
* when nothing else is found: which cases fail while the others pass (overlapping pools).

Runs are the engine's (``ref_torch/oracle/engine.py``): each has ``report`` (a
``ParityReport`` against the chosen convention), ``user_value``/``user_grads``,
``reference`` (the chosen convention's value and gradients), ``refs`` (every
convention's), ``reg`` and ``inputs``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ref_torch.oracle.conventions import DESCRIPTION, REG_SCALE, fit_reg, reg_mismatch
from ref_torch.parity import grad_name
from ref_torch.tolerances import parity_rtol

# Two arrays "agree" for a diagnosis when they do to this multiple of the parity tolerance.
DIAGNOSIS_SLACK = 100
# Failures all below this error (float64) are a near miss: nearly the same computation.
NEAR_MISS = 1e-6


def _close(a, b, tol: float) -> bool:
    scale = float(np.max(np.abs(b))) if np.size(b) else 0.0
    return bool(np.max(np.abs(a - b), initial=0.0) <= tol * max(scale, 1e-300))


def _same_as(value: float, target: float) -> bool:
    return abs(value - target) <= 1e-6 * abs(target)


def named_counts(dims: dict, inputs: dict) -> list[tuple[int, str]]:
    """``[(size, label)]``: every dimension the kind names (``dims``, e.g. ``{"x": "N,C,H,W"}``)
    and every product of two or three of them (``N·H'·W'``), sizes from the case's inputs."""
    letters: dict[str, int] = {}
    for key, spec in dims.items():
        names = spec.split(",")
        value = inputs.get(key)
        if isinstance(value, np.ndarray) and value.ndim == len(names):
            for letter, size in zip(names, value.shape):
                letters.setdefault(letter, int(size))
    counts = []
    for r in (1, 2, 3):
        for combo in itertools.combinations(letters.items(), r):
            size = math.prod(s for _, s in combo)
            if size > 2:
                counts.append((size, "·".join(letter for letter, _ in combo)))
    return counts


def factor_labels(s: float, counts) -> set[str]:
    """The labels of ``counts`` that ``s`` equals (``"N"``) or is the inverse of (``"/N"``)."""
    return ({label for size, label in counts if _same_as(s, size)}
            | {f"/{label}" for size, label in counts if _same_as(s, 1 / size)})


def _factor(s: float, name: str, counts, averages: bool, labels=None) -> str:
    for size, label in counts:
        if _same_as(s, size) and (labels is None or label in labels):
            if label == "N" and averages:
                return (f"{name} is N = {size} times the reference: divide by the number of "
                        "examples")
            return f"{name} is {size} = {label} times the reference"
        if _same_as(s, 1 / size) and (labels is None or f"/{label}" in labels):
            if label == "N" and averages:
                return (f"{name} is 1/N of the reference: it is divided by the number of "
                        "examples twice")
            return (f"{name} is divided by {size} = {label}: it is a sum over those, "
                    "not a mean")
    if _same_as(s, -1.0):
        return f"{name} has the wrong sign everywhere"
    return f"{name} is {s:.6g} times the reference"


def _columns(G, R, name: str, tol: float, axis: str = "column") -> str:
    """Columns (or, for ``axis="row"``, rows) of a 2-D ``G`` that are wrong, when few."""
    if axis == "row":
        G, R = G.T, R.T
    bad = [j for j in range(R.shape[1]) if not _close(G[:, j], R[:, j], tol)]
    flipped = [j for j in bad if _close(G[:, j], -R[:, j], tol)]
    if bad and flipped == bad:
        return f"{name} has the wrong sign in {axis}(s) {', '.join(map(str, flipped))}"
    if 0 < len(bad) <= 3 and len(bad) < R.shape[1]:
        return f"{name} is wrong only in {axis}(s) {', '.join(map(str, bad))}"
    return ""


def _axis_order(G, R, tol: float) -> tuple | None:
    """The axis order that makes ``G`` the reference (``dw`` with F and C swapped), if any."""
    if G.ndim != R.ndim or sorted(G.shape) != sorted(R.shape) or G.ndim > 5:
        return None
    for order in itertools.permutations(range(G.ndim)):
        moved = G.transpose(order)
        if moved.shape == R.shape and _close(moved, R, tol):
            return order
    return None


def scale_of(G, R) -> float | None:
    """The factor ``s`` with ``G ~ s R`` in the least-squares sense (None when undefined)."""
    G = np.asarray(G, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    if G.shape != R.shape or not np.isfinite(G).all() or not np.any(R):
        return None
    return float(np.vdot(G, R) / np.vdot(R, R))


def diagnose_array(name: str, G, R, tol: float, num_examples: int | None = None, *,
                   counts=(), averages: bool = True, labels=None) -> str:
    """One line on how ``G`` differs from the reference ``R`` ("" when nothing simple fits).

    counts: ``[(size, label)]`` a factor may be named by (:func:`named_counts`);
    ``num_examples`` adds ``N``. labels: only these labels may name it (the ones every
    failing case agrees on)."""
    counts = list(counts) + ([(num_examples, "N")] if num_examples else [])
    G = np.asarray(G, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    if G.shape != R.shape:
        if G.ndim == 2 and G.shape == R.shape[::-1]:
            return f"{name} is transposed: shape {G.shape}, expected {R.shape}"
        order = _axis_order(G, R, tol)
        if order:
            return (f"{name} has its axes in another order: shape {G.shape}, expected {R.shape}; "
                    f"transpose it ({name}.transpose{order}), a reshape would scramble it")
        if G.size == R.size:
            same = " (the right numbers)" if _close(G.reshape(R.shape), R, tol) else ""
            return (f"{name} has shape {G.shape} but its input has shape {R.shape}{same}: "
                    f"return it in the input's shape (reshape)")
        return ""
    s = scale_of(G, R)
    if s is None:
        return ""
    if G.ndim == 0:  # any wrong scalar is "s times" the reference: name only telling factors
        telling = factor_labels(s, counts) or any(_same_as(s, t) for t in (-1.0, 2.0, 0.5))
        return _factor(s, name, counts, averages, labels) if telling else ""
    if _close(G, s * R, tol):
        return _factor(s, name, counts, averages, labels)
    if G.ndim != 2:
        return ""
    return _columns(G, R, name, tol) or _columns(G, R, name, tol, axis="row")


def _tol(run) -> float:
    return DIAGNOSIS_SLACK * parity_rtol(run.dtype)


def _by_precision(runs):
    return sorted(runs, key=lambda r: r.dtype != np.float64)


def _common_labels(runs, key: str, kind) -> set | None:
    """The factor labels every run with one agrees on for array ``key`` (None: no factor
    anywhere; an empty set: the runs name different factors)."""
    common = None
    for run in runs:
        G = run.user_value if key == kind.value_name else run.user_grads.get(key)
        R = run.reference[0] if key == kind.value_name else run.reference[1].get(key)
        s = scale_of(G, R) if G is not None and R is not None else None
        if s is None:
            continue
        found = factor_labels(s, named_counts(kind.dims, run.inputs))
        if found:  # a case without a telling factor (a reg term added) says nothing
            common = found if common is None else common & found
    return common


def _array_lines(run, kind, failing) -> dict[str, str]:
    """name -> diagnosis for each failing array of one run."""
    lines = {}
    value, grads = run.reference
    counts = named_counts(kind.dims, run.inputs)
    if not run.report.loss.passed and np.all(np.isfinite(run.user_value)):
        labels = _common_labels(failing, kind.value_name, kind)
        shown = "the loss" if kind.value_name == "loss" else kind.value_name
        line = diagnose_array(shown, run.user_value, value, _tol(run),
                              counts=counts, averages=kind.averages, labels=labels)
        if line:
            lines[kind.value_name] = line
    for key, ref in grads.items():
        name = grad_name(key)
        if name in run.report.failed_names and key in run.user_grads:
            line = diagnose_array(name, run.user_grads[key], ref, _tol(run), counts=counts,
                                  averages=kind.averages,
                                  labels=_common_labels(failing, key, kind))
            if line:
                lines[name] = line
    return lines


def _swapped(runs) -> tuple[str, tuple[str, ...]]:
    """Two gradients returned in each other's places: (the line, their names)."""
    for run in _by_precision(runs):
        failed = [k for k in run.reference[1] if grad_name(k) in run.report.failed_names
                  and k in run.user_grads]
        for a, b in itertools.combinations(failed, 2):
            Ga, Gb = run.user_grads[a], run.user_grads[b]
            Ra, Rb = run.reference[1][a], run.reference[1][b]
            if (np.shape(Ga) == np.shape(Rb) and np.shape(Gb) == np.shape(Ra)
                    and _close(Ga, Rb, _tol(run)) and _close(Gb, Ra, _tol(run))):
                order = ", ".join(grad_name(k) for k in run.reference[1])
                return (f"{grad_name(a)} and {grad_name(b)} are swapped: return the gradients in "
                        f"the order ({order})"), (grad_name(a), grad_name(b))
        break
    return "", ()


def _reg_line(runs, reg_params) -> str:
    """reg = 0 passes, reg > 0 fails: what the reg term is."""
    checked = [r for r in runs if r.report.status in ("PASS", "FAIL")]
    if not reg_params or not any(r.reg > 0 and r.report.status == "FAIL" for r in checked):
        return ""
    if not all(r.report.passed for r in checked if r.reg == 0):
        return ""
    failing = _by_precision(r for r in checked if r.reg > 0 and r.report.status == "FAIL")[0]
    if failing.user_value is None:
        return ""
    fit = fit_reg(failing.user_value, failing.user_grads, failing.refs, reg_params)
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


def _loss_offset(failing, kind) -> str:
    """The loss too high (or low) by one constant in every failing case."""
    if kind.value_name != "loss" or len(failing) < 2:
        return ""
    if any(r.report.loss.passed for r in failing):
        return ""
    # float32 losses of ~1e3 carry ~1e-4 of rounding: read the offset off float64 where run
    precise = [r for r in failing if r.dtype == np.float64] or failing
    offsets = [float(r.user_value - r.reference[0]) for r in precise]
    if not all(abs(o - offsets[0]) <= 1e-4 * abs(offsets[0]) for o in offsets):
        return ""
    offset = offsets[0]
    grads_agree = all(r.report.failed_names == ["loss"] for r in failing)
    head = (f"the loss is {abs(offset):.6g} too {'high' if offset > 0 else 'low'} in every case"
            + (" while the gradients agree" if grads_agree else ""))
    hint = next((text for value, text in kind.loss_offsets.items()
                 if abs(offset - value) <= 1e-4 * abs(value)), "")
    if hint and not grads_agree:
        hint += " (in the gradient too)"
    return f"{head}: {hint}" if hint else head


def _images_line(runs) -> str:
    """2-D inputs pass, (N, d1, ..., dk) inputs fail: a reshape is missing."""
    def is_4d(run):
        return any(isinstance(v, np.ndarray) and v.ndim > 2 for k, v in run.inputs.items()
                   if not k.startswith("dout"))
    flat = [r for r in runs if not is_4d(r) and r.report.status != "SKIP"]
    images = [r for r in runs if is_4d(r) and r.report.status == "FAIL"]
    if images and flat and all(r.report.passed for r in flat):
        return ("2-D inputs pass and 4-D inputs (N, 3, 32, 32) fail: reshape x to (N, D) in the "
                "forward pass and return dx in x's shape in the backward pass")
    return ""


def only_some(reports, names: list[str], value_name: str = "L") -> str:
    """"only dx is wrong; dw, db agree in every case" (gradients only: the value is right)."""
    wrong = sorted({n for r in reports for n in r.failed_names} - {"loss", value_name},
                   key=names.index)
    right = [n for n in names if n not in wrong and n not in ("loss", value_name)]
    if not wrong or not right or any(r.error for r in reports):
        return ""
    if any(value_name in r.failed_names or "loss" in r.failed_names for r in reports):
        return ""
    verb = "is" if len(wrong) == 1 else "are"
    agree = "agrees" if len(right) == 1 else "agree"
    return f"only {', '.join(wrong)} {verb} wrong; {', '.join(right)} {agree} in every case"


def _at_zero(failing) -> str:
    """A gradient wrong only where its input is exactly 0: ReLU's derivative at 0."""
    for run in _by_precision(failing):
        for key, ref in run.reference[1].items():
            G, x = run.user_grads.get(key), run.inputs.get(key)
            if (grad_name(key) not in run.report.failed_names or G is None
                    or np.shape(G) != np.shape(ref) or np.shape(x) != np.shape(ref)):
                continue
            wrong = np.abs(np.asarray(G, dtype=np.float64) - ref) > _tol(run) * max(
                float(np.max(np.abs(ref), initial=0.0)), 1e-300)
            if wrong.any() and np.all(x[wrong] == 0):
                return (f"{grad_name(key)} is wrong only where {key} == 0 ({int(wrong.sum())} "
                        f"entries): the derivative there is taken as 0 (max(0, {key}) has "
                        f"{key} > 0, not {key} >= 0)")
        return ""
    return ""


def _near_miss(failing) -> str:
    """Every float64 failure tiny: nearly the same computation, a constant off."""
    float64 = [r for r in failing if r.dtype == np.float64]
    errors = [d.error for r in float64 for d in (r.report.loss, *r.report.grads)
              if not d.passed]
    if not float64 or not errors or max(errors) >= NEAR_MISS or any(
            r.report.status == "FAIL" and any(d.error >= NEAR_MISS for d in (
                r.report.loss, *r.report.grads)) for r in failing):
        return ""
    return (f"every failure is small (at most {max(errors):.1e} in float64, against "
            f"{parity_rtol(np.float64):.0e}): nearly the same computation; a small constant "
            "(an epsilon, as in np.log(p + 1e-12)) or a step in lower precision would do it")


def _failing_cases(runs) -> str:
    """Some cases fail in every dtype while others pass: name the ones that fail."""
    def name(run):
        return run.case.partition(": ")[2]
    judged = [r for r in runs if r.report.status in ("PASS", "FAIL")]
    failing = list(dict.fromkeys(name(r) for r in judged if r.report.status == "FAIL"))
    passing = {name(r) for r in judged} - set(failing)
    if not failing or not passing:
        return ""
    return (f"only {'this case fails' if len(failing) == 1 else 'these cases fail'}, the others "
            f"pass: {'; '.join(failing)}")


def _value_problem(failing, kind) -> str:
    if not kind.value_problem:
        return ""
    for run in _by_precision(failing):
        if not run.report.loss.passed:
            return kind.value_problem(run.inputs, run.user_value)
    return ""


def diagnose(runs, kind, forward_line: str = "") -> list[str]:
    """The diagnosis lines for one target's runs (empty when nothing required failed):
    what is wrong with the value first, then with the gradients. ``forward_line`` (the
    forward is wrong, from the user's own numerical gradient) is said when nothing more
    specific explains the value."""
    if not any(r.report.status == "FAIL" for r in runs):
        return []
    failing = [r for r in runs if r.report.status == "FAIL" and not r.report.error]
    if not failing:
        return [_images_line(runs)] if _images_line(runs) else []
    names = [kind.value_name, *(d.name for d in failing[0].report.grads)]
    reg_line = _reg_line(runs, kind.reg_params)
    value_problem = _value_problem(failing, kind)
    if value_problem:  # the kind's own account of a wrong value explains the gradients too
        return [value_problem]
    lines = [reg_line]
    per_array: dict[str, str] = {}
    for run in _by_precision(failing):
        if reg_line and run.reg > 0:
            continue
        for name, line in _array_lines(run, kind, failing).items():
            per_array.setdefault(name, line)
    swapped, pair = _swapped(failing)
    lines.append(_loss_offset(failing, kind) or per_array.get(kind.value_name, "")
                 or _near_miss(failing))
    lines += ["" if any(lines) else forward_line, swapped, _at_zero(failing)]
    lines += [line for name, line in per_array.items() if name not in (kind.value_name, *pair)]
    lines += [_images_line(runs), only_some([r.report for r in failing], names, kind.value_name)]
    lines = [line for line in lines if line]
    return list(dict.fromkeys(lines or [_failing_cases(runs)]))
