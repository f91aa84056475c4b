"""Running one row of the kinds table on one target: the runs, the references, the verdict.

For one target and one kind of ``ref_torch/oracle/kinds.py``, every case runs in every
dtype, and every result is compared on every device with the torch reference:

* the user's code runs once per case and dtype through a ``Guard``
  (``ref_torch/oracle/user_code.py``): every call gets private copies of its arrays, so
  nothing it does escapes, and an argument it modifies in place is a warning naming
  the user's own parameter; a forward that gives another output when called again on
  the same inputs is a warning too, with the kind's fix (seed the dropout mask);
* kinds with a reg term get the reference of both conventions (``full``: reg *
  sum(W**2); ``half``: 0.5 * reg * sum(W**2)); the target passes when everything
  agrees with one of them, which the report names (``reg_convention`` forces one);
* softmax kinds add a float64 *stability* case (scores that need the max shift);
  a case whose scores spread beyond what ``exp`` represents in a dtype is
  *advisory* there: a failure is a WARN that explains itself, FAIL when ``strict``;
* a kind whose reference is the user's own forward (``layer``) gets the numerical
  gradient case first (``ref_torch/oracle/numerical.py``);
* failures are diagnosed (``ref_torch/oracle/diagnosis.py``), and two diagnoses that
  need the user's code again run here: the forward wrong or the backward wrong (the
  numerical gradient of the user's own forward), and another kind that fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from ref_torch.devices import available_devices, resolve_device
from ref_torch.oracle import numerical
from ref_torch.oracle.conventions import DESCRIPTION, REG_SCALE
from ref_torch.oracle.diagnosis import DIAGNOSIS_SLACK, diagnose
from ref_torch.oracle.kinds import KINDS, LossKind
from ref_torch.oracle.report import OracleReport
from ref_torch.oracle.stability import ScoreRange, explain
from ref_torch.oracle.user_code import Guard, TargetError, UserCodeFailure, call_user
from ref_torch.parity import ArrayDiff, ParityReport, cast_inputs, compare_result, torch_reference
from ref_torch.tolerances import parity_rtol

DTYPES = ("float64", "float32")
# Coordinates per input the numerical gradient probes when telling a wrong forward from a
# wrong backward (a diagnosis: a sample is enough).
DIAGNOSIS_PROBES = 60
# A value this far from the reference in every case may be another kind's.
FAR = 1e-2


@dataclass
class Run:
    """One case in one dtype on one device: the user's result and the references."""

    case: str
    dtype: np.dtype
    device: str
    role: str
    inputs: dict  # float64, as the case built them
    reg: float
    scores: ScoreRange | None
    skipped: str = ""
    error: str = ""
    starter: bool = False
    raised: bool = False
    user_value: object = None
    user_grads: dict = field(default_factory=dict)
    refs: dict = field(default_factory=dict)  # convention -> (value, {name: gradient})
    report: ParityReport | None = None
    convention: str = "full"

    @property
    def reference(self):
        return self.refs.get(self.convention) or next(iter(self.refs.values()))


@dataclass
class Outcome:
    """What the user's code did on one case in one dtype."""

    value: object = None
    grads: dict = field(default_factory=dict)
    error: str = ""
    starter: bool = False
    raised: bool = False
    warnings: list = field(default_factory=list)


def _run_user(kind: LossKind, prepared, inputs: dict, dtype, repeat: bool) -> Outcome:
    """The user's code on ``inputs`` cast to ``dtype``; ``repeat``: call the forward again
    and warn when its output differs."""
    given = cast_inputs(inputs, dtype)
    guard = Guard()
    try:
        value, grads = call_user(kind.call_numpy, prepared, given, guard)
    except UserCodeFailure as exc:
        reason = str(exc)
        error = f"your code {reason}" if reason.startswith("returned") else reason
        return Outcome(error=error, starter=exc.starter, raised=exc.raised,
                       warnings=guard.modified)
    warnings = list(guard.modified)
    if repeat:
        warnings.append(numerical.repeat_problem(kind, prepared, given, value))
    return Outcome(value, grads, warnings=[w for w in warnings if w])


def _conventions_for(kind: LossKind, reg: float) -> tuple[str, ...]:
    """Both conventions' references where they differ (a forced one still needs the
    other to diagnose the reg term)."""
    return tuple(REG_SCALE) if kind.reg_params and reg > 0 else ("full",)


def _reference(kind, given: dict, value, reg: float, convention: str, device):
    scaled = dict(given, reg=reg * REG_SCALE[convention]) if "reg" in given else given
    if kind.reference_inputs:
        scaled = kind.reference_inputs(scaled, value)
    return torch_reference(kind.torch_loss, scaled, kind.wrt, device)


def _collect(kind, prepared, plan, dtypes, devices, progress, warnings: list) -> list[Run]:
    runs = []
    for name, inputs, role in tqdm(plan, desc=kind.name, disable=not progress, leave=False):
        scores = ScoreRange.of(kind.scores(inputs)) if kind.scores else None
        reg = float(inputs.get("reg", 0.0))
        skipped = kind.skip(prepared, inputs) if kind.skip else ""
        if skipped:  # one line for the case, not one per dtype and device
            runs.append(Run(f"{kind.name}: {name}", dtypes[0], devices[0], role, inputs, reg,
                            scores, skipped))
            continue
        for dtype in dtypes:
            if role == "stability" and dtype != np.float64:
                continue
            case_role = "advisory" if scores and scores.extreme(dtype) else role
            outcome = _run_user(kind, prepared, inputs, dtype, repeat=dtype == dtypes[0])
            warnings += [w for w in outcome.warnings if w not in warnings]
            given = cast_inputs(inputs, dtype)
            for device in devices:
                run = Run(f"{kind.name}: {name}", dtype, device, case_role, inputs, reg, scores,
                          "", outcome.error, outcome.starter, outcome.raised, outcome.value,
                          outcome.grads)
                for convention in _conventions_for(kind, reg):
                    run.refs[convention] = _reference(kind, given, outcome.value, reg,
                                                      convention, device)
                runs.append(run)
    return runs


def _report(run: Run, kind: LossKind) -> ParityReport:
    tol = parity_rtol(run.dtype)
    label = dict(case=run.case, dtype=run.dtype.name, device=run.device, role=run.role)
    if run.skipped:
        label.update(dtype="every dtype", device="every device")
    if run.skipped or run.error:
        missing = ArrayDiff(kind.value_name, float("inf"), tol, problem="not computed")
        return ParityReport(loss=missing, error=run.error, skipped=run.skipped, **label)
    loss, grads = compare_result(run.user_value, run.user_grads, run.reference, kind.wrt, tol,
                                 kind.value_name)
    report = ParityReport(loss=loss, grads=grads, **label)
    if not report.passed and run.scores is not None:
        report.note = explain(report, run.scores, run.dtype)
    return report


def _judge(runs: list[Run], kind: LossKind, convention: str) -> int:
    """Reports of every run against ``convention``; the number of arrays that pass."""
    passing = 0
    for run in runs:
        run.convention = convention
        run.report = _report(run, kind)
        if run.report.status != "SKIP" and not run.report.error:
            passing += len(kind.wrt) + 1 - len(run.report.failed_names)
    return passing


def _choose_convention(kind: LossKind, runs: list[Run], forced: str | None) -> str:
    """The convention every reg > 0 case agrees with (the others do not tell them apart),
    else the one most arrays agree with."""
    if forced or not kind.reg_params or all(r.user_value is None for r in runs):
        _judge(runs, kind, forced or "full")
        return f"{DESCRIPTION[forced]} (forced)" if forced else ""
    scores = {}
    with_reg = [r for r in runs if r.reg > 0 and r.user_value is not None]
    for convention in REG_SCALE:
        scores[convention] = _judge(runs, kind, convention)
        if with_reg and all(r.report.status != "FAIL" for r in with_reg):
            return f"{DESCRIPTION[convention]} (found; --reg-convention {convention} forces it)"
    best = max(scores, key=scores.get)  # first (full) on a tie
    _judge(runs, kind, best)
    return (f"judged by {DESCRIPTION[best]}, the convention closest to the target "
            "(--reg-convention forces one)")


def _explain_advisories(runs: list[Run]) -> None:
    """An advisory case that also fails in float64, where its scores are in range, fails
    for another reason: say so instead of blaming the range."""
    required_failures = {(r.case, r.device) for r in runs if r.report.status == "FAIL"}
    for run in runs:
        if run.report.status == "WARN" and (run.case, run.device) in required_failures:
            run.report.note = ("it fails in float64 too, where these scores are in range: "
                               "see that case")


def _starter_reason(runs: list[Run], kind: LossKind) -> str:
    """Why the target looks like CS231n's starter code ("" when it does not): every case
    returned None or raised NotImplementedError, or returned a zero value and zero (or
    no) gradients."""
    ran = [r for r in runs if not r.skipped]
    if not ran:
        return ""
    if all(r.starter for r in ran):
        return f"{ran[0].error.removeprefix('your code ')} (the starter code)"
    def zeros(run):
        return (run.user_value is not None and not np.any(run.user_value)
                and all(not np.any(g) for g in run.user_grads.values()))
    if all(zeros(r) for r in ran):
        what = "no gradients" if not ran[0].user_grads else "zero gradients"
        return f"returns a {kind.value_name} of 0 and {what} (the starter code)"
    return ""


def _forward_or_backward(kind: LossKind, prepared, runs: list[Run]) -> str:
    """A value that disagrees with torch while the gradients agree with the numerical
    gradient of the user's own forward: the forward is wrong, not the backward."""
    wrong = [r for r in runs if r.report.status == "FAIL" and not r.report.error
             and not r.report.loss.passed and r.reg == 0 and r.dtype == np.float64
             and np.all(np.isfinite(r.user_value))]
    if not wrong or not kind.wrt:
        return ""
    run = wrong[0]
    own, _, failure = numerical.own_gradient(kind, prepared, run.inputs,
                                             max_probes=DIAGNOSIS_PROBES)
    if failure is not None:
        return ""
    value = kind.value_name
    if kind.dout_names:
        first, then = "the forward", "your backward"
        fix = "fix the forward first: the backward follows it"
    else:
        first, then = "the loss", "your gradient"
        fix = "fix the loss first"
    if own.passed:
        return (f"{first} is wrong: {value} differs from the reference while {then} agrees "
                f"with the numerical gradient of your own {first.split()[-1]}; {fix}")
    return (f"{first} is wrong ({value} differs from the reference), and {then} does not "
            f"match the numerical gradient of your own {first.split()[-1]} either")


def bind_here(kind: LossKind, target, options: dict | None = None):
    """``kind.bind``: the user's code in this process (the grader binds in a sandbox instead,
    ``ref_torch/oracle/remote.py``)."""
    return kind.bind(target, options)


def _fitting_kinds(kind: LossKind, target, name: str, runs: list[Run], X, y, bind) -> str:
    """When the value is far from the reference in every case: the kinds it does match
    (``name``: what the target was asked by)."""
    compared = [r for r in runs if r.report and r.report.status in ("PASS", "FAIL", "WARN")
                and not r.report.error]
    if not compared or any(r.report.loss.passed or r.report.loss.error < FAR for r in compared):
        return ""
    tol = DIAGNOSIS_SLACK * parity_rtol(np.float64)
    fits = []
    for other in KINDS.values():
        if other.name == kind.name or other.setup or (other.needs_data and X is None):
            continue
        try:
            other, prepared = bind(other, target)
        except TargetError:
            continue
        cases = [inputs for _, inputs in other.make_cases(X, y)]
        inputs = next((i for i in cases if not i.get("reg")), cases[0])
        if other.skip and other.skip(prepared, inputs):
            continue
        outcome = _run_user(other, prepared, inputs, np.float64, repeat=False)
        if outcome.error:
            continue
        ref = _reference(other, inputs, outcome.value, 0.0, "full", "cpu")
        value, grads = compare_result(outcome.value, outcome.grads, ref, other.wrt, tol,
                                      other.value_name)
        if value.passed and all(g.passed for g in grads):
            fits.append(other.name)
    if not fits:
        return ""
    value = "the loss" if kind.value_name == "loss" else kind.value_name
    if kind.matches(name) or kind.matches(name.rpartition(".")[2]):  # its name says this kind
        return (f"{value} is what --kind {' / '.join(fits)} computes, not {kind.name}: is it "
                "computed over the right axes and terms?")
    return (f"the wrong kind? {value} is far from the {kind.name} reference in every case, "
            f"and it is what --kind {' / '.join(fits)} computes")


def run_checks(kind: LossKind, target, X: np.ndarray | None, y: np.ndarray | None,
               dtypes=DTYPES, devices=None, reg_convention: str | None = None,
               strict: bool = False, progress: bool = False, label: str | None = None,
               options: dict | None = None, bind=bind_here) -> OracleReport:
    """Check ``target`` as ``kind`` on the cases built from ``X (N, 3072)``, ``y (N,)``
    (None for a kind that needs no data); ``options``: the kind's (``backward``, ...).
    ``bind(kind, target, options) -> (kind, prepared)`` gives what the checks call: the
    user's code itself (:func:`bind_here`) or a sandboxed process's (the grader)."""
    if reg_convention not in (None, *REG_SCALE):
        raise ValueError(f"reg_convention must be one of {', '.join(REG_SCALE)}, got "
                         f"{reg_convention!r}")
    kind, prepared = bind(kind, target, options)
    dtypes = [np.dtype(d) for d in dtypes]
    devices = [str(resolve_device(d)) for d in (devices or available_devices())]
    plan = [(name, inputs, "correctness") for name, inputs in kind.make_cases(X, y)]
    if kind.stability_cases:
        plan += [(name, inputs, "stability") for name, inputs in kind.stability_cases(X, y)]
    warnings: list[str] = []
    runs = _collect(kind, prepared, plan, dtypes, devices, progress, warnings) \
        if kind.torch_loss else []
    convention = _choose_convention(kind, runs, reg_convention) if runs else ""
    _explain_advisories(runs)
    cases, diagnoses, failure = [], [], None
    if kind.numerical:
        own, probes, failure = numerical.own_gradient(kind, prepared, plan[0][1])
        cases, diagnoses = [own], numerical.diagnoses(own, probes)
    starter = _starter_reason(runs, kind) if runs else (
        f"{failure} (the starter code)" if failure is not None and failure.starter else "")
    name = label or getattr(target, "__qualname__", None) or repr(target)
    if not starter:
        forward_line = "" if kind.numerical else _forward_or_backward(kind, prepared, runs)
        diagnoses += [d for d in diagnose(runs, kind, forward_line) if d not in diagnoses]
        # Another kind's reference explains every failure at once: say only that.
        other_kind = _fitting_kinds(kind, target, name.rpartition(":")[2], runs, X, y,
                                    bind)
        diagnoses = [other_kind] if other_kind else diagnoses
    ran = [r for r in runs if not r.skipped]
    raised = bool(ran) and all(r.raised for r in ran) or (not ran and failure is not None
                                                          and failure.raised)
    data = (f"{len(y)} CIFAR-10 dev images" if y is not None and kind.needs_data else
            f"inputs {', '.join(f'{n} {np.shape(plan[0][1][n])}' for n in kind.wrt)}"
            if kind.numerical else "")
    return OracleReport(name, kind.name, cases + [r.report for r in runs], convention,
                        list(dict.fromkeys(diagnoses)), strict, data, warnings, starter,
                        raised)


def run_kind(kind: LossKind, target, X, y, dtypes=DTYPES, devices=None) -> list[ParityReport]:
    """The per-case reports of the project's own parity checks (its reg convention, not strict)."""
    return run_checks(kind, target, X, y, dtypes, devices, reg_convention="full").cases
