"""Tests of scripts/grade/site.py: the gradebook's static HTML, on a small hostile synthetic class.

Student names and diagnoses are untrusted, so the class here has a name that is a script
tag, a path-traversal name, two names differing only in unsafe characters and a diagnosis
that is an <img onerror> payload. The pages must carry none of it as markup. Where a
headless Chromium is installed the pages are also rendered, sorted and photographed.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from scripts.grade.site import (SORT_JS, common_mistakes, find_chromium, normalise_diagnosis, page_name,
                                screenshot, write_site)

XSS_NAME = "<script>alert(1)</script>"
TRAVERSAL = "../../etc"
IMG = "<img src=x onerror=alert(1)>"
STUDENTS = ["alice", XSS_NAME, TRAVERSAL, "bob?x", "bob*x"]


def row(student, target, verdict, diagnosis="", worst_error="", seconds=0.5):
    return {"student": student, "file": "linear_svm.py", "target": target, "kind": "svm_loss",
            "verdict": verdict, "worst_error": worst_error, "diagnosis": diagnosis, "seconds": seconds}


ROWS = [
    row("alice", "svm_loss_naive", "fail", "dW wrong at (3, 7): rel error 0.41", 0.41, 1.0),
    row("alice", "softmax_loss_naive", "pass", worst_error=1e-9),
    row(XSS_NAME, "svm_loss_naive", "fail", "dW wrong at (0, 2): rel error 1.2e-01", float("inf")),
    row(XSS_NAME, "softmax_loss_naive", "error", IMG),
    row(TRAVERSAL, "svm_loss_naive", "fail", "dW wrong at (1, 1): rel error 3e-2", "inf"),
    row(TRAVERSAL, "svm_loss_vectorized", "fail", "dW wrong at (5, 9): rel error 0.9"),  # same student again
    row("bob?x", "svm_loss_naive", "fail", IMG.replace("1", "2")),
    row("bob*x", "svm_loss_naive", "not_implemented"),
]
SUMMARY = [
    {"student": "alice", "passed": 1, "failed": 1, "not_implemented": 0, "errors": 0, "seconds": 3.5},
    {"student": XSS_NAME, "passed": 0, "failed": 1, "not_implemented": 0, "errors": 1, "seconds": 12.0},
    {"student": TRAVERSAL, "passed": 0, "failed": 2, "not_implemented": 0, "errors": 0, "seconds": 0.25},
    {"student": "bob?x", "passed": 0, "failed": 0, "not_implemented": 0, "errors": 1, "seconds": 100.0},
    {"student": "bob*x", "passed": 0, "failed": 0, "not_implemented": 1, "errors": 0, "seconds": 7.0},
]
REPORTS = {s: f"report of {s}\n</pre><script>alert(2)</script>\n  indented line" for s in STUDENTS}
HEADER = ["isolation unavailable: <no bubblewrap>", "5 students graded in 2 min 3 s"]


class Collect(HTMLParser):
    """Every start tag with its attributes, the text of each <script>, and all text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.scripts, self.text, self._in_script = [], [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
        self.text.append(data)


def parse(path: Path) -> Collect:
    parser = Collect()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture
def site(tmp_path):
    return tmp_path, write_site(tmp_path, ROWS, SUMMARY, REPORTS, HEADER)


def test_pages_written_one_per_student_and_no_temp_files_left(site):
    out, written = site
    assert written[0] == out / "index.html"
    assert sorted(written[1:]) == sorted(out / "students" / page_name(s) for s in STUDENTS)
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)
    assert sorted(p.name for p in out.rglob("*")) == sorted(["students", *(p.name for p in written)])


def test_gradebook_folder_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_site(tmp_path / "missing", ROWS, SUMMARY, REPORTS, HEADER)


def test_page_names_are_safe_unique_and_never_hidden():
    names = [*STUDENTS, ".hidden", "..", "x" * 500, "é/ü", "bob x"]
    pages = [page_name(n) for n in names]
    assert len(set(pages)) == len(pages)  # bob?x, bob*x, bob x all map to bob_x but stay distinct
    for p in pages:
        assert re.fullmatch(r"[A-Za-z0-9._-]+", p) and not p.startswith(".") and len(p) <= 80


def test_no_student_text_becomes_markup(site):
    out, written = site
    for path in written:
        parsed = parse(path)
        assert parsed.scripts == [SORT_JS], path  # our one script, nothing else
        assert not [t for t, _ in parsed.tags if t in ("img", "iframe", "object", "embed")]
        for tag, attrs in parsed.tags:
            assert not [a for a in attrs if a.lower().startswith("on")], (path, tag, attrs)
            assert not str(attrs.get("href", "")).lower().startswith("javascript"), (path, attrs)
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index and "&lt;no bubblewrap&gt;" in index
    assert "&lt;img src=x onerror=alert(2)&gt;" in index


def test_every_student_linked_and_page_exists_with_back_link(site):
    out, _ = site
    index = parse(out / "index.html")
    links = [a["href"] for t, a in index.tags if t == "a" and a.get("href", "").startswith("students/")]
    assert sorted(links) == sorted(f"students/{page_name(s)}" for s in STUDENTS)
    for student in STUDENTS:
        page = out / "students" / page_name(student)
        parsed = parse(page)
        assert ("a", {"href": "../index.html"}) in parsed.tags
        assert student in "".join(parsed.text)  # shown as text, verbatim
        assert REPORTS[student] in "".join(parsed.text)  # report verbatim inside <pre>
    xss_page = parse(out / "students" / page_name(XSS_NAME))
    verdict_cells = [a.get("class") for t, a in xss_page.tags if t == "td" and "class" in a]
    assert "v-fail" in verdict_cells and "v-error" in verdict_cells


def test_normaliser_replaces_numbers_and_keeps_words():
    assert normalise_diagnosis("dW wrong at (3, 7): rel error 0.41") == "dW wrong at (N, N): rel error N"
    assert normalise_diagnosis("dW  wrong at (0, 2):\nrel error 1.2e-01") == "dW wrong at (N, N): rel error N"
    assert normalise_diagnosis("grads['W1'] off by -3.5E+02 at 0x7f3a") == "grads['WN'] off by N at N"
    assert normalise_diagnosis("shape mismatch") == "shape mismatch"


def test_chart_counts_distinct_students_per_normalised_diagnosis(site):
    mistakes = common_mistakes(ROWS)
    assert [(k, n) for k, n, _ in mistakes] == [
        ("dW wrong at (N, N): rel error N", 3),  # alice, XSS_NAME, TRAVERSAL (twice, counted once)
        ("<img src=x onerror=alert(N)>", 1),  # bob?x: XSS_NAME's is an error, not a mistake
    ]
    assert mistakes[0][2] == "dW wrong at (3, 7): rel error 0.41"  # one example in full
    assert len(common_mistakes([row(f"s{i}", "t", "fail", f"mistake {'x' * i}") for i in range(15)])) == 10
    out, _ = site
    chart = [a for t, a in parse(out / "index.html").tags if t == "li" and "data-count" in a]
    assert [(a["data-key"], int(a["data-count"])) for a in chart] == [(k, n) for k, n, _ in mistakes]


def test_class_table_is_sortable_and_verdicts_counted(site):
    out, _ = site
    parsed = parse(out / "index.html")
    assert ("table", {"class": "sortable"}) in parsed.tags
    heads = {a["data-key"]: a.get("data-type") for t, a in parsed.tags if t == "th" and "data-key" in a}
    assert heads == {"student": None, "passed": "num", "failed": "num", "not_implemented": "num",
                     "errors": "num", "seconds": "num"}
    text = (out / "index.html").read_text(encoding="utf-8")
    assert re.search(r'v-fail">fail</td><td class="num">5<', text)
    assert re.search(r'v-pass">pass</td><td class="num">1<', text)
    worst = [a.get("data-v") for t, a in parse(out / "students" / page_name(XSS_NAME)).tags if t == "td"]
    assert "Infinity" in worst  # JS Number() reads it; Python's "inf" it would not


needs_chromium = pytest.mark.skipif(find_chromium() is None, reason="no chromium on PATH "
                                    "(apt-get install -y chromium)")


def dump_dom(url: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([find_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                               f"--user-data-dir={profile}", "--dump-dom", url],
                              capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def class_order(dom: str) -> list[str]:
    parser = Collect()
    parser.feed(dom)
    return [a["href"] for t, a in parser.tags if t == "a" and a.get("href", "").startswith("students/")]


@needs_chromium
def test_browser_renders_sorts_and_screenshots(site, tmp_path_factory):
    out, _ = site
    uri = (out / "index.html").resolve().as_uri()
    dom = dump_dom(uri)
    assert 'class="sortable"' in dom and 'id="mistakes"' in dom and "data-count=\"3\"" in dom
    assert "<script>alert(1)</script>" not in dom.replace(SORT_JS, "")
    by_seconds = [s["student"] for s in sorted(SUMMARY, key=lambda s: s["seconds"])]
    assert class_order(dump_dom(uri + "#sort=seconds")) == [f"students/{page_name(s)}" for s in by_seconds]
    by_failed_desc = [s["student"] for s in sorted(SUMMARY, key=lambda s: -s["failed"])]  # stable sort
    assert class_order(dump_dom(uri + "#sort=-failed")) == [f"students/{page_name(s)}" for s in by_failed_desc]
    png = tmp_path_factory.mktemp("shot") / "index.png"
    assert screenshot(out / "index.html", png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
