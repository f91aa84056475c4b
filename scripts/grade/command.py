"""``cs231n-grade SUBMISSIONS --out GRADEBOOK``: a whole class's gradients, each in a sandbox.

    cs231n-grade class/ --out gradebook/                  # Ray on this machine's cores
    cs231n-grade class/ --out gradebook/ --num-cpus 2
    cs231n-grade class/ --out gradebook/ --address auto   # a Ray cluster's nodes
    cs231n-grade --resume gradebook/                      # the students not finished yet
    cs231n-grade class/ --out gradebook/ --jobs 1 --no-ray   # in order, in this process

``SUBMISSIONS`` holds one entry per student, a folder or a ``.zip`` of their assignment;
the student's name is the entry's name. The first line says how students are isolated
(``scripts/grade/sandbox.py``); then a progress bar on a terminal, a line per finished
student otherwise; then the class summary and the files written (``scripts/grade/
gradebook.py``). Each student is one Ray task (``scripts/ray_cluster.py``, shared with
``cs231n-sweep``) that grades in its own judge process (``scripts/grade/judge.py``); a
task whose process crashes is retried once, then its student is an ``error`` row. Exit
status: 0 when every student was graded (whatever their verdicts), 1 when a student's
grading itself failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from scripts.cli import UsageError, add_cifar10_argument, command, positive_float, positive_int
from ref_torch.oracle.remote import text_of
from scripts.grade.judge import Row, StudentResult, counts_text, grade_student
from scripts.grade.gradebook import Gradebook
from scripts.grade.sandbox import Limits, detect
from scripts.grade.unpack import SubmissionError, pack_submission, unpack
from scripts.ray_cluster import add_ray_arguments, import_ray, start_ray, stop_ray

GIB = 1 << 30


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="cs231n-grade", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", nargs="?", type=Path,
                        help="a folder with one folder or .zip per student")
    parser.add_argument("--out", type=Path, help="the gradebook folder to create (new or empty)")
    parser.add_argument("--resume", type=Path, metavar="GRADEBOOK",
                        help="grade the students of GRADEBOOK that have no finished rows")
    add_ray_arguments(parser, "student")
    parser.add_argument("--jobs", type=positive_int,
                        help="students graded at once (default: the CPUs Ray has)")
    parser.add_argument("--no-ray", action="store_true",
                        help="grade in this process, one student after another (needs --jobs 1)")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="resource limits only, no isolation (to measure the sandbox's cost)")
    parser.add_argument("--target-timeout", type=positive_float, default=Limits.target_seconds,
                        help="wall-clock seconds per target (default %(default)g)")
    parser.add_argument("--student-timeout", type=positive_float,
                        default=Limits.student_seconds,
                        help="wall-clock seconds per student (default %(default)g)")
    parser.add_argument("--memory-gb", type=positive_float, default=Limits.memory_bytes / GIB,
                        help="memory per student's process, GiB (default %(default)g)")
    parser.add_argument("--num-dev", type=positive_int, default=500,
                        help="CIFAR-10 dev images the data kinds are checked on (default 500)")
    add_cifar10_argument(parser)
    args = parser.parse_args(argv)
    if args.resume and (args.out or args.submissions):
        parser.error("--resume GRADEBOOK takes no SUBMISSIONS or --out: it reads them from "
                     "GRADEBOOK/grade.json")
    if not args.resume and not (args.submissions and args.out):
        parser.error("give SUBMISSIONS and --out GRADEBOOK (or --resume GRADEBOOK)")
    if args.no_ray and args.jobs not in (None, 1):
        parser.error("--no-ray grades one student at a time: --jobs 1")
    return args


def list_submissions(folder: Path) -> list[tuple[str, Path]]:
    """``(student, path)`` per folder or ``.zip`` in ``folder``, by name."""
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder of submissions")
    found, names = [], {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        # a name that is not UTF-8 is shown with escapes (it is only ever a label)
        label = os.fsencode(entry.name).decode("utf-8", "backslashreplace")
        if entry.is_dir() and not entry.is_symlink():
            name = label
        elif entry.suffix.lower() == ".zip" and entry.is_file() and not entry.is_symlink():
            name = label[:-4]
        else:
            print(f"skipped {entry.name}: not a folder or a .zip", file=sys.stderr)
            continue
        if name in names:
            raise UsageError(f"two submissions of {name!r}: {names[name]} and {entry.name}")
        names[name] = entry.name
        found.append((name, entry))
    if not found:
        raise UsageError(f"{folder}: no student folder or .zip in it")
    return found


def grade_packed(student: str, packed: bytes, notes: list[str], data, no_sandbox: bool,
                 limits: Limits) -> StudentResult:
    """One student, from their packed submission (what a Ray task runs, on any node)."""
    sandbox = detect(no_sandbox)
    # Ray's object store hands out read-only arrays: the judge's own copies are writable
    X, y = (np.array(data[0]), np.array(data[1])) if data is not None else (None, None)
    folder = Path(tempfile.mkdtemp(prefix="cs231n-submission-"))
    try:
        try:
            root = unpack(packed, folder)
        except (SubmissionError, OSError) as exc:
            return failed(student, f"submission refused: {exc}")
        result = grade_student(student, root, X, y, sandbox, limits)
    except Exception as exc:  # the judge's own failure: this student's row says it
        return failed(student, f"the grader failed on this student: {type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result.report = "\n".join([sandbox.line, *notes, "", result.report])
    return result


def failed(student: str, why: str, seconds: float = 0.0) -> StudentResult:
    row = Row(student, "", "(submission)", "", "error", "", why, seconds)
    return StudentResult(student, [row], f"ERROR (submission) {why}", seconds)


def _packed(students):
    """``(student, zip bytes or None, notes or the refusal)`` per student."""
    for student, path in students:
        try:
            packed, notes = pack_submission(path)
        except Exception as exc:  # whatever a crafted submission raises ends only its own
            yield student, None, f"submission refused: {text_of(exc)}"
            continue
        yield student, packed, notes


def run_here(todo, data, args, limits):
    for student, packed, notes in todo:
        if packed is None:
            yield failed(student, notes)
            continue
        yield grade_packed(student, packed, notes, data, args.no_sandbox, limits)


def run_on_ray(todo, data, args, limits, task_function=None):
    """Each student a Ray task running ``task_function`` (default :func:`grade_packed`)."""
    ray = import_ray()
    cluster = start_ray(args.address, args.num_cpus)
    jobs = args.jobs or max(1, int(cluster.cpus))
    print(f"ray {ray.__version__}: {cluster.where}, {cluster.cpus:g} CPUs, {cluster.nodes} "
          f"node(s); {jobs} students at once", flush=True)
    task = ray.remote(task_function or grade_packed).options(num_cpus=1, max_retries=1)
    data_ref = ray.put(data)
    waiting, running = list(todo), {}
    while waiting or running:
        while waiting and len(running) < jobs:
            student, packed, notes = waiting.pop(0)
            if packed is None:
                yield failed(student, notes)
                continue
            ref = task.remote(student, packed, notes, data_ref, args.no_sandbox, limits)
            running[ref] = (student, time.monotonic())
        if not running:
            continue
        done, _ = ray.wait(list(running), num_returns=1)
        student, began = running.pop(done[0])
        try:
            yield ray.get(done[0])
        except Exception as exc:  # the task's process died twice (retried once by Ray)
            yield failed(student, f"the grader's worker crashed twice: {type(exc).__name__}",
                         time.monotonic() - began)


def load_data(args, settings):
    """The dev batch, or None (with a warning) when CIFAR-10 is not there."""
    from ref_torch.oracle.api import load_dev_batch
    try:
        return load_dev_batch(settings.get("cifar10_dir"), settings["num_dev"])
    except (OSError, ValueError) as exc:
        print(f"warning: no CIFAR-10 dev batch ({exc}): targets that need it are 'usage' rows",
              file=sys.stderr)
        return None


def progress_line(done: int, total: int, result: StudentResult) -> str:
    return f"[{done}/{total}] {result.student}: {counts_text(result.rows)} ({result.seconds:.1f} s)"


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sandbox = detect(args.no_sandbox)
    print(sandbox.line, flush=True)  # the first line: how students are isolated
    if args.resume:
        book = Gradebook.resume(args.resume)
        settings = book.settings
        students = list_submissions(Path(settings["submissions"]))
    else:
        settings = {"submissions": str(args.submissions.resolve()), "num_dev": args.num_dev,
                    "cifar10_dir": str(args.cifar10_dir) if args.cifar10_dir else None,
                    "limits": asdict(Limits(target_seconds=args.target_timeout,
                                            student_seconds=args.student_timeout,
                                            memory_bytes=int(args.memory_gb * GIB)))}
        students = list_submissions(args.submissions)  # a bad folder: refused before --out
        book = Gradebook.create(args.out, settings)
    limits = Limits(**settings["limits"])
    todo = [s for s in students if s[0] not in book.finished]
    print(f"{len(students)} students, {len(students) - len(todo)} already graded, "
          f"{len(todo)} to grade", flush=True)
    data = load_data(args, settings) if todo else None
    start = time.monotonic()
    runner = run_here if args.no_ray else run_on_ray
    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm
        bar = tqdm(total=len(todo), unit="student", desc="grading", leave=False)
    broken = 0
    try:
        for done, result in enumerate(runner(list(_packed(todo)), data, args, limits), 1):
            book.add(result)
            broken += any(r.target == "(submission)" and "grader" in r.diagnosis
                          for r in result.rows)
            if bar is not None:
                bar.update()
                bar.set_postfix_str(result.student[:20])
            else:
                print(progress_line(done, len(todo), result), flush=True)
    finally:
        if bar is not None:
            bar.close()
        stop_ray()
    seconds = time.monotonic() - start
    header = [sandbox.line, f"{len(students)} students ({len(todo)} graded in this run, "
              f"{seconds:.0f} s); submissions {settings['submissions']}"]
    written = book.finish(header)
    for row in book.summary()[:10]:
        print(f"  {row['student']:<24} passed {row['passed']:>3}  failed {row['failed']:>3}  "
              f"not implemented {row['not_implemented']:>3}  errors {row['errors']:>3}")
    print(f"graded {len(todo)} students in {seconds:.1f} s; wrote {book.csv_path}, "
          f"{written[0]}, {written[1]}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
