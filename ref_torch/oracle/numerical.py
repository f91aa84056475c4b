"""The numerical gradient of the user's own forward: a reference that needs no torch.

For a layer with fixed random upstream gradients ``dout_k`` the scalar
``L = sum_k sum(out_k * dout_k)`` has ``dL/d input`` equal to what its backward must
return; for a loss, ``L`` is the loss. :func:`own_gradient` compares the user's
gradients with centred differences of ``L`` through *their own forward*, float64,
kink-aware (``scratch_numpy.gradient_check.numerical_gradient_at``), judged with
``LAYER_NUMERICAL_RTOL``. It is the reference of ``--kind layer``, and it tells a wrong
forward from a wrong backward in every other kind: a backward that agrees with the
numerical gradient of a forward that disagrees with torch differentiates the wrong
function.

The forward must give the same output for the same inputs, or its numerical gradient
means nothing: a forward that does not (an unseeded dropout) is a failure here, named.
"""

from __future__ import annotations

import numpy as np

from ref_torch.oracle.adapters import stack_outputs
from ref_torch.oracle.diagnosis import diagnose_array, only_some
from ref_torch.oracle.user_code import Guard, UserCodeFailure, call_user
from ref_torch.parity import ArrayDiff, ParityReport, describe_non_finite
from ref_torch.tolerances import LAYER_NUMERICAL_RTOL
from scratch_numpy.gradient_check import numerical_gradient_at

SEED = 231
# Coordinates probed per input; a larger input gets this many, drawn at random (seeded).
MAX_PROBES = 2000
CASE = "numerical gradient of your forward"


def scalar_of(value, inputs: dict, dout_names: tuple[str, ...]) -> float:
    """``L``: the loss itself, or ``sum(out * dout)`` of a layer's stacked outputs."""
    value = np.asarray(value, dtype=np.float64)
    if not dout_names:
        return float(value)
    return float(np.sum(value * stack_outputs([inputs[d] for d in dout_names])))


def forward_name(prepared) -> str:
    """The user's forward (or loss) function's name, for messages."""
    forward = prepared[0] if isinstance(prepared, tuple) else prepared
    return getattr(forward, "__name__", "your forward")


def repeat_problem(kind, prepared, inputs: dict, value) -> str:
    """"" when the forward gives ``value`` again on the same inputs, else the line that says
    it does not, with the kind's fix."""
    try:
        again, _ = call_user(kind.call_numpy, prepared, inputs, Guard(), backward=False)
    except UserCodeFailure:
        return ""  # the failure shows in the report itself
    same = np.shape(again) == np.shape(value) and np.array_equal(again, value, equal_nan=True)
    if same:
        return ""
    fix = kind.random or "make it repeatable (seed any random numbers it draws)"
    return (f"{forward_name(prepared)} gives different outputs for the same inputs (a random draw "
            f"on every call): {fix}")


def _compare_probes(name, analytic, x, numerical, kink, indices, tol) -> ArrayDiff:
    if analytic.shape != x.shape:
        return ArrayDiff(name, float("inf"), tol, problem=f"shape {analytic.shape} but the input "
                         f"has shape {x.shape}")
    values = np.array([analytic[ix] for ix in indices], dtype=np.float64)
    if not np.isfinite(values).all() or not np.isfinite(analytic).all():
        return ArrayDiff(name, float("inf"), tol, problem=describe_non_finite(
            np.asarray(analytic, dtype=np.float64)))
    judged = ~kink
    diff = np.where(judged, np.abs(values - numerical), 0.0)
    scale = float(np.max(np.abs(numerical[judged]), initial=0.0))
    worst = int(np.argmax(diff))
    error = float(diff[worst]) / scale if scale else (0.0 if not diff.any() else float("inf"))
    remarks = []
    if kink.any():
        remarks.append(f"{int(kink.sum())} probe(s) straddle a kink, not judged")
    if len(indices) < x.size:
        remarks.append(f"{len(indices)} of {x.size} coordinates probed")
    return ArrayDiff(name, error, tol, indices[worst], float(values[worst]),
                     float(numerical[worst]), reference="numerical", remark="; ".join(remarks))


def own_gradient(kind, prepared, inputs: dict, case: str = "", max_probes: int = MAX_PROBES,
                 seed: int = SEED):
    """``(report, probes, failure)``: the user's gradients of ``kind.wrt`` against the
    numerical gradient of their own forward on ``inputs`` (float64). ``probes[name]``
    holds ``(analytic, shape, indices, numerical, kink)`` for :func:`diagnoses`;
    ``failure`` is the ``UserCodeFailure`` when the user's code gave nothing to judge."""
    tol = LAYER_NUMERICAL_RTOL
    label = dict(case=f"{kind.name}: {CASE}" + (f" ({case})" if case else ""), dtype="float64",
                 device="cpu")
    inputs = {k: v.astype(np.float64) if isinstance(v, np.ndarray) and k in kind.wrt else v
              for k, v in inputs.items()}
    try:
        value, grads = call_user(kind.call_numpy, prepared, inputs, Guard())
        problem = repeat_problem(kind, prepared, inputs, value)
        if problem:
            raise UserCodeFailure(problem)
        rng = np.random.default_rng(seed)
        diffs, probes = [], {}
        for name in kind.wrt:
            x = inputs[name].copy()
            every = list(np.ndindex(x.shape))
            picks = every if len(every) <= max_probes else [
                every[i] for i in np.sort(rng.choice(len(every), max_probes, replace=False))]
            analytic = np.asarray(grads[name])
            probe_at = analytic if analytic.shape == x.shape else np.zeros_like(x)

            def f(v, name=name):
                out, _ = call_user(kind.call_numpy, prepared, dict(inputs, **{name: v}), Guard(),
                                   backward=False)
                return scalar_of(out, inputs, kind.dout_names)
            numerical, kink = numerical_gradient_at(f, x, probe_at, picks)
            diffs.append(_compare_probes(f"d{name}", analytic, x, numerical, kink, picks, tol))
            probes[name] = (analytic, x.shape, picks, numerical, kink)
    except UserCodeFailure as exc:
        missing = ArrayDiff("L", float("inf"), tol, problem="not computed")
        return ParityReport(loss=missing, error=str(exc), **label), {}, exc
    L = scalar_of(value, inputs, kind.dout_names)
    what = "the loss" if not kind.dout_names else "sum(out * dout)"
    loss = ArrayDiff("L", 0.0, tol, (), L, L, reference="numerical",
                     remark=f"L = {what} of your forward: the function differentiated")
    return ParityReport(loss=loss, grads=diffs, **label), probes, None


def diagnoses(report: ParityReport, probes: dict) -> list[str]:
    """Per wrong gradient: its shape, or a factor against the probed numerical values."""
    lines = []
    for diff in report.grads:
        if diff.passed or diff.name[1:] not in probes:
            continue
        analytic, shape, picks, numerical, kink = probes[diff.name[1:]]
        if analytic.shape != shape:
            lines.append(f"{diff.name} has shape {analytic.shape} but {diff.name[1:]} has shape "
                         f"{shape}: return it in the input's shape")
        elif not diff.problem:
            values = np.array([analytic[ix] for ix in picks], dtype=np.float64)
            lines.append(diagnose_array(diff.name, values[~kink], numerical[~kink],
                                        100 * LAYER_NUMERICAL_RTOL))
    lines.append(only_some([report], ["L", *(d.name for d in report.grads)]))
    return [line for line in lines if line]
