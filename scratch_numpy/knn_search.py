"""Exact k-nearest-neighbour search without a full float64 distance matrix, NumPy only.

:class:`scratch_numpy.knn.KNearestNeighbor` calls these for ``predict`` (no
loops). Both searches return what a stable sort of float64 distances would:
the k nearest training rows of each test row, ordered by (distance, index).

Scaling. Every path (here and in ``knn.py``) multiplies test and training
rows by one power of two (:func:`power_of_two_scale`) whenever their largest
entry lies outside [2^-40, 2^40]. Only exponents change, so the ranking does
not (unless an entry is over 2^1061 times smaller than the largest and drops
into the subnormal range), while squares, norms and sums stay finite and
clear of underflow for any finite input: rows times 1e160 or 1e-160 have the
neighbours of the unscaled rows. Inside the window the scale is 1 and
nothing is copied.

L2: float32 screen, float64 re-rank (:func:`nearest_neighbors_l2`)
-----------------------------------------------------------------
For one test row ``a``, ``||a - b||^2 = ||a||^2 + S(b)`` with
``S(b) = ||b||^2 - 2 a.b``: ranking by S is ranking by distance. One float32
GEMM gives ``S32(b_j)`` for every training row. If ``|S32 - S| <= B`` for all
j, then with ``K32`` the k-th smallest S32, the k-th smallest true S is at most
``K32 + B`` (k rows have S32 <= K32), so every true neighbour j has
``S32(b_j) <= K32 + 2B``. Only rows inside that window are candidates; their
squared distances are computed directly, ``sum_i (a_i - b_i)^2`` in float64,
and ranked by (distance, index). The float64 sums themselves err by at most
``E = gamma_{D+2} (||a|| + max ||b||)^2`` (u = 2^-53), so a row that float64
rounding lifts into the top k is caught too if the window is ``K32 + 2(B + E)``.

The bound B (:func:`l2_screen_error_bound`). Let v be the unit roundoff of
the GEMM's inputs (2^-24: float64 rows rounded to float32), u that of its
accumulation (2^-24), ``gamma_D = D u / (1 - D u)``, and eta the smallest
normal number (2^-126): rounding x errs by at most ``u |x| + eta``, eta
covering subnormals even where hardware flushes them to zero. Rounding -2a
and b changes each product by a factor within ``(1 + v)^2`` plus
``eta (||b||_1 + 2 ||a||_1)``; summing D products in any order errs by
``gamma_D sum_i |a_i b_i|`` plus eta per operation (Higham, Accuracy and
Stability, 2nd ed., 3.1, with underflow). With Cauchy-Schwarz
(``sum |a_i b_i| <= ||a|| ||b||``, ``||x||_1 <= sqrt(D) ||x||``) and one more
rounding each for ``||b||^2`` and the final addition
(``|S| <= ||b||^2 + 2 ||a|| ||b||``):

    B = 1.01 * [ 2 ((1 + v)^2 (1 + gamma_D) - 1) ||a|| ||b||
                 + u (2 ||b||^2 + 2 ||a|| ||b||)
                 + eta (2 sqrt(D) (||b|| + 2 ||a||) + 3 D + 1) ]

with ``||b||`` the largest training norm. The factor 1.01 absorbs the float64
rounding of the norms and of B, and the second-order terms. Scaled entries
are at most 2^40 in size, so nothing overflows float32 (scores <= 3 D 2^80).
If the window keeps more than 64 + k candidates per row on average (an
offset that float32 cannot resolve, e.g. pixels + 1e5), the chunk is screened
again by a float64 GEMM (v = u = 2^-53, eta = 2^-1022): same proof, no cap on
candidates. (torch's TF32 keeps u = 2^-24 but rounds inputs to v = 2^-11.)

L1: group-sum lower bound (:func:`nearest_neighbors_l1`)
-------------------------------------------------------
For a group G of features, ``|sum_G a_i - sum_G b_i| <= sum_G |a_i - b_i|``,
so ``LB(a, b) = sum_G |sum_G a_i - sum_G b_i| <= L1(a, b)``, computed in
D / 16 dimensions. The exact L1 of the ``probe`` rows with the smallest LB
gives U, an upper bound of the k-th nearest distance; a true neighbour has
``LB <= L1 <= U``, so only rows with ``LB <= U + slack`` get their exact L1
distance. Both sums add at most D terms bounded by ``|a|_1 + |b|_1``, so
``slack = 2 (D + 1) eps (|a|_1 + max_j |b_j|_1)`` covers their rounding.

(The file is longer than the project's ~300 lines because these proofs sit
next to the code that relies on them.)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

DEFAULT_CHUNK_SIZE = 1024
# Rows whose largest |entry| lies in [2^-40, 2^40] are used as they are;
# others are scaled so that it lands in [2^39, 2^40): squares of 2^40 sum to
# D 2^80, far below float32's 2^128 (for D < 2^44), and float32 squares of
# entries down to 2^-63 stay normal (smaller ones are in the screen's bound).
SAFE_EXPONENT = 40


class Rounding(NamedTuple):
    """Rounding of one screen: unit roundoffs of its GEMM's inputs and
    accumulation, and its smallest normal number."""
    inputs: float
    accumulation: float
    smallest_normal: float


FLOAT32_ROUNDING = Rounding(2.0**-24, 2.0**-24, 2.0**-126)
FLOAT64_ROUNDING = Rounding(2.0**-53, 2.0**-53, 2.0**-1022)
# Above this many candidates per row on average the float32 screen has not
# separated anything: screen the chunk again in float64.
MAX_CANDIDATES_PER_ROW = 64
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


def max_abs(X: np.ndarray) -> float:
    """Largest |entry| of X (0 for an empty array), without an |X| temporary."""
    return 0.0 if X.size == 0 else float(max(X.max(), -X.min()))


def power_of_two_scale(largest: float, dtype=np.float64) -> float:
    """The power of two every row is multiplied by before squares and sums.

    1.0 when ``largest`` (the largest |entry| of test and training rows) is 0
    or lies in [2^-40, 2^40]. Otherwise ``2^(40 - e)`` for ``largest = m 2^e``
    (0.5 <= m < 1), so that the largest entry lands in [2^39, 2^40); the
    exponent is capped where the scale itself would overflow ``dtype``.
    """
    if largest == 0 or 2.0**-SAFE_EXPONENT <= largest <= 2.0**SAFE_EXPONENT:
        return 1.0
    exponent = min(SAFE_EXPONENT - math.frexp(largest)[1], np.finfo(dtype).maxexp - 1)
    return math.ldexp(1.0, exponent)


def first_k_per_row(rows, cols, values, k: int, n: int) -> np.ndarray:
    """From (row, col, value) triples, each row's k columns of smallest (value, col).

    Every row must have at least k triples.
    """
    order = np.lexsort((cols, values, rows))
    starts = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=n))[:-1]))
    return cols[order][starts[:, None] + np.arange(k)]


# ------------------------------------------------------------------------ L2

def l2_screen_error_bound(test_sq_norms: np.ndarray, max_train_sq_norm: float, dim: int,
                          rounding: Rounding = FLOAT32_ROUNDING) -> np.ndarray:
    """Half-width ``B + E`` of the candidate window per test row (see the module docstring).

    test_sq_norms (N,) and max_train_sq_norm: float64 squared norms of the
    (scaled) rows; rounding: that of the screen. ``D 2^-1074`` is added to the
    squared norms: it bounds what their own computation can lose to underflow.
    """
    v, u, eta = rounding
    if dim * u >= 0.5:
        raise ValueError(f"the screen cannot bound its rounding over {dim} features (D * u >= 1/2)")
    test_norms = np.sqrt(test_sq_norms + dim * 2.0**-1074)
    train_norm = math.sqrt(max_train_sq_norm + dim * 2.0**-1074)
    gamma = dim * u / (1 - dim * u)
    cross = test_norms * train_norm
    screen = (2 * ((1 + v) ** 2 * (1 + gamma) - 1) * cross + u * (2 * train_norm**2 + 2 * cross)
              + eta * (2 * math.sqrt(dim) * (train_norm + 2 * test_norms) + 3 * dim + 1))
    u64 = 2.0**-53
    rerank = (dim + 2) * u64 / (1 - (dim + 2) * u64) * (test_norms + train_norm) ** 2 + dim * 2.0**-1074
    return 1.01 * (screen + rerank)


class L2Summary(NamedTuple):
    """What the L2 search needs of the training rows, for one scale."""
    max_abs: float             # largest |entry| of the unscaled rows
    scale: float               # the power of two applied (power_of_two_scale)
    rows32: np.ndarray         # (M, D) float32 copy of the scaled rows
    sq_norms: np.ndarray       # (M,) float64 squared norms of the scaled rows


def l2_train_summary(X_train: np.ndarray, scale: float | None = None,
                     largest: float | None = None) -> L2Summary:
    """:class:`L2Summary` of X_train (M, D); ``scale`` None: chosen from X_train alone;
    ``largest``: its :func:`max_abs`, when known."""
    largest = max_abs(X_train) if largest is None else largest
    scale = power_of_two_scale(largest) if scale is None else scale
    rows = X_train if scale == 1 else X_train.astype(np.float64) * scale
    return L2Summary(largest, scale, rows.astype(np.float32, copy=False),
                     np.einsum("ij,ij->i", rows, rows, dtype=np.float64))


def nearest_neighbors_l2(X_test, X_train: np.ndarray, k: int, chunk_size: int = DEFAULT_CHUNK_SIZE,
                         train_summary: L2Summary | None = None) -> np.ndarray:
    """Exact L2 k nearest neighbours at float32 GEMM speed.

    X_test (N, D) and X_train (M, D) real and finite (X_train may be float32:
        rows are widened to float64 only when gathered for the re-rank); k in 1..M.
    chunk_size: test rows per GEMM (memory ~ 5 bytes * chunk_size * M).
    train_summary: :func:`l2_train_summary` of X_train, when precomputed
        (rebuilt here if the test rows call for another scale).
    Returns indices (N, k) into X_train, ordered by (float64 distance, index).
    """
    X_test = np.asarray(X_test, dtype=np.float64)
    train_max = max_abs(X_train) if train_summary is None else train_summary.max_abs
    scale = power_of_two_scale(max(max_abs(X_test), train_max))
    if train_summary is None or train_summary.scale != scale:
        train_summary = l2_train_summary(X_train, scale)
    if scale != 1:
        X_test = X_test * scale
    # Buffers reused by every chunk: fresh 200 MB arrays per chunk would pay
    # for page faults on every first touch.
    rows_per_chunk = max(1, min(chunk_size, X_test.shape[0]))
    scores = np.empty((rows_per_chunk, X_train.shape[0]), dtype=np.float32)
    mask = np.empty(scores.shape, dtype=bool)
    train_sq32 = train_summary.sq_norms.astype(np.float32)
    nearest = np.empty((X_test.shape[0], k), dtype=np.int64)
    for start in range(0, X_test.shape[0], rows_per_chunk):
        chunk = X_test[start:start + rows_per_chunk]
        n = len(chunk)
        best, counts = _screen(chunk, train_summary.rows32, train_sq32, train_summary.sq_norms.max(),
                               k, scores[:n], mask[:n], FLOAT32_ROUNDING)
        chunk_mask = mask[:n]
        if counts.sum() > (MAX_CANDIDATES_PER_ROW + k) * n:
            rows64 = X_train.astype(np.float64, copy=False)
            rows64 = rows64 * scale if scale != 1 else rows64
            chunk_mask = np.empty((n, X_train.shape[0]), dtype=bool)
            best, counts = _screen(chunk, rows64, train_summary.sq_norms, train_summary.sq_norms.max(), k,
                                   np.empty(chunk_mask.shape), chunk_mask, FLOAT64_ROUNDING)
        nearest[start:start + n] = _rerank(chunk, X_train, scale, chunk_mask, counts, best, k)
    return nearest


def _screen(X, rows, train_sq, max_train_sq, k, scores, mask, rounding):
    """Fill ``mask`` (n, M) with each test row's candidates: scores within the window.

    X (n, D) scaled float64 test rows; rows, train_sq: scaled training rows and
    squared norms in the screen's dtype. Returns (argmin of each row's scores
    when k == 1 else None, candidates per row).
    """
    n, dim = X.shape
    dtype = rows.dtype
    # -2 a is exact (a power-of-two scaling), so the GEMM gives -2 a.b.
    np.matmul((X * -2.0).astype(dtype), rows.T, out=scores)
    scores += train_sq
    best = None
    if k == 1:
        best = scores.argmin(axis=1)
        kth = scores[np.arange(n), best]
    else:
        kth = np.partition(scores, k - 1, axis=1)[:, k - 1]
    bound = l2_screen_error_bound(np.einsum("ij,ij->i", X, X), max_train_sq, dim, rounding)
    # Round the window up, never down, into the screen's dtype.
    window = np.nextafter((kth.astype(np.float64) + 2 * bound).astype(dtype), dtype.type(np.inf))
    counts = np.count_nonzero(np.less_equal(scores, window[:, None], out=mask), axis=1)
    return best, counts


def _rerank(X, X_train, scale, mask, counts, best, k) -> np.ndarray:
    """Rank each row's candidates by their direct float64 squared distance, then index."""
    n = X.shape[0]
    if k == 1:
        # A row whose window holds only its screen minimum is settled; only
        # rows with several candidates are re-ranked (nonzero over the whole
        # mask would cost more than the rest of the search).
        nearest = best[:, None].copy()
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
        diff = X_train[cols[group]].astype(np.float64)
        if scale != 1:
            diff *= scale
        diff -= X[i]
        exact[group] = np.einsum("ij,ij->i", diff, diff)
    if len(ambiguous):
        nearest[ambiguous] = first_k_per_row(rows, cols, exact, k, len(ambiguous))
    return nearest


# ------------------------------------------------------------------------ L1

def l1_distances(X: np.ndarray, X_train: np.ndarray) -> np.ndarray:
    """L1 distances (N, M) in the rows' dtype, by broadcasting over cache-sized blocks."""
    n, m = X.shape[0], X_train.shape[0]
    cols = max(1, L1_BLOCK_FEATURES // max(1, X.shape[1]))
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


def group_sums(X: np.ndarray, group: int) -> np.ndarray:
    """Sums of consecutive feature groups: (N, D) -> (N, ceil(D / group)), the last group shorter."""
    pad = -X.shape[1] % group
    if pad:
        X = np.concatenate([X, np.zeros((X.shape[0], pad), dtype=X.dtype)], axis=1)
    return X.reshape(X.shape[0], -1, group).sum(axis=2)


class L1Summary(NamedTuple):
    """What the L1 search needs of the training rows, for one scale and group size."""
    max_abs: float             # largest |entry| of the unscaled rows
    scale: float               # the power of two applied (power_of_two_scale)
    group: int
    group_sums: np.ndarray     # (M, ceil(D / group)) group sums of the scaled rows
    max_abs_sum: float         # max_j |b_j|_1 of the scaled rows


def l1_train_summary(X_train: np.ndarray, group: int = L1_GROUP, scale: float | None = None,
                     largest: float | None = None) -> L1Summary:
    """:class:`L1Summary` of X_train (M, D); ``scale`` None: chosen from X_train alone;
    ``largest``: its :func:`max_abs`, when known."""
    largest = max_abs(X_train) if largest is None else largest
    scale = power_of_two_scale(largest, X_train.dtype) if scale is None else scale
    rows = X_train if scale == 1 else X_train * scale
    return L1Summary(largest, scale, group, group_sums(rows, group),
                     float(np.abs(rows).sum(axis=1, dtype=np.float64).max()))


def nearest_neighbors_l1(X_test: np.ndarray, X_train: np.ndarray, k: int,
                         group: int = L1_GROUP, probe: int = L1_PROBE,
                         train_summary: L1Summary | None = None) -> np.ndarray:
    """Exact L1 k nearest neighbours, pruned by a cheap lower bound (module docstring).

    X_test (N, D), X_train (M, D) finite floats in one dtype; k in 1..M.
    train_summary: :func:`l1_train_summary` of X_train, when precomputed.
    Returns indices (N, k) into X_train, ordered by (float64 distance, index).
    """
    n, dim = X_test.shape
    train_max = max_abs(X_train) if train_summary is None else train_summary.max_abs
    scale = power_of_two_scale(max(max_abs(X_test), train_max), X_test.dtype)
    if (train_summary is None or (train_summary.scale, train_summary.group) != (scale, group)
            or train_summary.group_sums.dtype != X_test.dtype):
        train_summary = l1_train_summary(X_train, group, scale)
    if scale != 1:
        X_test = X_test * scale
    lower = l1_distances(group_sums(X_test, group), train_summary.group_sums)
    eps = np.finfo(X_test.dtype).eps
    abs_sums = np.abs(X_test).sum(axis=1, dtype=np.float64)
    slack = 2 * (dim + 1) * eps * (abs_sums + train_summary.max_abs_sum)
    probe = min(max(probe, k), X_train.shape[0])
    nearest = np.empty((n, k), dtype=np.int64)
    for i in range(n):
        a = X_test[i].astype(np.float64)
        candidates = np.argpartition(lower[i], probe - 1)[:probe]
        upper = np.partition(_l1_to_rows(X_train, scale, candidates, a), k - 1)[k - 1]
        survivors = np.flatnonzero(lower[i] <= upper + slack[i])
        exact = _l1_to_rows(X_train, scale, survivors, a)
        # survivors are ascending, so a stable sort orders ties by index.
        nearest[i] = survivors[np.argsort(exact, kind="stable")[:k]]
    return nearest


def _l1_to_rows(X_train: np.ndarray, scale: float, index: np.ndarray, a: np.ndarray) -> np.ndarray:
    """L1 distances, in float64, from ``a`` (D,) to the rows ``X_train[index] * scale``."""
    out = np.empty(len(index))
    gathered = np.empty((min(len(index), L1_GATHER_ROWS), X_train.shape[1]), dtype=X_train.dtype)
    diff = np.empty(gathered.shape)
    for start in range(0, len(index), L1_GATHER_ROWS):
        part = index[start:start + L1_GATHER_ROWS]
        rows = gathered[:len(part)]
        np.take(X_train, part, axis=0, out=rows)
        if scale != 1:
            rows *= scale
        np.subtract(rows, a, out=diff[:len(part)])
        np.abs(diff[:len(part)], out=diff[:len(part)]).sum(axis=1, out=out[start:start + len(part)])
    return out
