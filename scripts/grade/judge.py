"""One student graded: every target of their assignment, their code in a sandbox.

:func:`grade_student` plans the submission from its source (``walk.plan_path``: nothing
of the student's runs in this process), starts a sandboxed worker
(``scripts/grade/sandbox.py``, ``ref_torch/oracle/worker.py``) and checks each target
through it (``walk.check_target`` with a ``RemoteRunner``): the student's process only
computes arrays for the inputs chosen here, and the references and verdicts are this
process's. A target that runs past its deadline is a ``timeout``, one stopped by a limit
``killed``; either way the worker is killed and a fresh one checks the next target, so one
endless loop costs one target. The student's own wall-clock budget bounds them all.

Each target is a :class:`Row` of the gradebook; the student's report is the text the
check command prints for a folder: a line per target, the summary, then the full report
of each target that did not pass.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ref_torch.oracle.remote import Ended, RemoteRunner, Timeout, WorkerProcess
from ref_torch.oracle.report import LABELS, OracleReport
from ref_torch.oracle.user_code import TargetError
from ref_torch.oracle.walk import check_target, file_error, plan_path
from scripts.grade.columns import VERDICTS
from scripts.grade.sandbox import Limits, Sandbox, with_limits, worker_argv

STARTUP_SECONDS = 60.0  # importing NumPy and torch in a fresh sandbox


@dataclass
class Row:
    """One line of ``gradebook.csv``."""

    student: str
    file: str
    target: str
    kind: str
    verdict: str
    worst_error: str
    diagnosis: str
    seconds: float

    def as_csv(self) -> dict:
        return dict(asdict(self), seconds=f"{self.seconds:.2f}")


@dataclass
class StudentResult:
    student: str
    rows: list[Row] = field(default_factory=list)
    report: str = ""
    seconds: float = 0.0


def _worst(report: OracleReport) -> str:
    worst = report.worst_error
    return "" if worst is None else ("inf" if not math.isfinite(worst) else f"{worst:.3e}")


def report_row(student: str, report: OracleReport) -> Row:
    return Row(student, report.file, report.target, report.kind, report.verdict,
               _worst(report), report.summary, report.seconds)


def stopped_row(student: str, shown: str, target: str, kind: str, verdict: str, why: str,
                seconds: float) -> Row:
    return Row(student, shown, target, kind, verdict, "", why, seconds)


def _line(row: Row) -> str:
    label = LABELS.get(row.verdict, row.verdict.upper())
    return f"{label:<17} {row.target:<34} {row.kind:<21} {row.worst_error:<12} {row.diagnosis}"


class Session:
    """The student's sandboxed worker, started again after one is killed."""

    def __init__(self, submission: Path, sandbox: Sandbox, limits: Limits):
        self.submission, self.sandbox, self.limits = submission, sandbox, limits
        self.runner: RemoteRunner | None = None
        self.loaded: dict[Path, str] = {}
        self.workdir = tempfile.TemporaryDirectory(prefix="cs231n-grade-")

    def start(self, deadline: float) -> RemoteRunner:
        if self.runner is None:
            argv, env, offset = worker_argv(self.sandbox, self.submission, self.limits)
            argv, preexec = with_limits(argv, self.limits)
            worker = WorkerProcess(argv, env, Path(self.workdir.name), preexec, offset)
            self.runner = RemoteRunner(worker, self.submission)
            self.loaded = {}
            self.runner.deadline = min(deadline, time.monotonic() + STARTUP_SECONDS)
            self.runner.ask(op="hello")
        return self.runner

    def load(self, file: Path, deadline: float) -> str:
        runner = self.start(deadline)
        runner.deadline = deadline
        if file not in self.loaded:
            self.loaded[file] = runner.load(file)
        return self.loaded[file]

    def lost(self) -> None:
        """The worker was killed (or ended): the next target starts a fresh one."""
        if self.runner is not None:
            self.runner.worker.kill()
        self.runner = None

    def close(self) -> None:
        self.lost()
        self.workdir.cleanup()


def grade_student(student: str, submission: Path, X=None, y=None, sandbox: Sandbox = None,
                  limits: Limits = Limits(), dtypes=("float64", "float32")) -> StudentResult:
    """Every target of ``submission`` checked in ``sandbox``; ``X``, ``y``: the dev batch
    (None: targets that need CIFAR-10 are ``usage``)."""
    start = time.monotonic()
    budget_end = start + limits.student_seconds
    result = StudentResult(student)
    reports: list[OracleReport] = []

    def add(row: Row, report: OracleReport | None = None):
        result.rows.append(row)
        if report is not None:
            reports.append(report)

    try:
        plan = plan_path(submission)
    except TargetError as exc:
        why = str(exc).replace(str(submission), "the submission")  # not a temporary path
        add(stopped_row(student, "", "(submission)", "", "error", why, 0.0))
        return _finish(result, reports, start)
    session = Session(submission, sandbox, limits)
    try:
        for item in plan.found:
            shown = plan.shown(item)
            if item.error:
                report = file_error(shown, item.error)
                add(report_row(student, report), report)
                continue
            for target in item.targets:
                began = time.monotonic()
                if began >= budget_end:
                    add(stopped_row(student, shown, target.label, target.kind.name, "timeout",
                                    f"not run: the student's {limits.student_seconds:g} s ran "
                                    "out", 0.0))
                    continue
                deadline = min(began + limits.target_seconds, budget_end)
                if target.kind.needs_data and X is None:
                    add(stopped_row(student, shown, target.label, target.kind.name, "usage",
                                    "needs the CIFAR-10 dev batch (set CIFAR10_DIR)", 0.0))
                    continue
                try:
                    module = session.load(item.file, deadline)  # the deadline is set there
                    runner = session.runner
                    report = check_target(module, target, X, y, shown, resolve=runner.resolve,
                                          bind=runner.bind, dtypes=dtypes, devices=["cpu"])
                    add(report_row(student, report), report)
                except TargetError as exc:  # the file did not load: its targets cannot run
                    report = file_error(shown, str(exc), time.monotonic() - began)
                    add(report_row(student, report), report)
                    break
                except Timeout:
                    session.lost()
                    add(stopped_row(student, shown, target.label, target.kind.name, "timeout",
                                    f"did not finish in {deadline - began:.0f} s (an endless "
                                    "loop?)", time.monotonic() - began))
                except Ended as exc:
                    session.lost()
                    add(stopped_row(student, shown, target.label, target.kind.name,
                                    exc.verdict, str(exc), time.monotonic() - began))
    finally:
        session.close()
    return _finish(result, reports, start)


def _finish(result: StudentResult, reports: list[OracleReport], start: float) -> StudentResult:
    result.seconds = time.monotonic() - start
    lines = [_line(row) for row in result.rows]
    lines.append(f"\n{len(result.rows)} targets: {counts_text(result.rows)} "
                 f"({result.seconds:.1f} s)")
    failing = [r for r in reports if r.verdict != "pass"]
    for report in failing:
        lines += ["", f"==== {report.file}: {report.target} ({report.verdict})", str(report)]
    result.report = "\n".join(lines)
    return result


def counts_text(rows) -> str:
    """``10 pass, 2 fail, 1 not implemented``: the verdicts that occur, in verdict order."""
    return ", ".join(f"{n} {v.replace('_', ' ')}" for v, n in summary_counts(rows).items() if n)


def summary_counts(rows) -> dict:
    counts = {v: 0 for v in VERDICTS}
    for row in rows:
        counts[row.verdict if isinstance(row, Row) else row["verdict"]] += 1
    return counts


