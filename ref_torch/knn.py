"""k-nearest-neighbour classifier in torch, on cpu or cuda: the twin of
``scratch_numpy/knn.py`` (it never calls it).

Distances (``a`` a test row, ``b`` a training row):

    L2: sqrt(max(||a||^2 + ||b||^2 - 2 a.b, 0))   (one ``addmm`` per chunk)
    L1: sum_i |a_i - b_i|                           (``torch.cdist(p=1)``)

The same rules as the NumPy side: the k nearest are ordered by (distance,
training index); the vote is a majority with ties to the smallest label.

Two searches for :meth:`KNearestNeighbor.predict` / ``nearest``:

* ``search="plain"`` (the default) is the oracle: every distance in float64,
  then a stable sort of each row (``argmin``, which returns the first
  minimum, for k = 1). It shares no ranking code with the fast search it
  checks, only the exact power-of-two scaling below.
* ``search="fast"``: L2 by :func:`ref_torch.knn_search.nearest_neighbors_l2`
  (float32 screen + float64 re-rank: the neighbours of float64 distances at
  float32 GEMM speed); L1 from ``cdist`` distances in ``dtype``.

Before squaring or summing, rows whose largest entry lies outside
[2^-40, 2^40] are multiplied by a power of two (exact), so any finite input
ranks correctly; :meth:`compute_distances` divides the scale out again and
raises ``ValueError`` when a distance exceeds ``dtype``'s range. The kNN is
not a loss: it registers no parity kind.
"""

from __future__ import annotations

import numpy as np
import torch

from ref_torch.devices import resolve_device, torch_dtype
from ref_torch.knn_search import (DEFAULT_CHUNK_SIZE, l2_train_summary, max_abs, nearest_neighbors_l2,
                                  power_of_two_scale, scaled_sq_norms)
from ref_torch.validation import check_label_tensor, check_tensor
from scratch_numpy.validation import check_choice, check_int, check_k, check_width

METRICS = ("l2", "l1")
SEARCHES = ("plain", "fast")
# Training rows per torch.cdist call (bounds the L1 kernel's working set).
L1_TRAIN_BLOCK = 8192


def _as_rows(X, name: str, device, dtype=None) -> torch.Tensor:
    """Finite (N, D) float tensor on ``device`` in ``dtype`` (default: float32
    stays float32, anything else becomes float64), checked as the NumPy twin checks it."""
    X = check_tensor(X, name, 2, device)
    if dtype is None:
        dtype = torch.float32 if X.dtype == torch.float32 else torch.float64
    return X.to(dtype=dtype)


def nearest_from_distances(dists: torch.Tensor, k: int) -> torch.Tensor:
    """Indices (N, k) of the k smallest entries per row, ordered by (value, column)."""
    if k == 1:
        # torch.argmin returns the first minimal index: the smallest index among ties.
        return torch.argmin(dists, dim=1, keepdim=True)
    return torch.sort(dists, dim=1, stable=True).indices[:, :k]


def majority_vote(neighbor_labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Most common label per row of (N, k) labels; ties -> smallest label."""
    counts = torch.zeros(neighbor_labels.shape[0], num_classes, dtype=torch.int64,
                         device=neighbor_labels.device)
    counts.scatter_add_(1, neighbor_labels, torch.ones_like(neighbor_labels))
    # count * C - label has a unique maximum: the most votes, then the smallest
    # label. No reliance on which of several equal maxima a backend's argmax picks.
    labels = torch.arange(num_classes, device=counts.device)
    return torch.argmax(counts * num_classes - labels, dim=1)


class KNearestNeighbor:
    """kNN classifier with L2 or L1 distance on a torch device.

    metric: ``"l2"`` or ``"l1"``; device: ``"cpu"``, ``"cuda"`` or ``"auto"``;
    dtype: float32 or float64, the precision of :meth:`compute_distances` (and
        of the L1 distances of ``search="fast"``);
    chunk_size: test rows per chunk (memory ~ chunk_size * num_train floats);
    search: ``"plain"`` (float64 oracle) or ``"fast"`` (see the module docstring).
    """

    def __init__(self, metric: str = "l2", device="cpu", dtype=np.float64,
                 chunk_size: int = DEFAULT_CHUNK_SIZE, search: str = "plain"):
        self.metric = check_choice(metric, "metric", METRICS)
        self.search = check_choice(search, "search", SEARCHES)
        self.device = resolve_device(device)
        self.dtype = torch_dtype(dtype)
        self.chunk_size = check_int(chunk_size, "chunk_size")
        self.X_train: torch.Tensor | None = None

    def train(self, X, y) -> "KNearestNeighbor":
        """Memorize X (num_train, D) and non-negative integer labels y (num_train,)."""
        X = _as_rows(X, "X", self.device)
        y = check_label_tensor(y, X.shape[0], None, device=self.device)
        if X.shape[0] == 0:
            raise ValueError("cannot train on zero rows")
        # Kept in its own precision (float32 rows are not widened: the exact
        # re-rank widens only the rows it gathers).
        self.X_train = X
        self.y_train = y
        # Votes over the labels present, numbered 0..C-1 (as the NumPy twin), mapped back.
        self.classes, self._codes = torch.unique(y, sorted=True, return_inverse=True)
        self.num_classes = len(self.classes)
        self._train_max_abs = max_abs(X)
        self._rows: dict[torch.dtype, tuple] = {}  # dtype -> (scale, scaled rows, float64 squared norms)
        self._l2_summary = None
        return self

    def vote(self, neighbors: torch.Tensor) -> torch.Tensor:
        """The majority label of each row of training indices ``neighbors (N, k)``."""
        return self.classes[majority_vote(self._codes[neighbors], self.num_classes)]

    def _check_test(self, X) -> torch.Tensor:
        if self.X_train is None:
            raise ValueError("the classifier is not trained: call train(X, y) before predicting")
        X = _as_rows(X, "X_test", self.device, torch.float64)
        check_width(X.shape[1], self.X_train.shape[1], "X_test", "the classifier")
        return X

    def _train_rows(self, dtype: torch.dtype, scale: float):
        """Training rows times ``scale`` in ``dtype`` and their float64 squared norms (cached)."""
        cached = self._rows.get(dtype)
        if cached is None or cached[0] != scale:
            rows = self.X_train.to(dtype) if scale == 1 else (self.X_train.double() * scale).to(dtype)
            cached = self._rows[dtype] = (scale, rows, scaled_sq_norms(self.X_train, scale))
        return cached[1], cached[2]

    def _distance_chunk(self, X: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, float]:
        """Distances (rows, num_train) in ``dtype`` from float64 rows X, with both sides
        multiplied by the power of two ``scale``; and ``scale``."""
        scale = power_of_two_scale(max(max_abs(X), self._train_max_abs))
        rows, train_sq = self._train_rows(dtype, scale)
        X = (X * scale).to(dtype)
        if self.metric == "l1":
            return torch.cat([torch.cdist(X, rows[j:j + L1_TRAIN_BLOCK], p=1)
                              for j in range(0, rows.shape[0], L1_TRAIN_BLOCK)], dim=1), scale
        d2 = torch.addmm(train_sq.to(dtype)[None, :], X, rows.T, alpha=-2)
        d2 += (X * X).sum(1, keepdim=True)
        return d2.clamp_(min=0).sqrt_(), scale

    def compute_distances(self, X) -> torch.Tensor:
        """dists (num_test, num_train) in ``self.dtype`` on the device, chunked over test rows."""
        X = self._check_test(X)
        out = [torch.empty(0, self.X_train.shape[0], dtype=self.dtype, device=self.device)]
        for start in range(0, X.shape[0], self.chunk_size):
            dists, scale = self._distance_chunk(X[start:start + self.chunk_size], self.dtype)
            if scale != 1:
                dists = (dists.double() / scale).to(self.dtype)
                if not torch.isfinite(dists).all():
                    raise ValueError(f"some distances exceed the largest {self.dtype} "
                                     f"({torch.finfo(self.dtype).max:.3g}) and cannot be returned; "
                                     "predict() still ranks these rows")
            out.append(dists)
        return torch.cat(out)

    def predict_labels(self, dists, k: int = 1) -> torch.Tensor:
        """Labels (num_test,) from distances (num_test, num_train)."""
        if self.X_train is None:
            raise ValueError("the classifier is not trained: call train(X, y) before predicting")
        dists = _as_rows(dists, "dists", self.device)
        if dists.shape[1] != self.X_train.shape[0]:
            raise ValueError(f"dists has {dists.shape[1]} columns but there are "
                             f"{self.X_train.shape[0]} training points")
        k = check_k(k, self.X_train.shape[0])
        return self.vote(nearest_from_distances(dists, k))

    def nearest(self, X, k: int) -> torch.Tensor:
        """Indices (num_test, k) of the k nearest training rows, (distance, index) order.

        ``search="plain"``: from float64 distances; ``"fast"``: L2 screened
        (exact), L1 from ``self.dtype`` distances.
        """
        X = self._check_test(X)
        k = check_k(k, self.X_train.shape[0])
        if self.search == "fast" and self.metric == "l2":
            scale = power_of_two_scale(max(max_abs(X), self._train_max_abs))
            if self._l2_summary is None or self._l2_summary.scale != scale:
                self._l2_summary = l2_train_summary(self.X_train, scale, self._train_max_abs)
            return nearest_neighbors_l2(X, self.X_train, k, self.chunk_size, self._l2_summary)
        dtype = self.dtype if self.search == "fast" else torch.float64
        out = [torch.empty(0, k, dtype=torch.int64, device=self.device)]
        for start in range(0, X.shape[0], self.chunk_size):
            # The scaled distances rank like the true ones, and never overflow.
            dists, _ = self._distance_chunk(X[start:start + self.chunk_size], dtype)
            out.append(nearest_from_distances(dists, k))
        return torch.cat(out)

    def predict(self, X, k: int = 1) -> torch.Tensor:
        """Labels (num_test,) of test rows X (num_test, D)."""
        neighbors = self.nearest(X, k)
        return self.vote(neighbors)
