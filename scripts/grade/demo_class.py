"""A demo class of 30 students, built from the project's fixtures, to grade and to test with.

    python -m scripts.grade.demo_class demo_class/
    cs231n-grade demo_class/ --out demo_gradebook/

The students (``parity_tests/oracle_fixtures``, ``parity_tests/grade_fixtures``):

* correct: whole assignments 1, 2 and 3 as students of several years write them;
* one planted mistake each: assignment 2 (2024) with one line changed (:data:`MISTAKES`:
  a mean for a sum, a lost ``/ N``, an inverted mask, ...), and the fixtures that hold
  several mistakes at once;
* not implemented: the starter code (every function raises ``NotImplementedError``), and
  half of it done;
* hostile: ``grade_fixtures/hostile_acts.py``'s acts (an endless loop, 20 GB, a fork bomb,
  ``os.system``, reading a sibling, writing the gradebook, patching the oracle,
  ``sys.exit`` at import), a 2 GB zip bomb, a zip that climbs out with ``..`` and a folder
  of links out of it.

Nothing existing is overwritten: ``OUT`` must be new or empty.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import shutil
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ORACLE = ROOT / "parity_tests" / "oracle_fixtures"
HOSTILE = ROOT / "parity_tests" / "grade_fixtures"
BASE = ORACLE / "assignment2_2024"
LAYERS = "cs231n/layers.py"

CORRECT = {"correct_a2_2024": BASE, "correct_a2_2024_b": BASE,
           "correct_a1_2017": ORACLE / "assignment1", "correct_a3_2017": ORACLE / "assignment3_2017"}
SEVERAL_MISTAKES = {"mistakes_a2_2018": ORACLE / "assignment2_2018_mistakes",
                    "mistakes_a3": ORACLE / "assignment3_mistakes"}
# One line of BASE's layers.py changed: (student, old, new).
MISTAKES = [
    ("affine_db_mean", "    db = dout.sum(axis=0)", "    db = dout.mean(axis=0)"),
    ("affine_dw_over_n", "    dw = x.reshape(N, -1).T @ dout", "    dw = x.reshape(N, -1).T @ dout / N"),
    ("relu_mask_inverted", "    dx[x <= 0] = 0", "    dx[x > 0] = 0"),
    ("softmax_dx_not_averaged", "    dx /= N\n", ""),
    ("softmax_loss_summed", "    loss = -correct_logprobs.sum() / N",
     "    loss = -correct_logprobs.sum()"),
    ("svm_counts_correct_class", "    margins[np.arange(N), y] = 0\n", ""),
    ("batchnorm_dbeta_mean", "    dbeta = np.sum(dout, axis=0)", "    dbeta = np.mean(dout, axis=0)"),
    ("dropout_backward_no_mask", "        dx = dout * mask", "        dx = dout"),
    ("maxpool_overwrites_overlap", "dx[n, c, hs + r, ws + s] += dout[n, c, i, j]",
     "dx[n, c, hs + r, ws + s] = dout[n, c, i, j]"),
    ("conv_db_over_n", "    db = np.sum(dout, axis=(0, 2, 3))",
     "    db = np.sum(dout, axis=(0, 2, 3)) / dout.shape[0]"),
    ("layernorm_wrong_axis", "    mu = x.mean(axis=1, keepdims=True)",
     "    mu = x.mean(axis=0, keepdims=True)"),
]
ZIP_BOMB_BYTES = 2 << 30


def _copy(source: Path, dest: Path) -> None:
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__"))


def _mutated(student: str, old: str, new: str, out: Path) -> None:
    _copy(BASE, out / student)
    layers = out / student / LAYERS
    text = layers.read_text()
    if text.count(old) != 1:
        raise RuntimeError(f"{student}: the line to change occurs {text.count(old)} times")
    layers.write_text(text.replace(old, new))


def starter(source: str, keep: int = 0) -> str:
    """``source`` with every top-level function after the first ``keep`` made the starter
    code: its docstring, then ``raise NotImplementedError``."""
    tree = ast.parse(source)
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    for node in functions[keep:]:
        doc = [node.body[0]] if ast.get_docstring(node) else []
        node.body = doc + [ast.parse("raise NotImplementedError").body[0]]
    return ast.unparse(tree) + "\n"


def _hostile(student: str, act: str, out: Path) -> None:
    package = out / student / "cs231n"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "layers.py").write_text((HOSTILE / "base_layers.py").read_text() + act)


def _zip_bomb(path: Path) -> None:
    """A zip of a few MB whose ``layers.py`` unpacks to 2 GB."""
    chunk = b"#" * (1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("cs231n/layers.py", "w", force_zip64=True) as entry:
            for _ in range(ZIP_BOMB_BYTES // len(chunk)):
                entry.write(chunk)


def _climbing_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("cs231n/__init__.py", "")
        archive.writestr("cs231n/layers.py", (HOSTILE / "base_layers.py").read_text())
        archive.writestr("../../cs231n-grade-escaped-traversal.py", "print('escaped')\n")


def _links_out(folder: Path) -> None:
    package = folder / "cs231n"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "layers.py").symlink_to(BASE / LAYERS)  # another "student's" file
    (package / "secrets").symlink_to("/etc")


def _hostile_acts() -> dict:
    spec = importlib.util.spec_from_file_location("hostile_acts", HOSTILE / "hostile_acts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ACTS


def build(out: Path, zip_bomb: bool = True) -> list[str]:
    """Write the demo class into ``out`` (new or empty); the students' names."""
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty: give a new folder")
    out.mkdir(parents=True, exist_ok=True)
    for student, source in {**CORRECT, **SEVERAL_MISTAKES}.items():
        _copy(source, out / student)
    for student, old, new in MISTAKES:
        _mutated(student, old, new, out)
    for student, keep in (("starter_code", 0), ("half_done", 8)):
        _copy(BASE, out / student)
        layers = out / student / LAYERS
        layers.write_text(starter(layers.read_text(), keep))
    for name, act in _hostile_acts().items():
        _hostile(f"hostile_{name}", act, out)
    if zip_bomb:
        _zip_bomb(out / "hostile_zip_bomb.zip")
    _climbing_zip(out / "hostile_path_traversal.zip")
    _links_out(out / "hostile_links_out")
    return sorted(p.name.removesuffix(".zip") for p in out.iterdir())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.grade.demo_class",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the folder to create")
    parser.add_argument("--no-zip-bomb", action="store_true",
                        help="leave out the 2 GB zip bomb (it takes ~10 s to write)")
    args = parser.parse_args(argv)
    try:
        students = build(args.out, zip_bomb=not args.no_zip_bomb)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(students)} students in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
