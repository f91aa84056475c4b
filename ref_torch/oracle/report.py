"""What one check found: :class:`OracleReport`, its verdict, its one-line summary, its JSON.

A target's verdict is one of

* ``pass``: every required case agrees with the reference (advisory cases may warn);
* ``fail``: a required case disagrees, or returned something unusable; with ``strict``
  also an advisory case that failed and a warning (an argument modified in place, a
  forward that is not repeatable);
* ``not_implemented``: the target still holds CS231n's starter code (it returns None or
  zeros, or raises ``NotImplementedError``);
* ``error``: the code raised in every case (or its file did not load);
* ``usage``: the target cannot be checked as asked (it does not fit its kind, its
  backward is missing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ref_torch.parity import ParityReport

VERDICTS = ("pass", "fail", "not_implemented", "error", "usage")
LABELS = {"pass": "PASS", "fail": "FAIL", "not_implemented": "NOT IMPLEMENTED",
          "error": "ERROR", "usage": "USAGE"}


@dataclass
class OracleReport:
    """Everything one check found; ``str``/``repr`` is the table the command prints.

    cases: a ``ParityReport`` per case, dtype and device (``.status``, ``.loss``,
        ``.grads``: per-array ``ArrayDiff`` with the worst element).
    convention: the reg convention the target was judged by ("" for kinds without reg).
    diagnoses: one line per likely cause of the failures.
    warnings: what passes but should not be done (an argument modified in place, a
        forward that gives different outputs for the same inputs); failures with strict.
    not_implemented: why the target looks like the starter code ("" when it does not).
    raised: the code raised in every case.
    usage: why the target could not be checked as asked ("" when it was).
    """

    target: str
    kind: str
    cases: list[ParityReport] = field(default_factory=list)
    convention: str = ""
    diagnoses: list[str] = field(default_factory=list)
    strict: bool = False
    data: str = ""
    warnings: list[str] = field(default_factory=list)
    not_implemented: str = ""
    raised: bool = False
    usage: str = ""
    file: str = ""
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.cases)

    @property
    def failed(self) -> list[ParityReport]:
        bad = ("FAIL", "WARN") if self.strict else ("FAIL",)
        return [r for r in self.cases if r.status in bad]

    @property
    def verdict(self) -> str:
        if self.usage:
            return "usage"
        if self.not_implemented:
            return "not_implemented"
        if self.raised:
            return "error"
        if self.failed or (self.strict and self.warnings):
            return "fail"
        return "pass" if any(r.passed for r in self.cases) else "fail"

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    @property
    def worst_error(self) -> float | None:
        """The largest error of any array compared in a required case (advisory ones too
        with strict); None when nothing was compared or judged (not implemented, error)."""
        if self.verdict not in ("pass", "fail"):
            return None
        errors = [d.error for r in self.cases if not (r.error or r.skipped)
                  and (self.strict or r.role != "advisory") for d in (r.loss, *r.grads)]
        return max(errors) if errors else None

    @property
    def summary(self) -> str:
        """The first thing to know: the starter code, the failure's diagnosis or the error."""
        if self.usage or self.not_implemented:
            return self.usage or self.not_implemented
        if self.verdict == "pass":
            return self.warnings[0] if self.warnings else ""
        errors = [r.error for r in self.failed if r.error]
        notes = [r.note for r in self.failed if r.note]
        failing = [f"{d.name}: {d.problem}" for r in self.failed for d in (r.loss, *r.grads)
                   if d.problem]
        return next(iter(self.diagnoses + errors + notes + failing + self.warnings), "")

    def line(self, width: int = 34) -> str:
        """One line: verdict, target, kind, worst error, the first thing to know."""
        worst = self.worst_error
        error = "" if worst is None else f"err {worst:8.1e}"
        extra = f" ({len(self.warnings)} warning{'s' * (len(self.warnings) > 1)})" \
            if self.warnings and self.verdict == "pass" else ""
        text = (f"{LABELS[self.verdict] + extra:<17} {self.target:<{width}} {self.kind:<21} "
                f"{error:<12} {self.summary}")
        return text.rstrip()

    def to_json(self) -> dict:
        worst = self.worst_error
        return {"file": self.file, "target": self.target, "kind": self.kind,
                "verdict": self.verdict,
                "worst_error": None if worst is None else (worst if math.isfinite(worst)
                                                           else "inf"),
                "diagnosis": self.summary, "diagnoses": self.diagnoses,
                "warnings": self.warnings, "seconds": round(self.seconds, 3),
                "cases": {s.lower(): self.count(s) for s in ("PASS", "FAIL", "WARN", "SKIP")},
                "report": str(self)}

    def __str__(self) -> str:
        if self.usage:
            return f"usage: {self.usage} ({self.target})"
        lines = [str(r) for r in self.cases]
        if self.convention:
            lines.append(f"\nregularization: {self.convention}")
        if self.not_implemented:
            lines.append(f"not implemented: {self.not_implemented}")
        lines += [f"diagnosis: {d}" for d in self.diagnoses]
        lines += [f"warning: {w}" + (" (failing: --strict)" if self.strict else "")
                  for w in self.warnings]
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
