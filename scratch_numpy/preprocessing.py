"""Preprocessing: images to the rows each model trains on.

Statistics are learned on the training split only (:class:`Preprocessor`,
scikit-learn's ``fit`` / ``transform``) and applied unchanged to val, test and
dev. The functions at the end give each model family its rows:

* :func:`pixel_rows`, :func:`assignment_subset`: raw pixels (kNN);
* :func:`linear_rows`: mean-subtracted rows with the bias column (SVM, softmax);
* :func:`network_rows`: mean-subtracted float32 rows (the two-layer net);
* :func:`standardized_rows`: per-feature standardized float32 rows (the fully-connected nets);
* :func:`dev_batch`: the dev rows for gradient checks;
* :func:`random_flips`: the networks' augmentation (mirrored images);
* :class:`FormPreprocessor`: the seed notes' forms of preprocessing, side by side.

NumPy only.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from scratch_numpy.data import CIFAR10, IMAGE_SHAPE, NUM_FEATURES, Splits
from scratch_numpy.validation import check_float_dtype


class Preprocessor:
    """Rows, mean-image subtraction, optional std scaling and bias column.

    Statistics are learned by :meth:`fit` on the training split only, then
    :meth:`transform` applies them unchanged to any split (fitting them on
    val/test leaks information, a common mistake the seed notes call out):

        prep = Preprocessor(bias_trick=True).fit(splits.X_train)
        X_val = prep.transform(splits.X_val)

    transform(X): X (N, 32, 32, 3) or (N, 3072), any real dtype ->
    ``(N, 3072)``, or ``(N, 3073)`` with ``bias_trick``, in ``dtype``:
    ``(x - mean) / std`` per feature, then a trailing column of ones.
    """

    def __init__(self, subtract_mean: bool = True, normalize_std: bool = False,
                 bias_trick: bool = False, dtype=np.float64):
        dtype = check_float_dtype(dtype)
        self.subtract_mean = subtract_mean
        self.normalize_std = normalize_std
        self.bias_trick = bias_trick
        self.dtype = dtype
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None

    @staticmethod
    def _rows(X) -> np.ndarray:
        """``(N, 3072)`` view of ``X`` in its own dtype, checked numeric and finite."""
        X = np.asarray(X)
        if X.ndim < 2 or int(np.prod(X.shape[1:])) != NUM_FEATURES:
            raise ValueError(
                f"expected images of shape (N, 32, 32, 3) or rows (N, 3072), got {X.shape}"
            )
        if not (np.issubdtype(X.dtype, np.integer) or np.issubdtype(X.dtype, np.floating)):
            raise ValueError(f"expected a numeric array, got dtype {X.dtype}")
        if np.issubdtype(X.dtype, np.floating) and not np.isfinite(X).all():
            raise ValueError("input contains NaN or infinite values")
        return X.reshape(X.shape[0], NUM_FEATURES)

    def fit(self, X_train) -> "Preprocessor":
        """Learn the per-feature mean (and std) of the training images, in float64."""
        X = self._rows(X_train)
        if X.shape[0] == 0:
            raise ValueError("cannot fit preprocessing statistics on zero images")
        self.mean_ = X.mean(axis=0, dtype=np.float64)
        # Two passes in row chunks: exact enough, and no float64 copy of all of X.
        sq = np.zeros(NUM_FEATURES)
        for start in range(0, X.shape[0], 4096):
            sq += ((X[start:start + 4096] - self.mean_) ** 2).sum(axis=0)
        std = np.sqrt(sq / X.shape[0])
        # A constant feature has std 0; leave it unscaled rather than divide by 0.
        self.std_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, X) -> np.ndarray:
        """Apply the fitted statistics; never refits."""
        if self.mean_ is None:
            raise ValueError("Preprocessor.transform called before fit: fit on the training split first")
        X = self._rows(X).astype(np.float64)
        if self.subtract_mean:
            X -= self.mean_
        if self.normalize_std:
            X /= self.std_
        if self.bias_trick:
            X = np.hstack([X, np.ones((X.shape[0], 1))])
        return X.astype(self.dtype, copy=False)


def preprocess_splits(splits: Splits, **options) -> Splits:
    """Fit a :class:`Preprocessor` (``options``) on ``splits.X_train`` and apply it to all.

    Returns the same splits as rows, with the fitted preprocessor attached.
    """
    prep = Preprocessor(**options).fit(splits.X_train)
    return Splits(
        X_train=prep.transform(splits.X_train), y_train=splits.y_train,
        X_val=prep.transform(splits.X_val), y_val=splits.y_val,
        X_test=prep.transform(splits.X_test), y_test=splits.y_test,
        X_dev=prep.transform(splits.X_dev), y_dev=splits.y_dev,
        preprocessor=prep,
    )


def dev_batch(splits: Splits, **options) -> tuple[np.ndarray, np.ndarray]:
    """The dev rows, preprocessed (``options``) with statistics fit on the training split.

    Returns X_dev (num_dev, 3072[+1]) and y_dev (num_dev,). Cheaper than
    :func:`preprocess_splits` when only the dev batch is needed.
    """
    prep = Preprocessor(**options).fit(splits.X_train)
    return prep.transform(splits.X_dev), splits.y_dev


def pixel_rows(images: np.ndarray, dtype=np.float64) -> np.ndarray:
    """(N, 32, 32, 3) uint8 images -> (N, 3072) raw pixel rows (no mean subtraction)."""
    return images.reshape(images.shape[0], -1).astype(dtype)


def assignment_subset(data: CIFAR10, num_train: int = 5000, num_test: int = 500):
    """The kNN assignment's subset: X_train, y_train, X_test, y_test, the first images
    of each split as float64 raw pixel rows."""
    return (pixel_rows(data.X_train[:num_train]), data.y_train[:num_train],
            pixel_rows(data.X_test[:num_test]), data.y_test[:num_test])


def linear_rows(splits: Splits, num_train: int | None = None, num_eval: int | None = None,
                dtype=np.float32) -> Splits:
    """Rows for the linear classifiers: mean subtraction (training statistics) and the
    bias trick, in ``dtype``; the dev split is left empty.

    num_train, num_eval: keep only the first rows of train, and of val and test
    (smoke tests); the mean image is then fit on the kept training rows.
    """
    splits = replace(splits, X_train=splits.X_train[:num_train], y_train=splits.y_train[:num_train],
                     X_val=splits.X_val[:num_eval], y_val=splits.y_val[:num_eval],
                     X_test=splits.X_test[:num_eval], y_test=splits.y_test[:num_eval],
                     X_dev=splits.X_dev[:0], y_dev=splits.y_dev[:0])
    return preprocess_splits(splits, bias_trick=True, dtype=dtype)


def network_rows(splits: Splits) -> Splits:
    """Rows for the networks: float32, minus the training split's mean image."""
    return preprocess_splits(splits, dtype=np.float32)


def standardized_rows(splits: Splits) -> Splits:
    """Rows for the fully-connected nets: float32, ``(x - mean image) / std`` per feature
    (training statistics), so that every input has unit variance, the premise of the
    "xavier" and "he" initialisations."""
    return preprocess_splits(splits, normalize_std=True, dtype=np.float32)


# Column j of a mirrored row is column MIRRORED_COLUMNS[j] of the row (HWC order).
MIRRORED_COLUMNS = np.arange(NUM_FEATURES).reshape(IMAGE_SHAPE)[:, ::-1, :].reshape(-1)


def check_image_rows(width: int) -> None:
    """Rows a flip can mirror are 32 x 32 x 3 images: ``width`` must be 3072 (both sides'
    trainers check it before any work when asked for flips)."""
    if width != NUM_FEATURES:
        raise ValueError(f"flip augmentation needs rows of 32x32x3 images, got width {width}")


def flip_rows_horizontally(X: np.ndarray) -> np.ndarray:
    """Mirror each CIFAR-10 row (32 x 32 x 3, HWC order) left to right; returns a copy.

    One gather of the columns in mirrored order: about twice as fast as copying the
    reversed (N, 32, 32, 3) view, whose innermost run is only the 3 channels.
    """
    check_image_rows(X.shape[1])
    return np.take(X, MIRRORED_COLUMNS, axis=1)


def random_flips(X_batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirror a random half of the rows (each with probability 1/2), in place; returns X_batch."""
    flip = rng.random(len(X_batch)) < 0.5
    X_batch[flip] = flip_rows_horizontally(X_batch[flip])
    return X_batch


# The forms of preprocessing the seed notes name, as (centre, scale): subtract nothing, one
# global mean (``X -= np.mean(X)``), one mean per colour channel, or the mean image; then
# optionally divide by the per-feature std, or map each feature's [min, max] to [-1, 1].
PREPROCESSING_FORMS = {
    "none": (None, None),
    "global mean": ("global", None),
    "channel mean": ("channel", None),
    "mean image": ("image", None),
    "mean image + std": ("image", "std"),
    "[-1, 1]": ("range", "range"),
}


class FormPreprocessor:
    """One of :data:`PREPROCESSING_FORMS`, fit on one set of images and applied to any.

    fit(X): X (N, 32, 32, 3) or (N, 3072) -> learns ``shift`` and ``scale`` (scalars
    or (3072,) float64); transform(X) -> ``(rows - shift) / scale`` as float32 rows.
    For "[-1, 1]": shift = (max + min) / 2 and scale = (max - min) / 2 per feature.
    """

    def __init__(self, form: str):
        if form not in PREPROCESSING_FORMS:
            raise ValueError(f"unknown form {form!r}; choose one of {', '.join(PREPROCESSING_FORMS)}")
        self.form = form
        self.shift = self.scale = None

    def fit(self, X) -> "FormPreprocessor":
        X = Preprocessor._rows(X)
        if X.shape[0] == 0:
            raise ValueError("cannot fit preprocessing statistics on zero images")
        centre, scale = PREPROCESSING_FORMS[self.form]
        self.shift, self.scale = 0.0, 1.0
        if centre == "global":
            self.shift = float(X.mean(dtype=np.float64))
        elif centre == "channel":  # HWC rows: feature i belongs to channel i % 3
            channel_means = X.reshape(X.shape[0], -1, IMAGE_SHAPE[2]).mean(axis=(0, 1), dtype=np.float64)
            self.shift = np.tile(channel_means, NUM_FEATURES // IMAGE_SHAPE[2])
        elif centre == "image":
            stats = Preprocessor().fit(X)
            self.shift = stats.mean_
            if scale == "std":
                self.scale = stats.std_
        elif centre == "range":
            low, high = X.min(axis=0).astype(np.float64), X.max(axis=0).astype(np.float64)
            self.shift = (high + low) / 2
            self.scale = np.where(high > low, (high - low) / 2, 1.0)  # constant feature: unscaled
        return self

    def transform(self, X) -> np.ndarray:
        if self.shift is None:
            raise ValueError("FormPreprocessor.transform called before fit")
        rows = Preprocessor._rows(X).astype(np.float64)
        rows -= self.shift
        rows /= self.scale
        return rows.astype(np.float32)
