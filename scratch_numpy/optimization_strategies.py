"""The seed's three ways to minimize a loss over W, from the CS231n notes.

1. Random search: draw W at random, keep the best seen.
2. Random local search: from the current W, try ``W + step_size * noise`` and
   move only when the loss drops.
3. Following the gradient: ``W <- W - learning_rate * dL/dW`` (gradient descent).

Each is given a budget of ``num_evals`` calls of the loss (for the gradient
method one call returns loss and gradient together), so they can be compared
at equal numbers of loss evaluations. Each returns a :class:`SearchRun`: the
loss of the kept W after every evaluation, and snapshots of the kept W.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from scratch_numpy.validation import check_array, is_real


@dataclass
class SearchRun:
    """What one strategy did with its budget.

    name: the strategy; W: the weights it kept at the end.
    losses: after evaluation k (k = 1..num_evals), the loss of the kept W.
    snapshots: (evaluations so far, copy of the kept W) every ``snapshot_every``
        evaluations, and after the last.
    """

    name: str
    W: np.ndarray
    losses: list[float] = field(default_factory=list)
    snapshots: list[tuple[int, np.ndarray]] = field(default_factory=list)

    def keep(self, W: np.ndarray, loss: float, evals: int, num_evals: int,
             snapshot_every: int) -> None:
        """Record that after ``evals`` evaluations the kept weights are ``W`` with ``loss``."""
        self.W = W
        self.losses.append(loss)
        if evals % snapshot_every == 0 or evals == num_evals:
            self.snapshots.append((evals, W.copy()))


def _check_budget(num_evals, snapshot_every):
    for name, value in (("num_evals", num_evals), ("snapshot_every", snapshot_every)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")


def _check_positive(name, value):
    real = is_real(value)
    if not (real and np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _finite_loss(loss, evals) -> float:
    loss = float(loss)
    if not np.isfinite(loss):
        raise FloatingPointError(f"the loss became {loss} at evaluation {evals}")
    return loss


def random_search(loss_fn: Callable, shape: tuple[int, int], num_evals: int, scale: float = 1e-4,
                  seed=None, snapshot_every: int = 50) -> SearchRun:
    """Strategy 1: ``W = scale * randn(shape)`` ``num_evals`` times; keep the lowest loss.

    loss_fn(W) -> scalar loss, W of ``shape`` (D, C).
    """
    _check_budget(num_evals, snapshot_every)
    _check_positive("scale", scale)
    rng = np.random.default_rng(seed)
    run = SearchRun("random search", np.zeros(shape))
    best_W, best_loss = None, float("inf")
    for evals in range(1, num_evals + 1):
        W_try = scale * rng.standard_normal(shape)
        loss = _finite_loss(loss_fn(W_try), evals)
        if loss < best_loss:
            best_W, best_loss = W_try, loss
        run.keep(best_W, best_loss, evals, num_evals, snapshot_every)
    return run


def random_local_search(loss_fn: Callable, W0, num_evals: int, step_size: float = 1e-4,
                        seed=None, snapshot_every: int = 50) -> SearchRun:
    """Strategy 2: from ``W0``, accept ``W + step_size * randn`` whenever the loss drops.

    The first evaluation scores ``W0`` itself. loss_fn(W) -> scalar loss.
    """
    _check_budget(num_evals, snapshot_every)
    _check_positive("step_size", step_size)
    W0 = check_array(W0, "W0", 2).astype(np.float64)
    rng = np.random.default_rng(seed)
    run = SearchRun("random local search", W0)
    W, best_loss = W0.copy(), _finite_loss(loss_fn(W0), 1)
    run.keep(W, best_loss, 1, num_evals, snapshot_every)
    for evals in range(2, num_evals + 1):
        W_try = W + step_size * rng.standard_normal(W.shape)
        loss = _finite_loss(loss_fn(W_try), evals)
        if loss < best_loss:
            W, best_loss = W_try, loss
        run.keep(W, best_loss, evals, num_evals, snapshot_every)
    return run


def follow_gradient(loss_and_grad: Callable, W0, num_evals: int, learning_rate: float,
                    snapshot_every: int = 50) -> SearchRun:
    """Strategy 3: gradient descent, one step per evaluation.

    loss_and_grad(W) -> (loss, dW). The recorded loss after evaluation k is
    that of the W evaluated there (the step taken afterwards is scored by the
    next evaluation); the returned W is the last one evaluated.
    """
    _check_budget(num_evals, snapshot_every)
    _check_positive("learning_rate", learning_rate)
    W = check_array(W0, "W0", 2).astype(np.float64)
    run = SearchRun("following the gradient", W)
    for evals in range(1, num_evals + 1):
        loss, dW = loss_and_grad(W)
        run.keep(W, _finite_loss(loss, evals), evals, num_evals, snapshot_every)
        if evals < num_evals:
            W = W - learning_rate * dW
    return run
