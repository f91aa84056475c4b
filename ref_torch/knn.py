"""k-nearest-neighbour classifier in torch, on cpu or cuda: the twin of
``scratch_numpy/knn.py`` (it never calls it).

Distances (``a`` a test row, ``b`` a training row):

    L2: sqrt(max(||a||^2 + ||b||^2 - 2 a.b, 0))   (one ``addmm`` per chunk)
    L1: sum_i |a_i - b_i|                           (``torch.cdist(p=1)``)

The same rules as the NumPy side: the k nearest are ordered by (distance,
training index); the vote is a majority with ties to the smallest label.
``torch.topk`` does not order ties, so the selection here keeps every entry
up to the k-th smallest value and sorts those candidates stably.

:meth:`KNearestNeighbor.predict` with L2 finds neighbours exactly: a float32
``addmm`` screens candidates (``||b||^2 - 2 a.b``, no sqrt, no ``||a||^2``),
and the candidates within the float32 rounding bound of the k-th best are
re-ranked by their float64 distance. The kNN is not a loss: it registers no
parity kind.
"""

from __future__ import annotations

import numpy as np
import torch

from ref_torch.devices import resolve_device, torch_dtype

METRICS = ("l2", "l1")
DEFAULT_CHUNK_SIZE = 1024
# Pairs re-ranked exactly per batch: 2048 x 3072 float64 differences = 48 MiB.
RERANK_BATCH = 2048
# Above this many candidates per row on average the float32 screen has failed
# to separate anything (huge input scale): rank in float64 directly.
MAX_CANDIDATES_PER_ROW = 64
# Training rows per torch.cdist call (bounds the L1 kernel's working set).
L1_TRAIN_BLOCK = 8192


def _check_k(k, num_train: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an integer, got {k!r}")
    if not 1 <= k <= num_train:
        raise ValueError(f"k must lie in 1..{num_train} (the number of training points), got {k}")
    return int(k)


def _as_rows(X, name: str, device, dtype=None) -> torch.Tensor:
    """Finite (N, D) float tensor on ``device`` in ``dtype`` (default: float32
    stays float32, anything else becomes float64)."""
    X = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X)
    if X.ndim != 2:
        raise ValueError(f"{name} must have 2 dimensions (N, D), got shape {tuple(X.shape)}")
    if X.dtype == torch.bool or X.is_complex():
        raise ValueError(f"{name} must be a real-valued array, got dtype {X.dtype}")
    if dtype is None:
        dtype = torch.float32 if X.dtype == torch.float32 else torch.float64
    X = X.to(device=device, dtype=dtype)
    if not torch.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return X


def first_k_per_row(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor,
                    k: int, n: int) -> torch.Tensor:
    """From (row, col, value) triples with ``rows`` ascending and, within a row,
    ``cols`` ascending (``nonzero`` order), each row's k columns of smallest
    (value, col). Every row must have at least k triples.
    """
    by_value = torch.sort(values, stable=True).indices
    order = by_value[torch.sort(rows[by_value], stable=True).indices]
    counts = torch.bincount(rows, minlength=n)
    starts = torch.cumsum(counts, 0) - counts
    return cols[order][starts[:, None] + torch.arange(k, device=rows.device)]


def nearest_from_distances(dists: torch.Tensor, k: int) -> torch.Tensor:
    """Indices (N, k) of the k smallest entries per row, ordered by (value, column)."""
    if k == 1:
        # torch.argmin returns the first minimal index: the smallest index among ties.
        return torch.argmin(dists, dim=1, keepdim=True)
    kth = torch.topk(dists, k, dim=1, largest=False).values[:, -1]
    rows, cols = torch.nonzero(dists <= kth[:, None], as_tuple=True)
    return first_k_per_row(rows, cols, dists[rows, cols], k, dists.shape[0])


def majority_vote(neighbor_labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Most common label per row of (N, k) labels; ties -> smallest label."""
    counts = torch.zeros(neighbor_labels.shape[0], num_classes, dtype=torch.int64,
                         device=neighbor_labels.device)
    counts.scatter_add_(1, neighbor_labels, torch.ones_like(neighbor_labels))
    # count * C - label has a unique maximum: the most votes, then the smallest
    # label. No reliance on which of several equal maxima a backend's argmax picks.
    labels = torch.arange(num_classes, device=counts.device)
    return torch.argmax(counts * num_classes - labels, dim=1)


def screen_error_bound(test_norms: torch.Tensor, max_train_norm: float, dim: int,
                       unit_roundoff: float) -> torch.Tensor:
    """Rounding bound of the float32 score ``fl(||b||^2) + (-2a).b`` per test row.

    ``gamma_{D+3} ||a|| ||b||`` for the dot product of the float32 copies in
    any summation order (Cauchy-Schwarz bounds ``sum |a_i b_i|``), plus one
    rounding of ``||b||^2`` and one of the sum; 1.01 covers the float64 norms.
    """
    u = unit_roundoff
    gamma = (dim + 3) * u / (1 - (dim + 3) * u)
    cross = test_norms * max_train_norm
    return 1.01 * (2 * gamma * cross + u * (2 * max_train_norm**2 + 2 * cross))


def _matmul_unit_roundoff(device: torch.device) -> float:
    """Unit roundoff of float32 products on ``device``: 2^-24, or TF32's 2^-11 when enabled."""
    if device.type == "cuda" and (torch.backends.cuda.matmul.allow_tf32
                                  or torch.get_float32_matmul_precision() != "highest"):
        return 2.0**-11
    return 2.0**-24


class KNearestNeighbor:
    """kNN classifier with L2 or L1 distance on a torch device.

    metric: ``"l2"`` or ``"l1"``; device: ``"cpu"``, ``"cuda"`` or ``"auto"``;
    dtype: float32 or float64, the precision of :meth:`compute_distances`;
    chunk_size: test rows per chunk (memory ~ chunk_size * num_train floats).
    """

    def __init__(self, metric: str = "l2", device="cpu", dtype=np.float64,
                 chunk_size: int = DEFAULT_CHUNK_SIZE):
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        self.metric = metric
        self.device = resolve_device(device)
        self.dtype = torch_dtype(dtype)
        self.chunk_size = int(chunk_size)
        self.X_train: torch.Tensor | None = None

    def train(self, X, y) -> "KNearestNeighbor":
        """Memorize X (num_train, D) and non-negative integer labels y (num_train,)."""
        X = _as_rows(X, "X", self.device)
        y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
        if y.ndim != 1 or y.is_floating_point() or y.dtype == torch.bool or y.is_complex():
            raise ValueError(f"y must be a 1-D array of integer labels, got {y.dtype} of shape {tuple(y.shape)}")
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y has {y.shape[0]} labels but X has {X.shape[0]} rows")
        if X.shape[0] == 0:
            raise ValueError("cannot train on zero rows")
        if int(y.min()) < 0:
            raise ValueError(f"labels must be >= 0, found {int(y.min())}")
        # Kept in its own precision (float32 rows are not widened: the exact
        # re-rank widens only the rows it gathers); squared norms in float64.
        self.X_train = X
        self.y_train = y.to(self.device, torch.int64)
        self.num_classes = int(y.max()) + 1
        self._train_sq = torch.cat([(block.double() ** 2).sum(1) for block in X.split(8192)])
        self._X_train_work = X.to(self.dtype)
        self._X_train32 = X.to(torch.float32)
        return self

    def _check_test(self, X) -> torch.Tensor:
        if self.X_train is None:
            raise ValueError("the classifier is not trained: call train(X, y) before predicting")
        X = _as_rows(X, "X_test", self.device, torch.float64)
        if X.shape[1] != self.X_train.shape[1]:
            raise ValueError(f"X_test has {X.shape[1]} features per row but the training data has "
                             f"{self.X_train.shape[1]}")
        return X

    def _distance_chunk(self, X: torch.Tensor) -> torch.Tensor:
        """Distances (rows, num_train) in ``self.dtype`` of float64 rows X."""
        X = X.to(self.dtype)
        if self.metric == "l1":
            return torch.cat([torch.cdist(X, self._X_train_work[j:j + L1_TRAIN_BLOCK], p=1)
                              for j in range(0, self._X_train_work.shape[0], L1_TRAIN_BLOCK)], dim=1)
        d2 = torch.addmm(self._train_sq.to(self.dtype)[None, :], X, self._X_train_work.T, alpha=-2)
        d2 += (X * X).sum(1, keepdim=True)
        return d2.clamp_(min=0).sqrt_()

    def compute_distances(self, X) -> torch.Tensor:
        """dists (num_test, num_train) in ``self.dtype`` on the device, chunked over test rows."""
        X = self._check_test(X)
        empty = torch.empty(0, self.X_train.shape[0], dtype=self.dtype, device=self.device)
        return torch.cat([empty] + [self._distance_chunk(X[s:s + self.chunk_size])
                                    for s in range(0, X.shape[0], self.chunk_size)])

    def predict_labels(self, dists, k: int = 1) -> torch.Tensor:
        """Labels (num_test,) from distances (num_test, num_train)."""
        if self.X_train is None:
            raise ValueError("the classifier is not trained: call train(X, y) before predicting")
        dists = _as_rows(dists, "dists", self.device)
        if dists.shape[1] != self.X_train.shape[0]:
            raise ValueError(f"dists has {dists.shape[1]} columns but there are "
                             f"{self.X_train.shape[0]} training points")
        k = _check_k(k, self.X_train.shape[0])
        return majority_vote(self.y_train[nearest_from_distances(dists, k)], self.num_classes)

    def nearest(self, X, k: int) -> torch.Tensor:
        """Indices (num_test, k) of the k nearest training rows, (distance, index) order.

        L2: exact (float32 screen, float64 re-rank); L1: from ``self.dtype`` distances.
        """
        X = self._check_test(X)
        k = _check_k(k, self.X_train.shape[0])
        out = [torch.empty(0, k, dtype=torch.int64, device=self.device)]
        for start in range(0, X.shape[0], self.chunk_size):
            chunk = X[start:start + self.chunk_size]
            if self.metric == "l2":
                out.append(self._nearest_l2_exact(chunk, k))
            else:
                out.append(nearest_from_distances(self._distance_chunk(chunk), k))
        return torch.cat(out)

    def predict(self, X, k: int = 1) -> torch.Tensor:
        """Labels (num_test,) of test rows X (num_test, D)."""
        neighbors = self.nearest(X, k)
        return majority_vote(self.y_train[neighbors], self.num_classes)

    def _nearest_l2_exact(self, X: torch.Tensor, k: int) -> torch.Tensor:
        n, dim = X.shape
        scores = torch.addmm(self._train_sq.to(torch.float32)[None, :], X.to(torch.float32),
                             self._X_train32.T, alpha=-2)
        if k == 1:
            kth, best = scores.min(1)
        else:
            kth = torch.topk(scores, k, 1, largest=False).values[:, -1]
        bound = screen_error_bound(X.norm(dim=1), float(self._train_sq.max().sqrt()), dim,
                                   _matmul_unit_roundoff(X.device))
        window = (kth.double() + 2 * bound).float()
        # Round the float32 window up, never down.
        window = torch.nextafter(window, torch.full_like(window, float("inf")))
        mask = scores <= window[:, None]
        del scores
        counts = mask.sum(1)
        if not torch.isfinite(window).all() or int(counts.sum()) > (MAX_CANDIDATES_PER_ROW + k) * n:
            d2 = (X * X).sum(1, keepdim=True) + self._train_sq[None, :] - 2 * X @ self.X_train.double().T
            return nearest_from_distances(d2.clamp_(min=0), k)
        if k == 1:
            # A row whose window holds only its float32 minimum is settled;
            # nonzero (slow over a whole chunk) runs on the other rows only.
            nearest = best[:, None].clone()
            ambiguous = torch.nonzero(counts > 1).flatten()
            rows, cols = torch.nonzero(mask[ambiguous], as_tuple=True)
        else:
            nearest = torch.empty(n, k, dtype=torch.int64, device=X.device)
            ambiguous = torch.arange(n, device=X.device)
            rows, cols = torch.nonzero(mask, as_tuple=True)
        if len(ambiguous) == 0:
            return nearest
        exact = torch.empty(len(rows), dtype=torch.float64, device=X.device)
        for start in range(0, len(rows), RERANK_BATCH):
            stop = start + RERANK_BATCH
            diff = X[ambiguous[rows[start:stop]]] - self.X_train[cols[start:stop]].double()
            exact[start:stop] = (diff * diff).sum(1)
        nearest[ambiguous] = first_k_per_row(rows, cols, exact, k, len(ambiguous))
        return nearest
