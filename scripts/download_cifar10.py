"""Download CIFAR-10 (python version) into the cache directory, safely.

    python -m scripts.download_cifar10 [--dir DIR]

Fetches the official ``cifar-10-python.tar.gz`` with torchvision's download
utility (progress bar), checks the archive's md5, extracts it into a temporary
folder (tar's ``data`` filter: no absolute paths, no ``..``, no links out),
validates every batch with the project's loader, and only then moves it into
place. A valid copy already there, or wherever the loader finds one
(``$CIFAR10_DIR`` when set, else the cache) when no ``--dir`` is given, is kept as it is
(idempotent, no network); an invalid one is renamed aside, never deleted.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from scratch_numpy.data import (
    CIFAR10Error, FOLDER_NAME, default_cache_dir, find_cifar10_dir, load_cifar10,
)

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE_NAME = "cifar-10-python.tar.gz"


def is_valid_copy(folder: Path) -> bool:
    """True when ``folder`` holds a complete CIFAR-10 that passes validation."""
    try:
        load_cifar10(folder)
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
    with tempfile.TemporaryDirectory(dir=dest_root, prefix=".extract-") as tmp:
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
    with tempfile.TemporaryDirectory(dir=dest_root, prefix=".download-") as tmp:
        download_url(url, tmp, filename=ARCHIVE_NAME, md5=md5)
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
        download_cifar10(args.dir, args.url)
    except (RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
