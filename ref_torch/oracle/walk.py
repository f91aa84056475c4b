"""A whole file or a whole assignment: every function and class with a kind, checked.

:func:`find_targets` reads a file's source without running it (``ast``) and lists what
it defines that has a kind by name (``ref_torch/oracle/kinds.py``): a forward with its
backward (and each variant beside it: ``batchnorm_backward_alt``), a network class, a
``LinearClassifier`` subclass's ``loss``. A file with nothing to check is never
imported. What looks checkable but has no kind (``affine_relu_forward``, a
``ThreeLayerConvNet``) is listed as not checked.

:func:`assignment_files` finds an assignment's files in a folder: its ``cs231n`` package
(``layers.py``, ``rnn_layers.py``, ``classifiers/*.py``: what students write), or every
Python file below the folder when there is no such package.

:func:`check_path` checks them all, one :class:`OracleReport` per target.
"""

from __future__ import annotations

import ast
import time
from dataclasses import dataclass
from pathlib import Path

from ref_torch.oracle.adapters import backward_name_of
from ref_torch.oracle import api
from ref_torch.oracle.engine import DTYPES, run_checks
from ref_torch.oracle.kinds import LossKind, kind_of_name
from ref_torch.oracle.report import OracleReport
from ref_torch.oracle.user_code import TargetError, import_user_file

# The files of a CS231n package that students write (the rest is the course's).
ASSIGNMENT_FILES = ("layers.py", "rnn_layers.py", "classifiers/*.py")
SKIPPED_FOLDERS = {"__pycache__", "site-packages", "node_modules"}


@dataclass(frozen=True)
class Target:
    """One thing to check: ``name`` in ``file`` as ``kind`` (``backward``: a variant's name)."""

    file: Path
    name: str
    kind: LossKind
    backward: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} + {self.backward}" if self.backward else self.name

    @property
    def backward_to_use(self) -> str | None:
        """The backward's name: the variant's, else the one the target's own name gives
        (an alias ``conv_forward_fast = conv_forward_naive`` pairs with
        ``conv_backward_fast``); None for a kind without one."""
        if "backward" not in self.kind.options:
            return None
        return self.backward or backward_name_of(self.name.rpartition(".")[2])


@dataclass
class FileTargets:
    file: Path
    targets: list[Target]
    not_checked: list[str]
    error: str = ""  # the file does not parse


def _top_level(tree: ast.Module):
    """``(functions, classes)``: names defined at the top of the module, in order (a
    function, or a name given to one: ``conv_forward_fast = conv_forward_naive``), and for
    each class the names of its methods."""
    functions, classes = [], {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions.append(node.name)
        elif (isinstance(node, ast.Assign) and len(node.targets) == 1
              and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Name)):
            functions.append(node.targets[0].id)
        elif isinstance(node, ast.ClassDef):
            classes[node.name] = [n.name for n in node.body
                                  if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return list(dict.fromkeys(functions)), classes  # a name defined twice: the last one runs


def _pairs(file: Path, name: str, kind: LossKind, functions: list[str]) -> list[Target]:
    """A forward's targets: with its backward, and with each variant of it defined beside
    it (``batchnorm_backward_alt``)."""
    if "backward" not in kind.options:
        return [Target(file, name, kind)]
    default = backward_name_of(name)
    others = {backward_name_of(f) for f in functions if f != name}  # relu_forward_ge's own
    variants = [f for f in functions if f.startswith(f"{default}_") and f not in others]
    targets = [Target(file, name, kind)] if default in functions or not variants else []
    return targets + [Target(file, name, kind, v) for v in variants]


def find_targets(file: Path) -> FileTargets:
    """What ``file`` defines that has a kind, read from its source (nothing runs)."""
    try:
        tree = ast.parse(file.read_bytes(), filename=str(file))
    except (SyntaxError, ValueError) as exc:
        hint = (" (Python 2 syntax: the checker runs Python 3)"
                if "Missing parentheses in call to 'print'" in str(exc) else "")
        return FileTargets(file, [], [], f"{file.name} does not parse: {exc}{hint}")
    except OSError as exc:
        return FileTargets(file, [], [], f"{file.name} cannot be read: {exc.strerror}")
    except (RecursionError, MemoryError):  # a crafted file nested past the parser's depth
        return FileTargets(file, [], [], f"{file.name} does not parse: nested too deeply")
    functions, classes = _top_level(tree)
    targets, not_checked = [], []
    for name in functions:
        kind = kind_of_name(name)
        if kind is not None:
            targets += _pairs(file, name, kind, functions)
        elif ("forward" in name or "loss" in name) and "backward" not in name \
                and not name.startswith("_"):
            not_checked.append(name)
    for name, methods in classes.items():
        kind = kind_of_name(name)
        loss_kind = kind_of_name(f"{name}.loss") if "loss" in methods else None
        if kind is not None:
            targets.append(Target(file, name, kind))
        elif loss_kind is not None:
            targets.append(Target(file, f"{name}.loss", loss_kind))
        elif "loss" in methods:
            not_checked.append(name)
    return FileTargets(file, targets, not_checked)


def assignment_files(folder: Path) -> list[Path]:
    """The files to check in ``folder``: its ``cs231n`` package's student files, or every
    ``.py`` file below it (hidden folders, caches and installed packages left out)."""
    package = folder / "cs231n" if (folder / "cs231n").is_dir() else (
        folder if folder.name == "cs231n" else None)
    if package is not None:
        return [f for pattern in ASSIGNMENT_FILES for f in sorted(package.glob(pattern))
                if f.name != "__init__.py" and f.is_file()]
    return [f for f in sorted(folder.rglob("*.py")) if f.is_file() and not any(
        part.startswith(".") or part in SKIPPED_FOLDERS
        for part in f.relative_to(folder).parts[:-1])]


def resolve(module, name: str):
    """``module.Class.method`` from ``"Class.method"``."""
    obj = module
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def check_target(module, target: Target, X, y, shown: str, resolve=resolve,
                 **options) -> OracleReport:
    """The report of one target of a loaded file (``resolve(module, name)`` finds it;
    ``options`` go to ``run_checks``)."""
    start = time.perf_counter()
    try:
        obj = resolve(module, target.name)
        report = run_checks(target.kind, obj, X, y, label=target.label,
                            options={"backward": target.backward_to_use}, **options)
    except AttributeError:
        report = OracleReport(target.label, target.kind.name, raised=True,
                              diagnoses=[f"{target.name} is not defined once the file has run"])
    except TargetError as exc:
        report = OracleReport(target.label, target.kind.name, usage=str(exc))
    except Exception as exc:  # a target the checker cannot handle ends only itself
        report = OracleReport(target.label, target.kind.name, raised=True, diagnoses=[
            f"the checker could not run this target: {type(exc).__name__}: {exc}"])
    report.file, report.seconds = shown, time.perf_counter() - start
    return report


def file_error(shown: str, message: str, seconds: float = 0.0) -> OracleReport:
    """The report of a file that does not parse or load: its targets cannot run."""
    return OracleReport("(file)", "", raised=True, diagnoses=[message], file=shown,
                        seconds=seconds)


def check_file_targets(found: FileTargets, X, y, shown: str, on_report=None, **options):
    """One report per target of one file (an error report when it does not load)."""
    reports = []

    def done(report):
        if on_report:
            on_report(report)
        reports.append(report)
        return reports

    if found.error:
        return done(file_error(shown, found.error))
    if not found.targets:
        return reports
    start = time.perf_counter()
    try:
        module = import_user_file(found.file)
    except TargetError as exc:
        return done(file_error(shown, str(exc), time.perf_counter() - start))
    for target in found.targets:
        done(check_target(module, target, X, y, shown, **options))
    return reports


@dataclass
class Plan:
    """What a path holds to check: its files' targets, paths shown relative to ``base``."""

    base: Path
    found: list[FileTargets]

    def shown(self, item: FileTargets) -> str:
        return str(item.file.relative_to(self.base))

    @property
    def targets(self) -> list[Target]:
        return [t for item in self.found for t in item.targets]

    @property
    def not_checked(self) -> dict[str, list[str]]:
        return {self.shown(item): item.not_checked for item in self.found if item.not_checked}


def plan_path(path) -> Plan:
    """The targets of a file, or of an assignment folder (nothing runs yet)."""
    path = Path(path)
    if not path.exists():
        raise TargetError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix != ".py":
        raise TargetError(f"{path}: the target must be a Python file ending in .py or a folder")
    files = [path] if path.is_file() else assignment_files(path)
    plan = Plan(path.parent if path.is_file() else path, [find_targets(f) for f in files])
    if not any(f.targets or f.error for f in plan.found):
        raise TargetError(f"{path}: no function or class with a kind of its own (see --list)")
    return plan


def check_path(path, *, X=None, y=None, num_dev: int = 500, cifar10_dir=None, dtypes=DTYPES,
               devices=None, reg_convention=None, strict: bool = False, progress: bool = False,
               on_report=None) -> list[OracleReport]:
    """Check every target of a file, or of an assignment folder (a path or a :class:`Plan`).

    Returns a report per target in file order (file paths relative to the folder given, or
    to the file's folder); ``on_report(report)`` is called as each target finishes.
    """
    plan = path if isinstance(path, Plan) else plan_path(path)
    if any(t.kind.needs_data for t in plan.targets):
        if X is None:
            X, y = api.load_dev_batch(cifar10_dir, num_dev)
        X, y = api.check_data(X, y)
    options = dict(dtypes=dtypes, devices=devices, reg_convention=reg_convention, strict=strict,
                   progress=progress)
    reports = []
    for item in plan.found:
        reports += check_file_targets(item, X, y, plan.shown(item), on_report, **options)
    return reports
