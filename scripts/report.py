"""The pieces every section of the results report shares.

A section is a function ``report_section(ctx) -> list[ResultRow]`` in a script
module: it computes its figures on ``ctx``'s data, writes its PNGs into
``ctx.out_dir`` and returns table rows. ``scripts/reproduce.py`` runs them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: these machines have no screen

from scratch_numpy.data import CIFAR10, Splits  # noqa: E402
from scripts.cli import atomic_output  # noqa: E402


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
