"""A student's submission taken in safely: a folder or a ``.zip``, only its Python files.

The grader reads only ``.py`` files (the oracle checks source code), so that is all it
takes: :func:`pack_submission` turns a submission into an in-memory zip of its Python
files, which travels to whichever Ray node grades it, and :func:`unpack` writes that zip
into a fresh folder there. Both enforce, on what is actually read (never trusting a zip's
declared sizes):

* no absolute name, no drive, no ``..``, no NUL and no name that escapes the folder;
* no link: a symbolic link in a folder or a zip entry whose mode says link is left out
  (named in the notes), so nothing outside the submission is ever read through it;
* at most :data:`MAX_FILES` files and :data:`MAX_BYTES` bytes of Python, each file at most
  :data:`MAX_FILE_BYTES`; a zip bomb stops at the cap, after reading no more than it.

A submission that breaks a rule is refused whole with :class:`SubmissionError`, whose
message becomes the student's ``error`` row; the originals are only ever read.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path, PurePosixPath

MAX_FILES = 2000
MAX_FILE_BYTES = 4 << 20
MAX_BYTES = 32 << 20
MAX_ENTRIES = 100_000  # entries of any kind a zip or a folder may list
SKIPPED_FOLDERS = {"__pycache__", ".git", ".ipynb_checkpoints", "__MACOSX"}


class SubmissionError(ValueError):
    """The submission cannot be taken in; the message says which rule it breaks."""


def safe_name(name: str) -> PurePosixPath:
    """A relative path inside the submission, or :class:`SubmissionError`."""
    if "\x00" in name:
        raise SubmissionError(f"an entry name holds a NUL byte: {name!r}")
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or (path.parts and ":" in path.parts[0]):
        raise SubmissionError(f"an absolute path: {name!r}")
    if ".." in path.parts:
        raise SubmissionError(f"a path that climbs out with '..': {name!r}")
    if not path.parts:
        raise SubmissionError(f"an empty entry name: {name!r}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise SubmissionError(f"a file name that is not UTF-8: {name!r}") from None
    return path


def _wanted(path: PurePosixPath) -> bool:
    return path.suffix == ".py" and not any(
        p in SKIPPED_FOLDERS or p.startswith(".") for p in path.parts[:-1])


class _Budget:
    def __init__(self):
        self.files = 0
        self.bytes = 0

    def take(self, name, size: int) -> None:
        self.files += 1
        self.bytes += size
        if self.files > MAX_FILES:
            raise SubmissionError(f"more than {MAX_FILES} Python files")
        if self.bytes > MAX_BYTES:
            raise SubmissionError(f"more than {MAX_BYTES >> 20} MB of Python (at {name})")


def _read_capped(stream, name) -> bytes:
    data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise SubmissionError(f"{name} is larger than {MAX_FILE_BYTES >> 20} MB")
    return data


def _from_zip(path: Path, notes: list[str]) -> dict[PurePosixPath, bytes]:
    files, budget = {}, _Budget()
    try:
        archive = zipfile.ZipFile(path)
    except Exception as exc:  # a crafted zip raises more than BadZipFile (bad names, ...)
        raise SubmissionError(f"not a readable zip: {type(exc).__name__}: {exc}") from None
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise SubmissionError(f"a zip of more than {MAX_ENTRIES} entries")
        for info in entries:
            name = safe_name(info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                notes.append(f"left out the link {name}")
                continue
            if info.is_dir() or not _wanted(name):
                continue
            try:
                with archive.open(info) as stream:
                    data = _read_capped(stream, name)
            except SubmissionError:
                raise
            except Exception as exc:  # encrypted, corrupt deflate/LZMA data, ...
                raise SubmissionError(f"{name} cannot be read from the zip: "
                                      f"{type(exc).__name__}: {exc}") from None
            budget.take(name, len(data))
            files[name] = data
    return files


def _from_folder(folder: Path, notes: list[str]) -> dict[PurePosixPath, bytes]:
    files, budget, seen = {}, _Budget(), 0
    for here, dirs, names in os.walk(folder, followlinks=False):
        seen += len(dirs) + len(names)
        if seen > MAX_ENTRIES:
            raise SubmissionError(f"a folder of more than {MAX_ENTRIES} entries")
        here = Path(here)
        for entry in [d for d in dirs if (here / d).is_symlink()]:
            notes.append(f"left out the link {(here / entry).relative_to(folder)}")
        dirs[:] = sorted(d for d in dirs if not (here / d).is_symlink())
        for entry in sorted(names):
            full = here / entry
            name = safe_name(full.relative_to(folder).as_posix())
            if full.is_symlink():
                notes.append(f"left out the link {name}")
                continue
            if not _wanted(name) or not full.is_file():
                continue
            # O_NOFOLLOW: a file swapped for a link after the check is not followed
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as stream:
                data = _read_capped(stream, name)
            budget.take(name, len(data))
            files[name] = data
    return files


def pack_submission(path: Path) -> tuple[bytes, list[str]]:
    """``(zip bytes of the submission's Python files, notes on what was left out)``."""
    notes: list[str] = []
    files = _from_zip(path, notes) if path.is_file() else _from_folder(path, notes)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            archive.writestr(str(name), data)
    return buffer.getvalue(), notes


def unpack(data: bytes, folder: Path) -> Path:
    """Write a :func:`pack_submission` zip into ``folder`` (files 0644, folders 0755, so a
    sandbox's own uid reads them) and return the assignment's root: a lone wrapping folder
    (``alice/assignment2/``) is stepped into."""
    folder.mkdir(exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        budget = _Budget()
        for info in archive.infolist():
            name = safe_name(info.filename)
            if not _wanted(name):
                continue
            with archive.open(info) as stream:
                content = _read_capped(stream, name)
            budget.take(name, len(content))
            target = folder.joinpath(*name.parts)
            for parent in reversed(target.relative_to(folder).parents[:-1]):
                (folder / parent).mkdir(exist_ok=True)
                os.chmod(folder / parent, 0o755)  # whatever the umask
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "wb") as out:
                out.write(content)
    os.chmod(folder, 0o755)
    root = folder
    while True:
        entries = [e for e in root.iterdir() if not e.name.startswith(".")]
        if len(entries) != 1 or not entries[0].is_dir() or entries[0].name == "cs231n":
            return root
        root = entries[0]
