"""Fast exact L2 k-nearest-neighbour search in torch, on cpu or cuda: the twin of
``scratch_numpy/knn_search.py`` (it never calls it).

:class:`ref_torch.knn.KNearestNeighbor` uses it with ``search="fast"``; its
default path is the plain float64 oracle, which shares nothing with this file.

Method (the proof is in ``scratch_numpy/knn_search.py``): rows are multiplied
by one power of two when their largest entry lies outside [2^-40, 2^40]
(exact; keeps every square finite). A float32 ``addmm`` gives the score
``S32 = fl(||b||^2) + (-2a).b`` of every training row; every row whose score
lies within ``2 (B + E)`` of the k-th smallest (:func:`screen_error_bound`) is
re-ranked by its direct float64 squared distance, ordered by (distance,
index). B is the rigorous rounding bound of the screen, E that of the float64
re-rank. Where torch may round float32 matmul inputs further (TF32 or
bfloat16 allowed for the device's matmuls), B uses that input roundoff
(:func:`_matmul_input_roundoff`); accumulation stays float32. If the window
keeps more than 64 + k candidates per row on average, the chunk is screened
again in float64.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

DEFAULT_CHUNK_SIZE = 1024
SAFE_EXPONENT = 40
# (input roundoff, accumulation roundoff, smallest normal number) of the
# screens; the smallest normal is the most a subnormal input, product or
# flushed-to-zero result can lose.
FLOAT32_ACCUMULATION, FLOAT32_SMALLEST_NORMAL = 2.0**-24, 2.0**-126
FLOAT64_ROUNDING = (2.0**-53, 2.0**-53, 2.0**-1022)
MATMUL_INPUT_ROUNDOFF = {"ieee": 2.0**-24, "tf32": 2.0**-10, "bf16": 2.0**-7}
# Pairs re-ranked exactly per batch: 2048 x 3072 float64 differences = 48 MiB.
RERANK_BATCH = 2048
MAX_CANDIDATES_PER_ROW = 64
# Training rows per block when squared norms are accumulated in float64.
NORM_BLOCK = 8192


def max_abs(X: torch.Tensor) -> float:
    """Largest |entry| of X (0 for an empty tensor)."""
    return 0.0 if X.numel() == 0 else float(torch.maximum(X.max(), -X.min()))


def power_of_two_scale(largest: float) -> float:
    """1.0 when ``largest`` is 0 or in [2^-40, 2^40]; else the power of two that
    brings it into [2^39, 2^40), at most 2^1023. Rows are scaled in float64."""
    if largest == 0 or 2.0**-SAFE_EXPONENT <= largest <= 2.0**SAFE_EXPONENT:
        return 1.0
    return math.ldexp(1.0, min(SAFE_EXPONENT - math.frexp(largest)[1], 1023))


def scaled_sq_norms(X: torch.Tensor, scale: float) -> torch.Tensor:
    """float64 squared norms (M,) of the rows of ``X * scale``, in blocks."""
    blocks = (block.double() if scale == 1 else block.double() * scale for block in X.split(NORM_BLOCK))
    return torch.cat([(block * block).sum(1) for block in blocks])


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


def screen_error_bound(test_sq_norms: torch.Tensor, max_train_sq_norm: float, dim: int,
                       input_roundoff: float, accumulation_roundoff: float,
                       smallest_normal: float) -> torch.Tensor:
    """Half-width ``B + E`` of the candidate window per test row.

    B: ``2 ((1 + v)^2 (1 + gamma_D) - 1) ||a|| ||b||`` for the dot product of
    the rows rounded to the GEMM's inputs (v) and summed in any order (u),
    ``u (2 ||b||^2 + 2 ||a|| ||b||)`` for rounding ``||b||^2`` and the sum,
    ``eta (2 sqrt(D) (||b|| + 2 ||a||) + 3 D + 1)`` for subnormals. E:
    ``gamma_{D+2} (||a|| + ||b||)^2`` in float64 for the re-rank. 1.01 covers
    the float64 norms; ``D 2^-1074`` what they lose to underflow.
    """
    v, u, eta = input_roundoff, accumulation_roundoff, smallest_normal
    if dim * u >= 0.5:
        raise ValueError(f"the screen cannot bound its rounding over {dim} features (D * u >= 1/2)")
    test_norms = (test_sq_norms + dim * 2.0**-1074).sqrt()
    train_norm = math.sqrt(max_train_sq_norm + dim * 2.0**-1074)
    gamma = dim * u / (1 - dim * u)
    cross = test_norms * train_norm
    screen = (2 * ((1 + v) ** 2 * (1 + gamma) - 1) * cross + u * (2 * train_norm**2 + 2 * cross)
              + eta * (2 * math.sqrt(dim) * (train_norm + 2 * test_norms) + 3 * dim + 1))
    u64 = 2.0**-53
    rerank = (dim + 2) * u64 / (1 - (dim + 2) * u64) * (test_norms + train_norm) ** 2 + dim * 2.0**-1074
    return 1.01 * (screen + rerank)


def _matmul_input_roundoff(device: torch.device) -> float:
    """Relative rounding of float64 rows on their way into a float32 matmul on ``device``.

    2^-24 (to float32); where the backend's ``fp32_precision`` is "tf32" (what
    ``allow_tf32`` and ``set_float32_matmul_precision("high")`` set) a further
    2^-11, at most 2^-10 together; "bf16" a further 2^-8, at most 2^-7.
    """
    backend = torch.backends.cuda.matmul if device.type == "cuda" else torch.backends.mkldnn.matmul
    precision = backend.fp32_precision
    if precision == "none":
        precision = torch.backends.fp32_precision
    return MATMUL_INPUT_ROUNDOFF.get(precision, 2.0**-24 if precision == "none" else 2.0**-7)


class L2Summary(NamedTuple):
    """What the search needs of the training rows, for one scale."""
    max_abs: float             # largest |entry| of the unscaled rows
    scale: float               # the power of two applied
    rows32: torch.Tensor       # (M, D) float32 copy of the scaled rows
    sq_norms: torch.Tensor     # (M,) float64 squared norms of the scaled rows


def l2_train_summary(X_train: torch.Tensor, scale: float | None = None,
                     largest: float | None = None) -> L2Summary:
    """:class:`L2Summary` of X_train (M, D); ``scale`` None: chosen from X_train alone;
    ``largest``: its :func:`max_abs`, when known."""
    largest = max_abs(X_train) if largest is None else largest
    scale = power_of_two_scale(largest) if scale is None else scale
    rows32 = X_train.to(torch.float32) if scale == 1 else (X_train.double() * scale).float()
    return L2Summary(largest, scale, rows32, scaled_sq_norms(X_train, scale))


def nearest_neighbors_l2(X_test: torch.Tensor, X_train: torch.Tensor, k: int,
                         chunk_size: int = DEFAULT_CHUNK_SIZE,
                         train_summary: L2Summary | None = None) -> torch.Tensor:
    """Indices (N, k) of the k nearest rows of X_train (M, D) to each row of X_test (N, D),
    ordered by (float64 distance, index). Both finite, on one device; k in 1..M."""
    X_test = X_test.double()
    train_max = max_abs(X_train) if train_summary is None else train_summary.max_abs
    scale = power_of_two_scale(max(max_abs(X_test), train_max))
    if train_summary is None or train_summary.scale != scale:
        train_summary = l2_train_summary(X_train, scale)
    if scale != 1:
        X_test = X_test * scale
    out = [torch.empty(0, k, dtype=torch.int64, device=X_test.device)]
    for start in range(0, X_test.shape[0], chunk_size):
        out.append(_screen_and_rerank(X_test[start:start + chunk_size], X_train, train_summary, k))
    return torch.cat(out)


def _screen(X, rows, train_sq, max_train_sq, k, rounding):
    """(candidate mask (n, M), candidates per row, argmin per row when k == 1)."""
    n, dim = X.shape
    scores = torch.addmm(train_sq.to(rows.dtype)[None, :], X.to(rows.dtype), rows.T, alpha=-2)
    best = None
    if k == 1:
        kth, best = scores.min(1)
    else:
        kth = torch.topk(scores, k, 1, largest=False).values[:, -1]
    bound = screen_error_bound((X * X).sum(1), max_train_sq, dim, *rounding)
    # Round the window up, never down, into the screen's dtype.
    window = (kth.double() + 2 * bound).to(rows.dtype)
    window = torch.nextafter(window, torch.full_like(window, float("inf")))
    mask = scores <= window[:, None]
    return mask, mask.sum(1), best


def _screen_and_rerank(X: torch.Tensor, X_train: torch.Tensor, summary: L2Summary, k: int) -> torch.Tensor:
    """One chunk of scaled float64 test rows X (n, D)."""
    n = X.shape[0]
    max_train_sq = float(summary.sq_norms.max())
    rounding = (_matmul_input_roundoff(X.device), FLOAT32_ACCUMULATION, FLOAT32_SMALLEST_NORMAL)
    mask, counts, best = _screen(X, summary.rows32, summary.sq_norms, max_train_sq, k, rounding)
    if int(counts.sum()) > (MAX_CANDIDATES_PER_ROW + k) * n:
        mask, counts, best = _screen(X, X_train.double() * summary.scale, summary.sq_norms,
                                     max_train_sq, k, FLOAT64_ROUNDING)
    if k == 1:
        # A row whose window holds only its screen minimum is settled;
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
        diff = X[ambiguous[rows[start:stop]]] - X_train[cols[start:stop]].double() * summary.scale
        exact[start:stop] = (diff * diff).sum(1)
    nearest[ambiguous] = first_k_per_row(rows, cols, exact, k, len(ambiguous))
    return nearest
