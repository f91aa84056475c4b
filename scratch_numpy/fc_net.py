"""A fully-connected network of any depth, forward and backward by hand (CS231n assignment 2).

Architecture, with L = len(hidden_dims) + 1 affine layers:

    {affine - activation} x (L - 1) - affine - softmax

    h_0 = X                                   X (N, D)
    h_l = act(h_{l-1} @ Wl + bl)              Wl (H_{l-1}, H_l), bl (H_l,), l < L
    scores = h_{L-1} @ WL + bL                WL (H_{L-1}, C)
    loss = softmax cross-entropy(scores, y) + reg * sum_l |Wl|^2

``hidden_dims=[]`` is a linear softmax classifier. The regularization is the
project's ``reg * sum(W**2)`` (gradient ``2 reg W``); assignment 2 writes
``0.5 * reg * sum(W**2)``, so its ``reg`` is twice this one.

Built from the forward/backward pairs of ``scratch_numpy/layers.py``; trained by
``scratch_numpy/solver.py``. Dropout and batch/layer normalization are not part
of this network: asking for them is refused. NumPy only.
"""

from __future__ import annotations

import numpy as np

from scratch_numpy.layers import (add_l2_term, affine_backward, affine_forward, predict_labels,
                                  relu_backward, relu_forward, sigmoid_backward, sigmoid_forward,
                                  softmax_loss, tanh_backward, tanh_forward)
from scratch_numpy.preprocessing import check_image_rows, random_flips
from scratch_numpy.solver import Solver
from scratch_numpy.validation import (NONFINITE_SCORES, check_array, check_fits_dtype, check_float_dtype, check_has_rows,
                                      check_int, check_labels, check_params, check_real, check_reg,
                                      check_width, count_layers, layer_param_names, param_dtype)

ACTIVATIONS = {
    "relu": (relu_forward, relu_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
}
# Named initialisations: the standard deviation of Wl for a layer with fan_in inputs.
# Xavier keeps the variance of a linear (or tanh near 0) layer's output equal to its
# input's; He doubles it to make up for ReLU zeroing half of the units.
INITS = {
    "xavier": lambda fan_in: np.sqrt(1.0 / fan_in),
    "he": lambda fan_in: np.sqrt(2.0 / fan_in),
}


param_names = layer_param_names  # ["W1", "b1", ..., "WL", "bL"]


def check_weight_scale(weight_scale):
    """A number >= 0, or "xavier" / "he"."""
    if isinstance(weight_scale, str):
        if weight_scale not in INITS:
            raise ValueError(f"weight_scale must be a number or one of {', '.join(INITS)}, "
                             f"got {weight_scale!r}")
        return weight_scale
    return check_real(weight_scale, "weight_scale", low=0)


def check_activation(activation) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
    return activation


def check_hidden_dims(hidden_dims) -> list[int]:
    """A list (or tuple) of positive ints; empty for a linear classifier."""
    if isinstance(hidden_dims, (str, bytes)) or not hasattr(hidden_dims, "__iter__"):
        raise ValueError(f"hidden_dims must be a list of positive integers, got {hidden_dims!r}")
    return [check_int(h, f"hidden_dims[{i}]") for i, h in enumerate(hidden_dims)]


def refuse_dropout_and_normalization(dropout_keep_ratio, normalization) -> None:
    """This network has neither: say so instead of silently ignoring the arguments."""
    if dropout_keep_ratio != 1:
        raise ValueError(f"dropout is not part of this network: dropout_keep_ratio must be 1, "
                         f"got {dropout_keep_ratio!r}")
    if normalization is not None:
        raise ValueError(f"normalization is not part of this network: normalization must be None, "
                         f"got {normalization!r}")


class FullyConnectedNet:
    """Fully-connected classifier with assignment 2's constructor.

    hidden_dims: sizes of the hidden layers (may be empty).
    input_dim D, num_classes C: positive ints.
    dropout_keep_ratio, normalization: must stay 1 and None (refused otherwise).
    reg: L2 strength >= 0, held on the instance and used by :meth:`loss`.
    weight_scale: weights start as ``scale * N(0, 1)`` with ``scale`` this number, or
        per layer ``sqrt(1 / fan_in)`` ("xavier") or ``sqrt(2 / fan_in)`` ("he"); biases 0.
    dtype: float32 or float64; seed: seed of the initial weights (None: fresh randomness).
    activation: "relu" (assignment 2's), "sigmoid" or "tanh".
    """

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout_keep_ratio=1,
                 normalization=None, reg=0.0, weight_scale=1e-2, dtype=np.float32, seed=None,
                 activation="relu"):
        refuse_dropout_and_normalization(dropout_keep_ratio, normalization)
        self.hidden_dims = check_hidden_dims(hidden_dims)
        sizes = [check_int(input_dim, "input_dim"), *self.hidden_dims,
                 check_int(num_classes, "num_classes")]
        self.reg = check_reg(reg)
        self.weight_scale = check_weight_scale(weight_scale)
        self.dtype = check_float_dtype(dtype)
        self.activation = check_activation(activation)
        self.num_layers = len(sizes) - 1
        rng = np.random.default_rng(seed)
        self.params = {}
        for l, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            scale = (INITS[self.weight_scale](fan_in) if isinstance(self.weight_scale, str)
                     else self.weight_scale)
            self.params[f"W{l}"] = (scale * rng.standard_normal((fan_in, fan_out))).astype(self.dtype)
            self.params[f"b{l}"] = np.zeros(fan_out, dtype=self.dtype)

    @property
    def sizes(self) -> list[int]:
        """[D, H_1, ..., H_{L-1}, C]."""
        return [self.params["W1"].shape[0]] + [self.params[f"W{l}"].shape[1]
                                               for l in range(1, self.num_layers + 1)]

    @classmethod
    def from_params(cls, params: dict, activation: str = "relu", reg: float = 0.0) -> "FullyConnectedNet":
        """A network holding copies of ``params`` (W1, b1, ..., WL, bL); dtype from W1."""
        num_layers = count_layers(params)
        shapes = [check_array(params.get(f"W{l}"), f"W{l}", 2).shape
                  for l in range(1, num_layers + 1)]
        W1 = np.asarray(params["W1"])
        net = cls([s[1] for s in shapes[:-1]], shapes[0][0], shapes[-1][1], reg=reg,
                  weight_scale=0.0, activation=activation, dtype=param_dtype(W1))
        net.set_params(params)
        return net

    def set_params(self, params: dict) -> None:
        """Replace every parameter by a copy of ``params[name]`` (shapes must match)."""
        names = param_names(self.num_layers)
        extra = sorted(set(params) - set(names))
        if extra:
            raise ValueError(f"unexpected parameters {', '.join(extra)} for a {self.num_layers}-layer net")
        check_params(params, {name: self.params[name].shape for name in names})
        self.params = {name: np.array(params[name], dtype=self.dtype) for name in names}

    def _check_X(self, X) -> np.ndarray:
        """Rows (N, D) in the net's dtype; images (N, d1, ..., dk) are flattened per row, as
        assignment 2's affine layers do."""
        X = np.asarray(X)
        if X.ndim > 2:
            X = X.reshape(X.shape[0], -1)
        X = check_array(X, "X", 2)
        check_width(X.shape[1], self.params["W1"].shape[0], "X", "the network")
        if X.dtype.itemsize > self.dtype.itemsize:  # a cast to float32 could overflow
            check_fits_dtype(float(np.max(np.abs(X), initial=0.0)), self.dtype)
        return X.astype(self.dtype, copy=False)

    # ---- forward and backward ---------------------------------------------------------------

    def _forward(self, X, keep_caches: bool = True):
        """Scores (N, C) and the caches of every layer: [(affine cache, activation cache)]."""
        act_forward = ACTIVATIONS[self.activation][0]
        h, caches = X, []
        for l in range(1, self.num_layers + 1):
            z, affine_cache = affine_forward(h, self.params[f"W{l}"], self.params[f"b{l}"])
            if l == self.num_layers:
                caches.append((affine_cache, None))
                return z, caches
            h, act_cache = act_forward(z)
            if keep_caches:
                caches.append((affine_cache, act_cache))

    def hidden_activations(self, X) -> list[np.ndarray]:
        """The output ``h_l`` (N, H_l) of every hidden layer, first to last."""
        act_forward = ACTIVATIONS[self.activation][0]
        h, outputs = self._check_X(X), []
        for l in range(1, self.num_layers):
            h = act_forward(affine_forward(h, self.params[f"W{l}"], self.params[f"b{l}"])[0])[0]
            outputs.append(h)
        return outputs

    def loss(self, X, y=None):
        """Scores, or the loss and its gradients (assignment 2's ``loss``).

        X: (N, D) rows, or (N, d1, ..., dk) images with d1 * ... * dk = D;
        y: (N,) labels in 0..C-1 or None.
        y None -> scores (N, C). Otherwise (loss, grads): loss = mean softmax
        cross-entropy + reg * sum_l |Wl|^2, grads a dict keyed like ``params``.
        """
        X = self._check_X(X)
        if y is None:
            return self._forward(X, keep_caches=False)[0]
        y = check_labels(y, X.shape[0], self.sizes[-1])
        check_has_rows(X.shape[0])
        return self._loss_and_grads(X, y)

    def layer_signals(self, X, y) -> list[tuple[np.ndarray, np.ndarray]]:
        """For every affine layer l, first to last: its input ``h_{l-1}`` (N, H_{l-1}) and
        the upstream gradient ``dL/dz_l`` (N, H_l) of the mean loss. The data part of
        ``dWl`` is ``h_{l-1}.T @ dz_l``: example n adds the outer product of its row
        ``h_{l-1}[n]`` and ``dz_l[n]``."""
        X = self._check_X(X)
        signals = []
        self._loss_and_grads(X, check_labels(y, X.shape[0], self.sizes[-1]), signals=signals)
        return signals[::-1]

    def _loss_and_grads(self, X, y, reg=None, signals=None):
        """Loss and gradients for already-validated inputs (the training loop's path);
        ``signals``, a list, collects (layer input, dL/dz) from the last layer down."""
        reg = self.reg if reg is None else reg
        p = self.params
        scores, caches = self._forward(X)
        if not np.isfinite(scores).all():
            raise FloatingPointError(NONFINITE_SCORES)
        loss, dout = softmax_loss(scores, y)
        act_backward = ACTIVATIONS[self.activation][1]
        grads = {}
        for l in range(self.num_layers, 0, -1):
            affine_cache, act_cache = caches[l - 1]
            if act_cache is not None:
                dout = act_backward(dout, act_cache)
            if signals is not None:
                signals.append((affine_cache[0], dout))
            if l > 1:
                dout, grads[f"W{l}"], grads[f"b{l}"] = affine_backward(dout, affine_cache)
            else:
                # dX is never used: form the first layer's weight gradients directly.
                grads["W1"], grads["b1"] = X.T @ dout, dout.sum(axis=0)
        if reg:
            for l in range(1, self.num_layers + 1):
                loss += add_l2_term(p[f"W{l}"], grads[f"W{l}"], reg)
        return float(loss), grads

    # ---- prediction and training --------------------------------------------------------------

    def predict(self, X, batch_size: int = 5000) -> np.ndarray:
        """Predicted labels (N,) = argmax of the scores, in row chunks to bound memory."""
        return predict_labels(lambda rows: self._forward(rows, keep_caches=False)[0],
                              self._check_X(X), batch_size)

    def accuracy(self, X, y) -> float:
        y = check_labels(y, np.shape(X)[0], self.sizes[-1])
        return float(np.mean(self.predict(X) == y)) if len(y) else float("nan")

    def train(self, X, y, X_val, y_val, learning_rate=1e-3, learning_rate_decay=0.95,
              num_iters=100, batch_size=200, momentum=0.9, verbose=False, *, seed=None,
              batch_indices=None, augment_flip=False, progress=False, monitor_size=1000,
              stop_at_val_acc=None, epoch_metrics=None, on_epoch=None):
        """Minibatch SGD with momentum (``scratch_numpy.solver.Solver``, "sgd_momentum"),
        the regularization of the instance; keeps the parameters of the best validation epoch.

        Same arguments and history as ``TwoLayerNet.train`` (minus reg, which is
        ``self.reg``); epoch_metrics: optional ``() -> dict`` recorded each epoch;
        on_epoch: ``f(history) -> bool`` after each epoch's record, true stops.
        """
        X, X_val = self._check_X(X), self._check_X(X_val)
        C = self.sizes[-1]
        y, y_val = check_labels(y, X.shape[0], C), check_labels(y_val, X_val.shape[0], C, "y_val")
        if augment_flip:
            check_image_rows(X.shape[1])
        solver = Solver(
            self.params, self._loss_and_grads, X, y, X_val, y_val, predict_fn=self.predict,
            update_rule="sgd_momentum", learning_rate=learning_rate, momentum=momentum,
            lr_decay=learning_rate_decay, batch_size=batch_size, num_iters=num_iters,
            batches="epoch" if batch_indices is None else batch_indices,
            rng=np.random.default_rng(seed), augment=random_flips if augment_flip else None,
            monitor_size=monitor_size, epoch_metrics=epoch_metrics,
            stop_at_val_acc=stop_at_val_acc, on_epoch=on_epoch, verbose=verbose,
            progress=progress, label=f"numpy fc {self.activation} {self.hidden_dims}")
        return solver.train()
