"""The gradebook's static HTML: index.html (class table, common mistakes, verdicts) and one page per student.

Every page opens from disk (file://) with no server and no network: CSS and the one
sorting script are inline, nothing is fetched. Every string shown comes from untrusted
students (names are folder names, diagnoses quote exceptions their code raised), so all
of it is escaped, none of it ever enters the script, and a Content-Security-Policy that
admits only our own script (by hash) keeps a missed escape from running anything.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from scripts.grade.columns import COLUMNS, SUMMARY_COLUMNS, VERDICTS

CLASS_SHOWN = SUMMARY_COLUMNS[1:]  # after the student, the class table's first, linked column
ROW_SHOWN = COLUMNS[1:]  # a student's page: the student is the page
NUMERIC = {"passed", "failed", "not_implemented", "errors", "seconds", "worst_error"}
TOP_MISTAKES = 10

# Sorts every table.sortable by the clicked header; numeric columns (data-type="num")
# compare data-v as numbers, blanks last-ish (-Infinity). "#sort=KEY" or "#sort=-KEY"
# in the URL sorts the class table on load, so a headless browser can check sorting.
SORT_JS = """
function sortKey(cell, numeric) {
  const v = cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent.trim();
  if (!numeric) return v.toLowerCase();
  const n = Number(v);
  return v === "" || isNaN(n) ? -Infinity : n;
}
function sortTable(table, col, desc) {
  const heads = table.tHead.rows[0].cells, numeric = heads[col].dataset.type === "num";
  const body = table.tBodies[0], rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = sortKey(a.cells[col], numeric), y = sortKey(b.cells[col], numeric);
    return (x < y ? -1 : x > y ? 1 : 0) * (desc ? -1 : 1);
  });
  rows.forEach(r => body.appendChild(r));
  Array.from(heads).forEach(h => h.removeAttribute("aria-sort"));
  heads[col].setAttribute("aria-sort", desc ? "descending" : "ascending");
}
document.querySelectorAll("table.sortable").forEach(table => {
  Array.from(table.tHead.rows[0].cells).forEach((th, col) => th.addEventListener("click",
    () => sortTable(table, col, th.getAttribute("aria-sort") === "ascending")));
});
const wanted = location.hash.match(/^#sort=(-?)([A-Za-z_]+)$/);
const first = document.querySelector("table.sortable");
if (wanted && first) {
  const col = Array.from(first.tHead.rows[0].cells).findIndex(h => h.dataset.key === wanted[2]);
  if (col >= 0) sortTable(first, col, wanted[1] === "-");
}
"""
SCRIPT_HASH = base64.b64encode(hashlib.sha256(SORT_JS.encode()).digest()).decode()
CSP = (f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{SCRIPT_HASH}'; "
       "img-src 'none'; form-action 'none'; base-uri 'none'")
CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; cursor: pointer; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
.v-pass { color: #176f2c; } .v-fail { color: #b00020; font-weight: bold; }
.v-not_implemented { color: #777; } .v-error, .v-timeout, .v-killed, .v-usage, .v-other { color: #a35200; font-weight: bold; }
ol.chart { padding-left: 1.5em; } ol.chart li { margin: .5em 0; }
.bar { display: inline-block; height: 1em; background: #4a78c2; vertical-align: middle; margin-right: .5em; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; white-space: pre-wrap; }
"""


def esc(value) -> str:
    """Any value as text safe in HTML text and in quoted attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def normalise_diagnosis(text: str) -> str:
    """One key per kind of mistake: numbers (ints, floats, 1e-05, hex) become N, spacing collapses.

    "dW wrong at (3, 7), rel error 0.41" and "dW wrong at (0, 2), rel error 1.2e-01" are the
    same mistake for teaching purposes; digits inside names (W1, b2) become N as well.
    """
    text = re.sub(r"0x[0-9a-fA-F]+|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", "N", str(text))
    return " ".join(text.split())


def common_mistakes(rows: list[dict], top: int = TOP_MISTAKES) -> list[tuple[str, int, str]]:
    """(normalised key, distinct students, one full example) for the most common diagnoses
    of failing targets (a mistake in the math; not the starter code, a crash or a limit)."""
    students: dict[str, set] = {}
    example: dict[str, str] = {}
    for row in rows:
        diagnosis = str(row.get("diagnosis") or "").strip()
        if not diagnosis or row.get("verdict", "fail") != "fail":
            continue
        key = normalise_diagnosis(diagnosis)
        students.setdefault(key, set()).add(str(row.get("student", "")))
        example.setdefault(key, diagnosis)
    ranked = sorted(students, key=lambda k: (-len(students[k]), k))[:top]
    return [(k, len(students[k]), example[k]) for k in ranked]


def page_name(student: str) -> str:
    """A safe, unique file name for a student's page: [A-Za-z0-9._-] only, never hidden, hashed for uniqueness."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", str(student))[:60].lstrip(".") or "student"
    digest = hashlib.sha256(str(student).encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{safe}-{digest}.html"


def _number(value) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _cell(key: str, value) -> str:
    """One <td>; numeric cells carry data-v for the sorter (JS reads "Infinity", not Python's "inf")."""
    if key == "verdict":
        cls = f"v-{value}" if value in VERDICTS else "v-other"
        return f'<td class="{cls}">{esc(value)}</td>'
    if key not in NUMERIC:
        return f"<td>{esc(value)}</td>"
    f = _number(value) if value != "" else None
    if f is None:
        return f'<td class="num" data-v="">{esc(value)}</td>'
    if math.isinf(f):
        shown, v = ("inf" if f > 0 else "-inf"), ("Infinity" if f > 0 else "-Infinity")
    else:
        shown = (f"{f:.2e}" if key == "worst_error" else f"{f:.1f}" if key == "seconds" else f"{f:g}")
        v = repr(f)
    return f'<td class="num" data-v="{v}">{esc(shown)}</td>'


def _table(columns, body_rows: list[str]) -> str:
    heads = "".join(
        f'<th data-key="{esc(k)}"{" data-type=num" if k in NUMERIC else ""} title="click to sort">'
        f'{esc(k.replace("_", " "))}</th>' for k in columns)
    return (f'<table class="sortable"><thead><tr>{heads}</tr></thead>'
            f'<tbody>{"".join(body_rows)}</tbody></table>')


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n"
            f"<script>{SORT_JS}</script>\n</body></html>\n")


def _write_atomic(path: Path, text: str) -> Path:
    """Write via a temp file in the same folder and os.replace, so a crash never leaves half a page."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".tmp-", suffix=".html",
                                     delete=False, encoding="utf-8",
                                     errors="backslashreplace") as tmp:
        try:
            tmp.write(text)
        except BaseException:
            os.unlink(tmp.name)
            raise
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, path)
    return path


def _index(rows, summary, students, header) -> str:
    by_student = {str(s.get("student", "")): s for s in summary}
    columns = [c for c in CLASS_SHOWN if any(c in s for s in summary)]
    columns += [c for s in summary for c in s if c != "student" and c not in columns]
    columns = list(dict.fromkeys(columns))
    table_rows = []
    for name in students:
        s = by_student.get(name, {})
        link = f'<td><a href="students/{esc(page_name(name))}">{esc(name)}</a></td>'
        table_rows.append(f"<tr>{link}{''.join(_cell(c, s.get(c, '')) for c in columns)}</tr>")
    mistakes = common_mistakes(rows)
    top = max((n for _, n, _ in mistakes), default=1)
    chart = "".join(
        f'<li data-count="{n}" data-key="{esc(key)}"><span class="bar" style="width:{300 * n // top}px">'
        f"</span><b>{n} student{'s' if n != 1 else ''}</b><br><code>{esc(example)}</code></li>"
        for key, n, example in mistakes) or "<li>no diagnoses</li>"
    verdicts = Counter(str(r.get("verdict", "")) for r in rows)
    order = [v for v in VERDICTS if v in verdicts] + sorted(set(verdicts) - set(VERDICTS))
    counts = "".join(f'<tr><td class="{"v-" + v if v in VERDICTS else "v-other"}">{esc(v)}</td>'
                     f'<td class="num">{verdicts[v]}</td></tr>' for v in order)
    return _page("Gradebook", (
        "<h1>Gradebook</h1>\n" + "".join(f"<p>{esc(line)}</p>\n" for line in header)
        + '<h2>Class</h2>\n<div id="class">' + _table(["student", *columns], table_rows) + "</div>\n"
        + f'<h2>The mistakes to teach again</h2>\n<ol class="chart" id="mistakes">{chart}</ol>\n'
        + f'<h2>Verdicts, class-wide</h2>\n<table id="verdicts"><tbody>{counts}</tbody></table>'))


def _student_page(name: str, rows: list[dict], report: str) -> str:
    body_rows = [f"<tr>{''.join(_cell(c, r.get(c, '')) for c in ROW_SHOWN)}</tr>" for r in rows]
    return _page(f"Gradebook: {name}", (
        f'<p><a href="../index.html">&larr; class</a></p>\n<h1>{esc(name)}</h1>\n'
        + _table(ROW_SHOWN, body_rows) + f"\n<h2>Report</h2>\n<pre>{esc(report)}</pre>"))


def write_site(out: Path, rows: list[dict], summary: list[dict], reports: dict[str, str],
               header: list[str]) -> list[Path]:
    """Write out/index.html and out/students/<page_name>.html; return the paths written.

    ``out`` (the gradebook folder) must exist. Every student named in the summary, the
    rows or the reports gets a page and a row in the class table.
    """
    out = Path(out)
    if not out.is_dir():
        raise FileNotFoundError(f"gradebook folder {out} does not exist")
    pages = out / "students"
    pages.mkdir(exist_ok=True)
    names = [str(s.get("student", "")) for s in summary] + [str(r.get("student", "")) for r in rows]
    students = list(dict.fromkeys(names + [str(k) for k in reports]))
    written = [_write_atomic(out / "index.html", _index(rows, summary, students, header))]
    for name in students:
        mine = [r for r in rows if str(r.get("student", "")) == name]
        written.append(_write_atomic(pages / page_name(name), _student_page(name, mine, reports.get(name, ""))))
    return written


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(html: Path, png: Path, width: int = 1280, height: int = 900) -> bool:
    """PNG of a page by headless Chromium; False when no Chromium is installed or it made no image."""
    browser = find_chromium()
    if browser is None:
        return False
    with tempfile.TemporaryDirectory() as profile:  # own profile: parallel runs don't share a lock
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={profile}", f"--screenshot={Path(png).resolve()}",
                        f"--window-size={width},{height}", Path(html).resolve().as_uri()],
                       capture_output=True, timeout=120, check=False)
    return Path(png).is_file() and Path(png).stat().st_size > 0
