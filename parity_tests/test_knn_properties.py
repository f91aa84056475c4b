"""Property tests of every kNN path against a brute-force reference (hypothesis).

The reference: plain Python loops over every (test, training) pair in exact
rational arithmetic (``fractions.Fraction`` of the float64 inputs), neighbours
sorted by (exact distance, index), a majority vote with ties to the smallest
label. (Loops in float64 would themselves overflow or underflow at the
magnitudes drawn here.)

Problems are small (1..8 training rows, 1..3 test rows, 1..4 features, k in
1..N) with rows drawn from a pool of at most 6, so duplicate rows and tied
distances are common. Two families:

* grid: integers in -3..3, plus an offset 2^8..2^24 in some problems, times
  one power of two 2^e, e from -1074 up to near overflow. Every float64
  distance is then exact (while float32 cannot order offset rows), so every
  path must return exactly the reference's neighbours, ties in index order,
  and its labels.
* rounded: mantissas in [-1, 1] times 2^(e + d), e in -1000..960 and d in
  -60..60 per entry. Each path's neighbours must carry, position by position,
  the reference's sorted distances within twice that path's rounding bound;
  where the k-th and (k+1)-th exact distances are farther apart than that,
  the neighbour set and the labels must be the reference's.

Distance matrices must lie within their rounding bound of the exact
distances, or raise ``ValueError`` when an exact distance exceeds float64's range.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ref_torch import knn as tknn
from scratch_numpy import knn as nknn
from scratch_numpy import knn_search as nsearch

U64 = Fraction(1, 2**53)
TINY = Fraction(1, 2**1074)  # the smallest subnormal float64
FLOAT64_MAX = Fraction(np.finfo(np.float64).max)
MAX_EXAMPLES = 200


@st.composite
def problems(draw, family: str):
    """(X_train (N, D), y_train (N,), X_test (n, D), k) float64 rows from one pool."""
    dim = draw(st.integers(1, 4))
    pool_size = draw(st.integers(1, 6))
    if family == "grid":
        # An offset of 2^s (s = 8..24) on every entry: distances stay exact in
        # float64, but float32 can no longer order them (the screen must).
        shift = draw(st.sampled_from([None, 8, 12, 16, 20, 24]))
        offset = 0 if shift is None else 2**shift
        e = draw(st.integers(-1074, 1021 - (shift or 0) - 1))
        entry = st.integers(-3, 3).map(lambda m: math.ldexp(offset + m, e))
    else:
        e = draw(st.integers(-1000, 960))
        entry = st.builds(lambda m, d: math.ldexp(m, e + d), st.floats(-1, 1), st.integers(-60, 60))
    pool = [[draw(entry) for _ in range(dim)] for _ in range(pool_size)]
    rows = st.integers(0, pool_size - 1).map(lambda i: pool[i])
    X_train = np.array([draw(rows) for _ in range(draw(st.integers(1, 8)))])
    X_test = np.array([draw(rows) for _ in range(draw(st.integers(1, 3)))])
    y_train = np.array(draw(st.lists(st.integers(0, 2), min_size=len(X_train), max_size=len(X_train))))
    return X_train, y_train, X_test, draw(st.integers(1, len(X_train)))


# ----------------------------------------------------------------- reference

def exact_keys(X_test, X_train, metric) -> list[list[Fraction]]:
    """Exact d^2 (L2) or d (L1) of every pair, by plain loops."""
    keys = []
    for a in X_test:
        row = []
        for b in X_train:
            diffs = [Fraction(float(x)) - Fraction(float(y)) for x, y in zip(a, b)]
            row.append(sum(d * d for d in diffs) if metric == "l2" else sum(abs(d) for d in diffs))
        keys.append(row)
    return keys


def vote(labels) -> int:
    counts = Counter(int(label) for label in labels)
    return min(counts, key=lambda label: (-counts[label], label))


def rounding_bounds(X_test, X_train, keys, metric, path: "Path") -> list[list[Fraction]]:
    """Per pair, a bound on |computed key - exact key| for ``path``.

    direct: differences, squares and sums rounded once each, (D + 2) u relative.
    expansion: ||a||^2 + ||b||^2 - 2 a.b cancels: 4 (D + 3) u (||a|| + ||b||)^2.
    Both plus a floor for underflow: an entry rescaled by up to 2^(e - 39)
    (rows above 2^40) is rounded to ``delta`` = 2^-1074 times that factor.
    A distance matrix is also rounded by sqrt and by dividing the scale out.
    """
    dim = X_train.shape[1]
    largest = Fraction(float(max(np.abs(X_test).max(), np.abs(X_train).max())))
    delta = TINY * max(Fraction(1), largest / 2**39)
    floor = 64 * dim**2 * delta * (largest + delta) if metric == "l2" else 4 * dim * delta
    bounds = []
    for a, row in zip(X_test, keys):
        sq_a = sum(Fraction(float(x)) ** 2 for x in a)
        out = []
        for b, key in zip(X_train, row):
            if path.rounding == "expansion":
                bound = 8 * (dim + 3) * U64 * (sq_a + sum(Fraction(float(x)) ** 2 for x in b))
            else:
                bound = 2 * (dim + 2) * U64 * key
            if path.matrix:
                bound += 8 * U64 * key + 4 * TINY * (1 + key)
            out.append(bound + floor)
        bounds.append(out)
    return bounds


# --------------------------------------------------------------------- paths

@dataclass
class Path:
    rounding: str           # "direct" (differences) or "expansion" (||a||^2 + ||b||^2 - 2 a.b)
    matrix: bool            # ranks a returned (unscaled) distance matrix
    run: Callable[[], tuple]  # -> (indices (n, k), labels (n,)) or a distance matrix (n, N)


def neighbour_paths(X_train, y_train, X_test, k, metric) -> dict[str, Path]:
    """Every way to get neighbours and labels; matrix paths may raise ValueError."""
    l2 = metric == "l2"
    mine = nknn.KNearestNeighbor(metric).train(X_train, y_train)

    def search():
        if l2:
            nearest = nsearch.nearest_neighbors_l2(X_test, X_train, k, chunk_size=2)
        else:
            nearest = nsearch.nearest_neighbors_l1(X_test, X_train, k, group=2, probe=1)
        return nearest, nknn.majority_vote(y_train[nearest], int(y_train.max()) + 1)

    def ranked(model, distances, nearest_from_distances, to_numpy=np.asarray):
        def run():
            dists = distances()
            return (to_numpy(nearest_from_distances(dists, k)), to_numpy(model.predict_labels(dists, k)))
        return run

    paths = {
        "numpy predict": Path("direct", False, lambda: (mine.nearest(X_test, k), mine.predict(X_test, k))),
        "numpy search": Path("direct", False, search),
    }
    no_loops = "expansion" if l2 else "direct"
    for name, variant, rounding in [("two loops", mine.compute_distances_two_loops, "direct"),
                                    ("one loop", mine.compute_distances_one_loop, "direct"),
                                    ("no loops", mine.compute_distances_no_loops, no_loops)]:
        paths[f"numpy {name}"] = Path(rounding, True, ranked(mine, lambda v=variant: v(X_test),
                                                             nknn.nearest_from_distances))
    for search_name in tknn.SEARCHES:
        theirs = tknn.KNearestNeighbor(metric, search=search_name).train(X_train, y_train)
        paths[f"torch {search_name}"] = Path(
            "expansion" if l2 and search_name == "plain" else "direct", False,
            lambda t=theirs: (t.nearest(X_test, k).numpy(), t.predict(X_test, k).numpy()))
    paths["torch distances"] = Path("expansion" if l2 else "direct", True,
                                    ranked(theirs, lambda: theirs.compute_distances(X_test),
                                           tknn.nearest_from_distances, lambda t: t.numpy()))
    return paths


def distance_matrices(X_train, y_train, X_test, metric) -> dict[str, Path]:
    mine = nknn.KNearestNeighbor(metric).train(X_train, y_train)
    theirs = tknn.KNearestNeighbor(metric).train(X_train, y_train)
    expansion = "expansion" if metric == "l2" else "direct"
    return {
        "numpy two loops": Path("direct", True, lambda: mine.compute_distances_two_loops(X_test)),
        "numpy one loop": Path("direct", True, lambda: mine.compute_distances_one_loop(X_test)),
        "numpy no loops": Path(expansion, True, lambda: mine.compute_distances_no_loops(X_test)),
        "torch distances": Path(expansion, True, lambda: theirs.compute_distances(X_test).numpy()),
    }


# -------------------------------------------------------------------- checks

def check_distances(problem, metric, keys):
    X_train, y_train, X_test, _ = problem
    too_large = max(max(row) for row in keys) > (FLOAT64_MAX**2 if metric == "l2" else FLOAT64_MAX)
    for name, path in distance_matrices(X_train, y_train, X_test, metric).items():
        try:
            dists = path.run()
        except ValueError as exc:
            assert too_large and "exceed the largest" in str(exc), f"{name}: {exc}"
            continue
        assert not too_large, f"{name} returned distances beyond float64's range"
        assert np.isfinite(dists).all(), f"{name} returned non-finite distances {dists}"
        bounds = rounding_bounds(X_test, X_train, keys, metric, path)
        for i, j in np.ndindex(dists.shape):
            got = Fraction(float(dists[i, j]))
            got = got * got if metric == "l2" else got
            assert abs(got - keys[i][j]) <= bounds[i][j], f"{name} [{i}, {j}]: {float(dists[i, j])!r}"


def check_neighbours(problem, metric, keys, exact: bool, paths: dict[str, Path]):
    """Every path's neighbours and labels against the reference (see the module docstring)."""
    X_train, y_train, X_test, k = problem
    order = [sorted(range(len(X_train)), key=lambda j: (row[j], j)) for row in keys]
    expected_labels = [vote(y_train[o[:k]]) for o in order]
    # Exact distances below 2^-1022 are subnormal once unscaled: a returned
    # matrix then holds them with fewer bits, and may tie distinct ones.
    smallest_normal = Fraction(2) ** (-2044 if metric == "l2" else -1022)
    matrix_exact = all(key == 0 or key >= smallest_normal for row in keys for key in row)
    for name, path in paths.items():
        try:
            indices, labels = path.run()
        except ValueError as exc:
            assert path.matrix and "exceed the largest" in str(exc), f"{name}: {exc}"
            continue
        indices = np.asarray(indices)
        assert indices.shape == (len(X_test), k), name
        if exact and (matrix_exact or not path.matrix):
            np.testing.assert_array_equal(indices, np.array(order)[:, :k], name)
            np.testing.assert_array_equal(labels, expected_labels, name)
            continue
        bounds = rounding_bounds(X_test, X_train, keys, metric, path)
        for i, row in enumerate(keys):
            reference = [row[j] for j in order[i]]
            slack = 2 * max(bounds[i])
            assert len(set(indices[i].tolist())) == k, f"{name}: repeated neighbours {indices[i]}"
            for p, j in enumerate(indices[i]):
                assert abs(row[j] - reference[p]) <= slack, f"{name} row {i}: neighbour {p} is {j}"
            if k == len(X_train) or reference[k] - reference[k - 1] > slack:
                assert set(indices[i].tolist()) == set(order[i][:k]), f"{name} row {i}"
                assert labels[i] == expected_labels[i], f"{name} row {i}: label"


def _check(problem, metric, exact):
    X_train, y_train, X_test, k = problem
    keys = exact_keys(X_test, X_train, metric)
    check_distances(problem, metric, keys)
    check_neighbours(problem, metric, keys, exact, neighbour_paths(X_train, y_train, X_test, k, metric))


# float32 rounds 2^24 + 3 to 2^24 + 4 and 2^24 - 2 exactly: its scores put row 0
# (distance 5) before row 1 (distance 2), so only the screen's window saves row 1.
FLOAT32_MISORDER = (np.array([[2.0**24 + 3], [2.0**24], [2.0**24 + 3]]), np.array([0, 1, 0]),
                    np.array([[2.0**24 - 2]]), 1)


@settings(max_examples=MAX_EXAMPLES)
@example(problem=(np.array([[0.0]]), np.array([1]), np.array([[5e-324]]), 1), metric="l2")
@example(problem=FLOAT32_MISORDER, metric="l2")
@example(problem=(np.array([[3.0 * 2.0**1021], [-3.0 * 2.0**1021]]), np.array([0, 1]),
                  np.array([[3.0 * 2.0**1021]]), 2), metric="l1")
@given(problem=problems("grid"), metric=st.sampled_from(["l2", "l1"]))
def test_grid_rows_give_the_exact_neighbours(problem, metric):
    _check(problem, metric, exact=True)


@settings(max_examples=MAX_EXAMPLES)
@example(problem=(np.array([[1.0]]), np.array([0]), np.array([[-1.0]]), 1), metric="l1")
@given(problem=problems("rounded"), metric=st.sampled_from(["l2", "l1"]))
def test_rounded_rows_give_neighbours_within_the_rounding_bound(problem, metric):
    _check(problem, metric, exact=False)


@pytest.mark.parametrize("exact", [True, False])
def test_checks_catch_a_wrong_neighbour(exact):
    """Not vacuous: a path that returns the farthest row as the nearest fails both checks."""
    X_train, y_train, X_test = np.array([[0.0], [1.0], [5.0]]), np.array([0, 1, 0]), np.array([[0.25]])
    wrong = {"wrong": Path("direct", False, lambda: (np.array([[2]]), np.array([0])))}
    with pytest.raises(AssertionError, match="wrong"):
        check_neighbours((X_train, y_train, X_test, 1), "l2", exact_keys(X_test, X_train, "l2"), exact, wrong)
