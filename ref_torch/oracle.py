"""The gradient oracle: check a user's NumPy loss and gradient, say whether and where it is wrong.

    from ref_torch.oracle import check_gradient
    report = check_gradient(svm_loss_vectorized, kind="svm")   # or "file.py:name"
    report            # the table the command prints; report.passed, report.cases

For one target and one kind of ``ref_torch/kinds.py``, every case runs in every
dtype, and every result is compared on every device with the torch reference:

* the user's code runs once per case and dtype, on copies of the inputs, through
  ``ref_torch/user_code.call_user`` (nothing it does escapes; an input it modifies
  in place is a failure);
* kinds with a reg term get the reference of both conventions (``full``: reg *
  sum(W**2); ``half``: 0.5 * reg * sum(W**2)); the target passes when everything
  agrees with one of them, which the report names (``reg_convention`` forces one);
* softmax kinds add a float64 *stability* case (scores that need the max shift);
  a case whose scores spread beyond what ``exp`` represents in a dtype is
  *advisory* there: a failure is a WARN that explains itself, FAIL when ``strict``;
* failures are diagnosed (``ref_torch/diagnosis.py``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from ref_torch.conventions import DESCRIPTION, REG_SCALE
from ref_torch.devices import available_devices, resolve_device
from ref_torch.diagnosis import diagnose
from ref_torch.kinds import LossKind, get_kind
from ref_torch.parity import (ArrayDiff, ParityReport, cast_inputs, compare_result,
                              torch_reference)
from ref_torch.stability import ScoreRange, explain
from ref_torch.tolerances import parity_rtol
from ref_torch.user_code import (TargetError, UserCodeFailure, call_user, load_target,
                                  modified_inputs)
from scratch_numpy.data import load_cifar10, split_cifar10
from scratch_numpy.preprocessing import dev_batch
from scratch_numpy.validation import check_array, check_int, check_labels

DTYPES = ("float64", "float32")


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
    user_loss: float | None = None
    user_grads: dict = field(default_factory=dict)
    refs: dict = field(default_factory=dict)  # convention -> (loss, {name: gradient})
    report: ParityReport | None = None
    convention: str = "full"

    @property
    def reference(self):
        return self.refs.get(self.convention) or next(iter(self.refs.values()))


@dataclass
class OracleReport:
    """Everything one check found; ``str``/``repr`` is the table the command prints.

    cases: a ``ParityReport`` per case, dtype and device (``.status``, ``.loss``,
        ``.grads``: per-array ``ArrayDiff`` with the worst element).
    convention: the reg convention the target was judged by ("" for kinds without reg).
    diagnoses: one line per likely cause of the failures.
    """

    target: str
    kind: str
    cases: list[ParityReport]
    convention: str = ""
    diagnoses: list[str] = field(default_factory=list)
    strict: bool = False
    data: str = ""

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.cases)

    @property
    def failed(self) -> list[ParityReport]:
        bad = ("FAIL", "WARN") if self.strict else ("FAIL",)
        return [r for r in self.cases if r.status in bad]

    @property
    def passed(self) -> bool:
        return not self.failed and self.count("PASS") > 0

    def __str__(self) -> str:
        lines = [str(r) for r in self.cases]
        if self.convention:
            lines.append(f"\nregularization: {self.convention}")
        lines += [f"diagnosis: {d}" for d in self.diagnoses]
        counts = [f"{self.count('PASS')} passed"]
        if self.count("SKIP"):
            counts.append(f"{self.count('SKIP')} skipped")
        if self.count("WARN"):
            counts.append(f"{self.count('WARN')} advisory" + (" (failing: --strict)"
                                                               if self.strict else ""))
        counts.append(f"{self.count('FAIL')} failed")
        about = f"{self.target} as kind {self.kind!r}" + (f", {self.data}" if self.data else "")
        lines.append(f"\n{', '.join(counts)} ({about})")
        return "\n".join(lines)

    __repr__ = __str__


def _run_user(kind: LossKind, prepared, inputs: dict, dtype) -> tuple[str, float | None, dict]:
    """(error, loss, grads) of the user's code on copies of ``inputs`` cast to ``dtype``."""
    given = cast_inputs(inputs, dtype)
    copies = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in given.items()}
    try:
        loss, grads = call_user(kind.call_numpy, prepared, copies)
    except UserCodeFailure as exc:
        reason = str(exc)
        return (f"your code {reason}" if reason.startswith("returned") else reason), None, {}
    modified = modified_inputs(given, copies)
    return (modified, None, {}) if modified else ("", loss, grads)


def _conventions_for(kind: LossKind, reg: float) -> tuple[str, ...]:
    """Both conventions' references where they differ (a forced one still needs the
    other to diagnose the reg term)."""
    return tuple(REG_SCALE) if kind.reg_params and reg > 0 else ("full",)


def _collect(kind, prepared, X, y, dtypes, devices, progress) -> list[Run]:
    plan = [(name, inputs, "correctness") for name, inputs in kind.make_cases(X, y)]
    if kind.stability_cases:
        plan += [(name, inputs, "stability") for name, inputs in kind.stability_cases(X, y)]
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
            error, loss, grads = _run_user(kind, prepared, inputs, dtype)
            given = cast_inputs(inputs, dtype)
            for device in devices:
                run = Run(f"{kind.name}: {name}", dtype, device, case_role, inputs, reg, scores,
                          "", error, loss, grads)
                for convention in _conventions_for(kind, reg):
                    scaled = dict(given, reg=reg * REG_SCALE[convention]) if "reg" in given \
                        else given
                    run.refs[convention] = torch_reference(kind.torch_loss, scaled, kind.wrt,
                                                           device)
                runs.append(run)
    return runs


def _report(run: Run, wrt) -> ParityReport:
    tol = parity_rtol(run.dtype)
    label = dict(case=run.case, dtype=run.dtype.name, device=run.device, role=run.role)
    if run.skipped:
        label.update(dtype="every dtype", device="every device")
    if run.skipped or run.error:
        missing = ArrayDiff("loss", float("inf"), tol, problem="not computed")
        return ParityReport(loss=missing, error=run.error, skipped=run.skipped, **label)
    loss, grads = compare_result(run.user_loss, run.user_grads, run.reference, wrt, tol)
    report = ParityReport(loss=loss, grads=grads, **label)
    if not report.passed and run.scores is not None:
        report.note = explain(report, run.scores, run.dtype)
    return report


def _judge(runs: list[Run], wrt, convention: str) -> int:
    """Reports of every run against ``convention``; the number of arrays that pass."""
    passing = 0
    for run in runs:
        run.convention = convention
        run.report = _report(run, wrt)
        if run.report.status != "SKIP" and not run.report.error:
            passing += len(wrt) + 1 - len(run.report.failed_names)
    return passing


def _choose_convention(kind: LossKind, runs: list[Run], forced: str | None) -> str:
    """The convention every reg > 0 case agrees with (the others do not tell them apart),
    else the one most arrays agree with."""
    if forced or not kind.reg_params or all(r.user_loss is None for r in runs):
        _judge(runs, kind.wrt, forced or "full")
        return f"{DESCRIPTION[forced]} (forced)" if forced else ""
    scores = {}
    with_reg = [r for r in runs if r.reg > 0 and r.user_loss is not None]
    for convention in REG_SCALE:
        scores[convention] = _judge(runs, kind.wrt, convention)
        if with_reg and all(r.report.status != "FAIL" for r in with_reg):
            return f"{DESCRIPTION[convention]} (found; --reg-convention {convention} forces it)"
    best = max(scores, key=scores.get)  # first (full) on a tie
    _judge(runs, kind.wrt, best)
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


def run_checks(kind: LossKind, target, X: np.ndarray, y: np.ndarray, dtypes=DTYPES,
               devices=None, reg_convention: str | None = None, strict: bool = False,
               progress: bool = False, label: str | None = None) -> OracleReport:
    """Check ``target`` as ``kind`` on the cases built from ``X (N, 3072)``, ``y (N,)``."""
    if reg_convention not in (None, *REG_SCALE):
        raise ValueError(f"reg_convention must be one of {', '.join(REG_SCALE)}, got "
                         f"{reg_convention!r}")
    prepared = kind.prepare(target)
    dtypes = [np.dtype(d) for d in dtypes]
    devices = [str(resolve_device(d)) for d in (devices or available_devices())]
    runs = _collect(kind, prepared, X, y, dtypes, devices, progress)
    convention = _choose_convention(kind, runs, reg_convention)
    _explain_advisories(runs)
    averages = kind.name in ("svm", "softmax", "softmax_scores", "svm_scores", "two_layer_net")
    diagnoses = diagnose(runs, kind.name, kind.reg_params,
                         len(y) if averages and y is not None else None)
    name = label or getattr(target, "__qualname__", None) or repr(target)
    return OracleReport(name, kind.name, [r.report for r in runs], convention, diagnoses,
                        strict, f"{len(y)} CIFAR-10 dev images" if y is not None else "")


def run_kind(kind: LossKind, target, X, y, dtypes=DTYPES, devices=None) -> list[ParityReport]:
    """The per-case reports of the project's own parity checks (its reg convention, not strict)."""
    return run_checks(kind, target, X, y, dtypes, devices, reg_convention="full").cases


def load_dev_batch(cifar10_dir=None, num_dev: int = 500, seed: int = 0):
    """The dev batch as float64 rows, mean image of the training split subtracted."""
    num_dev = check_int(num_dev, "num_dev", minimum=2)
    return dev_batch(split_cifar10(load_cifar10(cifar10_dir), num_dev=num_dev, seed=seed))


def check_gradient(target, kind: str, *, X=None, y=None, num_dev: int = 500, cifar10_dir=None,
                   dtypes=DTYPES, devices=None, reg_convention: str | None = None,
                   strict: bool = False, progress: bool | None = None, **layer_options):
    """Check a NumPy loss and its hand-written gradient against torch autograd.

    target: the function or class itself (from a notebook), or ``"path/file.py:name"``.
    kind: a row of ``ref_torch.kinds.KINDS`` (``"svm"``, ``"two_layer_net"``, ...) or
        ``"layer"`` for any forward/backward pair (``layer_options``: see
        ``ref_torch.layer_oracle.check_layer``).
    X, y: the rows ``(N, 3072)`` and labels to build cases from; default the CIFAR-10
        dev batch (``num_dev`` rows from ``cifar10_dir`` or ``$CIFAR10_DIR``).
    reg_convention: ``"full"`` or ``"half"`` forces one; default: found.
    strict: advisory cases (scores beyond exp's range) fail instead of warning.
    Returns an :class:`OracleReport`; its repr is the report table.
    """
    row = get_kind(kind) if kind != "layer" else None
    label = target if isinstance(target, str) else None
    obj = load_target(target) if isinstance(target, str) else target
    progress = sys.stderr.isatty() if progress is None else progress
    if row is None:
        from ref_torch.layer_oracle import check_layer

        return check_layer(obj, label=label, devices=devices, progress=progress,
                           **layer_options)
    if layer_options:
        raise TypeError(f"unexpected options for kind {kind!r}: {', '.join(layer_options)}")
    if X is None:
        X, y = load_dev_batch(cifar10_dir, num_dev)
    X = check_array(X, "X", ndim=2).astype(np.float64)
    y = check_labels(y, X.shape[0], 10)
    if X.shape[0] < 2:
        raise ValueError("X needs at least 2 rows: one example cannot tell a sum from a mean")
    return run_checks(row, obj, X, y, dtypes, devices, reg_convention, strict, progress, label)


__all__ = ["check_gradient", "OracleReport", "run_checks", "run_kind", "TargetError"]
