"""Linear classifiers trained with minibatch stochastic gradient descent.

``LinearSVM`` and ``Softmax`` share :class:`LinearClassifier`: scores are
``X @ W`` with ``W (D, C)``; use the bias trick (a trailing column of ones in
``X``) for a bias. Each SGD step on a minibatch ``B`` is

    W <- W - lr_t * dL_B/dW,    lr_t = learning_rate * lr_decay ** (t // decay_every)

(a step schedule: ``lr_decay = 1`` keeps the rate constant).

Sampling is reproducible: one ``np.random.default_rng(seed)`` first draws
the initial weights (only when ``W`` is still None), then the minibatch
indices as :func:`minibatches` yields them, so another implementation can
replay the same batches.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from scratch_numpy.linear_svm import svm_loss_vectorized
from scratch_numpy.softmax import softmax_loss_vectorized
from scratch_numpy.validation import check_array, check_labels, check_reg, is_real

# Standard deviation of the random initial weights (the assignment's value).
INIT_SCALE = 1e-3


class NonFiniteLossError(FloatingPointError, ValueError):
    """Training produced a NaN or infinite loss or gradient (learning rate too large?).

    The classifier keeps the last finite weights; ``iteration`` is the step that
    failed and ``loss_history`` the finite losses before it.
    """

    def __init__(self, message: str, iteration: int, loss_history: list[float]):
        super().__init__(message)
        self.iteration = iteration
        self.loss_history = loss_history


def _check_batch_size(num_train: int, batch_size: int, replace: bool) -> None:
    if not replace and batch_size > num_train:
        raise ValueError(
            f"batch_size = {batch_size} exceeds the {num_train} training rows; "
            "use replace=True or a smaller batch"
        )


def minibatches(rng: np.random.Generator, num_train: int, batch_size: int, num_iters: int,
                replace: bool = True) -> Iterator[np.ndarray]:
    """``num_iters`` index arrays of ``batch_size`` rows, drawn from ``rng`` lazily.

    With ``replace`` a row may appear twice in one batch (cheap, and the
    assignment's choice); without it each batch holds distinct rows.
    """
    _check_batch_size(num_train, batch_size, replace)
    return (rng.choice(num_train, batch_size, replace=replace) for _ in range(num_iters))


def check_training_options(num_train: int, learning_rate, num_iters, batch_size, lr_decay,
                           decay_every, replace: bool) -> None:
    """ValueError for any option SGD cannot run with."""
    if not (is_real(learning_rate) and np.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate!r}")
    for name, value in (("num_iters", num_iters), ("batch_size", batch_size),
                        ("decay_every", decay_every)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise ValueError(f"{name} must be an int, got {value!r}")
    if num_iters < 0:
        raise ValueError(f"num_iters must be >= 0, got {num_iters}")
    if batch_size < 1 or decay_every < 1:
        raise ValueError(
            f"batch_size and decay_every must be >= 1, got {batch_size}, {decay_every}")
    if not (is_real(lr_decay) and 0 < lr_decay <= 1):
        raise ValueError(f"lr_decay must lie in (0, 1], got {lr_decay!r}")
    if num_train == 0:
        raise ValueError("cannot train on zero rows")
    _check_batch_size(num_train, batch_size, replace)


class LinearClassifier:
    """Base class: subclasses define :meth:`loss` (a loss and its gradient on W).

    Attributes: W (D, C) weights, None until trained or set.
    """

    def __init__(self):
        self.W: np.ndarray | None = None

    def train(self, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200,
              verbose=False, seed=None, lr_decay=1.0, decay_every=100, replace=True):
        """Minibatch SGD on ``loss``.

        Inputs:
        - X: (N, D) training rows; y: (N,) labels in 0..C-1 (C = y.max() + 1,
          at least 2, unless W is already set).
        - learning_rate: initial step size; lr_decay, decay_every: multiply the
          step size by ``lr_decay`` every ``decay_every`` iterations.
        - reg: L2 strength; num_iters: SGD steps; batch_size: rows per step;
          replace: sample each batch with replacement.
        - verbose: print the loss every 100 iterations; seed: for the initial
          W and the batches (see the module docstring).

        Returns the list of minibatch losses, one per iteration. Raises
        :class:`NonFiniteLossError` (keeping the last finite W) when the loss,
        the gradient or the updated weights stop being finite.
        """
        X = check_array(X, "X", 2)
        num_train, dim = X.shape
        num_classes = self.W.shape[1] if self.W is not None else np.iinfo(np.int64).max
        y = check_labels(y, num_train, num_classes)
        reg = check_reg(reg)
        check_training_options(num_train, learning_rate, num_iters, batch_size, lr_decay,
                               decay_every, replace)
        rng = np.random.default_rng(seed)
        if self.W is None:
            num_classes = max(int(y.max()) + 1, 2)
            dtype = np.promote_types(X.dtype, np.float32)
            self.W = (INIT_SCALE * rng.standard_normal((dim, num_classes))).astype(dtype)
        elif self.W.shape[0] != dim:
            raise ValueError(f"X has {dim} features but W has shape {self.W.shape}")

        loss_history = []
        batches = minibatches(rng, num_train, batch_size, num_iters, replace)
        for it, idx in enumerate(batches):
            # Overflow is caught below, as a non-finite loss, not as a warning.
            with np.errstate(over="ignore", invalid="ignore"):
                loss, grad = self.loss(X[idx], y[idx], reg)
                step = learning_rate * lr_decay ** (it // decay_every)
                new_W = self.W - step * grad
            if not (np.isfinite(loss) and np.isfinite(new_W).all()):
                raise NonFiniteLossError(
                    f"training stopped at iteration {it}: the loss is {loss} and the updated "
                    f"weights are {'finite' if np.isfinite(new_W).all() else 'not finite'} "
                    f"(learning_rate={learning_rate}, reg={reg} may be too large); "
                    "W keeps the last finite weights", it, loss_history)
            self.W = new_W
            loss_history.append(loss)
            if verbose and it % 100 == 0:
                print(f"iteration {it} / {num_iters}: loss {loss:f}")
        return loss_history

    def predict(self, X) -> np.ndarray:
        """Predicted labels ``argmax_j (X @ W)_j``: X (N, D) -> (N,) int64."""
        if self.W is None:
            raise ValueError("predict called before train: W is None")
        X = check_array(X, "X", 2)
        if X.shape[1] != self.W.shape[0]:
            raise ValueError(f"X has {X.shape[1]} features but W has shape {self.W.shape}")
        return np.argmax(X @ self.W, axis=1)

    def loss(self, X_batch, y_batch, reg):
        """(loss, dW) on a minibatch; X_batch (B, D), y_batch (B,)."""
        raise NotImplementedError("subclasses define the loss")


class LinearSVM(LinearClassifier):
    """Multiclass SVM (hinge loss, margin 1)."""

    def loss(self, X_batch, y_batch, reg):
        return svm_loss_vectorized(self.W, X_batch, y_batch, reg)


class Softmax(LinearClassifier):
    """Softmax (cross-entropy) classifier."""

    def loss(self, X_batch, y_batch, reg):
        return softmax_loss_vectorized(self.W, X_batch, y_batch, reg)
