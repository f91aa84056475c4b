"""The pieces every section of the results report shares.

A section is a function ``report_section(ctx) -> list[ResultRow]`` in a script
module: it computes its figures on ``ctx``'s data, writes its PNGs into
``ctx.out_dir`` and returns table rows. ``scripts/reproduce.py`` runs them all.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: these machines have no screen

from scratch_numpy.data import CIFAR10, Splits  # noqa: E402
from scratch_numpy.checkpoints import atomic_output  # noqa: E402


@dataclass(frozen=True)
class ResultRow:
    """One line of the results table."""

    section: str
    metric: str
    value: str
    target: str = ""
    ok: bool | None = None  # None: informational, no target


@dataclass(frozen=True)
class ReportContext:
    data: CIFAR10
    splits: Splits
    out_dir: Path
    quick: bool = False  # smoke-test sizes (seconds), not the published figures
    device: str = "cpu"


def format_table(rows: list[ResultRow]) -> str:
    """Fixed-width text table of ``rows``."""
    header = ("section", "metric", "value", "target", "")
    cells = [header] + [
        (r.section, r.metric, r.value, r.target, {True: "ok", False: "MISSED", None: ""}[r.ok])
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(len(header))).rstrip() for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths).rstrip())
    return "\n".join(lines)


def save_figure(fig, ctx: ReportContext, name: str) -> Path:
    """Write ``fig`` as ``ctx.out_dir/name`` (PNG, atomically) and close it."""
    import matplotlib.pyplot as plt

    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    path = ctx.out_dir / name
    try:
        with atomic_output(path) as temporary:
            fig.savefig(temporary, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


# ---- the main job's results table, section by section ---------------------------------------

RESULTS_TEXT, RESULTS_JSON = "results.txt", "results.json"


@dataclass
class Section:
    """One section's rows and the run they came from."""

    rows: list[ResultRow]
    quick: bool = False
    device: str = "cpu"
    finished: str = ""

    def origin(self) -> str:
        return f"{self.finished}, {self.device}" + (", --quick" if self.quick else "")


def _read_sections(path: Path) -> dict[str, Section] | None:
    """The sections of an earlier ``results.json`` (None when absent or not readable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {name: Section([ResultRow(**row) for row in section["rows"]],
                              bool(section["quick"]), str(section["device"]),
                              str(section["finished"]))
                for name, section in data["sections"].items()}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        print(f"warning: {path} is not readable ({type(exc).__name__}: {exc}); it is left as it "
              "is", file=sys.stderr)
        return None


def results_text(sections: dict[str, Section], order: list[str]) -> str:
    """The table of ``sections`` in ``order``, then the run each section came from."""
    names = [n for n in order if n in sections]
    table = format_table([row for n in names for row in sections[n].rows])
    runs = [f"  {n.removeprefix('scripts.')}: {sections[n].origin()}" for n in names]
    return table + "\n\nsections and their runs:\n" + "\n".join(runs) + "\n"


def write_results(out_dir: Path, sections: dict[str, Section], partial: bool,
                  order: list[str]) -> str:
    """Write the results table (``results.txt``, ``results.json``) with the sections in
    ``order``, and say what was written.

    A full run replaces both. A partial run (``--only``) merges its sections into the earlier
    ``results.json``'s, keeping the others; when the folder holds a ``results.txt`` that no
    readable ``results.json`` describes, that table is left alone and the partial one goes
    to ``results.<sections>.txt``."""
    earlier = _read_sections(out_dir / RESULTS_JSON) if partial else {}
    if partial and earlier is None and (out_dir / RESULTS_TEXT).exists():
        name = "results." + "+".join(n.removeprefix("scripts.") for n in sections) + ".txt"
        with atomic_output(out_dir / name) as temporary:
            temporary.write_text(results_text(sections, order))
        return (f"{RESULTS_TEXT} (from a run this folder does not describe) is left as it is; "
                f"this run's table is in {name}")
    merged = {**(earlier or {}), **sections}
    with atomic_output(out_dir / RESULTS_JSON) as temporary:
        temporary.write_text(json.dumps({"sections": {
            n: {"rows": [asdict(r) for r in s.rows], "quick": s.quick, "device": s.device,
                "finished": s.finished} for n, s in merged.items()}}, indent=1) + "\n")
    with atomic_output(out_dir / RESULTS_TEXT) as temporary:
        temporary.write_text(results_text(merged, order))
    kept = len(merged) - len(sections)
    return (f"{RESULTS_TEXT} written: {len(sections)} section(s) from this run"
            + (f", {kept} kept from earlier runs" if kept else ""))
