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
import time

import numpy as np

from scratch_numpy.layers import (
    affine_backward,
    affine_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    softmax_loss,
    tanh_backward,
    tanh_forward,
)
from scratch_numpy.validation import check_array, check_labels, check_reg, is_real

ACTIVATIONS = {
    "relu": (relu_forward, relu_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
}
PARAM_NAMES = ("W1", "b1", "W2", "b2")
# A unit whose local derivative act'(z) stays below this passes (almost) no
# gradient: for ReLU it is inactive (act' = 0), for sigmoid |z| > 4.6.
SATURATION_THRESHOLD = 0.01
# Images of CIFAR-10 as rows: 32 x 32 x 3 in height, width, channel order.
IMAGE_SHAPE = (32, 32, 3)


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite. ``history`` holds what was recorded;
    the network's parameters are the best-validation ones seen before the divergence."""

    def __init__(self, message: str, history: dict):
        super().__init__(message)
        self.history = history


def _check_size(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_rates(learning_rate, learning_rate_decay, momentum) -> None:
    """learning_rate >= 0, learning_rate_decay in [0, 1], momentum in [0, 1)."""
    for name, value, ok, allowed in (
            ("learning_rate", learning_rate, lambda v: v >= 0, ">= 0"),
            ("learning_rate_decay", learning_rate_decay, lambda v: 0 <= v <= 1, "in [0, 1]"),
            ("momentum", momentum, lambda v: 0 <= v < 1, "in [0, 1)")):
        if not is_real(value) or not np.isfinite(value) or not ok(value):
            raise ValueError(f"{name} must be a number {allowed}, got {value!r}")


def _check_activation(activation) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}"
        )
    return activation


def _check_float_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def local_derivative(activation: str, z: np.ndarray) -> np.ndarray:
    """act'(z) elementwise for the pre-activations ``z`` (ReLU: 1(z > 0))."""
    if activation == "relu":
        return (z > 0).astype(z.dtype)
    out, _ = ACTIVATIONS[activation][0](z)
    return out * (1 - out) if activation == "sigmoid" else 1 - out * out


def flip_rows_horizontally(X: np.ndarray) -> np.ndarray:
    """Mirror each CIFAR-10 row (32 x 32 x 3, HWC order) left to right; returns a copy."""
    if X.shape[1] != int(np.prod(IMAGE_SHAPE)):
        raise ValueError(f"flip augmentation needs rows of 32x32x3 images, got width {X.shape[1]}")
    return X.reshape(-1, *IMAGE_SHAPE)[:, :, ::-1, :].reshape(X.shape[0], -1)


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
        D = _check_size(input_size, "input_size")
        H = _check_size(hidden_size, "hidden_size")
        C = _check_size(output_size, "output_size")
        if not is_real(std) or not np.isfinite(std) or std < 0:
            raise ValueError(f"std must be a finite number >= 0, got {std!r}")
        self.activation = _check_activation(activation)
        self.dtype = _check_float_dtype(dtype)
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
        """A network holding copies of ``params`` (W1, b1, W2, b2); dtype from W1."""
        W1 = check_array(params.get("W1"), "W1", 2)
        W2 = check_array(params.get("W2"), "W2", 2)
        net = cls(W1.shape[0], W1.shape[1], W2.shape[1], std=0.0, activation=activation,
                  dtype=W1.dtype if W1.dtype in (np.float32, np.float64) else np.float64)
        net.set_params(params)
        return net

    def set_params(self, params: dict) -> None:
        """Replace every parameter by a copy of ``params[name]`` (shapes must match)."""
        for name in PARAM_NAMES:
            if name not in params:
                raise ValueError(f"parameter {name} missing (got {sorted(params)})")
            value = check_array(params[name], name, self.params[name].ndim)
            if value.shape != self.params[name].shape:
                raise ValueError(
                    f"{name} has shape {value.shape}, the network needs {self.params[name].shape}"
                )
        self.params = {name: np.array(params[name], dtype=self.dtype) for name in PARAM_NAMES}

    def _check_X(self, X) -> np.ndarray:
        X = check_array(X, "X", 2)
        D = self.params["W1"].shape[0]
        if X.shape[1] != D:
            raise ValueError(f"X has {X.shape[1]} features per row but the network expects {D}")
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
        if X.shape[0] == 0:
            raise ValueError("X has no rows: the loss of zero examples is undefined")
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
            raise FloatingPointError("the scores overflowed (NaN or infinite): the parameters "
                                     "are too large, e.g. after too high a learning rate")
        data_loss, dscores = softmax_loss(scores, y)
        # vdot of the flattened weights: sum(W * W) without a temporary array of W's size.
        loss = data_loss + reg * (np.vdot(p["W1"].ravel(), p["W1"].ravel())
                                  + np.vdot(p["W2"].ravel(), p["W2"].ravel()))

        dh, dW2, db2 = affine_backward(dscores, cache2)
        dz = ACTIVATIONS[self.activation][1](dh, cache_act)
        # dX is never used, so the first layer's weight gradients are formed
        # directly instead of through affine_backward: it saves a third of the work.
        dW1, db1 = X.T @ dz, dz.sum(axis=0)
        grads = {"W1": dW1 + 2 * reg * p["W1"], "b1": db1, "W2": dW2 + 2 * reg * p["W2"], "b2": db2}
        return float(loss), grads

    def predict(self, X, batch_size: int = 5000) -> np.ndarray:
        """Predicted labels (N,) = argmax of the scores, in row chunks to bound memory."""
        X = self._check_X(X)
        return np.concatenate(
            [self._forward(X[i:i + batch_size])[0].argmax(axis=1)
             for i in range(0, X.shape[0], batch_size)] or [np.zeros(0, dtype=np.int64)]
        )

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
        saturated = local_derivative(self.activation, z) < SATURATION_THRESHOLD
        return float(saturated.all(axis=0).mean()), float(saturated.mean())

    def train(self, X, y, X_val, y_val, learning_rate=1e-3, learning_rate_decay=0.95,
              reg=5e-6, num_iters=100, batch_size=200, momentum=0.0, verbose=False, *,
              seed=None, batch_indices=None, augment_flip=False, progress=False,
              monitor_size=1000, stop_at_val_acc=None):
        """Minibatch SGD with momentum; keeps the parameters of the best validation epoch.

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

        Returns the history dict: loss_history (per iteration), epochs,
        train_acc_history, val_acc_history, dead_fraction_history,
        saturated_fraction_history, learning_rate_history, train_seconds (per epoch;
        wall time spent training so far, evaluations excluded), best_val_acc,
        best_epoch. Raises :class:`TrainingDivergedError` when the loss becomes
        non-finite, after restoring the best parameters so far.
        """
        X, X_val = self._check_X(X), self._check_X(X_val)
        C = self.sizes[2]
        y, y_val = check_labels(y, X.shape[0], C), check_labels(y_val, X_val.shape[0], C, "y_val")
        reg = check_reg(reg)
        num_iters, batch_size = _check_size(num_iters, "num_iters"), _check_size(batch_size, "batch_size")
        _check_rates(learning_rate, learning_rate_decay, momentum)
        if X.shape[0] == 0 or X_val.shape[0] == 0:
            raise ValueError("training and validation sets must not be empty")
        if augment_flip:
            flip_rows_horizontally(X[:1])
        rng = np.random.default_rng(seed)
        if batch_indices is not None:
            batch_indices = np.asarray(batch_indices)
            if (batch_indices.shape != (num_iters, batch_size)
                    or not np.issubdtype(batch_indices.dtype, np.integer)
                    or batch_indices.min() < 0 or batch_indices.max() >= X.shape[0]):
                raise ValueError(
                    f"batch_indices must be ({num_iters}, {batch_size}) ints in 0..{X.shape[0] - 1}"
                )
        else:
            batch_indices = minibatch_schedule(X.shape[0], batch_size, num_iters, rng)

        monitor_size = _check_size(monitor_size, "monitor_size")
        iterations_per_epoch = max(X.shape[0] // batch_size, 1)
        monitor = np.random.default_rng(0).choice(X.shape[0], min(monitor_size, X.shape[0]),
                                                  replace=False)
        X_monitor, y_monitor = X[monitor], y[monitor]
        X_held = X_val[:monitor_size]
        history = {key: [] for key in ("loss_history", "epochs", "train_acc_history",
                                       "val_acc_history", "dead_fraction_history",
                                       "saturated_fraction_history", "learning_rate_history",
                                       "train_seconds")}
        history.update(best_val_acc=-1.0, best_epoch=0.0)
        best_params = {k: v.copy() for k, v in self.params.items()}
        velocity = {k: np.zeros_like(v) for k, v in self.params.items()}
        lr = float(learning_rate)
        clock = {"start": time.perf_counter(), "evaluating": 0.0}

        def record(epoch):
            began = time.perf_counter()
            history["train_seconds"].append(began - clock["start"] - clock["evaluating"])
            val_acc = float(np.mean(self.predict(X_val) == y_val))
            dead, saturated = self.unit_statistics(X_held)
            for key, value in (("epochs", epoch), ("train_acc_history",
                               float(np.mean(self.predict(X_monitor) == y_monitor))),
                               ("val_acc_history", val_acc), ("dead_fraction_history", dead),
                               ("saturated_fraction_history", saturated),
                               ("learning_rate_history", lr)):
                history[key].append(value)
            if val_acc > history["best_val_acc"]:
                history.update(best_val_acc=val_acc, best_epoch=epoch)
                best_params.update({k: v.copy() for k, v in self.params.items()})
            if verbose:
                print(f"epoch {epoch:g}: train acc {history['train_acc_history'][-1]:.3f} "
                      f"val acc {val_acc:.3f} dead {dead:.3f} lr {lr:.2e}")
            clock["evaluating"] += time.perf_counter() - began

        record(0.0)
        steps = range(num_iters)
        if progress:
            from tqdm import tqdm  # optional extra: the package itself needs NumPy only

            steps = tqdm(steps, desc=f"numpy {self.activation} H={self.sizes[1]}", leave=False)
        for it in steps:
            idx = batch_indices[it]
            X_batch = X[idx]
            if augment_flip:
                flip = rng.random(len(idx)) < 0.5
                X_batch[flip] = flip_rows_horizontally(X_batch[flip])
            try:
                with np.errstate(over="ignore", invalid="ignore"):
                    loss, grads = self._loss_and_grads(X_batch, y[idx], reg)
            except FloatingPointError:
                loss = float("nan")
            if not np.isfinite(loss):
                self.params = best_params
                raise TrainingDivergedError(
                    f"training diverged at iteration {it} (loss {loss}) with learning_rate "
                    f"{learning_rate:g}, reg {reg:g}: lower the learning rate. The parameters "
                    f"are those of the best validation epoch so far (epoch {history['best_epoch']:g}, "
                    f"val acc {history['best_val_acc']:.3f}).", history)
            history["loss_history"].append(loss)
            for name, param in self.params.items():
                v = velocity[name]
                v *= momentum
                v -= lr * grads[name]
                param += v
            done = it + 1
            if done % iterations_per_epoch == 0 or done == num_iters:
                if done % iterations_per_epoch == 0:
                    lr *= learning_rate_decay
                record(done / iterations_per_epoch)
                if stop_at_val_acc is not None and history["val_acc_history"][-1] >= stop_at_val_acc:
                    break

        self.params = best_params
        return history

    def save(self, path) -> None:
        """Write the parameters and the activation to an ``.npz`` file (no pickles)."""
        np.savez(path, activation=np.array(self.activation), **self.params)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TwoLayerNet":
        """Read a network written by :meth:`save`; refuses pickled objects."""
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in (*PARAM_NAMES, "activation") if k not in data.files]
            if missing:
                raise ValueError(f"{path}: not a TwoLayerNet file, missing {', '.join(missing)}")
            return cls.from_params({k: data[k] for k in PARAM_NAMES}, str(data["activation"]))


def minibatch_schedule(num_train: int, batch_size: int, num_iters: int, rng) -> np.ndarray:
    """(num_iters, batch_size) row indices: each epoch a fresh random permutation,
    cut into consecutive minibatches (every row seen once per epoch when
    batch_size divides num_train; small sets are sampled with replacement)."""
    if batch_size > num_train:
        return rng.integers(0, num_train, size=(num_iters, batch_size))
    per_epoch = num_train // batch_size
    epochs = -(-num_iters // per_epoch)
    batches = [rng.permutation(num_train)[:per_epoch * batch_size].reshape(per_epoch, batch_size)
               for _ in range(epochs)]
    return np.concatenate(batches)[:num_iters]
