"""What ``cs231n-check-gradient`` adds to the API: its targets, options, summary and JSON.

* A target ``FILE.py:NAME`` is one target; a ``FILE.py`` or a folder is every target in
  it (``ref_torch/oracle/walk.py``).
* Names on the command line are the user's: ``--torch FUNC``, ``--inputs FUNC`` and
  ``--backward NAME`` are looked up in the *target's file* (whatever module the function
  came from), and ``--inputs other.py:func`` in any file.
* Exit status: 0 when nothing failed, 1 when a target failed, raised or could not be
  checked (and, with ``--strict``, when one is not implemented or has a warning; a single
  named target that is not implemented exits 1: nothing was verified).
"""

from __future__ import annotations

import json
from pathlib import Path

from ref_torch.oracle.report import LABELS, OracleReport
from ref_torch.oracle.user_code import TargetError, load_target
from scratch_numpy.checkpoints import atomic_output


def is_single_target(spec: str) -> bool:
    """``file.py:name`` (one target) rather than a file or folder (all of its targets)."""
    path, sep, name = spec.rpartition(":")
    return bool(sep and path and name)


def in_target_file(spec: str, target: str):
    """``name`` from the target's file, or ``other.py:name`` from that file."""
    if is_single_target(spec):
        return load_target(spec)
    return load_target(f"{target.rpartition(':')[0]}:{spec}")


def resolve_options(target: str, backward=None, inputs=None, torch=None) -> dict:
    """The command's names made objects: each looked up in the target's file (``inputs``
    anywhere as ``other.py:func``); a ``lambda`` for ``torch`` stays an expression; a
    backward the file does not define is left a name, for the forward's own module (and
    its hint, which suggests the backwards there)."""
    options = {}
    if backward:
        try:
            options["backward"] = in_target_file(backward, target)
        except TargetError:
            options["backward"] = backward
    if inputs:
        options["inputs"] = in_target_file(inputs, target)
    if torch:
        options["torch_forward"] = torch if torch.lstrip().startswith("lambda") else \
            in_target_file(torch, target)
    return options


def failed(report: OracleReport, strict: bool, single: bool = False) -> bool:
    """Whether ``report`` makes the command exit 1."""
    if report.verdict == "not_implemented":
        return strict or single
    return report.verdict != "pass"


def summary(reports: list[OracleReport], seconds: float) -> str:
    counts = {}
    for report in reports:
        counts[report.verdict] = counts.get(report.verdict, 0) + 1
    words = {"pass": "passed", "fail": "failed", "not_implemented": "not implemented",
             "error": "with errors", "usage": "not checkable"}
    warned = sum(bool(r.warnings) for r in reports if r.verdict == "pass")
    if warned:
        words["pass"] = f"passed ({warned} with warnings)"
    parts = [f"{counts[v]} {words[v]}" for v in LABELS if counts.get(v)]
    took = f"{seconds:.2g} s" if seconds < 1 else f"{seconds:.1f} s"
    return f"{len(reports)} target{'s' * (len(reports) != 1)}: {', '.join(parts)} ({took})"


def to_json(path: str, reports: list[OracleReport], not_checked: dict, seconds: float,
            strict: bool) -> dict:
    """The results for machines; each target's ``file`` is relative to ``path``'s folder
    (``path`` itself when it is a folder)."""
    return {"version": 1, "path": path, "strict": strict, "seconds": round(seconds, 3),
            "summary": summary(reports, seconds),
            "targets": [r.to_json() for r in reports], "not_checked": not_checked}


def write_json(path: Path, data: dict, overwrite: bool = False) -> None:
    """``data`` to ``path`` atomically (a reader never sees half a file). Without
    ``overwrite`` a file that appeared at ``path`` while the check ran is kept
    (``FileExistsError``)."""
    with atomic_output(path, exclusive=not overwrite) as temporary:
        temporary.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")


__all__ = ["is_single_target", "resolve_options", "failed", "summary", "to_json", "write_json",
           "TargetError"]
