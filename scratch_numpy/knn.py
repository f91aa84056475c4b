"""k-nearest-neighbour classifier (CS231n assignment 1), NumPy only.

Distances between a test row ``a`` and a training row ``b`` (both ``(D,)``):

    L2 (Euclidean): d(a, b) = sqrt(sum_i (a_i - b_i)^2)
    L1 (Manhattan): d(a, b) = sum_i |a_i - b_i|

The no-loop L2 uses the expansion ``||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b``,
so the whole ``(num_test, num_train)`` matrix is one matrix product plus two
broadcast norms. Rounding can make the expansion slightly negative for
(near-)identical rows; those values are clamped to 0 before the square root.
L1 has no matrix-product form: it is vectorized with broadcasting over blocks
small enough for the temporary ``(rows, cols, D)`` array to stay in cache.

Rules (the assignment's):
* The k nearest training points are the k smallest distances; equal
  distances are ordered by training index (a stable sort).
* The label is the majority vote of their labels; a tied vote goes to the
  smallest label (``np.argmax`` of the counts returns the first maximum).

Any finite input works: before squaring or summing, rows whose largest entry
lies outside [2^-40, 2^40] are multiplied by a power of two (exact), and the
distances are divided by it afterwards (:func:`knn_search.power_of_two_scale`).
A distance matrix whose true values exceed the dtype's range raises
``ValueError``; ``predict`` ranks scaled distances and needs no such limit.

:meth:`KNearestNeighbor.predict` with ``num_loops=0`` does not build the
distance matrix at all: it calls the exact searches of
:mod:`scratch_numpy.knn_search` (L2: float32 screen + float64 re-rank; L1:
lower-bound pruning), whose predictions equal those of float64 distances.
"""

from __future__ import annotations

import numpy as np

from scratch_numpy.knn_search import (DEFAULT_CHUNK_SIZE, first_k_per_row, l1_distances, l1_train_summary,
                                      l2_train_summary, max_abs, nearest_neighbors_l1, nearest_neighbors_l2,
                                      power_of_two_scale)
from scratch_numpy.validation import (check_array, check_choice, check_int, check_k, check_labels,
                                      check_width)

METRICS = ("l2", "l1")


def _as_rows(X, name: str) -> np.ndarray:
    """``X`` as a finite ``(N, D)`` float array: float32 stays float32, anything else float64."""
    X = check_array(X, name, 2)
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    return X.astype(dtype, copy=False)


def nearest_from_distances(dists: np.ndarray, k: int) -> np.ndarray:
    """Indices ``(N, k)`` of the k smallest entries of each row of ``dists``.

    Ordered by (distance, column index): the result a stable argsort would
    give, without sorting whole rows. ``argpartition`` finds each row's k-th
    smallest value ``t``; every entry ``<= t`` (ties at the boundary included)
    is a candidate, and only the candidates are sorted.
    """
    n, m = dists.shape
    if k == 1:
        # argmin returns the first minimum: the smallest index among ties.
        return np.argmin(dists, axis=1)[:, None]
    if k == m:
        return np.argsort(dists, axis=1, kind="stable")
    part = np.argpartition(dists, k - 1, axis=1)[:, k - 1]
    kth = dists[np.arange(n), part]
    rows, cols = np.nonzero(dists <= kth[:, None])
    return first_k_per_row(rows, cols, dists[rows, cols], k, n)


def majority_vote(neighbor_labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Most common label of each row of ``neighbor_labels (N, k)``; ties -> smallest label."""
    counts = (neighbor_labels[:, :, None] == np.arange(num_classes)).sum(axis=1)
    return np.argmax(counts, axis=1)


class KNearestNeighbor:
    """kNN classifier with L2 or L1 distance (the assignment's API).

    metric: ``"l2"`` (default) or ``"l1"``.
    chunk_size: test rows processed at once by the no-loop paths; memory is
        about ``chunk_size * num_train`` floats (1024 x 50,000 float64 = 400 MB).

    Distances are computed in float32 when training and test rows are both
    float32, otherwise in float64 (integer pixels are converted to float64).
    """

    def __init__(self, metric: str = "l2", chunk_size: int = DEFAULT_CHUNK_SIZE):
        self.metric = check_choice(metric, "metric", METRICS)
        self.chunk_size = check_int(chunk_size, "chunk_size")
        self.X_train: np.ndarray | None = None
        self.y_train: np.ndarray | None = None

    def train(self, X, y) -> "KNearestNeighbor":
        """Memorize the training data.

        X: (num_train, D) real, finite; y: (num_train,) non-negative int labels.
        """
        X = _as_rows(X, "X")
        y = check_labels(y, X.shape[0], None)
        if X.shape[0] == 0:
            raise ValueError("cannot train on zero rows")
        self.X_train, self.y_train = X, y.astype(np.int64)
        # Votes are counted over the labels present, numbered 0..C-1 in order (labels
        # {1e6, 2e6} need two counters, not two million), and mapped back.
        self.classes, self._codes = np.unique(self.y_train, return_inverse=True)
        self.num_classes = len(self.classes)
        self._train_max_abs = max_abs(X)
        # Per-scale caches (one scale, 1.0, unless the data are extreme).
        self._train_sq_norms: tuple[float, np.ndarray] | None = None
        self._l2_summary = None
        self._l1_summary = None
        return self

    # ---------------------------------------------------------------- checks
    def _check_test(self, X) -> np.ndarray:
        if self.X_train is None:
            raise ValueError("the classifier is not trained: call train(X, y) before predicting")
        X = _as_rows(X, "X_test")
        check_width(X.shape[1], self.X_train.shape[1], "X_test", "the classifier")
        return X

    def _working_pair(self, X):
        """Test and training rows in their common dtype, and the power of two they need.

        Returns (X, X_train, scale): both rows already multiplied by ``scale``.
        """
        dtype = np.result_type(X.dtype, self.X_train.dtype)
        scale = power_of_two_scale(max(max_abs(X), self._train_max_abs), dtype)
        X, X_train = X.astype(dtype, copy=False), self.X_train.astype(dtype, copy=False)
        if scale != 1:
            X, X_train = X * scale, X_train * scale
        return X, X_train, scale

    @staticmethod
    def _unscaled(dists: np.ndarray, scale: float) -> np.ndarray:
        """Distances between scaled rows -> distances between the rows given."""
        if scale == 1:
            return dists
        with np.errstate(over="ignore"):
            dists /= dists.dtype.type(scale)
        if not np.isfinite(dists).all():
            raise ValueError(f"some distances exceed the largest {dists.dtype} "
                             f"({np.finfo(dists.dtype).max:.3g}) and cannot be returned; "
                             "predict() still ranks these rows")
        return dists

    # ------------------------------------------------------------- distances
    def compute_distances_two_loops(self, X) -> np.ndarray:
        """dists (num_test, num_train): ``dists[i, j]`` = d(X[i], X_train[j]), pair by pair."""
        X, X_train, scale = self._working_pair(self._check_test(X))
        dists = np.zeros((X.shape[0], X_train.shape[0]), dtype=X.dtype)
        for i in range(X.shape[0]):
            for j in range(X_train.shape[0]):
                diff = X[i] - X_train[j]
                if self.metric == "l2":
                    dists[i, j] = np.sqrt(np.sum(diff * diff))
                else:
                    dists[i, j] = np.sum(np.abs(diff))
        return self._unscaled(dists, scale)

    def compute_distances_one_loop(self, X) -> np.ndarray:
        """Same matrix, one test row against all training rows at a time."""
        X, X_train, scale = self._working_pair(self._check_test(X))
        dists = np.zeros((X.shape[0], X_train.shape[0]), dtype=X.dtype)
        # One (num_train, D) buffer for all rows: a fresh 100+ MB array per row
        # would spend more time in page faults than in arithmetic.
        diff = np.empty_like(X_train)
        for i in range(X.shape[0]):
            np.subtract(X_train, X[i], out=diff)
            if self.metric == "l2":
                dists[i] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
            else:
                dists[i] = np.sum(np.abs(diff, out=diff), axis=1)
        return self._unscaled(dists, scale)

    def compute_distances_no_loops(self, X) -> np.ndarray:
        """Same matrix without Python loops over pairs (chunks of ``chunk_size`` test rows)."""
        X, X_train, scale = self._working_pair(self._check_test(X))
        dists = np.empty((X.shape[0], X_train.shape[0]), dtype=X.dtype)
        for start in range(0, X.shape[0], self.chunk_size):
            stop = start + self.chunk_size
            dists[start:stop] = self._distance_chunk(X[start:stop], X_train, scale)
        return self._unscaled(dists, scale)

    def _distance_chunk(self, X, X_train, scale) -> np.ndarray:
        if self.metric == "l1":
            return l1_distances(X, X_train)
        # Norms accumulate in float64 whatever the working dtype: a float32
        # running sum of 3072 squares would add more error than the product.
        train_sq = self._squared_norms(X_train, scale).astype(X.dtype)
        test_sq = np.einsum("ij,ij->i", X, X, dtype=np.float64).astype(X.dtype)
        d2 = test_sq[:, None] + train_sq[None, :] - 2 * (X @ X_train.T)
        # Rounding can push ||a||^2 + ||b||^2 - 2a.b below 0 for near-identical rows.
        np.maximum(d2, 0, out=d2)
        return np.sqrt(d2, out=d2)

    def _squared_norms(self, X_train: np.ndarray, scale: float) -> np.ndarray:
        """float64 squared norms of the scaled training rows, cached for the last scale."""
        if self._train_sq_norms is None or self._train_sq_norms[0] != scale:
            self._train_sq_norms = scale, np.einsum("ij,ij->i", X_train, X_train, dtype=np.float64)
        return self._train_sq_norms[1]

    # ----------------------------------------------------------- prediction
    def predict_labels(self, dists, k: int = 1) -> np.ndarray:
        """Labels (num_test,) from a distance matrix (num_test, num_train).

        The k nearest are the k smallest distances, ties by training index;
        the label is their majority vote, a tied vote going to the smallest label.
        """
        if self.y_train is None:
            raise ValueError("the classifier is not trained: call train(X, y) before predicting")
        dists = check_array(dists, "dists", 2)
        if dists.shape[1] != self.y_train.shape[0]:
            raise ValueError(
                f"dists has {dists.shape[1]} columns but there are {self.y_train.shape[0]} training points"
            )
        k = check_k(k, self.y_train.shape[0])
        return self.vote(nearest_from_distances(dists, k))

    def vote(self, neighbors: np.ndarray) -> np.ndarray:
        """The majority label of each row of training indices ``neighbors (N, k)``."""
        return self.classes[majority_vote(self._codes[neighbors], self.num_classes)]

    def predict(self, X, k: int = 1, num_loops: int = 0) -> np.ndarray:
        """Labels (num_test,) of test rows X (num_test, D).

        num_loops: 0 (vectorized, chunked), 1 or 2 (the loop versions, for comparison).
        With ``num_loops=0`` the neighbours are found without a full distance
        matrix (:meth:`nearest`).
        """
        X = self._check_test(X)
        k = check_k(k, self.X_train.shape[0])
        if num_loops == 1:
            return self.predict_labels(self.compute_distances_one_loop(X), k)
        if num_loops == 2:
            return self.predict_labels(self.compute_distances_two_loops(X), k)
        if num_loops != 0:
            raise ValueError(f"num_loops must be 0, 1 or 2, got {num_loops!r}")
        return self.vote(self.nearest(X, k))

    def nearest(self, X, k: int) -> np.ndarray:
        """Indices (num_test, k) of each test row's k nearest training rows, (distance, index) order.

        L2: :func:`knn_search.nearest_neighbors_l2` (exact float64 ranking at
        float32 GEMM speed); L1: :func:`knn_search.nearest_neighbors_l1`
        (exact, lower-bound pruned).
        """
        X = self._check_test(X)
        k = check_k(k, self.X_train.shape[0])
        if X.shape[0] == 0:
            return np.empty((0, k), dtype=np.int64)
        if self.metric == "l2":
            scale = power_of_two_scale(max(max_abs(X), self._train_max_abs))
            if self._l2_summary is None or self._l2_summary.scale != scale:
                self._l2_summary = l2_train_summary(self.X_train, scale, self._train_max_abs)
            return nearest_neighbors_l2(X, self.X_train, k, self.chunk_size, self._l2_summary)
        dtype = np.result_type(X.dtype, self.X_train.dtype)
        X, X_train = X.astype(dtype, copy=False), self.X_train.astype(dtype, copy=False)
        scale = power_of_two_scale(max(max_abs(X), self._train_max_abs), dtype)
        summary = self._l1_summary
        if summary is None or summary.scale != scale or summary.group_sums.dtype != dtype:
            summary = self._l1_summary = l1_train_summary(X_train, scale=scale, largest=self._train_max_abs)
        return np.concatenate([
            nearest_neighbors_l1(X[s:s + self.chunk_size], X_train, k, train_summary=summary)
            for s in range(0, X.shape[0], self.chunk_size)])


def cross_validate(X, y, k_choices, num_folds: int = 5, metric: str = "l2",
                   chunk_size: int = DEFAULT_CHUNK_SIZE) -> dict[int, list[float]]:
    """Accuracy of each k on each fold: ``{k: [acc_fold_0, ..., acc_fold_{F-1}]}``.

    X (N, D), y (N,). Folds are ``np.array_split`` of the rows in order; fold f
    is held out while the classifier trains on the others (concatenated in
    order). Neighbours are found once per fold for the largest k and reused
    for every smaller k (the first k of a (distance, index)-ordered list).
    """
    X = _as_rows(X, "X")
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must be 1-D with one label per row of X ({X.shape[0]}), got shape {y.shape}")
    num_folds = check_int(num_folds, "num_folds", 2, X.shape[0])
    k_choices = list(k_choices)
    if not k_choices:
        raise ValueError("k_choices is empty")
    X_folds, y_folds = np.array_split(X, num_folds), np.array_split(y, num_folds)
    accuracies: dict[int, list[float]] = {int(k): [] for k in k_choices}
    for fold in range(num_folds):
        model = KNearestNeighbor(metric, chunk_size).train(
            np.concatenate(X_folds[:fold] + X_folds[fold + 1:]),
            np.concatenate(y_folds[:fold] + y_folds[fold + 1:]))
        for k in k_choices:
            check_k(k, model.X_train.shape[0])
        neighbors = model.nearest(X_folds[fold], max(k_choices))
        for k in k_choices:
            predicted = model.vote(neighbors[:, :k])
            accuracies[int(k)].append(float(np.mean(predicted == y_folds[fold])))
    return accuracies


def best_k(accuracies: dict[int, list[float]]) -> int:
    """The k with the highest mean accuracy (the smallest such k on a tie)."""
    return min(accuracies, key=lambda k: (-np.mean(accuracies[k]), k))
