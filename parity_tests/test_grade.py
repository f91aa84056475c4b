"""cs231n-grade: a class graded in sandboxes; every verdict, every hostile fixture.

The class here is part of the demo class (``scripts/grade/demo_class.py``): every hostile
student, one correct, one with mistakes and the starter code, graded once through the
command (``--no-ray``, sandboxed where bubblewrap runs) with short timeouts. Ray's path and
``--resume`` get a class of three.
"""

from __future__ import annotations

import csv
import os
import hashlib
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ref_torch.oracle import wire
from ref_torch.oracle.walk import check_path
from scripts.grade import command, demo_class, gradebook, unpack
from scripts.grade.columns import VERDICTS
from scripts.grade.judge import grade_student
from scripts.grade.sandbox import Limits, detect

SANDBOX = detect()
needs_sandbox = pytest.mark.skipif(not SANDBOX.isolated, reason=SANDBOX.line)
HOSTILE = ["hostile_" + name for name in demo_class._hostile_acts()] + [
    "hostile_zip_bomb", "hostile_path_traversal", "hostile_links_out"]
OTHERS = ["correct_a1_2017", "mistakes_a3", "starter_code"]


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_symlink():
            digest.update(str(path.readlink()).encode())
        elif path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def read_rows(book: Path) -> list[dict]:
    with open(book / "gradebook.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def graded(tmp_path_factory, cifar10):
    """The hostile students and three others, graded once, sandboxed."""
    full = tmp_path_factory.mktemp("full") / "class"
    demo_class.build(full)
    chosen = tmp_path_factory.mktemp("chosen") / "class"
    chosen.mkdir()
    for entry in full.iterdir():
        if entry.name.removesuffix(".zip") in HOSTILE + OTHERS:
            if entry.is_dir():
                shutil.copytree(entry, chosen / entry.name, symlinks=True)
            else:
                shutil.copy(entry, chosen / entry.name)
    for marker in Path("/tmp").glob("cs231n-grade-escaped-*"):
        marker.unlink()
    before = tree_digest(chosen)
    book = tmp_path_factory.mktemp("book") / "gradebook"
    code = command.main([str(chosen), "--out", str(book), "--no-ray", "--jobs", "1",
                         "--target-timeout", "8", "--num-dev", "100"])
    return chosen, book, code, before


def student_rows(book, student):
    return [r for r in read_rows(book) if r["student"] == student]


@needs_sandbox
def test_the_class_is_graded_and_nothing_outside_is_touched(graded):
    chosen, book, code, before = graded
    assert code == 0
    assert tree_digest(chosen) == before, "a submission changed"
    assert not list(Path("/tmp").glob("cs231n-grade-escaped-*")), "a hostile act escaped"
    students = {r["student"] for r in read_rows(book)}
    assert students == set(HOSTILE + OTHERS)
    summary = list(csv.DictReader(open(book / "summary.csv")))
    assert [r["student"] for r in summary] == sorted(HOSTILE + OTHERS)
    assert (book / "index.html").is_file() and len(list((book / "students").iterdir())) == \
        len(students)


@needs_sandbox
@pytest.mark.parametrize("student, target, verdict", [
    ("hostile_infinite_loop", "svm_loss", "timeout"),
    ("hostile_huge_allocation", "svm_loss", "killed"),
    ("hostile_fork_bomb", "svm_loss", "killed"),
    ("hostile_os_system", "svm_loss", None),  # defines no svm_loss: only the honest layers
    ("hostile_read_sibling", "svm_loss", "pass"),  # found no one else's file
    ("hostile_write_gradebook", "svm_loss", "fail"),
    ("hostile_patch_oracle", "svm_loss", "fail"),
    ("hostile_exits_at_import", "(file)", "error"),
    ("hostile_zip_bomb", "(submission)", "error"),
    ("hostile_path_traversal", "(submission)", "error"),
    ("hostile_links_out", "(submission)", "error"),
])
def test_each_hostile_student_ends_in_its_verdict(graded, student, target, verdict):
    rows = student_rows(graded[1], student)
    by_target = {r["target"]: r for r in rows}
    if verdict is not None:
        assert by_target[target]["verdict"] == verdict, by_target[target]
    if target not in ("(file)", "(submission)"):  # the honest layers are graded as anyone's
        assert by_target["affine_forward"]["verdict"] == "pass"
        assert by_target["relu_forward"]["verdict"] == "pass"


@needs_sandbox
def test_hostile_diagnoses_say_what_happened(graded):
    book = graded[1]
    why = {r["student"]: r["diagnosis"] for r in read_rows(book)
           if r["target"] in ("svm_loss", "(submission)", "(file)")}
    assert "memory limit" in why["hostile_huge_allocation"]
    assert "process limit" in why["hostile_fork_bomb"]
    assert "did not finish in 8 s" in why["hostile_infinite_loop"]
    assert "larger than 4 MB" in why["hostile_zip_bomb"]
    assert "climbs out" in why["hostile_path_traversal"]
    assert "sys.exit(0)" in why["hostile_exits_at_import"]
    report = next((book / "reports").glob("hostile_links_out*")).read_text()
    assert "left out the link cs231n/layers.py" in report
    assert "/tmp/cs231n-submission" not in why["hostile_links_out"]
    forged = [r for r in read_rows(book) if r["student"] == "hostile_write_gradebook"
              and r["verdict"] == "pass" and r["target"] == "svm_loss"]
    assert not forged


@needs_sandbox
def test_every_verdict_but_usage_appears_and_usage_without_data(graded, tmp_path):
    seen = {r["verdict"] for r in read_rows(graded[1])}
    assert seen == set(VERDICTS) - {"usage"}
    result = grade_student("a1", graded[0] / "correct_a1_2017", None, None, SANDBOX,
                           Limits(target_seconds=30))
    assert {r.verdict for r in result.rows} == {"usage"}
    assert "CIFAR10_DIR" in result.rows[0].diagnosis


@needs_sandbox
@pytest.mark.parametrize("fixture", ["assignment2_2018_mistakes", "assignment3_mistakes",
                                     "assignment1_2022"])
def test_the_sandboxed_judge_agrees_with_the_oracle_in_process(fixture, dev_batch):
    folder = Path(__file__).parent / "oracle_fixtures" / fixture
    X, y = dev_batch
    here = check_path(folder, X=X, y=y)
    remote = grade_student("s", folder, X, y, SANDBOX, Limits(target_seconds=120))
    assert [(r.target, r.verdict) for r in remote.rows] == [(r.target, r.verdict) for r in here]
    assert [r.diagnosis for r in remote.rows] == [r.summary for r in here]


def small_class(folder: Path) -> Path:
    base = Path(__file__).parent / "oracle_fixtures"
    for name, source in (("alice", "assignment3_2017"), ("bob", "assignment3_mistakes"),
                         ("carol", "assignment3_2017")):
        shutil.copytree(base / source, folder / name, ignore=shutil.ignore_patterns("__py*"))
    return folder


def test_resume_grades_only_students_without_finished_rows(tmp_path, capsys):
    klass = small_class(tmp_path / "class")
    book = tmp_path / "book"
    assert command.main([str(klass), "--out", str(book), "--no-ray", "--jobs", "1"]) == 0
    rows = read_rows(book)
    # carol's report lost and half a row written: a run stopped while writing carol
    next((book / "reports").glob("carol*")).unlink()
    with open(book / "gradebook.csv", "a") as f:
        f.write("carol,cs231n/rnn_layers.py,rnn_step_forw")
    capsys.readouterr()
    assert command.main(["--resume", str(book), "--no-ray", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "3 students, 2 already graded, 1 to grade" in out
    again = read_rows(book)
    assert [r for r in again if r["student"] != "carol"] == \
        [r for r in rows if r["student"] != "carol"]
    assert sorted((r["student"], r["target"], r["verdict"]) for r in again) == \
        sorted((r["student"], r["target"], r["verdict"]) for r in rows)


def test_an_existing_gradebook_is_never_overwritten(tmp_path, capsys):
    klass = small_class(tmp_path / "class")
    book = tmp_path / "book"
    book.mkdir()
    (book / "mine.txt").write_text("keep")
    assert command.main([str(klass), "--out", str(book), "--no-ray", "--jobs", "1"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert [p.name for p in book.iterdir()] == ["mine.txt"]


def test_ray_grades_in_parallel_with_the_same_rows(tmp_path):
    pytest.importorskip("ray")
    klass = small_class(tmp_path / "class")
    here, there = tmp_path / "here", tmp_path / "there"
    assert command.main([str(klass), "--out", str(here), "--no-ray", "--jobs", "1"]) == 0
    assert command.main([str(klass), "--out", str(there), "--num-cpus", "2"]) == 0
    key = lambda r: (r["student"], r["file"], r["target"], r["verdict"], r["diagnosis"])  # noqa
    assert sorted(map(key, read_rows(here))) == sorted(map(key, read_rows(there)))


# ---- the pieces -------------------------------------------------------------------------

def test_wire_round_trips_values_and_refuses_anything_else():
    tree = {"x": np.arange(6.0).reshape(2, 3).T, "y": np.array([1, 2]), "s": np.float32(2.5),
            "p": {"mode": "train", "eps": 1e-5, "n": None, "flag": True}, "t": (1, [2.0])}
    back = wire.decode(wire.encode(tree))
    np.testing.assert_array_equal(back["x"], tree["x"])
    assert back["s"].dtype == np.float32 and back["p"] == tree["p"] and back["t"] == (1, [2.0])
    for bad in (np.array([object()]), {1: 2}, lambda: 0):
        with pytest.raises(wire.WireError):
            wire.encode(bad)
    good = wire.encode({"a": np.ones(3)})
    forged = good.replace(b'"<f8"', b'"|O8"')
    with pytest.raises(wire.WireError):
        wire.decode(forged)
    with pytest.raises(wire.WireError):
        wire.decode(good[:-1])  # the array cut short
    with pytest.raises(wire.WireError):
        wire.decode(good, max_bytes=8)
    import pickle
    with pytest.raises(wire.WireError):
        wire.decode(wire.HEADER.pack(10) + pickle.dumps(1)[:10])


@pytest.mark.parametrize("name", ["../x.py", "/etc/x.py", "a/../../x.py", "C:\\x.py",
                                  "a\\..\\..\\x.py"])
def test_unsafe_zip_names_are_refused(tmp_path, name):
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(name, "x = 1\n")
    with pytest.raises(unpack.SubmissionError):
        unpack.pack_submission(path)


def test_a_zip_is_taken_in_with_only_its_python_files(tmp_path):
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("alice/assignment2/cs231n/layers.py", "x = 1\n")
        z.writestr("alice/assignment2/cs231n/datasets/big.bin", b"\0" * 1000)
        link = zipfile.ZipInfo("alice/assignment2/cs231n/link.py")
        link.external_attr = (0o120777 << 16)
        z.writestr(link, "/etc/passwd")
    packed, notes = unpack.pack_submission(path)
    assert notes == ["left out the link alice/assignment2/cs231n/link.py"]
    root = unpack.unpack(packed, tmp_path / "out")
    assert root == tmp_path / "out" / "alice" / "assignment2"
    assert [p.name for p in root.rglob("*") if p.is_file()] == ["layers.py"]
    assert oct((root / "cs231n" / "layers.py").stat().st_mode & 0o777) == "0o644"


def test_too_many_files_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(unpack, "MAX_FILES", 3)
    for k in range(4):
        (tmp_path / f"f{k}.py").write_text("")
    with pytest.raises(unpack.SubmissionError, match="more than 3 Python files"):
        unpack.pack_submission(tmp_path)


def test_gradebook_cells_never_run_as_formulas():
    text = gradebook.csv_text([{"a": "=HYPERLINK(1)", "b": "-2"}], ("a", "b"))
    assert text == "'=HYPERLINK(1),'-2\n"
    assert gradebook.uncell("'=HYPERLINK(1)") == "=HYPERLINK(1)"


def crash_on_bob(student, *args):
    """A grading task whose process dies for one student (every try)."""
    import os
    if student == "bob":
        os._exit(3)
    return command.grade_packed(student, *args)


def test_a_crashed_worker_is_retried_then_an_error_row_and_others_are_kept(tmp_path):
    ray = pytest.importorskip("ray")
    from ray import cloudpickle
    import sys as _sys
    cloudpickle.register_pickle_by_value(_sys.modules[__name__])  # the workers cannot import it
    klass = small_class(tmp_path / "class")
    todo = list(command._packed(command.list_submissions(klass)))
    args = command.parse_args([str(klass), "--out", str(tmp_path / "b"), "--num-cpus", "2"])
    try:
        results = {r.student: r for r in command.run_on_ray(todo, None, args, Limits(),
                                                            crash_on_bob)}
    finally:
        ray.shutdown()
        cloudpickle.unregister_pickle_by_value(_sys.modules[__name__])
    assert results["bob"].rows[0].verdict == "error"
    assert "crashed twice" in results["bob"].rows[0].diagnosis
    assert {r.verdict for r in results["alice"].rows} == {"pass"}
    assert {r.verdict for r in results["carol"].rows} == {"pass"}


def test_the_students_budget_bounds_every_target(tmp_path):
    folder = Path(__file__).parent / "oracle_fixtures" / "assignment3_2017"
    result = grade_student("s", folder, None, None, SANDBOX, Limits(student_seconds=1e-9))
    assert {r.verdict for r in result.rows} == {"timeout"}
    assert "ran out" in result.rows[0].diagnosis


def test_limits_are_set_by_prlimit_or_else_in_the_child(monkeypatch):
    from scripts.grade import sandbox
    limits = Limits(memory_bytes=123 << 20)
    argv, preexec = sandbox.with_limits(["python3", "-V"], limits)
    if argv[0] != "python3":  # prlimit on PATH: it sets the limits and execs the command
        assert preexec is None and argv[-3:] == ["--", "python3", "-V"]
        assert f"--data={123 << 20}" in argv and "--core=0" in argv
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    argv, preexec = sandbox.with_limits(["python3", "-V"], limits)
    assert argv == ["python3", "-V"] and callable(preexec)


def test_a_worker_that_cannot_start_is_an_error_that_says_why():
    import sys as _sys
    import time
    from ref_torch.oracle.remote import Ended, WorkerProcess
    worker = WorkerProcess([_sys.executable, "-c", "import sys; sys.stderr.write("
                            "'bwrap: cannot mount /x\\n'); sys.exit(1)"], {}, Path("/tmp"))
    with pytest.raises(Ended, match="exit status 1.*bwrap: cannot mount /x") as caught:
        worker.request({"op": "hello"}, time.monotonic() + 30)
    assert caught.value.verdict == "error"


# ---- found by a review: each must end in its student's own row ---------------------------

FORGED_SKIP = '''
_loss = TwoLayerNet.loss


def _without_reg(self, X, y=None, reg=0.0):  # wrong: the reg term is dropped
    return _loss(self, X, y, 0.0)


TwoLayerNet.loss = _without_reg
import dataclasses as _dc
from ref_torch.oracle import kinds as _kinds
_row = _kinds.KINDS["two_layer_net"]
_kinds.KINDS["two_layer_net"] = _dc.replace(
    _row, skip=lambda net, inputs: "forged" if float(inputs.get("reg", 0)) > 0 else "")
'''


def test_a_worker_cannot_choose_which_cases_are_judged(tmp_path, dev_batch):
    student = tmp_path / "cheat"
    shutil.copytree(Path(__file__).parent / "oracle_fixtures" / "assignment1", student,
                    ignore=shutil.ignore_patterns("__py*"))
    net = student / "cs231n" / "classifiers" / "neural_net.py"
    net.write_text(net.read_text() + FORGED_SKIP)
    X, y = dev_batch
    result = grade_student("cheat", student, X, y, SANDBOX, Limits(target_seconds=120))
    row = next(r for r in result.rows if r.target == "TwoLayerNet")
    assert row.verdict == "fail", row
    assert "forged" not in result.report


def crafted_class(folder: Path) -> Path:
    """Submissions that once stopped the whole run: each must be its student's error row."""
    base = Path(__file__).parent / "oracle_fixtures" / "assignment3_2017"
    shutil.copytree(base, folder / "honest", ignore=shutil.ignore_patterns("__py*"))
    good = (base / "cs231n" / "rnn_layers.py").read_bytes()
    with zipfile.ZipFile(folder / "corrupt.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("cs231n/rnn_layers.py", good)
    data = bytearray((folder / "corrupt.zip").read_bytes())
    start = data.index(b"PK\x03\x04") + 30 + len("cs231n/rnn_layers.py")
    data[start:start + 40] = b"\xff" * 40  # the deflate stream made garbage
    (folder / "corrupt.zip").write_bytes(bytes(data))
    with zipfile.ZipFile(folder / "encrypted.zip", "w") as z:
        z.writestr("cs231n/rnn_layers.py", good)
    data = bytearray((folder / "encrypted.zip").read_bytes())
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # "encrypted" bit
        data[data.index(signature) + flags_at] |= 0x1
    (folder / "encrypted.zip").write_bytes(bytes(data))
    odd = folder / os.fsdecode(b"odd\xffname")
    shutil.copytree(base, odd, ignore=shutil.ignore_patterns("__py*"))
    (odd / "cs231n" / os.fsdecode(b"x\xff.py")).write_text("x = 1\n")
    loud = folder / "surrogate"
    (loud / "cs231n").mkdir(parents=True)
    (loud / "cs231n" / "__init__.py").write_text("")
    (loud / "cs231n" / "layers.py").write_text(
        "def relu_forward(x):\n    raise ValueError('\\udcff <b>')\n\n\n"
        "def relu_backward(dout, cache):\n    return dout\n")
    return folder


def test_crafted_submissions_end_in_their_own_rows(tmp_path):
    klass = crafted_class(tmp_path / "class")
    book = tmp_path / "book"
    assert command.main([str(klass), "--out", str(book), "--no-ray", "--jobs", "1"]) == 0
    rows = {r["student"]: r for r in read_rows(book)}
    assert rows["honest"]["verdict"] == "pass"
    for student in ("corrupt", "encrypted", "odd\\xffname"):
        assert rows[student]["verdict"] == "error", rows[student]
        assert "submission refused" in rows[student]["diagnosis"]
    assert rows["surrogate"]["verdict"] == "error" and "\\udcff" in rows["surrogate"]["diagnosis"]
    assert (book / "index.html").is_file() and (book / "summary.csv").is_file()


@pytest.mark.parametrize("spec", [{"dtype": "<f8", "shape": [float("inf")], "nbytes": 8},
                                  {"dtype": "<f8", "shape": [0, 2**62, 2**62], "nbytes": 0},
                                  {"dtype": "<f8", "shape": [0, 2**70], "nbytes": 0}])
def test_absurd_array_headers_are_wire_errors(spec):
    import json
    header = json.dumps({"body": {"__array__": 0}, "arrays": [spec]}).encode()
    with pytest.raises(wire.WireError):
        wire.decode(wire.HEADER.pack(len(header)) + header)
