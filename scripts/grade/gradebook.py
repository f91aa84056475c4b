"""The gradebook folder: rows kept as students finish, so a run can stop and resume.

Layout of ``GRADEBOOK/``::

    grade.json       what was graded and how (submissions, limits, sandbox): --resume reads it
    gradebook.csv    student,file,target,kind,verdict,worst_error,diagnosis,seconds
    summary.csv      student,passed,failed,not_implemented,errors,seconds
    reports/NAME.txt each student's report, as the check command prints it
    index.html, students/NAME.html   (scripts/grade/site.py)

A finished student's rows are appended to ``gradebook.csv`` in one write and flushed to
disk, then their report is written (atomically): the report says the rows are complete.
:meth:`Gradebook.resume` keeps the rows of students with a report and drops the others' (a
run stopped inside or after the append), who are graded again. ``summary.csv`` and the pages are
rewritten, atomically, at the end of each run. Cells that a spreadsheet would run as a
formula (``=``, ``+``, ``-``, ``@`` first) are written with a leading ``'``: names and
diagnoses come from students.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from scratch_numpy.checkpoints import atomic_output
from scripts.cli import UsageError
from scripts.grade.columns import COLUMNS, SUMMARY_COLUMNS
from scripts.grade.judge import Row, StudentResult, summary_counts
from scripts.grade.site import page_name, write_site

SETTINGS = "grade.json"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str:
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def uncell(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


def csv_text(rows: list[dict], columns) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    for row in rows:
        writer.writerow({k: cell(row[k]) for k in columns})
    return buffer.getvalue()


def summary_of(student: str, rows: list[dict]) -> dict:
    counts = summary_counts(rows)
    errors = sum(counts[v] for v in ("error", "timeout", "killed", "usage"))
    return {"student": student, "passed": counts["pass"], "failed": counts["fail"],
            "not_implemented": counts["not_implemented"], "errors": errors,
            "seconds": f"{sum(float(r['seconds']) for r in rows):.1f}"}


class Gradebook:
    """A gradebook folder being written."""

    def __init__(self, folder: Path, settings: dict, rows: list[dict]):
        self.folder, self.settings, self.rows = folder, settings, rows

    @property
    def csv_path(self) -> Path:
        return self.folder / "gradebook.csv"

    def report_path(self, student: str) -> Path:
        return self.folder / "reports" / page_name(student).replace(".html", ".txt")

    @classmethod
    def create(cls, folder: Path, settings: dict) -> "Gradebook":
        """A new gradebook; a folder that exists and holds anything is refused (nothing of
        the user's is overwritten: --resume continues one)."""
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise UsageError(f"{folder} exists and is not an empty folder: give another --out, "
                             f"or --resume {folder} to continue its grading")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "reports").mkdir(exist_ok=True)
        with atomic_output(folder / SETTINGS, exclusive=True) as tmp:
            tmp.write_text(json.dumps(settings, indent=2) + "\n")
        book = cls(folder, settings, [])
        with atomic_output(book.csv_path, exclusive=True) as tmp:
            tmp.write_text(",".join(COLUMNS) + "\n")
        return book

    @classmethod
    def resume(cls, folder: Path) -> "Gradebook":
        try:
            settings = json.loads((folder / SETTINGS).read_text())
            lines = (folder / "gradebook.csv").read_text().splitlines(keepends=True)
        except (OSError, ValueError) as exc:
            raise UsageError(f"--resume {folder}: not a gradebook this command wrote "
                             f"({exc})") from None
        if not isinstance(settings, dict) or not lines or \
                lines[0].strip() != ",".join(COLUMNS):
            raise UsageError(f"--resume {folder}: {SETTINGS} or gradebook.csv is not one this "
                             "command wrote")
        if not lines[-1].endswith("\n"):  # stopped inside a write: that student again
            lines = lines[:-1]
        book = cls(folder, settings, [])
        rows = [{k: uncell(v) for k, v in r.items()} for r in csv.DictReader(lines)]
        book.rows = [r for r in rows if book.report_path(r["student"]).is_file()]
        if len(book.rows) != len(rows):
            with atomic_output(book.csv_path) as tmp:
                tmp.write_text(",".join(COLUMNS) + "\n" + csv_text(book.rows, COLUMNS))
        (folder / "reports").mkdir(exist_ok=True)
        return book

    @property
    def finished(self) -> set[str]:
        return {r["student"] for r in self.rows}

    def add(self, result: StudentResult) -> None:
        """The student's rows, then their report (the mark that the rows are all there), on
        disk before the next student."""
        rows = [r.as_csv() if isinstance(r, Row) else r for r in result.rows]
        with open(self.csv_path, "a", encoding="utf-8", errors="backslashreplace") as out:
            out.write(csv_text(rows, COLUMNS))
            out.flush()
            os.fsync(out.fileno())
        with atomic_output(self.report_path(result.student)) as tmp:
            tmp.write_text(result.report + "\n", encoding="utf-8", errors="backslashreplace")
        self.rows += rows

    def summary(self) -> list[dict]:
        students = list(dict.fromkeys(r["student"] for r in self.rows))
        return [summary_of(s, [r for r in self.rows if r["student"] == s])
                for s in sorted(students)]

    def finish(self, header: list[str]) -> list[Path]:
        """``summary.csv`` and the pages, from every row so far (this run's and earlier)."""
        summary = self.summary()
        with atomic_output(self.folder / "summary.csv") as tmp:
            tmp.write_text(",".join(SUMMARY_COLUMNS) + "\n" + csv_text(summary, SUMMARY_COLUMNS))
        reports = {}
        for row in summary:
            path = self.report_path(row["student"])
            reports[row["student"]] = path.read_text() if path.is_file() else ""
        return [self.folder / "summary.csv", *write_site(self.folder, self.rows, summary,
                                                          reports, header)]
