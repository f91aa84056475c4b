"""Linear classifiers trained with minibatch stochastic gradient descent.

``LinearSVM`` and ``Softmax`` share :class:`LinearClassifier`: scores are
``X @ W`` with ``W (D, C)``; use the bias trick (a trailing column of ones in
``X``) for a bias. Each SGD step on a minibatch ``B`` is

    W <- W - lr_t * dL_B/dW,    lr_t = learning_rate * lr_decay ** (t // decay_every)

(a step schedule: ``lr_decay = 1`` keeps the rate constant).

Training runs on :class:`scratch_numpy.solver.Solver` (plain SGD, the
parameters checked after every step). Sampling is reproducible: one
``np.random.default_rng(seed)`` first draws the initial weights (only when
``W`` is still None), then the minibatch indices as
:func:`scratch_numpy.training.minibatches` yields them, so another
implementation can replay the same batches.
"""

from __future__ import annotations

import numpy as np

from scratch_numpy.layers import predict_labels
from scratch_numpy.linear_svm import svm_loss_core, svm_loss_vectorized
from scratch_numpy.softmax import softmax_loss_core, softmax_loss_vectorized
from scratch_numpy.solver import Solver
from scratch_numpy.validation import check_array, check_labels, check_reg, check_width

# Standard deviation of the random initial weights (the assignment's value).
INIT_SCALE = 1e-3


class LinearClassifier:
    """Base class: subclasses define :meth:`loss` (a loss and its gradient on W).

    Attributes: W (D, C) weights, None until trained or set.
    """

    def __init__(self):
        self.W: np.ndarray | None = None

    def train(self, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200,
              verbose=False, seed=None, lr_decay=1.0, decay_every=100, replace=True,
              progress=False):
        """Minibatch SGD on ``loss``.

        Inputs:
        - X: (N, D) training rows; y: (N,) labels in 0..C-1 (C = y.max() + 1,
          at least 2, unless W is already set).
        - learning_rate: initial step size; lr_decay, decay_every: multiply the
          step size by ``lr_decay`` every ``decay_every`` iterations.
        - reg: L2 strength; num_iters: SGD steps; batch_size: rows per step;
          replace: sample each batch with replacement.
        - progress: a bar on a terminal, a line at each tenth of the steps in a log.
        - verbose: print the loss every 100 iterations; seed: for the initial
          W and the batches (see the module docstring).

        Returns the list of minibatch losses, one per iteration. Raises
        :class:`~scratch_numpy.training.TrainingDivergedError` (keeping the last
        finite W) when the loss or the updated weights stop being finite.
        """
        X = check_array(X, "X", 2)
        # Cast once here: the loss of each step then runs unchecked on these rows.
        X = X.astype(np.promote_types(X.dtype, np.float32), copy=False)
        num_train, dim = X.shape
        num_classes = self.W.shape[1] if self.W is not None else None  # None: any label >= 0
        y = check_labels(y, num_train, num_classes)
        reg = check_reg(reg)
        if self.W is not None:
            check_width(dim, self.W.shape[0], "X", f"W of shape {self.W.shape}")
        rng = np.random.default_rng(seed)
        params = {}
        # Built first so that a refused option leaves the classifier untouched;
        # it draws nothing from rng until train().
        solver = Solver(params, lambda X_batch, y_batch: self._loss(params["W"], X_batch, y_batch, reg),
                        X, y, learning_rate=learning_rate, lr_decay=lr_decay,
                        decay_every=decay_every, batch_size=batch_size, num_iters=num_iters,
                        batches="replace" if replace else "distinct", rng=rng,
                        check_every_step=True, verbose=verbose, print_every=100,
                        progress=progress, label=f"numpy {type(self).__name__}")
        if self.W is None:
            num_classes = max(int(y.max()) + 1, 2)
            self.W = (INIT_SCALE * rng.standard_normal((dim, num_classes))).astype(X.dtype)
        params["W"] = self.W
        try:
            return solver.train()["loss_history"]
        finally:
            self.W = params["W"]

    def predict(self, X, batch_size: int = 5000) -> np.ndarray:
        """Predicted labels ``argmax_j (X @ W)_j``: X (N, D) -> (N,) int64, in chunks of
        ``batch_size`` rows. Scores that overflow (finite X and W whose product leaves the
        dtype's range) are a ``FloatingPointError``, never a silent label."""
        if self.W is None:
            raise ValueError("predict called before train: W is None")
        X = check_array(X, "X", 2)
        check_width(X.shape[1], self.W.shape[0], "X", f"W of shape {self.W.shape}")
        return predict_labels(lambda rows: rows @ self.W, X, batch_size)

    def loss(self, X_batch, y_batch, reg):
        """(loss, dW) on a minibatch; X_batch (B, D), y_batch (B,); inputs checked."""
        raise NotImplementedError("subclasses define the loss")

    def _loss(self, W, X_batch, y_batch, reg):
        """(loss, {"W": dW}) for inputs already checked (the training loop's path)."""
        raise NotImplementedError("subclasses define the loss")


class LinearSVM(LinearClassifier):
    """Multiclass SVM (hinge loss, margin 1)."""

    def loss(self, X_batch, y_batch, reg):
        return svm_loss_vectorized(self.W, X_batch, y_batch, reg)

    def _loss(self, W, X_batch, y_batch, reg):
        loss, dW = svm_loss_core(W, X_batch, y_batch, reg)
        return loss, {"W": dW}


class Softmax(LinearClassifier):
    """Softmax (cross-entropy) classifier."""

    def loss(self, X_batch, y_batch, reg):
        return softmax_loss_vectorized(self.W, X_batch, y_batch, reg)

    def _loss(self, W, X_batch, y_batch, reg):
        loss, dW = softmax_loss_core(W, X_batch, y_batch, reg)
        return loss, {"W": dW}
