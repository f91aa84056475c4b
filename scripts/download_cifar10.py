"""Download CIFAR-10 (python version) into the cache directory, safely.

    python -m scripts.download_cifar10 [--dir DIR]

Fetches the official ``cifar-10-python.tar.gz`` with torchvision's download
utility (progress bar), checks the archive's md5, extracts it into a temporary
folder (tar's ``data`` filter: no absolute paths, no ``..``, no links out),
validates every batch with the project's loader, and only then moves it into
place. A valid copy already there, or wherever the loader finds one
(``$CIFAR10_DIR`` when set, else the cache) when no ``--dir`` is given, is kept as it is
(idempotent, no network); an invalid one is renamed aside, never deleted.

The archive and the extraction live in hidden working folders next to the copy
(``.download-XXXXXXXX``, ``.extract-XXXXXXXX``), removed on any exit: SIGTERM and SIGHUP
are turned into an exception while the command runs, so the clean-up runs (exit status
128 + the signal's number). Each working folder holds a lock file, locked (``flock``) for
as long as its run lives; a later run removes the working folders whose lock is free (a
run killed with SIGKILL, or by a power cut), and leaves alone the ones in use.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # not on POSIX: working folders are judged by age alone
    fcntl = None

from scratch_numpy.data import (
    CIFAR10Error, CIFAR10SettingError, FOLDER_NAME, default_cache_dir, find_cifar10_dir,
    load_cifar10,
)

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE_NAME = "cifar-10-python.tar.gz"

# The working folders this command makes (``.download-`` or ``.extract-`` and the 8
# characters of [a-z0-9_] tempfile.mkdtemp adds). Nothing else is ever removed.
WORKING_NAME = re.compile(r"\.(download|extract)-[a-z0-9_]{8}")
LOCK_NAME = ".cs231n-download.lock"
# A working folder without a lock file (made by an earlier version of this command, or by a
# run killed in the instant between making the folder and its lock) is removed only when
# nothing in it has changed for this long: a download or an extraction never takes as long.
UNLOCKED_STALE_AFTER_S = 6 * 3600


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived. A BaseException, like KeyboardInterrupt, so that no
    ``except Exception`` on the way swallows it and every ``finally`` runs."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def signals_raise(signums=(signal.SIGTERM, getattr(signal, "SIGHUP", None))):
    """While inside: SIGTERM and SIGHUP raise :class:`Terminated` in the main thread (only
    where they would have killed the process: an ignored signal stays ignored). Once one
    has arrived, further ones are ignored until the context exits, so the clean-up they
    trigger is not cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def handler(signum, frame):
        for other in previous:
            signal.signal(other, signal.SIG_IGN)
        raise Terminated(signum)

    for signum in signums:
        if signum is not None and signal.getsignal(signum) is signal.SIG_DFL:
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextlib.contextmanager
def working_folder(parent: Path, prefix: str):
    """A hidden temporary folder in ``parent`` (``prefix``: ``.download-`` or ``.extract-``),
    locked while in use and removed on any exit from the block."""
    path = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    lock = None
    try:
        lock = open(path / LOCK_NAME, "w")
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        # Written once the lock is held: a lock file with a pid whose lock is free was
        # left by a run that is gone; an empty one may be a run that is just starting.
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)  # while still locked: never judged stale
        if lock is not None:
            lock.close()


def _newest_change(folder: Path) -> float:
    """When anything in ``folder`` last changed (now, when it cannot be told)."""
    try:
        newest = folder.lstat().st_mtime
    except OSError:  # removed meanwhile by its own run
        return time.time()
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            with contextlib.suppress(OSError):
                newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
    return newest


def _is_stale(folder: Path) -> bool:
    """True when no running process uses ``folder``, a working folder of this command."""
    try:
        lock = open(folder / LOCK_NAME)
    except FileNotFoundError:
        return time.time() - _newest_change(folder) > UNLOCKED_STALE_AFTER_S
    except OSError:
        return False
    with lock:
        if fcntl is not None:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False  # held: a run is using it
            if lock.read().strip():
                return True  # its run held the lock and has let go of it: gone
        return time.time() - _newest_change(folder) > UNLOCKED_STALE_AFTER_S


def remove_stale_working_folders(parent: Path) -> list[Path]:
    """Remove the working folders in ``parent`` left by runs that are gone; return them.

    Only folders named as this command names them (:data:`WORKING_NAME`), not links, and
    only when no process uses them (their lock is free, see :func:`working_folder`).
    """
    try:
        entries = sorted(Path(parent).iterdir())
    except OSError:
        return []
    removed = []
    for path in entries:
        if (WORKING_NAME.fullmatch(path.name) and not path.is_symlink() and path.is_dir()
                and _is_stale(path)):
            shutil.rmtree(path, ignore_errors=True)
            if not path.exists():
                print(f"removed {path}, a working folder left by an interrupted run")
                removed.append(path)
    return removed


def is_valid_copy(folder: Path) -> bool:
    """True when ``folder`` holds a complete CIFAR-10 that passes validation.

    A bad setting (``$CIFAR10_TRAIN_BATCHES``) is raised, not taken for an invalid copy:
    a good copy would otherwise be moved aside.
    """
    try:
        load_cifar10(folder)
    except CIFAR10SettingError:
        raise
    except (CIFAR10Error, FileNotFoundError):
        return False
    return True


def _existing_copy() -> Path | None:
    """A valid copy where the loader would look ($CIFAR10_DIR when set, else the cache), if any."""
    try:
        folder = find_cifar10_dir()
    except FileNotFoundError:
        return None
    return folder if is_valid_copy(folder) else None


def install_archive(archive: Path, dest_root: Path, md5: str = OFFICIAL_MD5) -> Path:
    """Check, extract, validate and move ``archive`` to ``dest_root/cifar-10-batches-py``.

    Raises ``RuntimeError`` on an md5 mismatch or an archive without a valid
    CIFAR-10 folder; ``dest_root`` is then left as it was.
    """
    from torchvision.datasets.utils import check_md5

    dest_root = Path(dest_root)
    target = dest_root / FOLDER_NAME
    if not check_md5(str(archive), md5):
        raise RuntimeError(f"{archive}: md5 mismatch (expected {md5}); the download is corrupt")
    dest_root.mkdir(parents=True, exist_ok=True)
    remove_stale_working_folders(dest_root)
    with working_folder(dest_root, ".extract-") as tmp:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(tmp, filter="data")
        extracted = Path(tmp) / FOLDER_NAME
        try:
            load_cifar10(extracted)
        except (CIFAR10Error, FileNotFoundError) as exc:
            raise RuntimeError(f"{archive}: does not hold a valid CIFAR-10 copy: {exc}") from exc
        if target.exists():
            aside = target.with_name(f"{FOLDER_NAME}.invalid-{time.strftime('%Y%m%d-%H%M%S')}")
            target.rename(aside)
            print(f"moved the invalid copy at {target} aside to {aside}")
        shutil.move(str(extracted), str(target))
    return target


def download_cifar10(dest_root: Path | None = None, url: str = OFFICIAL_URL,
                     md5: str = OFFICIAL_MD5) -> Path:
    """Make sure ``dest_root/cifar-10-batches-py`` holds a valid copy; return its path."""
    from torchvision.datasets.utils import download_url

    # Working folders of runs that were killed, where this one would put its own.
    remove_stale_working_folders(Path(dest_root) if dest_root is not None else default_cache_dir())
    if dest_root is None:
        existing = _existing_copy()
        if existing is not None:
            print(f"CIFAR-10 already present and valid at {existing}")
            return existing
        dest_root = default_cache_dir()
    dest_root = Path(dest_root)
    target = dest_root / FOLDER_NAME
    if is_valid_copy(target):
        print(f"CIFAR-10 already present and valid at {target}")
        return target
    dest_root.mkdir(parents=True, exist_ok=True)
    with working_folder(dest_root, ".download-") as tmp:
        download_url(url, str(tmp), filename=ARCHIVE_NAME, md5=md5)
        install_archive(Path(tmp) / ARCHIVE_NAME, dest_root, md5)
    print(f"CIFAR-10 installed at {target}\nUse it with: export CIFAR10_DIR={target}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None,
                        help=f"parent folder for {FOLDER_NAME} (default: {default_cache_dir()})")
    parser.add_argument("--url", default=OFFICIAL_URL, help="archive URL (default: the official one)")
    args = parser.parse_args(argv)
    try:
        with signals_raise():
            download_cifar10(args.dir, args.url, OFFICIAL_MD5)
    except Terminated as exc:
        print(f"error: stopped by {signal.Signals(exc.signum).name}; the partial download and "
              "extraction were removed", file=sys.stderr)
        return 128 + exc.signum
    except CIFAR10SettingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
