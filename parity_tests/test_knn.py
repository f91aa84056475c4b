"""kNN: NumPy variants vs torch, the assignment's known results, tie rules, bad input, scale.

The assignment subset: the first 5,000 training and first 500 test images of
CIFAR-10 as raw pixel rows (float64, no mean subtraction). Its published
figures (L2): k=1 -> 137/500, k=5 -> 139/500; 5-fold cross-validation over
K_CHOICES -> best k = 10 -> 141/500.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ref_torch import knn as tknn
from ref_torch import knn_search as tsearch
from ref_torch.parity import compare_arrays
from ref_torch.tolerances import KNN_DIST_RTOL
from scratch_numpy import knn as nknn
from scratch_numpy import knn_search as nsearch

K_CHOICES = [1, 3, 5, 8, 10, 12, 15, 20, 50, 100]
LOOP_ROWS = 8  # test rows for the (slow) loop variants in the default run
SEARCHES = tknn.SEARCHES  # torch: "plain" (the float64 oracle) and "fast"


@pytest.fixture(scope="module")
def subset(cifar10):
    """Assignment subset: X_train (5000, 3072), y_train, X_test (500, 3072), y_test."""
    rows = lambda X: X.reshape(X.shape[0], -1).astype(np.float64)  # noqa: E731
    return (rows(cifar10.X_train[:5000]), cifar10.y_train[:5000],
            rows(cifar10.X_test[:500]), cifar10.y_test[:500])


@pytest.fixture(scope="module")
def torch_reference_l2(subset):
    """Torch float64 L2 distances (500, 5000): the reference."""
    X_train, y_train, X_test, _ = subset
    return tknn.KNearestNeighbor("l2", dtype=np.float64).train(X_train, y_train).compute_distances(X_test).numpy()


@pytest.fixture(scope="module")
def numpy_l2(subset):
    X_train, y_train, _, _ = subset
    return nknn.KNearestNeighbor("l2").train(X_train, y_train)


# ----------------------------------------------------------- known results

@pytest.mark.parametrize("k, correct", [(1, 137), (5, 139)])
def test_numpy_known_results(numpy_l2, subset, k, correct):
    _, _, X_test, y_test = subset
    assert int(np.sum(numpy_l2.predict(X_test, k=k) == y_test)) == correct


def test_cross_validation_picks_k10_and_scores_141(subset):
    X_train, y_train, X_test, y_test = subset
    accuracies = nknn.cross_validate(X_train, y_train, K_CHOICES, num_folds=5)
    assert sorted(accuracies) == K_CHOICES
    assert all(len(v) == 5 for v in accuracies.values())
    best = nknn.best_k(accuracies)
    assert best == 10
    model = nknn.KNearestNeighbor().train(X_train, y_train)
    assert int(np.sum(model.predict(X_test, k=best) == y_test)) == 141


@pytest.mark.parametrize("search", SEARCHES)
@pytest.mark.parametrize("k, correct", [(1, 137), (5, 139), (10, 141)])
def test_torch_known_results(subset, device, k, correct, search):
    X_train, y_train, X_test, y_test = subset
    model = tknn.KNearestNeighbor("l2", device=device, search=search).train(X_train, y_train)
    assert int((model.predict(X_test, k=k).cpu().numpy() == y_test).sum()) == correct


# ------------------------------------------------------------ distance parity

def test_float64_distances_all_variants_agree(numpy_l2, subset, numpy_no_loop_l2, torch_reference_l2):
    _, _, X_test, _ = subset
    tol = KNN_DIST_RTOL[np.dtype(np.float64)]
    assert compare_arrays("no_loops", numpy_no_loop_l2, torch_reference_l2, tol).passed
    head = X_test[:LOOP_ROWS]
    for name, dists in [("one_loop", numpy_l2.compute_distances_one_loop(head)),
                        ("two_loops", numpy_l2.compute_distances_two_loops(head))]:
        diff = compare_arrays(name, dists, torch_reference_l2[:LOOP_ROWS], tol)
        assert diff.passed, str(diff)


def test_float32_distances_within_documented_tolerance(subset, torch_reference_l2, torch_float32_l2):
    X_train, y_train, X_test, _ = subset
    tol = KNN_DIST_RTOL[np.dtype(np.float32)]
    X_train32, X_test32 = X_train.astype(np.float32), X_test.astype(np.float32)
    model = nknn.KNearestNeighbor().train(X_train32, y_train)
    results = {
        "numpy no_loops": model.compute_distances_no_loops(X_test32),
        "numpy one_loop": model.compute_distances_one_loop(X_test32[:LOOP_ROWS]),
        "torch": torch_float32_l2[1].numpy(),
    }
    for name, dists in results.items():
        assert dists.dtype == np.float32, name
        diff = compare_arrays(name, dists, torch_reference_l2[:len(dists)], tol)
        assert diff.passed, str(diff)


def test_float32_tolerance_fails_a_wrong_distance(subset, torch_reference_l2):
    """A distance that ignores one of the 3,072 pixels must fail the float32 bound."""
    X_train, y_train, X_test, _ = subset
    model = nknn.KNearestNeighbor().train(X_train[:, :-1].astype(np.float32), y_train)
    wrong = model.compute_distances_no_loops(X_test[:, :-1].astype(np.float32))
    assert not compare_arrays("wrong", wrong, torch_reference_l2, KNN_DIST_RTOL[np.dtype(np.float32)]).passed


def test_l1_distances_agree(subset):
    X_train, y_train, X_test, _ = subset
    head = X_test[:LOOP_ROWS]
    reference = tknn.KNearestNeighbor("l1").train(X_train, y_train).compute_distances(head).numpy()
    model = nknn.KNearestNeighbor("l1").train(X_train, y_train)
    tol = KNN_DIST_RTOL[np.dtype(np.float64)]
    for name, dists in [("no_loops", model.compute_distances_no_loops(head)),
                        ("one_loop", model.compute_distances_one_loop(head)),
                        ("two_loops", model.compute_distances_two_loops(head[:2]))]:
        diff = compare_arrays(name, dists, reference[:len(dists)], tol)
        assert diff.passed, str(diff)
    # Raw pixels: every L1 distance is an integer below 2^24, exact in float32 too.
    float32 = tknn.KNearestNeighbor("l1", dtype=np.float32).train(X_train, y_train).compute_distances(head)
    np.testing.assert_array_equal(float32.numpy(), reference)


# ---------------------------------------------------------- prediction parity

@pytest.fixture(scope="module")
def numpy_no_loop_l2(numpy_l2, subset):
    return numpy_l2.compute_distances_no_loops(subset[2])


@pytest.fixture(scope="module")
def torch_float32_l2(subset):
    X_train, y_train, X_test, _ = subset
    model = tknn.KNearestNeighbor(dtype=np.float32).train(X_train, y_train)
    return model, model.compute_distances(X_test)


@pytest.mark.parametrize("k", [1, 5, 10])
def test_predictions_identical(numpy_l2, subset, numpy_no_loop_l2, torch_reference_l2, torch_float32_l2, k):
    X_train, y_train, X_test, _ = subset
    expected = numpy_l2.predict_labels(numpy_no_loop_l2, k)
    np.testing.assert_array_equal(numpy_l2.predict(X_test, k), expected)
    for search in SEARCHES:
        torch_model = tknn.KNearestNeighbor(search=search).train(X_train, y_train)
        np.testing.assert_array_equal(torch_model.predict(X_test, k).numpy(), expected, search)
    np.testing.assert_array_equal(torch_model.predict_labels(torch_reference_l2, k).numpy(), expected)
    float32_model, float32_dists = torch_float32_l2
    np.testing.assert_array_equal(float32_model.predict_labels(float32_dists, k).numpy(), expected)
    head = X_test[:LOOP_ROWS]
    np.testing.assert_array_equal(numpy_l2.predict(head, k, num_loops=1), expected[:LOOP_ROWS])
    np.testing.assert_array_equal(numpy_l2.predict(head, k, num_loops=2), expected[:LOOP_ROWS])


def test_l1_predictions_identical(subset):
    X_train, y_train, X_test, _ = subset
    head = X_test[:40]
    mine = nknn.KNearestNeighbor("l1").train(X_train, y_train)
    dists = mine.compute_distances_no_loops(head)
    for k in (1, 5):
        expected = mine.predict_labels(dists, k)
        np.testing.assert_array_equal(mine.predict(head, k), expected)
        for search in SEARCHES:
            theirs = tknn.KNearestNeighbor("l1", search=search).train(X_train, y_train)
            np.testing.assert_array_equal(theirs.predict(head, k).numpy(), expected, search)


def test_chunk_size_does_not_change_results(subset, numpy_l2):
    X_train, y_train, X_test, _ = subset
    head = X_test[:50]
    small = nknn.KNearestNeighbor(chunk_size=7).train(X_train, y_train)
    np.testing.assert_array_equal(small.compute_distances_no_loops(head), numpy_l2.compute_distances_no_loops(head))
    np.testing.assert_array_equal(small.predict(head, 5), numpy_l2.predict(head, 5))
    for search in SEARCHES:
        torch_small = tknn.KNearestNeighbor(chunk_size=7, search=search).train(X_train, y_train)
        np.testing.assert_array_equal(torch_small.predict(head, 5).numpy(), numpy_l2.predict(head, 5), search)


# ------------------------------------------------- exact float32 screening

@pytest.mark.parametrize("offset", [0.0, 1e3, 1e5])
def test_screened_search_equals_float64_ranking(subset, offset):
    """The float32 screen + float64 re-rank returns exactly the stable float64 order,
    even where a shifted input makes plain float32 distances misrank neighbours."""
    X_train, _, X_test, _ = subset
    X_train, X_test = X_train[:1000] + offset, X_test[:60] + offset
    exact = np.stack([((X_train - row) ** 2).sum(1) for row in X_test])
    order = np.argsort(exact, axis=1, kind="stable")
    for k in (1, 7, 50):
        np.testing.assert_array_equal(nsearch.nearest_neighbors_l2(X_test, X_train, k), order[:, :k])
        for search in SEARCHES:
            torch_model = tknn.KNearestNeighbor(search=search).train(X_train, np.zeros(1000, dtype=np.int64))
            np.testing.assert_array_equal(torch_model.nearest(X_test, k).numpy(), order[:, :k], search)
    if offset == 1e5:
        plain32 = nknn.KNearestNeighbor().train(X_train.astype(np.float32), np.zeros(1000, dtype=np.int64))
        misranked = plain32.compute_distances_no_loops(X_test.astype(np.float32)).argmin(1) != order[:, 0]
        assert misranked.any(), "the shifted input should defeat plain float32 distances"


@pytest.mark.parametrize("precision", ["tf32", "bf16"])
def test_screen_under_reduced_matmul_precision(subset, device, precision):
    """TF32 (bfloat16) rounds the GEMM's inputs to 10 (7) bits; the window widens to match."""
    X_train, y_train, X_test, _ = subset
    bound = tsearch.screen_error_bound(torch.tensor([1e8]), 1e8, 3072, 2.0**-10, 2.0**-24, 2.0**-126)
    assert 0 < float(bound) < 1e6
    expected = nknn.KNearestNeighbor().train(X_train, y_train).nearest(X_test[:100], 5)
    backends = {torch.backends.cuda.matmul: "tf32", torch.backends.mkldnn.matmul: precision}
    saved = {backend: backend.fp32_precision for backend in backends}
    try:
        for backend, value in backends.items():
            backend.fp32_precision = value
        model = tknn.KNearestNeighbor(device=device, search="fast").train(X_train, y_train)
        np.testing.assert_array_equal(model.nearest(X_test[:100], 5).cpu().numpy(), expected)
    finally:
        for backend, value in saved.items():
            backend.fp32_precision = value


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pruned_l1_search_equals_stable_ranking(subset, dtype):
    """The lower-bound-pruned L1 search returns exactly the stable order of the full L1 matrix."""
    X_train, y_train, X_test, _ = subset
    X_train, X_test = X_train[:2000].astype(dtype), X_test[:40].astype(dtype)
    full = nknn.KNearestNeighbor("l1").train(X_train, y_train[:2000]).compute_distances_no_loops(X_test)
    order = np.argsort(full, axis=1, kind="stable")
    for k in (1, 7, 50):
        np.testing.assert_array_equal(nsearch.nearest_neighbors_l1(X_test, X_train, k), order[:, :k])


def test_pruned_searches_keep_index_order_among_many_ties():
    rng = np.random.default_rng(1)
    X_train = rng.integers(0, 3, size=(300, 20)).astype(np.float64)
    X_test = rng.integers(0, 3, size=(30, 20)).astype(np.float64)
    l1 = np.abs(X_test[:, None, :] - X_train[None]).sum(-1)
    l2 = ((X_test[:, None, :] - X_train[None]) ** 2).sum(-1)
    for k in (1, 5, 300):
        np.testing.assert_array_equal(nsearch.nearest_neighbors_l1(X_test, X_train, k, group=3, probe=2),
                                      np.argsort(l1, axis=1, kind="stable")[:, :k])
        np.testing.assert_array_equal(nsearch.nearest_neighbors_l2(X_test, X_train, k),
                                      np.argsort(l2, axis=1, kind="stable")[:, :k])
        for search in SEARCHES:
            torch_model = tknn.KNearestNeighbor(search=search).train(X_train, np.zeros(300, dtype=np.int64))
            np.testing.assert_array_equal(torch_model.nearest(X_test, k).numpy(),
                                          np.argsort(l2, axis=1, kind="stable")[:, :k], search)


# ------------------------------------------------------------------ tie rules

TIE_TRAIN = np.array([[1.0], [-1.0], [1.0], [3.0]])
TIE_LABELS = np.array([2, 1, 0, 0])


@pytest.mark.parametrize("k, neighbors, label", [(1, [0], 2), (2, [0, 1], 1), (3, [0, 1, 2], 0)])
def test_tie_rules(k, neighbors, label, device):
    """Distances [1, 1, 1, 3] from 0: equal distances in index order; a tied vote to the smallest label."""
    X_test = np.zeros((1, 1))
    numpy_model = nknn.KNearestNeighbor().train(TIE_TRAIN, TIE_LABELS)
    np.testing.assert_array_equal(numpy_model.nearest(X_test, k)[0], neighbors)
    for search in SEARCHES:
        torch_model = tknn.KNearestNeighbor(device=device, search=search).train(TIE_TRAIN, TIE_LABELS)
        np.testing.assert_array_equal(torch_model.nearest(X_test, k)[0].cpu().numpy(), neighbors)
        assert int(torch_model.predict(X_test, k)[0]) == label
    dists = numpy_model.compute_distances_no_loops(X_test)
    np.testing.assert_array_equal(dists, [[1.0, 1.0, 1.0, 3.0]])
    for loops in (0, 1, 2):
        assert numpy_model.predict(X_test, k, num_loops=loops)[0] == label
    assert numpy_model.predict_labels(dists, k)[0] == label
    assert int(torch_model.predict_labels(dists, k)[0]) == label


def test_selection_matches_stable_argsort_with_many_ties():
    rng = np.random.default_rng(0)
    dists = rng.integers(0, 6, size=(40, 300)).astype(np.float64)
    order = np.argsort(dists, axis=1, kind="stable")
    for k in (1, 2, 5, 37, 300):
        np.testing.assert_array_equal(nknn.nearest_from_distances(dists, k), order[:, :k])
        np.testing.assert_array_equal(tknn.nearest_from_distances(torch.from_numpy(dists), k).numpy(),
                                      order[:, :k])


def test_screened_l2_with_no_ambiguous_row():
    X_train = np.array([[0.0], [10.0], [20.0]])
    X_test = np.array([[1.0], [19.0]])
    np.testing.assert_array_equal(nsearch.nearest_neighbors_l2(X_test, X_train, 1), [[0], [2]])
    torch_model = tknn.KNearestNeighbor(search="fast").train(X_train, np.arange(3))
    np.testing.assert_array_equal(torch_model.nearest(X_test, 1).numpy(), [[0], [2]])


def test_majority_vote_ties_go_to_smallest_label():
    labels = np.array([[3, 1, 1, 3], [4, 2, 0, 9], [5, 5, 5, 0], [7, 7, 6, 6]])
    expected = [1, 0, 5, 6]
    np.testing.assert_array_equal(nknn.majority_vote(labels, 10), expected)
    np.testing.assert_array_equal(tknn.majority_vote(torch.from_numpy(labels), 10).numpy(), expected)


# ------------------------------------------------------------------ bad input

def _trained(side, metric="l2"):
    X = np.arange(12, dtype=np.float64).reshape(4, 3)
    y = np.array([0, 1, 0, 1])
    model = nknn.KNearestNeighbor(metric) if side == "numpy" else tknn.KNearestNeighbor(metric)
    return model.train(X, y)


@pytest.mark.parametrize("side", ["numpy", "torch"])
@pytest.mark.parametrize("k, match", [(0, "k must lie in 1..4"), (5, "k must lie in 1..4"),
                                      (1.5, "k must be an integer"), (True, "k must be an integer")])
def test_bad_k(side, k, match):
    with pytest.raises(ValueError, match=match):
        _trained(side).predict(np.zeros((2, 3)), k=k)


@pytest.mark.parametrize("side", ["numpy", "torch"])
def test_predict_before_train(side):
    model = nknn.KNearestNeighbor() if side == "numpy" else tknn.KNearestNeighbor()
    with pytest.raises(ValueError, match="not trained"):
        model.predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="not trained"):
        model.predict_labels(np.zeros((2, 3)))


@pytest.mark.parametrize("side", ["numpy", "torch"])
def test_feature_count_mismatch(side):
    with pytest.raises(ValueError, match="X_test has 5 features per row but the classifier expects 3"):
        _trained(side).predict(np.zeros((2, 5)))


@pytest.mark.parametrize("side", ["numpy", "torch"])
def test_unknown_metric(side):
    cls = nknn.KNearestNeighbor if side == "numpy" else tknn.KNearestNeighbor
    with pytest.raises(ValueError, match="unknown metric 'cosine'"):
        cls("cosine")
    with pytest.raises(ValueError, match="unknown search 'exact'; choose one of plain, fast"):
        tknn.KNearestNeighbor(search="exact")
    with pytest.raises(ValueError, match="unknown metric"):
        nknn.cross_validate(np.zeros((4, 3)), np.zeros(4, dtype=int), [1], num_folds=2, metric="L2")


@pytest.mark.parametrize("side", ["numpy", "torch"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values(side, bad):
    X = np.arange(12, dtype=np.float64).reshape(4, 3)
    X[1, 2] = bad
    y = np.array([0, 1, 0, 1])
    model = nknn.KNearestNeighbor() if side == "numpy" else tknn.KNearestNeighbor()
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.train(X, y)
    with pytest.raises(ValueError, match="NaN or infinite"):
        _trained(side).predict(X[:2])


@pytest.mark.parametrize("side", ["numpy", "torch"])
def test_bad_training_data(side):
    model = nknn.KNearestNeighbor() if side == "numpy" else tknn.KNearestNeighbor()
    X = np.zeros((4, 3))
    with pytest.raises(ValueError, match="3 labels but X has 4 rows"):
        model.train(X, np.array([0, 1, 0]))
    with pytest.raises(ValueError, match="integer class labels"):
        model.train(X, np.zeros(4))
    with pytest.raises(ValueError, match="labels must be >= 0"):
        model.train(X, np.array([0, -1, 0, 1]))
    with pytest.raises(ValueError, match="must have 2 dimension"):
        model.train(np.zeros(4), np.zeros(4, dtype=int))


def test_numpy_only_arguments():
    model = _trained("numpy")
    with pytest.raises(ValueError, match="num_loops must be 0, 1 or 2"):
        model.predict(np.zeros((2, 3)), num_loops=3)
    with pytest.raises(ValueError, match="dists has 2 columns but there are 4 training points"):
        model.predict_labels(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        nknn.KNearestNeighbor(chunk_size=0)
    with pytest.raises(ValueError, match="num_folds must be an integer in 2..4"):
        nknn.cross_validate(np.zeros((4, 3)), np.zeros(4, dtype=int), [1], num_folds=1)
    with pytest.raises(ValueError, match="k must lie in 1..2"):
        nknn.cross_validate(np.zeros((4, 3)), np.zeros(4, dtype=int), [1, 3], num_folds=2)


@pytest.mark.parametrize("metric", ["l2", "l1"])
def test_zero_test_rows(metric):
    X, y = np.arange(12, dtype=np.float64).reshape(4, 3), np.array([0, 1, 0, 1])
    assert nknn.KNearestNeighbor(metric).train(X, y).predict(np.zeros((0, 3)), 2).shape == (0,)
    assert tknn.KNearestNeighbor(metric).train(X, y).predict(np.zeros((0, 3)), 2).shape == (0,)
    assert tknn.KNearestNeighbor(metric).train(X, y).compute_distances(np.zeros((0, 3))).shape == (0, 4)


# ---------------------------------------------------------------------- scale

def _scale_data(dtype=np.float64):
    """Random rows (no exact ties) whose neighbours a common scale factor cannot change."""
    rng = np.random.default_rng(0)
    X_train, X_test = rng.standard_normal((300, 50)), rng.standard_normal((40, 50))
    return X_train.astype(dtype), rng.integers(0, 10, 300), X_test.astype(dtype)


def _all_predictions(X_train, y_train, X_test, metric, k=5):
    """Labels from every path: NumPy loops 0/1/2 and no-loop distances, torch plain and fast."""
    mine = nknn.KNearestNeighbor(metric).train(X_train, y_train)
    out = {f"numpy num_loops={n}": mine.predict(X_test, k, num_loops=n) for n in (0, 1, 2)}
    out["numpy no-loop distances"] = mine.predict_labels(mine.compute_distances_no_loops(X_test), k)
    search = nsearch.nearest_neighbors_l2 if metric == "l2" else nsearch.nearest_neighbors_l1
    out["numpy search"] = nknn.majority_vote(y_train[search(X_test, X_train, k)], 10)
    for name in SEARCHES:
        theirs = tknn.KNearestNeighbor(metric, search=name).train(X_train, y_train)
        out[f"torch {name}"] = theirs.predict(X_test, k).numpy()
        out[f"torch {name} distances"] = theirs.predict_labels(theirs.compute_distances(X_test), k).numpy()
    return out


@pytest.mark.parametrize("metric", ["l2", "l1"])
@pytest.mark.parametrize("dtype, scale", [(np.float64, 1e160), (np.float64, 1e-160), (np.float64, 1e-170),
                                          (np.float64, 1e300), (np.float32, 1e30), (np.float32, 1e-30)])
def test_predictions_are_scale_invariant(metric, dtype, scale):
    """Squares of 1e160 overflow and of 1e-170 underflow; the neighbours must not change."""
    X_train, y_train, X_test = _scale_data(dtype)
    expected = nknn.KNearestNeighbor(metric).train(X_train, y_train).predict(X_test, 5)
    X_train, X_test = (X_train * scale).astype(dtype), (X_test * scale).astype(dtype)
    scaled = _all_predictions(X_train, y_train, X_test, metric)
    for name, labels in scaled.items():
        np.testing.assert_array_equal(labels, expected, name)


@pytest.mark.parametrize("metric", ["l2", "l1"])
@pytest.mark.parametrize("scale", [1e160, 1e-170])
def test_distances_scale_with_the_input(metric, scale):
    X_train, y_train, X_test = _scale_data()
    plain = nknn.KNearestNeighbor(metric).train(X_train, y_train).compute_distances_no_loops(X_test[:4])
    mine = nknn.KNearestNeighbor(metric).train(X_train * scale, y_train)
    theirs = tknn.KNearestNeighbor(metric).train(X_train * scale, y_train)
    for dists in (mine.compute_distances_no_loops(X_test[:4] * scale),
                  mine.compute_distances_one_loop(X_test[:4] * scale),
                  mine.compute_distances_two_loops(X_test[:4] * scale),
                  theirs.compute_distances(X_test[:4] * scale).numpy()):
        np.testing.assert_allclose(dists, plain * scale, rtol=1e-12)


def test_distances_beyond_the_float_range_raise_but_predictions_stay_right():
    X_train, y_train, X_test = _scale_data()
    expected = nknn.KNearestNeighbor("l1").train(X_train, y_train).predict(X_test, 5)
    # L1 distances of rows times 1e307 exceed float64's 1.8e308.
    X_train, X_test = X_train * 1e307, X_test * 1e307
    mine = nknn.KNearestNeighbor("l1").train(X_train, y_train)
    for variant in (mine.compute_distances_no_loops, mine.compute_distances_one_loop,
                    mine.compute_distances_two_loops):
        with pytest.raises(ValueError, match="distances exceed the largest float64"):
            variant(X_test[:2])
    for search in SEARCHES:
        theirs = tknn.KNearestNeighbor("l1", search=search).train(X_train, y_train)
        with pytest.raises(ValueError, match="distances exceed the largest torch.float64"):
            theirs.compute_distances(X_test[:2])
        np.testing.assert_array_equal(theirs.predict(X_test, 5).numpy(), expected, search)
    np.testing.assert_array_equal(mine.predict(X_test, 5), expected)
    # float32 distance matrices of float64 rows times 1e160 cannot hold ~1e160.
    model32 = tknn.KNearestNeighbor("l2", dtype=np.float32).train(X_train * 1e-147, y_train)
    with pytest.raises(ValueError, match="distances exceed the largest torch.float32"):
        model32.compute_distances(X_test[:2] * 1e-147)


# ---------------------------------------------------------------- full scale

@pytest.fixture(scope="module")
def full(cifar10):
    rows = lambda X: X.reshape(X.shape[0], -1).astype(np.float32)  # noqa: E731
    return rows(cifar10.X_train), cifar10.y_train, rows(cifar10.X_test), cifar10.y_test


@pytest.mark.slow
def test_full_scale_l2_1nn(full):
    """CS231n notes: 1-NN L2 on all 50,000 vs 10,000 images scores 35.4%."""
    X_train, y_train, X_test, y_test = full
    accuracy = np.mean(nknn.KNearestNeighbor("l2").train(X_train, y_train).predict(X_test, 1) == y_test)
    assert round(100 * accuracy, 1) == 35.4


@pytest.mark.slow
def test_full_scale_torch_matches_numpy_l2(full):
    X_train, y_train, X_test, _ = full
    mine = nknn.KNearestNeighbor("l2").train(X_train, y_train).nearest(X_test[:2000], 1)
    for search in SEARCHES:
        model = tknn.KNearestNeighbor("l2", dtype=np.float32, search=search).train(X_train, y_train)
        np.testing.assert_array_equal(mine, model.nearest(X_test[:2000], 1).numpy(), search)


@pytest.mark.slow
def test_full_scale_l1_1nn(full):
    """CS231n notes: 1-NN L1 at full scale scores 38.6%."""
    X_train, y_train, X_test, y_test = full
    accuracy = np.mean(nknn.KNearestNeighbor("l1").train(X_train, y_train).predict(X_test, 1) == y_test)
    assert round(100 * accuracy, 1) == 38.6


@pytest.mark.slow
def test_loop_variants_on_whole_subset(numpy_l2, subset, torch_reference_l2):
    _, _, X_test, _ = subset
    tol = KNN_DIST_RTOL[np.dtype(np.float64)]
    for dists in (numpy_l2.compute_distances_one_loop(X_test), numpy_l2.compute_distances_two_loops(X_test)):
        assert compare_arrays("loops", dists, torch_reference_l2, tol).passed


@pytest.mark.parametrize("side", ["numpy", "torch"])
def test_votes_count_the_labels_present_not_the_largest(side):
    """Labels {1e6, 2e6} are two classes: voting allocates two counters (not two million) and
    answers in the original labels; ties still go to the smallest label."""
    X = np.array([[0.0], [1.0], [10.0], [11.0], [12.0]])
    y = np.array([2_000_000, 2_000_000, 1_000_000, 1_000_000, 1_000_000])
    knn = (nknn.KNearestNeighbor() if side == "numpy" else tknn.KNearestNeighbor()).train(X, y)
    assert knn.num_classes == 2
    predicted = knn.predict(np.array([[0.4], [11.0], [5.5]]), k=2)
    predicted = predicted.cpu().numpy() if side == "torch" else predicted
    assert list(predicted) == [2_000_000, 1_000_000, 1_000_000]
