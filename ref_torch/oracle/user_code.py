"""Loading a user's file, and calling the user's code so that nothing it does escapes.

:func:`load_target` turns ``path/to/file.py:name`` (or ``file.py:Class.method``)
into the object. A file inside a package (its folder, and the folders above it,
hold an ``__init__.py``, as ``cs231n/classifiers/fc_net.py``) is imported as
part of that package, so relative imports (``from ..layers import *``) work; any
other file is loaded on its own with its folder on ``sys.path``, so it can import
its neighbours. Before each file, the modules loaded from an earlier file's folder
are dropped, so a student's ``helpers.py`` is never another student's.

:func:`call_user` runs user code: whatever it raises, ``SystemExit`` included,
becomes a :class:`UserCodeFailure` whose message is one line (the exception and
the user's line that raised it), never a traceback. ``KeyboardInterrupt`` passes
through, so Ctrl-C stops at once. NumPy warnings inside the call are silenced (the
report explains non-finite results itself) and what the code prints is dropped.
:class:`Guard` calls it on private copies of its arrays and remembers, by the user's
own parameter names, the arguments it modified in place.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import errno
import importlib
import importlib.util
import inspect
import io
import sys
import traceback
import warnings
from pathlib import Path

import numpy as np


class TargetError(ValueError):
    """The target cannot be checked as asked (a usage error); the message says why."""


class UserCodeFailure(Exception):
    """The user's code failed or returned something unusable; ``str`` is one line.

    raised: the code raised (or called ``sys.exit``) rather than returning something wrong.
    starter: what it did is what CS231n's starter code does (returns None, raises
    ``NotImplementedError``): the target is not implemented yet.
    limit: the resource the code ran out of ("memory": ``MemoryError``; "process": a fork
    refused, ``BlockingIOError``), "" for none: the grader's sandbox limits, a ``killed``.
    """

    def __init__(self, message: str, raised: bool = False, starter: bool = False,
                 limit: str = ""):
        super().__init__(message)
        self.raised = raised
        self.starter = starter
        self.limit = limit


class Interrupt(BaseException):
    """Stops a check from outside the user's code (the grader's timeout, its sandbox ended):
    :func:`call_user` lets it through, as it does Ctrl-C, and no handler of the oracle
    turns it into a report.
    """


# Top-level packages this module imported from a user's folder: a later target in
# another folder with the same package name (every student's is ``cs231n``) replaces them.
_LOADED_PACKAGES: set[str] = set()
# Folders user files were loaded from (put on sys.path): their modules are dropped before the
# next user file is loaded.
_USER_FOLDERS: set[Path] = set()
_OWN_FILES = tuple(str(Path(__file__).resolve().parents[2] / p) for p in
                   ("ref_torch", "scratch_numpy", "scripts"))


def describe_exception(exc: BaseException) -> str:
    """One line: ``raised IndexError: index 10 is out of bounds (my_svm.py line 12)``,
    or ``called sys.exit(0) instead of returning``."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r}) instead of returning"
    where = user_line(exc.__traceback__)
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return f"raised {text} ({where})" if where else f"raised {text}"


def user_line(tb) -> str:
    """``file.py line N`` of the innermost frame outside this project and the Python install."""
    not_user = (*_OWN_FILES, sys.prefix, sys.base_prefix, sys.exec_prefix, "<frozen")
    found = ""
    for frame in traceback.extract_tb(tb):
        if not frame.filename.startswith(not_user):
            found = f"{Path(frame.filename).name} line {frame.lineno}"
    return found


def call_user(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``; any failure but Ctrl-C becomes a :class:`UserCodeFailure`.
    What the code prints is dropped: the report is the checker's, not the code's."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"), \
                contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    except (KeyboardInterrupt, Interrupt, UserCodeFailure):
        raise
    except BaseException as exc:  # SystemExit too: the user's code must not end the check
        raise UserCodeFailure(f"your code {describe_exception(exc)}", raised=True,
                              starter=isinstance(exc, NotImplementedError),
                              limit=_limit_of(exc)) from None


def _limit_of(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, BlockingIOError) and exc.errno == errno.EAGAIN:
        return "process"
    return ""


def parameter_name(fn, position) -> str:
    """The user's own name of ``fn``'s argument at ``position`` (an int, or a keyword)."""
    if isinstance(position, str):
        return position
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return params[position].name if position < len(params) else f"argument {position + 1}"


def _private_copy(value):
    """An array copied; a dict or list (a ``conv_param``, which a forward may write into)
    deep-copied when it can be; anything else, a cache, passed as it is: it is the user's."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (dict, list)):
        try:
            return copy.deepcopy(value)
        except Exception:  # an object inside that does not copy (a lock): the user's own
            return value
    return value


class Guard:
    """Calls user code on private copies of its array arguments.

    ``guard(fn, *args, **kwargs)`` is ``call_user(fn, ...)`` with every NumPy array
    argument copied first; an argument the code changed in place is remembered in
    ``modified`` under the user's own parameter name (``dnext_c``, ``x``): the caller's
    arrays never change, and the report can warn about the habit.
    """

    def __init__(self):
        self.modified: list[str] = []

    def __call__(self, fn, *args, **kwargs):
        given = {**dict(enumerate(args)), **kwargs}
        copies = {k: _private_copy(v) for k, v in given.items()}
        result = call_user(fn, *(copies[i] for i in range(len(args))),
                           **{k: copies[k] for k in kwargs})
        for key, value in given.items():
            if isinstance(value, np.ndarray) and not np.array_equal(value, copies[key],
                                                                     equal_nan=True):
                name = parameter_name(fn, key)
                line = (f"{getattr(fn, '__name__', 'your code')} modifies its argument {name} in "
                        f"place (the caller's array changes; work on a copy: "
                        f"{name} = {name}.copy())")
                if line not in self.modified:
                    self.modified.append(line)
        return result


def _package_of(file: Path) -> tuple[Path, str]:
    """``(folder for sys.path, dotted module name)``: the chain of ``__init__.py`` folders."""
    parts = [file.stem]
    folder = file.parent
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    return folder, ".".join(parts)


def _claim_package(top: str, root: Path) -> None:
    """Make ``root``'s package ``top`` the one imported next.

    A package this module imported from another folder (every student's is ``cs231n``) is
    dropped so ``root``'s copy is imported. A package the caller imported itself from
    ``root`` (this project's ``scratch_numpy``, say) is used as it is: dropping it would
    leave the caller holding classes that no longer match the re-imported ones."""
    existing = sys.modules.get(top)
    if existing is not None and top not in _LOADED_PACKAGES:
        origin = Path(getattr(existing, "__file__", None) or ".").resolve()
        if origin.is_relative_to(root):
            return
        raise TargetError(f"the target's package {top!r} has the name of a module already in use "
                          f"({origin}): rename its folder")
    for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
        del sys.modules[name]
    _LOADED_PACKAGES.add(top)


def _put_first_on_path(folder: Path) -> None:
    entry = str(folder)
    if entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)


def _forget_user_folders() -> None:
    """Drop every module loaded from a folder of earlier user files, and those folders from
    ``sys.path``: a file that imports its neighbour (``from helpers import ...``) gets the one
    beside it, never another student's module of the same name."""
    installed = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if not origin or str(origin).startswith(_OWN_FILES):
            continue
        origin = Path(origin).resolve()
        if any(origin.is_relative_to(f) for f in _USER_FOLDERS) and not any(
                origin.is_relative_to(i) for i in installed) and not {
                "site-packages", "dist-packages"} & set(origin.parts):
            del sys.modules[name]
    for folder in _USER_FOLDERS:
        if str(folder) in sys.path:
            sys.path.remove(str(folder))
    _USER_FOLDERS.clear()


def import_user_file(file: Path):
    """The module of ``file``: imported within its package when it is in one."""
    file = file.resolve()
    root, dotted = _package_of(file)
    if not any(root == Path(own).parent for own in _OWN_FILES):  # this project's own files
        _forget_user_folders()
        _USER_FOLDERS.add(root)
    _put_first_on_path(root)
    importlib.invalidate_caches()
    try:
        if "." in dotted:
            top = dotted.split(".")[0]
            _claim_package(top, root)
            return call_user(importlib.import_module, dotted)
        name = f"user_code_{file.stem}"
        spec = importlib.util.spec_from_file_location(name, file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        call_user(spec.loader.exec_module, module)
        return module
    except UserCodeFailure as exc:
        reason = str(exc).removeprefix("your code ").removeprefix("raised ")
        hint = ""
        if "Missing parentheses in call to 'print'" in reason:
            hint = " (Python 2 syntax: the checker runs Python 3)"
        raise TargetError(f"{file.name} failed to load: {reason}{hint}") from None


def load_target(spec: str):
    """``path/to/file.py:name`` or ``path/to/file.py:Class.method`` -> the object."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise TargetError(f"expected path/to/file.py:name, got {spec!r}")
    file = Path(path)
    if file.suffix == ".ipynb":
        raise TargetError(f"{file} is a notebook: the command reads .py files. In the notebook, "
                          "call the Python API (from ref_torch.oracle import check_gradient; "
                          "check_gradient(your_function, kind=...)), or save the code as a .py file")
    if file.suffix != ".py":
        raise TargetError(f"{file}: the target must be a Python file ending in .py")
    if not file.is_file():
        raise TargetError(f"{file}: no such file")
    obj = import_user_file(file)
    for depth, part in enumerate(name.split(".")):
        if not hasattr(obj, part):
            where = file.name if depth == 0 else ".".join(name.split(".")[:depth])
            close = difflib.get_close_matches(part, [n for n in dir(obj) if not n.startswith("_")], 3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise TargetError(f"{where} defines no {part!r}{hint}")
        obj = getattr(obj, part)
    return obj


def method_owner(fn):
    """The class of an unbound method given as ``Class.method`` (None for functions
    and static methods): CS231n's classes keep their state on ``self``."""
    qualname = getattr(fn, "__qualname__", "")
    owner_name, dot, method = qualname.rpartition(".")
    if not dot or "<locals>" in owner_name or "." in owner_name:
        return None
    owner = getattr(fn, "__globals__", {}).get(owner_name)
    if not inspect.isclass(owner) or isinstance(inspect.getattr_static(owner, method, None),
                                                 (staticmethod, classmethod)):
        return None
    return owner
