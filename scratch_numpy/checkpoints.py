"""Checkpoints: named arrays in an ``.npz`` file, written atomically, read without pickles.

:func:`atomic_output` is the project's one way to write a file: a temporary file in the
destination's folder, renamed over the destination (``os.replace``, atomic on one file
system) only when complete, so a reader never sees a half-written file, and a crash or a
full disk mid-write leaves the previous file as it was; or, asked not to replace anything,
linked into place, which fails when the name exists by then. :func:`save_arrays` writes
checkpoints through it. :func:`load_arrays` reads with ``allow_pickle=False`` (an object array in the
file is refused, never unpickled) and turns every way a file can be damaged into a
``ValueError`` naming it.

NumPy and the standard library only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path
from typing import Iterator

import numpy as np

SUFFIX = ".npz"


def checkpoint_path(path: str | os.PathLike) -> Path:
    """``path`` with ``.npz`` appended when it has another ending, as ``np.savez`` does."""
    path = Path(path)
    return path if path.name.endswith(SUFFIX) else path.with_name(path.name + SUFFIX)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, exclusive: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a writer to create; on success it
    replaces ``path`` in one step, on failure it is removed.

    The temporary name keeps ``path``'s suffix, so writers that append one (``np.savez``)
    do not, and a name no other writer picks. The writer creates the file, so it gets the
    usual permissions (0666 minus the umask). ``exclusive``: never replace a file; the
    finished file is linked into place, which fails with ``FileExistsError`` when ``path``
    exists by then (it may have appeared while the writer worked).
    """
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.{secrets.token_hex(6)}.tmp{path.suffix}")
    try:
        yield temporary
        if exclusive:
            os.link(temporary, path)
            temporary.unlink()
        else:
            os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def save_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray],
                overwrite: bool = True) -> Path:
    """Write ``arrays`` (name -> array) to ``path`` atomically.

    Returns the path written: ``path``, with ``.npz`` appended when it lacks it.
    An object array (``np.savez`` would pickle it) or a float array holding NaN or inf
    (non-finite parameters are never saved) is a ``ValueError`` naming it, before anything
    is written. A missing folder or a write error raises ``OSError`` naming that path; the
    temporary file is removed. ``overwrite=False``: an existing file at ``path``, even one
    that appeared while the arrays were computed, is kept and ``FileExistsError`` raised.
    """
    for name, value in arrays.items():
        value = np.asarray(value)
        if value.dtype.hasobject:
            raise ValueError(f"{name} is an object array: a checkpoint holds plain arrays only")
        if np.issubdtype(value.dtype, np.inexact) and not np.isfinite(value).all():
            raise ValueError(f"{name} holds NaN or infinite values: a checkpoint holds finite "
                             "numbers only")
    target = checkpoint_path(path)
    try:
        with atomic_output(target, exclusive=not overwrite) as temporary, \
                open(temporary, "xb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, f"{target} exists; it is kept", str(target)) from None
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write {target}: {exc.strerror or exc}") from exc
    return target


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file at ``path``, read eagerly, as name -> array.

    A missing or unreadable file raises the ``OSError`` (it names the file). A file that
    is not a complete ``.npz`` of plain arrays (truncated, corrupted, not a zip, holding
    an object array) raises ``ValueError`` naming the file and what was wrong.
    """
    path = Path(path)
    with open(path, "rb") as f:  # OSError here already names the file
        try:
            with np.load(f, allow_pickle=False) as archive:
                return {name: archive[name] for name in archive.files}
        except Exception as exc:
            # Whatever a damaged archive makes zipfile or NumPy raise: BadZipFile,
            # zlib.error, EOFError, ValueError (bad header, object array),
            # NotImplementedError (unknown compression), ...
            raise ValueError(f"{path}: not a readable .npz checkpoint "
                             f"({type(exc).__name__}: {exc})") from exc
