"""CIFAR-10 data layer: safe loading and the assignment's splits.

NumPy and the standard library only (the torch side converts with
``torch.from_numpy``).

Layout of the python version (``cifar-10-batches-py``): ``data_batch_1`` ..
``data_batch_5`` and ``test_batch`` are pickled dicts with ``data`` (uint8,
``(10000, 3072)``: 1024 red, 1024 green, 1024 blue values, each a row-major
32x32 plane) and ``labels`` (10000 ints in 0..9); ``batches.meta`` holds
``label_names``.

The batch files are pickles, and ``pickle.load`` on untrusted bytes runs
arbitrary code: they are read by :func:`scratch_numpy.safe_pickle.restricted_loads`
(plain integer arrays, lists, ints and strings only), after a size check, and every
field is validated before use. Every defect of a file is a :class:`CIFAR10Error`
naming it.

One concern, the data set on disk (where it is, how each file is read and checked, how
it splits), in about 360 lines; the unpickler has its own module.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from scratch_numpy.safe_pickle import UnsafePickleError, restricted_loads

if TYPE_CHECKING:  # the type only: preprocessing imports this module
    from scratch_numpy.preprocessing import Preprocessor

NUM_CLASSES = 10
IMAGE_SHAPE = (32, 32, 3)
NUM_FEATURES = 32 * 32 * 3
ROWS_PER_BATCH = 10_000
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
FOLDER_NAME = "cifar-10-batches-py"
TRAIN_BATCHES_VARIABLE = "CIFAR10_TRAIN_BATCHES"
# How users fetch the data: the console entry point, or the module from the repository root.
DOWNLOAD_COMMAND = "`cs231n-download` (or `python -m scripts.download_cifar10`)"

# A batch holds 30,720,000 pixel bytes; labels, file names and pickle framing add
# about 1%. A file over twice the pixel bytes cannot be a batch, and is refused
# before it is read (a multi-gigabyte file would otherwise be read whole).
MAX_BATCH_FILE_BYTES = 2 * ROWS_PER_BATCH * NUM_FEATURES


class CIFAR10Error(ValueError):
    """A CIFAR-10 file is missing a field, has the wrong shape, or is corrupt."""


class CIFAR10SettingError(CIFAR10Error):
    """An environment variable of the data layer holds a value it cannot take; the message
    names the variable, its value and what is allowed."""


class CIFAR10NotFoundError(FileNotFoundError):
    """No CIFAR-10 folder was found in any of the places looked at."""


@dataclass(frozen=True)
class CIFAR10:
    """The whole data set in memory.

    X_train: uint8 (50000, 32, 32, 3); y_train: int64 (50000,)
    X_test:  uint8 (10000, 32, 32, 3); y_test:  int64 (10000,)
    class_names: the 10 label names, index = label.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]


def default_cache_dir() -> Path:
    """Where the download command puts the data: ``$XDG_CACHE_HOME/cs231n-cifar10``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cs231n-cifar10"


def _why_not_cifar_folder(path: Path) -> str | None:
    """None when ``path`` holds the first training batch, else the reason it does not."""
    try:
        mode = os.stat(path / TRAIN_FILES[0]).st_mode
    except FileNotFoundError:
        return "no such folder" if not os.path.isdir(path) else f"no {TRAIN_FILES[0]} there"
    except NotADirectoryError:
        return "not a folder"
    except (OSError, ValueError) as exc:  # permission denied, name too long, NUL in the name
        return f"cannot be read: {getattr(exc, 'strerror', None) or exc}"
    return None if stat.S_ISREG(mode) else f"{TRAIN_FILES[0]} is not a file"


def find_cifar10_dir(root: str | os.PathLike | None = None) -> Path:
    """Locate the ``cifar-10-batches-py`` folder.

    An explicit location is the only place looked at: ``root`` when given, else
    ``$CIFAR10_DIR`` when set (a wrong one is an error naming it, never a silent
    fall-back to another copy); otherwise the default cache directory. Each may be
    the batch folder itself or its parent. Raises :class:`CIFAR10NotFoundError`
    naming every path tried and why it was not used.
    """
    env = os.environ.get("CIFAR10_DIR")
    if root is not None:
        origin, base = "argument", Path(root)
    elif env:
        origin, base = "CIFAR10_DIR", Path(env)
    else:
        origin, base = "default cache", default_cache_dir()

    tried = []
    for path in (base, base / FOLDER_NAME):
        reason = _why_not_cifar_folder(path)
        if reason is None:
            return path
        tried.append(f"  {path}  ({origin}: {reason})")
    raise CIFAR10NotFoundError(
        "CIFAR-10 (python version) not found. Looked for "
        f"{TRAIN_FILES[0]} in:\n" + "\n".join(tried) + "\n"
        f"Get it with {DOWNLOAD_COMMAND}, or point CIFAR10_DIR at an existing "
        f"{FOLDER_NAME} folder."
    )


def _text(value) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else value


def _read_bounded(path: Path) -> bytes:
    """The bytes of ``path``, refused unread when there are more than a batch can hold."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_BATCH_FILE_BYTES:
                raise CIFAR10Error(f"{path}: {size:,} bytes, more than a CIFAR-10 batch can be "
                                   f"(at most {MAX_BATCH_FILE_BYTES:,})")
            # Read one byte past the limit: a pipe or device reports size 0.
            raw = f.read(MAX_BATCH_FILE_BYTES + 1)
    except OSError as exc:  # missing, permission denied, a folder, an I/O error
        raise CIFAR10Error(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if len(raw) > MAX_BATCH_FILE_BYTES:
        raise CIFAR10Error(f"{path}: more than {MAX_BATCH_FILE_BYTES:,} bytes, more than a "
                           "CIFAR-10 batch can be")
    return raw


def _unpickle(path: Path) -> dict:
    """Read one batch pickle safely; keys come back as str."""
    raw = _read_bounded(path)
    try:
        obj = restricted_loads(raw)
    except UnsafePickleError as exc:
        raise CIFAR10Error(f"{path}: not a valid CIFAR-10 batch ({exc})") from exc
    except Exception as exc:
        # Whatever decoding damaged bytes raises (UnpicklingError, EOFError, ValueError,
        # TypeError, MemoryError, ...), the file is not a batch.
        raise CIFAR10Error(
            f"{path}: corrupt or truncated pickle ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, dict):
        raise CIFAR10Error(f"{path}: expected a dict, found {type(obj).__name__}")
    keys = [_text(k) for k in obj]
    if not all(isinstance(k, str) for k in keys):
        bad = next(type(k).__name__ for k in keys if not isinstance(k, str))
        raise CIFAR10Error(f"{path}: every key of the batch dict must be a string, "
                           f"found a key of type {bad}")
    return dict(zip(keys, obj.values()))


def _check_labels(path: Path, labels) -> np.ndarray:
    """``labels``: a list, or a 1-D integer array, of ROWS_PER_BATCH ints in 0..9 -> int64."""
    if isinstance(labels, np.ndarray):
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise CIFAR10Error(f"{path}: 'labels' must be integers, found a {labels.dtype} array "
                               f"of shape {labels.shape}")
    elif not isinstance(labels, list):
        raise CIFAR10Error(f"{path}: 'labels' must be a list, found {type(labels).__name__}")
    if len(labels) != ROWS_PER_BATCH:
        raise CIFAR10Error(f"{path}: 'labels' must hold {ROWS_PER_BATCH} entries, one per row of 'data'")
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in labels):
        raise CIFAR10Error(f"{path}: 'labels' must be integers")
    # The range is checked on the values as stored: a Python int such as 2**70 does not
    # fit int64, and a uint64 above 2**63 would wrap in the conversion.
    low, high = min(labels), max(labels)
    if low < 0 or high >= NUM_CLASSES:
        raise CIFAR10Error(f"{path}: labels must lie in 0..{NUM_CLASSES - 1}, found {low}..{high}")
    return np.array(labels, dtype=np.int64)


def load_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Load and validate one batch file.

    Returns X uint8 (10000, 32, 32, 3) and y int64 (10000,).
    Raises :class:`CIFAR10Error` naming the file on any defect.
    """
    path = Path(path)
    batch = _unpickle(path)
    for key in ("data", "labels"):
        if key not in batch:
            raise CIFAR10Error(f"{path}: field {key!r} missing (has {sorted(batch)})")
    data = batch["data"]

    expected = (ROWS_PER_BATCH, NUM_FEATURES)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.shape != expected:
        desc = (f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray)
                else type(data).__name__)
        raise CIFAR10Error(f"{path}: 'data' must be a uint8 array of shape {expected}, found {desc}")
    y = _check_labels(path, batch["labels"])

    names = batch.get("filenames")
    if names is not None and (not isinstance(names, list) or len(names) != ROWS_PER_BATCH):
        raise CIFAR10Error(f"{path}: 'filenames' must be a list of {ROWS_PER_BATCH} names, "
                           "one per row of 'data'")

    # (N, 3072) -> (N, 3, 32, 32) channel planes -> (N, 32, 32, 3) images (a fresh,
    # writable copy: the unpickled array is a read-only view of the file's bytes).
    X = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return X, y


def load_class_names(path: str | os.PathLike) -> tuple[str, ...]:
    """Read ``label_names`` from ``batches.meta`` (10 strings)."""
    path = Path(path)
    meta = _unpickle(path)
    names = meta.get("label_names")
    if not isinstance(names, list) or len(names) != NUM_CLASSES:
        raise CIFAR10Error(f"{path}: 'label_names' must be a list of {NUM_CLASSES} names")
    names = tuple(_text(n) for n in names)
    if not all(isinstance(n, str) for n in names):
        raise CIFAR10Error(f"{path}: 'label_names' must be strings")
    return names


def train_batches_setting() -> int:
    """How many training batches ``$CIFAR10_TRAIN_BATCHES`` asks for: 1..5, or 5 when unset.

    Anything else (``abc``, ``7``, ``0``, ``-1``, an empty value) is a
    :class:`CIFAR10SettingError` naming the variable, its value and what is allowed, never
    a silent fall-back to all five.
    """
    value = os.environ.get(TRAIN_BATCHES_VARIABLE)
    if value is None:
        return len(TRAIN_FILES)
    allowed = [str(n) for n in range(1, len(TRAIN_FILES) + 1)]
    if value.strip() not in allowed:
        raise CIFAR10SettingError(
            f"{TRAIN_BATCHES_VARIABLE}={value!r} is not allowed: it must be an integer in "
            f"1..{len(TRAIN_FILES)}, how many training batches to load from "
            f"{TRAIN_FILES[0]} on (unset it to load all {len(TRAIN_FILES)})")
    return int(value)


def load_cifar10(root: str | os.PathLike | None = None, train_batches: int | None = None) -> CIFAR10:
    """Load the training batches, the test batch and the class names.

    ``root``: the batch folder or its parent; defaults per :func:`find_cifar10_dir`.
    ``train_batches``: how many of the five training batches to load, from
    ``data_batch_1`` on (default: ``$CIFAR10_TRAIN_BATCHES`` when set, else all
    five). Fewer is a subset mode for a machine that holds only some batch files
    (the GPU check copies ``data_batch_1`` and ``test_batch``: 62 MB); the
    splits then shrink with it (:func:`split_cifar10`). A bad value of the variable is a
    :class:`CIFAR10SettingError` (a :class:`CIFAR10Error`, so the commands print it).
    """
    if train_batches is None:
        train_batches = train_batches_setting()
    if (isinstance(train_batches, bool) or not isinstance(train_batches, (int, np.integer))
            or not 1 <= train_batches <= len(TRAIN_FILES)):
        raise ValueError(f"train_batches must be an integer in 1..5, got {train_batches!r}")
    train_files = TRAIN_FILES[:train_batches]
    folder = find_cifar10_dir(root)
    missing = [n for n in (*train_files, TEST_FILE, META_FILE) if not (folder / n).is_file()]
    if missing:
        raise CIFAR10Error(
            f"{folder}: incomplete CIFAR-10 folder, missing {', '.join(missing)}. "
            f"Run {DOWNLOAD_COMMAND} to fetch a complete copy."
        )
    train = [load_batch(folder / name) for name in train_files]
    X_test, y_test = load_batch(folder / TEST_FILE)
    return CIFAR10(
        X_train=np.concatenate([X for X, _ in train]),
        y_train=np.concatenate([y for _, y in train]),
        X_test=X_test,
        y_test=y_test,
        class_names=load_class_names(folder / META_FILE),
    )


@dataclass(frozen=True)
class Splits:
    """The assignment's splits: uint8 images (N, 32, 32, 3) as loaded, or rows ready
    for the models after :func:`scratch_numpy.preprocessing.preprocess_splits`.

    train: the first ``num_training`` training images; val: the next
    ``num_validation``; test: the first ``num_test`` test images; dev: a seeded
    random subset of train (for fast gradient checks).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_dev: np.ndarray
    y_dev: np.ndarray
    # The statistics the rows were transformed with (see scratch_numpy.preprocessing);
    # None while the images are raw uint8.
    preprocessor: Preprocessor | None = None


def split_cifar10(
    data: CIFAR10,
    num_training: int | None = None,
    num_validation: int = 1_000,
    num_test: int = 10_000,
    num_dev: int = 500,
    seed: int = 0,
) -> Splits:
    """Split as in the assignment (sizes configurable).

    ``num_training`` None: 49,000, the assignment's, or every training image but
    the validation ones when fewer were loaded (``load_cifar10(train_batches=1)``).
    """
    n_train, n_test = len(data.y_train), len(data.y_test)
    if num_training is None:
        num_training = min(49_000, n_train - num_validation)
    sizes = dict(num_training=num_training, num_validation=num_validation,
                 num_test=num_test, num_dev=num_dev)
    for name, value in sizes.items():
        if not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    if num_training + num_validation > n_train:
        raise ValueError(
            f"num_training + num_validation = {num_training + num_validation} exceeds "
            f"the {n_train} training images"
        )
    if num_test > n_test:
        raise ValueError(f"num_test = {num_test} exceeds the {n_test} test images")
    if num_dev > num_training:
        raise ValueError(f"num_dev = {num_dev} exceeds num_training = {num_training}")

    val = slice(num_training, num_training + num_validation)
    dev = np.random.default_rng(seed).choice(num_training, num_dev, replace=False)
    return Splits(
        X_train=data.X_train[:num_training],
        y_train=data.y_train[:num_training],
        X_val=data.X_train[val],
        y_val=data.y_train[val],
        X_test=data.X_test[:num_test],
        y_test=data.y_test[:num_test],
        X_dev=data.X_train[dev],
        y_dev=data.y_train[dev],
    )
