"""The three optimization strategies of the notes, on the real CIFAR-10 dev batch."""

from __future__ import annotations

import numpy as np
import pytest

from scratch_numpy.linear_svm import svm_loss_vectorized
from scratch_numpy.optimization_strategies import (follow_gradient, random_local_search,
                                                   random_search)


@pytest.fixture(scope="module")
def problem(dev_batch):
    X, y = dev_batch
    X = np.hstack([X, np.ones((X.shape[0], 1))])
    calls = []

    def loss(W):
        calls.append(1)
        return svm_loss_vectorized(W, X, y, 0.0)[0]

    def loss_and_grad(W):
        calls.append(1)
        return svm_loss_vectorized(W, X, y, 0.0)

    return X, y, loss, loss_and_grad, calls


def accuracy(W, X, y):
    return float((np.argmax(X @ W, axis=1) == y).mean())


def test_each_strategy_spends_exactly_its_budget(problem):
    X, _, loss, loss_and_grad, calls = problem
    W0 = 1e-3 * np.random.default_rng(0).standard_normal((X.shape[1], 10))
    for run_strategy in (lambda: random_search(loss, W0.shape, 30, seed=0, snapshot_every=10),
                         lambda: random_local_search(loss, W0, 30, seed=0, snapshot_every=10),
                         lambda: follow_gradient(loss_and_grad, W0, 30, 1e-6, snapshot_every=10)):
        calls.clear()
        run = run_strategy()
        assert len(calls) == 30 and len(run.losses) == 30
        assert [evals for evals, _ in run.snapshots] == [10, 20, 30]
        np.testing.assert_array_equal(run.snapshots[-1][1], run.W)


def test_search_keeps_the_best_and_never_gets_worse(problem):
    X, _, loss, _, _ = problem
    W0 = 1e-3 * np.random.default_rng(0).standard_normal((X.shape[1], 10))
    for run in (random_search(loss, W0.shape, 40, seed=1),
                random_local_search(loss, W0, 40, step_size=1e-4, seed=1)):
        assert all(b <= a for a, b in zip(run.losses, run.losses[1:]))
        assert loss(run.W) == run.losses[-1]
    local = random_local_search(loss, W0, 40, step_size=1e-4, seed=1)
    assert local.losses[-1] < local.losses[0]  # some steps were accepted


def test_following_the_gradient_descends_and_learns(problem):
    X, y, _, loss_and_grad, _ = problem
    W0 = 1e-3 * np.random.default_rng(0).standard_normal((X.shape[1], 10))
    run = follow_gradient(loss_and_grad, W0, 60, learning_rate=1e-6)
    assert run.losses[-1] < 0.5 * run.losses[0]
    assert accuracy(run.W, X, y) > 0.3  # training accuracy on the dev batch; chance 0.1


def test_seeded_runs_repeat(problem):
    X, _, loss, _, _ = problem
    a = random_search(loss, (X.shape[1], 10), 10, seed=3)
    b = random_search(loss, (X.shape[1], 10), 10, seed=3)
    assert a.losses == b.losses and np.array_equal(a.W, b.W)


@pytest.mark.parametrize("call, message", [
    (lambda f, g, W: random_search(f, W.shape, 0), "num_evals"),
    (lambda f, g, W: random_search(f, W.shape, 5, scale=-1.0), "scale"),
    (lambda f, g, W: random_local_search(f, W, 5, step_size=0.0), "step_size"),
    (lambda f, g, W: random_local_search(f, W[0], 5), "W0"),
    (lambda f, g, W: follow_gradient(g, W, 5, learning_rate=float("inf")), "learning_rate"),
    (lambda f, g, W: follow_gradient(g, W, 5, 1e-6, snapshot_every=0), "snapshot_every"),
])
def test_bad_arguments_raise(problem, call, message):
    X, _, loss, loss_and_grad, _ = problem
    with pytest.raises(ValueError, match=message):
        call(loss, loss_and_grad, np.zeros((X.shape[1], 10)))


def test_diverging_gradient_descent_reports_non_finite_loss(problem):
    X, _, _, loss_and_grad, _ = problem

    def exploding(W):
        with np.errstate(over="ignore", invalid="ignore"):
            return float(np.sum(W * W)) * 1e300, W * 1e300

    with pytest.raises(FloatingPointError, match="evaluation"):
        follow_gradient(exploding, np.ones((3, 2)), 10, learning_rate=1.0)
