"""A two-layer fully-connected network, forward and backward by hand (CS231n style).

Architecture: input - affine - activation (relu, sigmoid or tanh) - affine - softmax.

    h      = act(X @ W1 + b1)          X (N, D), W1 (D, H), b1 (H,)
    scores = h @ W2 + b2               W2 (H, C), b2 (C,)
    L      = softmax cross-entropy(scores, y) + reg * (|W1|^2 + |W2|^2)

Trained by minibatch SGD with (optional) momentum and learning-rate decay per
epoch; the parameters of the best validation epoch are kept. NumPy only.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from scratch_numpy.checkpoints import load_arrays, save_arrays
from scratch_numpy.layers import (
    affine_backward,
    add_l2_term,
    affine_forward,
    predict_labels,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    softmax_loss,
    tanh_backward,
    tanh_forward,
)
from scratch_numpy.overflow import NonFiniteResultError, finite_result
from scratch_numpy.preprocessing import check_image_rows, random_flips
from scratch_numpy.solver import Solver
from scratch_numpy.validation import (NONFINITE_SCORES, check_array, check_fits_dtype, check_float_dtype, check_has_rows,
                                      check_int, check_labels, check_params, check_real, check_reg,
                                      check_width, param_dtype)

ACTIVATIONS = {
    "relu": (relu_forward, relu_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
}
PARAM_NAMES = ("W1", "b1", "W2", "b2")
# A checkpoint names its model, so that another model's file is refused by name.
MODEL_KEY, MODEL_KIND = "model", "TwoLayerNet"
# A unit whose local derivative act'(z) stays below this passes (almost) no
# gradient: for ReLU it is inactive (act' = 0), for sigmoid |z| > 4.6.
SATURATION_THRESHOLD = 0.01


def _check_activation(activation) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}"
        )
    return activation


class TwoLayerNet:
    """Two-layer fully-connected classifier.

    input_size D, hidden_size H, output_size C: positive ints.
    std: weights start as ``std * N(0, 1)``, biases at 0.
    activation: "relu", "sigmoid" or "tanh".
    seed: seed of the initial weights (None: fresh randomness).
    dtype: float64 (reference precision) or float32 (fast training).

    ``params`` holds W1 (D, H), b1 (H,), W2 (H, C), b2 (C,).
    """

    def __init__(self, input_size, hidden_size, output_size, std=1e-4, activation="relu",
                 seed=None, dtype=np.float64):
        D = check_int(input_size, "input_size")
        H = check_int(hidden_size, "hidden_size")
        C = check_int(output_size, "output_size")
        std = check_real(std, "std", low=0)
        self.activation = _check_activation(activation)
        self.dtype = check_float_dtype(dtype)
        rng = np.random.default_rng(seed)
        self.params = {
            "W1": (std * rng.standard_normal((D, H))).astype(self.dtype),
            "b1": np.zeros(H, dtype=self.dtype),
            "W2": (std * rng.standard_normal((H, C))).astype(self.dtype),
            "b2": np.zeros(C, dtype=self.dtype),
        }

    @property
    def sizes(self) -> tuple[int, int, int]:
        """(input_size, hidden_size, output_size)."""
        D, H = self.params["W1"].shape
        return D, H, self.params["W2"].shape[1]

    @classmethod
    def from_params(cls, params: dict, activation: str = "relu") -> "TwoLayerNet":
        """A network holding copies of ``params`` (W1, b1, W2, b2, nothing else); dtype from W1."""
        extra = sorted(set(params) - set(PARAM_NAMES))
        if extra:
            raise ValueError(f"unexpected parameters {', '.join(map(str, extra))} for a two-layer "
                             f"net (it has {', '.join(PARAM_NAMES)})")
        W1 = check_array(params.get("W1"), "W1", 2)
        W2 = check_array(params.get("W2"), "W2", 2)
        net = cls(W1.shape[0], W1.shape[1], W2.shape[1], std=0.0, activation=activation,
                  dtype=param_dtype(W1))
        net.set_params(params)
        return net

    def set_params(self, params: dict) -> None:
        """Replace every parameter by a copy of ``params[name]`` (shapes must match)."""
        check_params(params, {name: self.params[name].shape for name in PARAM_NAMES})
        self.params = {name: np.array(params[name], dtype=self.dtype) for name in PARAM_NAMES}

    def _check_X(self, X) -> np.ndarray:
        X = check_array(X, "X", 2)
        check_width(X.shape[1], self.params["W1"].shape[0], "X", "the network")
        if X.dtype.itemsize > self.dtype.itemsize:  # a cast to float32 could overflow
            check_fits_dtype(float(np.max(np.abs(X), initial=0.0)), self.dtype)
        return X.astype(self.dtype, copy=False)

    def loss(self, X, y=None, reg=0.0):
        """Scores, or the loss and its gradients.

        X: (N, D) rows; y: (N,) labels in 0..C-1 or None; reg: L2 strength >= 0.
        y None -> scores (N, C). Otherwise (loss, grads) with
        loss = mean softmax cross-entropy + reg * (sum W1^2 + sum W2^2) and
        grads a dict with the keys of ``params``, each the same shape.
        """
        X = self._check_X(X)
        if y is None:
            return self._forward(X)[0]
        y = check_labels(y, X.shape[0], self.params["W2"].shape[1])
        check_has_rows(X.shape[0])
        return self._loss_and_grads(X, y, check_reg(reg))

    def _forward(self, X):
        p = self.params
        act_forward = ACTIVATIONS[self.activation][0]
        z, cache1 = affine_forward(X, p["W1"], p["b1"])
        h, cache_act = act_forward(z)
        scores, cache2 = affine_forward(h, p["W2"], p["b2"])
        return scores, (cache1, cache_act, cache2)

    def _loss_and_grads(self, X, y, reg):
        """Loss and gradients for already-validated inputs (the training loop's path)."""
        p = self.params
        scores, (cache1, cache_act, cache2) = self._forward(X)
        if not np.isfinite(scores).all():
            raise NonFiniteResultError(NONFINITE_SCORES)
        loss, dscores = softmax_loss(scores, y)

        dh, dW2, db2 = affine_backward(dscores, cache2)
        dz = ACTIVATIONS[self.activation][1](dh, cache_act)
        # dX is never used, so the first layer's weight gradients are formed
        # directly instead of through affine_backward: it saves a third of the work.
        dW1, db1 = X.T @ dz, dz.sum(axis=0)
        # The L2 terms: reg * |W|^2 added to the loss, 2 reg W to the gradients in place.
        loss += add_l2_term(p["W1"], dW1, reg) + add_l2_term(p["W2"], dW2, reg)
        return finite_result(loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2})

    def predict(self, X, batch_size: int = 5000) -> np.ndarray:
        """Predicted labels (N,) = argmax of the scores, in row chunks to bound memory."""
        return predict_labels(lambda rows: self._forward(rows)[0], self._check_X(X), batch_size)

    def accuracy(self, X, y) -> float:
        y = check_labels(y, np.shape(X)[0], self.sizes[2])
        return float(np.mean(self.predict(X) == y)) if len(y) else float("nan")

    def unit_statistics(self, X) -> tuple[float, float]:
        """(dead fraction, saturated fraction) of the hidden units on the rows ``X``.

        A unit is saturated on a row when act'(z) < SATURATION_THRESHOLD there;
        it is dead when saturated on every row (for ReLU: never active), so no
        gradient reaches its incoming weights from any of these examples.
        """
        X = self._check_X(X)
        z = X @ self.params["W1"] + self.params["b1"]
        act_forward, act_backward = ACTIVATIONS[self.activation]
        # act'(z), elementwise: the layer's backward pass with an upstream gradient of ones.
        local_derivative = act_backward(np.ones_like(z), act_forward(z)[1])
        saturated = local_derivative < SATURATION_THRESHOLD
        return float(saturated.all(axis=0).mean()), float(saturated.mean())

    def train(self, X, y, X_val, y_val, learning_rate=1e-3, learning_rate_decay=0.95,
              reg=5e-6, num_iters=100, batch_size=200, momentum=0.0, verbose=False, *,
              seed=None, batch_indices=None, augment_flip=False, progress=False,
              monitor_size=1000, stop_at_val_acc=None, on_epoch=None):
        """Minibatch SGD with momentum; keeps the parameters of the best validation epoch.

        Runs :class:`scratch_numpy.solver.Solver` ("sgd_momentum", in-place updates).
        X (N, D), y (N,): training rows; X_val, y_val: validation rows (also the
        held-out batch of the dead-unit statistics).
        Update per iteration:  v <- momentum * v - lr * grad;  param <- param + v.
        Every epoch (max(N // batch_size, 1) iterations): lr <- lr * learning_rate_decay,
        train accuracy (on ``monitor_size`` fixed training rows), validation accuracy
        and dead / saturated fractions are recorded.
        seed: minibatch sampling (a fresh permutation each epoch) and flips.
        batch_indices: optional (num_iters, batch_size) row indices, used instead
            of sampling (identical minibatches for the torch twin).
        augment_flip: mirror a random half of each minibatch left to right.
        stop_at_val_acc: stop after the first epoch whose validation accuracy reaches it.
        on_epoch: ``f(history) -> bool`` after each epoch's record; true stops (the
            solver's hook: a sweep reports through it).

        Returns the history dict: loss_history (per iteration), epochs,
        train_acc_history, val_acc_history, dead_fraction_history,
        saturated_fraction_history, learning_rate_history, train_seconds (per epoch;
        wall time spent training so far, evaluations excluded), best_val_acc,
        best_epoch. Raises :class:`~scratch_numpy.training.TrainingDivergedError`
        when the loss or the parameters stop being finite, after restoring the
        best parameters so far.
        """
        X, X_val = self._check_X(X), self._check_X(X_val)
        C = self.sizes[2]
        y, y_val = check_labels(y, X.shape[0], C), check_labels(y_val, X_val.shape[0], C, "y_val")
        reg = check_reg(reg)
        if augment_flip:
            check_image_rows(X.shape[1])
        X_held = X_val[:check_int(monitor_size, "monitor_size")]

        def unit_fractions():
            dead, saturated = self.unit_statistics(X_held)
            return {"dead_fraction": dead, "saturated_fraction": saturated}

        solver = Solver(
            self.params, lambda X_batch, y_batch: self._loss_and_grads(X_batch, y_batch, reg),
            X, y, X_val, y_val, predict_fn=self.predict, update_rule="sgd_momentum",
            learning_rate=learning_rate, momentum=momentum, lr_decay=learning_rate_decay,
            batch_size=batch_size, num_iters=num_iters,
            batches="epoch" if batch_indices is None else batch_indices,
            rng=np.random.default_rng(seed), augment=random_flips if augment_flip else None,
            monitor_size=monitor_size, epoch_metrics=unit_fractions,
            stop_at_val_acc=stop_at_val_acc, on_epoch=on_epoch, verbose=verbose,
            progress=progress, label=f"numpy {self.activation} H={self.sizes[1]}")
        return solver.train()

    def save(self, path: str | os.PathLike, overwrite: bool = True) -> Path:
        """Write the parameters, the activation and the model kind (``TwoLayerNet``) to an
        ``.npz`` file (no pickles), atomically (:func:`scratch_numpy.checkpoints.save_arrays`;
        ``overwrite=False`` keeps an existing file: ``FileExistsError``). Returns the path
        written: ``path``, with ``.npz`` appended when it lacks it."""
        return save_arrays(path, {MODEL_KEY: np.array(MODEL_KIND),
                                  "activation": np.array(self.activation), **self.params},
                           overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TwoLayerNet":
        """Read a network written by :meth:`save`; refuses pickled objects, another model's
        checkpoint and any array a two-layer net does not have. A file that is damaged or
        holds no valid network is a ``ValueError`` naming it."""
        data = load_arrays(path)
        kind = str(data.pop(MODEL_KEY, MODEL_KIND))  # files of earlier versions name none
        if kind != MODEL_KIND:
            raise ValueError(f"{path}: a {kind} checkpoint, not a {MODEL_KIND}")
        missing = [k for k in (*PARAM_NAMES, "activation") if k not in data]
        if missing:
            raise ValueError(f"{path}: not a TwoLayerNet file, missing {', '.join(missing)}")
        activation = str(data.pop("activation"))
        try:
            return cls.from_params(data, activation)
        except ValueError as exc:  # NaN weights, shapes that do not chain, unknown activation
            raise ValueError(f"{path}: not a valid TwoLayerNet: {exc}") from exc
