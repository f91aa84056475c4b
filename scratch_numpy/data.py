"""CIFAR-10 data layer: safe loading and the assignment's splits.

NumPy and the standard library only (the torch side converts with
``torch.from_numpy``).

Layout of the python version (``cifar-10-batches-py``): ``data_batch_1`` ..
``data_batch_5`` and ``test_batch`` are pickled dicts with ``data`` (uint8,
``(10000, 3072)``: 1024 red, 1024 green, 1024 blue values, each a row-major
32x32 plane) and ``labels`` (10000 ints in 0..9); ``batches.meta`` holds
``label_names``.

The batch files are pickles, and ``pickle.load`` on untrusted bytes runs
arbitrary code. :class:`_BatchUnpickler` admits only the few globals a real
batch references (NumPy's array reconstruction), and every field is validated
before use.
"""

from __future__ import annotations

import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

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

# What a genuine batch pickle references: an ndarray rebuilt through
# numpy's _reconstruct (module renamed numpy._core in NumPy 2) and a dtype;
# Python 3 writing protocol 2 also stores bytes as _codecs.encode(str, "latin1").
# None of these can run code or touch files.
_ALLOWED_GLOBALS = frozenset(
    {
        ("_codecs", "encode"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }
)


class CIFAR10Error(ValueError):
    """A CIFAR-10 file is missing a field, has the wrong shape, or is corrupt."""


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


def _is_cifar_folder(path: Path) -> bool:
    return (path / TRAIN_FILES[0]).is_file()


def find_cifar10_dir(root: str | os.PathLike | None = None) -> Path:
    """Locate the ``cifar-10-batches-py`` folder.

    An explicit ``root`` is the only place looked at. Otherwise ``$CIFAR10_DIR``
    (when set), then the default cache directory. Each may be the batch folder
    itself or its parent. Raises :class:`CIFAR10NotFoundError` naming every
    path tried.
    """
    env = os.environ.get("CIFAR10_DIR")
    if root is not None:
        candidates = [("argument", Path(root))]
    elif env:
        candidates = [("CIFAR10_DIR", Path(env)), ("default cache", default_cache_dir())]
    else:
        candidates = [("default cache", default_cache_dir())]

    tried = []
    for origin, base in candidates:
        for path in (base, base / FOLDER_NAME):
            if _is_cifar_folder(path):
                return path
            tried.append(f"  {path}  ({origin})")
    raise CIFAR10NotFoundError(
        "CIFAR-10 (python version) not found. Looked for "
        f"{TRAIN_FILES[0]} in:\n" + "\n".join(tried) + "\n"
        f"Get it with {DOWNLOAD_COMMAND}, or point CIFAR10_DIR at an existing "
        f"{FOLDER_NAME} folder."
    )


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global except NumPy array reconstruction."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refused global {module}.{name}: a CIFAR-10 batch only "
                "contains NumPy arrays, lists, ints and strings"
            )
        return super().find_class(module, name)


def _text(value) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else value


def _unpickle(path: Path) -> dict:
    """Read one batch pickle safely; keys come back as str."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CIFAR10Error(f"{path}: cannot read ({exc})") from exc
    try:
        # latin1 decodes the Python 2 strings of the official files and keeps
        # NumPy's pickled byte buffers intact.
        obj = _BatchUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        raise CIFAR10Error(f"{path}: not a valid CIFAR-10 batch ({exc})") from exc
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise CIFAR10Error(
            f"{path}: corrupt or truncated pickle ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(obj, dict):
        raise CIFAR10Error(f"{path}: expected a dict, found {type(obj).__name__}")
    return {_text(k): v for k, v in obj.items()}


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
    data, labels = batch["data"], batch["labels"]

    expected = (ROWS_PER_BATCH, NUM_FEATURES)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.shape != expected:
        desc = (
            f"{data.dtype} array of shape {data.shape}"
            if isinstance(data, np.ndarray)
            else type(data).__name__
        )
        raise CIFAR10Error(f"{path}: 'data' must be a uint8 array of shape {expected}, found {desc}")

    if not isinstance(labels, (list, np.ndarray)) or len(labels) != ROWS_PER_BATCH:
        raise CIFAR10Error(
            f"{path}: 'labels' must hold {ROWS_PER_BATCH} entries, one per row of 'data'"
        )
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in labels):
        raise CIFAR10Error(f"{path}: 'labels' must be integers")
    y = np.asarray(labels, dtype=np.int64)
    if y.min() < 0 or y.max() >= NUM_CLASSES:
        raise CIFAR10Error(
            f"{path}: labels must lie in 0..{NUM_CLASSES - 1}, found {y.min()}..{y.max()}"
        )

    if "filenames" in batch and len(batch["filenames"]) != ROWS_PER_BATCH:
        raise CIFAR10Error(f"{path}: 'filenames' length differs from 'data' rows")

    # (N, 3072) -> (N, 3, 32, 32) channel planes -> (N, 32, 32, 3) images.
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


def load_cifar10(root: str | os.PathLike | None = None, train_batches: int | None = None) -> CIFAR10:
    """Load the training batches, the test batch and the class names.

    ``root``: the batch folder or its parent; defaults per :func:`find_cifar10_dir`.
    ``train_batches``: how many of the five training batches to load, from
    ``data_batch_1`` on (default: ``$CIFAR10_TRAIN_BATCHES`` when set, else all
    five). Fewer is a subset mode for a machine that holds only some batch files
    (the GPU check copies ``data_batch_1`` and ``test_batch``: 62 MB); the
    splits then shrink with it (:func:`split_cifar10`).
    """
    if train_batches is None:
        train_batches = os.environ.get(TRAIN_BATCHES_VARIABLE) or len(TRAIN_FILES)
        try:
            train_batches = int(train_batches)
        except ValueError:
            raise ValueError(f"${TRAIN_BATCHES_VARIABLE} must be an integer in 1..5, "
                             f"got {train_batches!r}") from None
    if isinstance(train_batches, bool) or not 1 <= train_batches <= len(TRAIN_FILES):
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
