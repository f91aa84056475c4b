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

:meth:`KNearestNeighbor.predict` with ``num_loops=0`` and the L2 metric does
not build the distance matrix at all (see :func:`nearest_neighbors_l2`): it
screens candidates with a float32 matrix product and re-ranks the survivors
exactly in float64, so its predictions equal those of exact float64
distances while it runs at the speed of one float32 GEMM. With L1 it prunes
with a 16x cheaper lower bound before computing exact distances
(:func:`nearest_neighbors_l1`).
"""

from __future__ import annotations

import numpy as np

from scratch_numpy.validation import check_array

METRICS = ("l2", "l1")
DEFAULT_CHUNK_SIZE = 1024
# L1 broadcast blocks of (4 test rows, cols, D) with cols * D near 2^16
# (64 training rows of 3072 features): a few MiB, so the subtract/abs/sum
# passes run from cache while each block is big enough to hide Python overhead.
L1_BLOCK_ROWS = 4
L1_BLOCK_FEATURES = 2**16
# Candidate rows gathered at once for exact L1 distances (reused buffers:
# fresh arrays per test row would cost more in page faults than arithmetic).
L1_GATHER_ROWS = 256
# L1 lower-bound screen: features summed in groups of 16 (192 sums for
# CIFAR-10), and the exact distance of the 16 best-bounded rows to start from.
L1_GROUP = 16
L1_PROBE = 16
# If the float32 screen keeps more candidates than this per row on average
# (an input whose scale defeats float32), the chunk is computed in float64.
MAX_CANDIDATES_PER_ROW = 64


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    return metric


def check_k(k, num_train: int) -> int:
    """``k`` must be an int with ``1 <= k <= num_train``."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an integer, got {k!r}")
    if not 1 <= k <= num_train:
        raise ValueError(f"k must lie in 1..{num_train} (the number of training points), got {k}")
    return int(k)


def check_chunk_size(chunk_size) -> int:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    return int(chunk_size)


def _as_rows(X, name: str) -> np.ndarray:
    """``X`` as a finite ``(N, D)`` float array: float32 stays float32, anything else float64."""
    X = check_array(X, name, 2)
    if X.dtype == np.bool_:
        raise ValueError(f"{name} must be a real-valued array, got dtype bool")
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
    return _first_k_per_row(rows, cols, dists[rows, cols], k, n)


def _first_k_per_row(rows, cols, values, k: int, n: int) -> np.ndarray:
    """From (row, col, value) triples, each row's k columns of smallest (value, col).

    Every row must have at least k triples.
    """
    order = np.lexsort((cols, values, rows))
    starts = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=n))[:-1]))
    return cols[order][starts[:, None] + np.arange(k)]


def majority_vote(neighbor_labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Most common label of each row of ``neighbor_labels (N, k)``; ties -> smallest label."""
    counts = (neighbor_labels[:, :, None] == np.arange(num_classes)).sum(axis=1)
    return np.argmax(counts, axis=1)


def l2_screen_error_bound(test_norms: np.ndarray, max_train_norm: float, dim: int) -> np.ndarray:
    """Bound on ``|score32 - score|`` per test row, where ``score = ||b||^2 - 2 a.b``.

    ``score32`` is computed from float32 copies of the rows: ``a.b`` by a
    float32 GEMM, then ``fl(||b||^2) + (-2 a).b`` rounded once more. With
    ``u = 2^-24`` and any summation order, the dot product of the float32
    copies errs by at most ``gamma_{D+3} * sum_i |a_i b_i|`` (the three extra
    ``u`` cover rounding the inputs to float32), and ``sum_i |a_i b_i| <=
    ||a|| ||b||`` (Cauchy-Schwarz). The norm and the final addition add
    ``u * (||b||^2 + |score|)``, with ``|score| <= ||b||^2 + 2 ||a|| ||b||``.
    The factor 1.01 absorbs the float64 rounding of the norms themselves.
    """
    u = 2.0**-24
    gamma = (dim + 3) * u / (1 - (dim + 3) * u)
    cross = test_norms * max_train_norm
    return 1.01 * (2 * gamma * cross + u * (2 * max_train_norm**2 + 2 * cross))


def nearest_neighbors_l2(X_test: np.ndarray, X_train: np.ndarray, k: int,
                         chunk_size: int = DEFAULT_CHUNK_SIZE,
                         X_train32: np.ndarray | None = None,
                         train_sq_norms: np.ndarray | None = None) -> np.ndarray:
    """Exact L2 k nearest neighbours at float32 GEMM speed.

    X_test (N, D) and X_train (M, D) real (X_train may be float32: rows are
        converted to float64 only when gathered for the re-rank); k in 1..M.
    chunk_size: test rows per GEMM (memory ~ 5 bytes * chunk_size * M).
    X_train32, train_sq_norms: optional precomputed float32 copy of X_train
        and its float64 squared row norms.
    Returns indices (N, k) into X_train, ordered by (exact distance, index).

    For ranking training rows against one test row ``a``, ``||a||^2`` is a
    constant and the square root is monotone, so the float32 screen computes
    only ``score_j = ||b_j||^2 - 2 a.b_j`` (one GEMM, no sqrt). Every row
    whose score lies within twice the rounding bound
    (:func:`l2_screen_error_bound`) of the k-th smallest score is a candidate;
    no true neighbour can lie outside that window. The candidates' squared
    distances ``sum_i (a_i - b_i)^2`` are then computed directly in float64
    and ranked by (distance, index).
    """
    X_test = np.asarray(X_test, dtype=np.float64)
    if X_train32 is None:
        X_train32 = X_train.astype(np.float32, copy=False)
    if train_sq_norms is None:
        train_sq_norms = np.einsum("ij,ij->i", X_train, X_train, dtype=np.float64)
    train_sq32 = train_sq_norms.astype(np.float32)
    max_train_norm = float(np.sqrt(train_sq_norms.max()))
    # Buffers reused by every chunk: fresh 200 MB arrays per chunk would pay
    # for page faults on every first touch.
    rows_per_chunk = max(1, min(chunk_size, X_test.shape[0]))
    scores_buffer = np.empty((rows_per_chunk, X_train.shape[0]), dtype=np.float32)
    mask_buffer = np.empty(scores_buffer.shape, dtype=bool)
    nearest = np.empty((X_test.shape[0], k), dtype=np.int64)
    for start in range(0, X_test.shape[0], rows_per_chunk):
        chunk = X_test[start:start + rows_per_chunk]
        nearest[start:start + len(chunk)] = _screen_and_rerank(
            chunk, X_train, X_train32, train_sq32, train_sq_norms, max_train_norm, k,
            scores_buffer[:len(chunk)], mask_buffer[:len(chunk)])
    return nearest


def _screen_and_rerank(X_test, X_train, X_train32, train_sq32, train_sq_norms, max_train_norm,
                       k, scores, mask) -> np.ndarray:
    """One chunk of :func:`nearest_neighbors_l2`; ``scores`` and ``mask`` are its buffers."""
    n, dim = X_test.shape
    # -2 a is exact in float32 (a power-of-two scaling), so the GEMM gives -2 a.b.
    np.matmul((X_test * -2.0).astype(np.float32), X_train32.T, out=scores)
    scores += train_sq32
    if k == 1:
        best = scores.argmin(axis=1)
        kth = scores[np.arange(n), best]
    else:
        kth = np.partition(scores, k - 1, axis=1)[:, k - 1]
    bound = l2_screen_error_bound(np.sqrt(np.einsum("ij,ij->i", X_test, X_test)), max_train_norm, dim)
    window = kth.astype(np.float64) + 2 * bound
    # Round the window up, never down, when it goes to float32 for the comparison.
    window32 = np.nextafter(window.astype(np.float32), np.float32(np.inf))
    counts = np.count_nonzero(np.less_equal(scores, window32[:, None], out=mask), axis=1)
    if not np.all(np.isfinite(window)) or counts.sum() > (MAX_CANDIDATES_PER_ROW + k) * n:
        # The screen cannot separate anything at this scale: rank in float64 directly.
        X_train = np.asarray(X_train, dtype=np.float64)
        return nearest_from_distances(_l2_squared_float64(X_test, X_train, train_sq_norms), k)

    if k == 1:
        # A row whose window holds only its float32 minimum is settled; only
        # rows with several candidates are re-ranked (nonzero over the whole
        # mask would cost more than the rest of this function).
        nearest = best[:, None]
        ambiguous = np.flatnonzero(counts > 1)
        rows, cols = np.nonzero(mask[ambiguous])
    else:
        nearest = np.empty((n, k), dtype=np.int64)
        ambiguous = np.arange(n)
        rows, cols = np.nonzero(mask)
    # nonzero lists candidates row by row: re-rank each test row's group at
    # once, gathering only its candidate training rows.
    exact = np.empty(len(rows))
    bounds = np.concatenate(([0], np.cumsum(counts[ambiguous])))
    for r, i in enumerate(ambiguous):
        group = slice(bounds[r], bounds[r + 1])
        diff = X_train[cols[group]].astype(np.float64) - X_test[i]
        exact[group] = np.einsum("ij,ij->i", diff, diff)
    if len(ambiguous):
        nearest[ambiguous] = _first_k_per_row(rows, cols, exact, k, len(ambiguous))
    return nearest


def group_sums(X: np.ndarray, group: int) -> np.ndarray:
    """Sums of consecutive feature groups: (N, D) -> (N, ceil(D / group)), the last group shorter."""
    pad = -X.shape[1] % group
    if pad:
        X = np.concatenate([X, np.zeros((X.shape[0], pad), dtype=X.dtype)], axis=1)
    return X.reshape(X.shape[0], -1, group).sum(axis=2)


def nearest_neighbors_l1(X_test: np.ndarray, X_train: np.ndarray, k: int,
                         group: int = L1_GROUP, probe: int = L1_PROBE,
                         train_summary: tuple[np.ndarray, float] | None = None) -> np.ndarray:
    """Exact L1 k nearest neighbours, pruned by a cheap lower bound.

    X_test (N, D), X_train (M, D) float in one dtype; k in 1..M.
    train_summary: :func:`l1_train_summary` of X_train, when precomputed.
    Returns indices (N, k) into X_train, ordered by (distance, index).

    For any group G of features, ``|sum_G a_i - sum_G b_i| <= sum_G |a_i - b_i|``,
    so the L1 distance between group sums is a lower bound:

        LB(a, b) = sum_G |sum_G a_i - sum_G b_i| <= L1(a, b)

    computed in D / ``group`` dimensions (16x less work for ``group=16``).
    Per test row: the exact L1 of the ``probe`` rows with the smallest LB gives
    U, their k-th smallest distance, which bounds the k-th nearest distance
    from above. A true neighbour j has LB_j <= L1_j <= U, so only rows with
    LB_j <= U (about 4% of CIFAR-10's 5,000 training images, fewer with more
    data) get their L1 distance computed in float64, ranked by
    (distance, index). ``slack`` widens U by the worst rounding of the sums.
    """
    n, dim = X_test.shape
    train_group_sums, max_train_abs_sum = train_summary or l1_train_summary(X_train, group)
    lower = _l1_distances(group_sums(X_test, group), train_group_sums)
    # Both LB and L1 sum at most D terms bounded by |a|_1 + |b|_1 each:
    # rounding moves either by at most D * eps * (|a|_1 + max |b|_1).
    eps = np.finfo(X_test.dtype).eps
    abs_sums = np.abs(X_test).sum(axis=1, dtype=np.float64)
    slack = 2 * (dim + 1) * eps * (abs_sums + max_train_abs_sum)
    probe = min(max(probe, k), X_train.shape[0])
    nearest = np.empty((n, k), dtype=np.int64)
    for i in range(n):
        a = X_test[i].astype(np.float64)
        candidates = np.argpartition(lower[i], probe - 1)[:probe]
        upper = np.partition(_l1_to_rows(X_train, candidates, a), k - 1)[k - 1]
        survivors = np.flatnonzero(lower[i] <= upper + slack[i])
        exact = _l1_to_rows(X_train, survivors, a)
        # survivors are ascending, so a stable sort orders ties by index.
        nearest[i] = survivors[np.argsort(exact, kind="stable")[:k]]
    return nearest


def l1_train_summary(X_train: np.ndarray, group: int = L1_GROUP) -> tuple[np.ndarray, float]:
    """What the L1 screen needs of the training rows: group sums and max_j |b_j|_1."""
    return group_sums(X_train, group), float(np.abs(X_train).sum(axis=1, dtype=np.float64).max())


def _l1_to_rows(X_train: np.ndarray, index: np.ndarray, a: np.ndarray) -> np.ndarray:
    """L1 distances, in float64, from ``a`` (D,) to the rows ``X_train[index]``."""
    out = np.empty(len(index))
    gathered = np.empty((min(len(index), L1_GATHER_ROWS), X_train.shape[1]), dtype=X_train.dtype)
    diff = np.empty(gathered.shape)
    for start in range(0, len(index), L1_GATHER_ROWS):
        part = index[start:start + L1_GATHER_ROWS]
        np.take(X_train, part, axis=0, out=gathered[:len(part)])
        np.subtract(gathered[:len(part)], a, out=diff[:len(part)])
        np.abs(diff[:len(part)], out=diff[:len(part)]).sum(axis=1, out=out[start:start + len(part)])
    return out


def _l2_squared_float64(X_test, X_train, train_sq_norms) -> np.ndarray:
    test_sq = np.einsum("ij,ij->i", X_test, X_test)
    d2 = test_sq[:, None] + train_sq_norms[None, :] - 2.0 * (X_test @ X_train.T)
    return np.maximum(d2, 0.0, out=d2)


class KNearestNeighbor:
    """kNN classifier with L2 or L1 distance (the assignment's API).

    metric: ``"l2"`` (default) or ``"l1"``.
    chunk_size: test rows processed at once by the no-loop paths; memory is
        about ``chunk_size * num_train`` floats (1024 x 50,000 float64 = 400 MB).

    Distances are computed in float32 when training and test rows are both
    float32, otherwise in float64 (integer pixels are converted to float64).
    """

    def __init__(self, metric: str = "l2", chunk_size: int = DEFAULT_CHUNK_SIZE):
        self.metric = check_metric(metric)
        self.chunk_size = check_chunk_size(chunk_size)
        self.X_train: np.ndarray | None = None
        self.y_train: np.ndarray | None = None

    def train(self, X, y) -> "KNearestNeighbor":
        """Memorize the training data.

        X: (num_train, D) real, finite; y: (num_train,) non-negative int labels.
        """
        X = _as_rows(X, "X")
        y = np.asarray(y)
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"y must be a 1-D array of integer labels, got {y.dtype} of shape {y.shape}")
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y has {y.shape[0]} labels but X has {X.shape[0]} rows")
        if X.shape[0] == 0:
            raise ValueError("cannot train on zero rows")
        if y.min() < 0:
            raise ValueError(f"labels must be >= 0, found {y.min()}")
        self.X_train, self.y_train = X, y.astype(np.int64)
        self.num_classes = int(y.max()) + 1
        self._train_sq_norms = np.einsum("ij,ij->i", X, X, dtype=np.float64)
        self._X_train32 = None
        self._l1_summary = None
        return self

    # ---------------------------------------------------------------- checks
    def _check_test(self, X) -> np.ndarray:
        if self.X_train is None:
            raise ValueError("the classifier is not trained: call train(X, y) before predicting")
        X = _as_rows(X, "X_test")
        if X.shape[1] != self.X_train.shape[1]:
            raise ValueError(
                f"X_test has {X.shape[1]} features per row but the training data has "
                f"{self.X_train.shape[1]}"
            )
        return X

    def _working_pair(self, X):
        """Test and training rows in the common working dtype."""
        dtype = np.result_type(X.dtype, self.X_train.dtype)
        return X.astype(dtype, copy=False), self.X_train.astype(dtype, copy=False)

    # ------------------------------------------------------------- distances
    def compute_distances_two_loops(self, X) -> np.ndarray:
        """dists (num_test, num_train): ``dists[i, j]`` = d(X[i], X_train[j]), pair by pair."""
        X, X_train = self._working_pair(self._check_test(X))
        dists = np.zeros((X.shape[0], X_train.shape[0]), dtype=X.dtype)
        for i in range(X.shape[0]):
            for j in range(X_train.shape[0]):
                diff = X[i] - X_train[j]
                if self.metric == "l2":
                    dists[i, j] = np.sqrt(np.sum(diff * diff))
                else:
                    dists[i, j] = np.sum(np.abs(diff))
        return dists

    def compute_distances_one_loop(self, X) -> np.ndarray:
        """Same matrix, one test row against all training rows at a time."""
        X, X_train = self._working_pair(self._check_test(X))
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
        return dists

    def compute_distances_no_loops(self, X) -> np.ndarray:
        """Same matrix without Python loops over pairs (chunks of ``chunk_size`` test rows)."""
        X, X_train = self._working_pair(self._check_test(X))
        dists = np.empty((X.shape[0], X_train.shape[0]), dtype=X.dtype)
        for start in range(0, X.shape[0], self.chunk_size):
            stop = start + self.chunk_size
            dists[start:stop] = self._distance_chunk(X[start:stop], X_train)
        return dists

    def _distance_chunk(self, X, X_train) -> np.ndarray:
        if self.metric == "l1":
            return _l1_distances(X, X_train)
        # Norms accumulate in float64 whatever the working dtype: a float32
        # running sum of 3072 squares would add more error than the product.
        train_sq = self._train_sq_norms.astype(X.dtype)
        test_sq = np.einsum("ij,ij->i", X, X, dtype=np.float64).astype(X.dtype)
        d2 = test_sq[:, None] + train_sq[None, :] - 2 * (X @ X_train.T)
        # Rounding can push ||a||^2 + ||b||^2 - 2a.b below 0 for near-identical rows.
        np.maximum(d2, 0, out=d2)
        return np.sqrt(d2, out=d2)

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
        return majority_vote(self.y_train[nearest_from_distances(dists, k)], self.num_classes)

    def predict(self, X, k: int = 1, num_loops: int = 0) -> np.ndarray:
        """Labels (num_test,) of test rows X (num_test, D).

        num_loops: 0 (vectorized, chunked), 1 or 2 (the loop versions, for comparison).
        With ``num_loops=0`` the neighbours are found without a full distance
        matrix: :func:`nearest_neighbors_l2` (exact float64 ranking at float32
        GEMM speed) or :func:`nearest_neighbors_l1` (exact, lower-bound pruned).
        """
        X = self._check_test(X)
        k = check_k(k, self.X_train.shape[0])
        if num_loops == 1:
            return self.predict_labels(self.compute_distances_one_loop(X), k)
        if num_loops == 2:
            return self.predict_labels(self.compute_distances_two_loops(X), k)
        if num_loops != 0:
            raise ValueError(f"num_loops must be 0, 1 or 2, got {num_loops!r}")
        return majority_vote(self.y_train[self.nearest(X, k)], self.num_classes)

    def nearest(self, X, k: int) -> np.ndarray:
        """Indices (num_test, k) of each test row's k nearest training rows, (distance, index) order."""
        X = self._check_test(X)
        k = check_k(k, self.X_train.shape[0])
        if X.shape[0] == 0:
            return np.empty((0, k), dtype=np.int64)
        if self.metric == "l2":
            if self._X_train32 is None:
                self._X_train32 = self.X_train.astype(np.float32, copy=False)
            return nearest_neighbors_l2(X, self.X_train, k, self.chunk_size,
                                        self._X_train32, self._train_sq_norms)
        X, X_train = self._working_pair(X)
        if self._l1_summary is None or self._l1_summary[0].dtype != X.dtype:
            self._l1_summary = l1_train_summary(X_train)
        return np.concatenate([
            nearest_neighbors_l1(X[s:s + self.chunk_size], X_train, k, train_summary=self._l1_summary)
            for s in range(0, X.shape[0], self.chunk_size)])


def _l1_distances(X: np.ndarray, X_train: np.ndarray) -> np.ndarray:
    """L1 distances (N, M) by broadcasting over cache-sized blocks."""
    n, m = X.shape[0], X_train.shape[0]
    cols = max(1, L1_BLOCK_FEATURES // X.shape[1])
    dists = np.empty((n, m), dtype=X.dtype)
    block = np.empty((L1_BLOCK_ROWS, cols, X.shape[1]), dtype=X.dtype)
    for i in range(0, n, L1_BLOCK_ROWS):
        a = X[i:i + L1_BLOCK_ROWS, None, :]
        for j in range(0, m, cols):
            b = X_train[None, j:j + cols, :]
            diff = block[:a.shape[0], :b.shape[1]]
            np.subtract(a, b, out=diff)
            np.abs(diff, out=diff)
            diff.sum(axis=2, out=dists[i:i + L1_BLOCK_ROWS, j:j + cols])
    return dists


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
    if isinstance(num_folds, bool) or not isinstance(num_folds, (int, np.integer)) or not 2 <= num_folds <= X.shape[0]:
        raise ValueError(f"num_folds must be an integer in 2..{X.shape[0]}, got {num_folds!r}")
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
            predicted = majority_vote(model.y_train[neighbors[:, :k]], model.num_classes)
            accuracies[int(k)].append(float(np.mean(predicted == y_folds[fold])))
    return accuracies


def best_k(accuracies: dict[int, list[float]]) -> int:
    """The k with the highest mean accuracy (the smallest such k on a tie)."""
    return min(accuracies, key=lambda k: (-np.mean(accuracies[k]), k))
