"""Torch twin of ``scratch_numpy/fc_net.py``: the module, its loss, its trainer.

``FullyConnectedNet`` keeps the NumPy side's parameter names and layout (``Wl``
is ``(H_{l-1}, H_l)``, scores are ``... act(h @ Wl + bl) ... @ WL + bL``), so
parameters move both ways losslessly (:meth:`FullyConnectedNet.from_numpy_params`,
:meth:`FullyConnectedNet.numpy_params`). The loss is the same: mean softmax
cross-entropy plus ``reg * sum_l |Wl|^2``; autograd gives the gradients.

:func:`train_fc_net` runs the torch solver (``ref_torch/solver.py``) on the
module's device: the training set is moved there once and every minibatch is
gathered (and flipped) there.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ref_torch.devices import resolve_device, to_tensor, torch_dtype
from ref_torch.layers import ACTIVATIONS
from ref_torch.solver import Solver
from ref_torch.two_layer_net import _labels, random_flips
from scratch_numpy.data import NUM_FEATURES
from scratch_numpy.validation import check_int, check_real, check_reg

INITS = {"xavier": lambda fan_in: math.sqrt(1.0 / fan_in),
         "he": lambda fan_in: math.sqrt(2.0 / fan_in)}


def fc_scores(X, weights: list, biases: list, activation: str) -> torch.Tensor:
    """Scores (N, C): affine - act for every hidden layer, then a last affine."""
    act = ACTIVATIONS[activation]
    h = X
    for W, b in zip(weights[:-1], biases[:-1]):
        h = act(h @ W + b)
    return h @ weights[-1] + biases[-1]


def fc_loss(X, y, params: dict, activation: str, reg: float) -> torch.Tensor:
    """Mean softmax cross-entropy + ``reg * sum_l |Wl|^2``; ``params`` holds W1, b1, ..., WL, bL."""
    num_layers = len(params) // 2
    weights = [params[f"W{l}"] for l in range(1, num_layers + 1)]
    biases = [params[f"b{l}"] for l in range(1, num_layers + 1)]
    loss = F.cross_entropy(fc_scores(X, weights, biases, activation), y)
    if reg:
        loss = loss + reg * sum((W * W).sum() for W in weights)
    return loss


class FullyConnectedNet(nn.Module):
    """``{affine - act} x (L-1) - affine - softmax`` with parameters W1, b1, ..., WL, bL.

    Same constructor as the NumPy net (dropout and normalization refused), plus
    ``device``; weights start as ``scale * N(0, 1)`` drawn by a torch generator seeded
    with ``seed`` (not the NumPy draw: use :meth:`from_numpy_params` for identical weights).
    """

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout_keep_ratio=1,
                 normalization=None, reg=0.0, weight_scale=1e-2, dtype=np.float32, seed=None,
                 activation="relu", device="cpu"):
        super().__init__()
        if dropout_keep_ratio != 1 or normalization is not None:
            raise ValueError("dropout and normalization are not part of this network: "
                             f"got dropout_keep_ratio={dropout_keep_ratio!r}, "
                             f"normalization={normalization!r}")
        if isinstance(hidden_dims, (str, bytes)) or not hasattr(hidden_dims, "__iter__"):
            raise ValueError(f"hidden_dims must be a list of positive integers, got {hidden_dims!r}")
        self.hidden_dims = [check_int(h, f"hidden_dims[{i}]") for i, h in enumerate(hidden_dims)]
        sizes = [check_int(input_dim, "input_dim"), *self.hidden_dims,
                 check_int(num_classes, "num_classes")]
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        if isinstance(weight_scale, str) and weight_scale not in INITS:
            raise ValueError(f"weight_scale must be a number or one of {', '.join(INITS)}, "
                             f"got {weight_scale!r}")
        if not isinstance(weight_scale, str):
            weight_scale = check_real(weight_scale, "weight_scale", low=0)
        self.reg, self.activation = check_reg(reg), activation
        self.num_layers = len(sizes) - 1
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        tdtype, device = torch_dtype(dtype), resolve_device(device)
        for l, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            scale = INITS[weight_scale](fan_in) if isinstance(weight_scale, str) else weight_scale
            W = scale * torch.randn(fan_in, fan_out, generator=gen, dtype=torch.float64)
            setattr(self, f"W{l}", nn.Parameter(W.to(dtype=tdtype, device=device)))
            setattr(self, f"b{l}", nn.Parameter(torch.zeros(fan_out, dtype=tdtype, device=device)))

    @property
    def names(self) -> list[str]:
        return [f"{k}{l}" for l in range(1, self.num_layers + 1) for k in ("W", "b")]

    @property
    def param_dict(self) -> dict:
        """name -> parameter tensor, in the order W1, b1, ..., WL, bL."""
        return {name: getattr(self, name) for name in self.names}

    @property
    def device(self) -> torch.device:
        return self.W1.device

    @property
    def dtype(self) -> torch.dtype:
        return self.W1.dtype

    @classmethod
    def from_numpy_params(cls, params: dict, activation: str = "relu", reg: float = 0.0,
                          device="cpu") -> "FullyConnectedNet":
        """A module holding exactly ``params`` (NumPy arrays W1, b1, ..., WL, bL; dtype from W1)."""
        num_layers = sum(1 for name in params if name.startswith("W"))
        names = [f"{k}{l}" for l in range(1, num_layers + 1) for k in ("W", "b")]
        missing = [k for k in names if k not in params]
        if num_layers == 0 or missing or len(params) != len(names):
            raise ValueError(f"parameters W1, b1, ..., WL, bL expected, got {sorted(params)}")
        shapes = [np.shape(params[f"W{l}"]) for l in range(1, num_layers + 1)]
        if any(len(s) != 2 for s in shapes) or any(a[1] != b[0] for a, b in zip(shapes, shapes[1:])):
            raise ValueError(f"the weight shapes do not chain: {shapes}")
        W1 = np.asarray(params["W1"])
        net = cls([s[1] for s in shapes[:-1]], shapes[0][0], shapes[-1][1], reg=reg,
                  weight_scale=0.0, activation=activation, dtype=W1.dtype, device=device)
        with torch.no_grad():
            for name, target in net.param_dict.items():
                value = np.asarray(params[name])
                if value.shape != tuple(target.shape):
                    raise ValueError(f"{name} has shape {value.shape}, expected {tuple(target.shape)}")
                target.copy_(to_tensor(value.astype(W1.dtype), target.device))
        return net

    def numpy_params(self) -> dict:
        """The parameters as NumPy arrays (copies), keyed like the NumPy network."""
        return {name: p.detach().cpu().numpy().copy() for name, p in self.param_dict.items()}

    def _as_input(self, X) -> torch.Tensor:
        X = X if isinstance(X, torch.Tensor) else to_tensor(np.asarray(X), self.device)
        if X.ndim > 2:  # images (N, d1, ..., dk), flattened per row as the NumPy net does
            X = X.reshape(X.shape[0], -1)
        if X.ndim != 2 or X.shape[1] != self.W1.shape[0]:
            raise ValueError(f"X must be (N, {self.W1.shape[0]}), got shape {tuple(X.shape)}")
        if not torch.isfinite(X).all():
            raise ValueError("X contains NaN or infinite values")
        return X.to(device=self.device, dtype=self.dtype)

    def forward(self, X) -> torch.Tensor:
        """Scores (N, C)."""
        p = self.param_dict
        L = self.num_layers
        return fc_scores(X, [p[f"W{l}"] for l in range(1, L + 1)],
                         [p[f"b{l}"] for l in range(1, L + 1)], self.activation)

    def loss(self, X, y=None):
        """Scores (y None) or the scalar loss tensor with the instance's reg."""
        X = self._as_input(X)
        if y is None:
            return self(X)
        y = _labels(y, X.shape[0], self.param_dict[f"W{self.num_layers}"].shape[1], "y", self.device)
        if X.shape[0] == 0:
            raise ValueError("X has no rows: the loss of zero examples is undefined")
        return fc_loss(X, y, self.param_dict, self.activation, self.reg)

    @torch.no_grad()
    def predict(self, X, batch_size: int = 5000) -> torch.Tensor:
        X = self._as_input(X)
        labels = []
        for i in range(0, X.shape[0], batch_size):
            scores = self(X[i:i + batch_size])
            # Labels are never taken from NaN or infinite scores (argmax would say class 0).
            if not bool(torch.isfinite(scores).all()):
                raise FloatingPointError("the scores are not finite (NaN or infinite): the "
                                         "parameters are too large, e.g. after too high a "
                                         "learning rate")
            labels.append(scores.argmax(dim=1))
        return torch.cat(labels)


def train_fc_net(net: FullyConnectedNet, X, y, X_val, y_val, learning_rate=1e-3,
                 learning_rate_decay=0.95, num_iters=100, batch_size=200, momentum=0.9,
                 verbose=False, *, seed=None, batch_indices=None, augment_flip=False,
                 progress=False, monitor_size=1000, stop_at_val_acc=None, on_epoch=None) -> dict:
    """The NumPy trainer's algorithm (``FullyConnectedNet.train`` of ``scratch_numpy``) on
    ``net``'s device and dtype; same arguments, same history dict. Minibatch order comes
    from ``batch_indices`` or a device-side permutation per epoch seeded with ``seed``."""
    device = net.device
    X, X_val = net._as_input(X), net._as_input(X_val)
    C = net.param_dict[f"W{net.num_layers}"].shape[1]
    y, y_val = _labels(y, X.shape[0], C, "y", device), _labels(y_val, X_val.shape[0], C, "y_val", device)
    if augment_flip and X.shape[1] != NUM_FEATURES:
        raise ValueError(f"flip augmentation needs rows of 32x32x3 images, got width {X.shape[1]}")
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else int(torch.seed() % 2**63))
    params = net.param_dict
    solver = Solver(
        params, lambda X_batch, y_batch: fc_loss(X_batch, y_batch, params, net.activation, net.reg),
        X, y, X_val, y_val, predict_fn=net.predict, update_rule="sgd_momentum",
        learning_rate=learning_rate, momentum=momentum, lr_decay=learning_rate_decay,
        batch_size=batch_size, num_iters=num_iters,
        batches="epoch" if batch_indices is None else batch_indices, generator=generator,
        augment=random_flips if augment_flip else None, monitor_size=monitor_size,
        stop_at_val_acc=stop_at_val_acc, on_epoch=on_epoch, verbose=verbose, progress=progress,
        label=f"torch {device.type} fc {net.activation} {net.hidden_dims}")
    return solver.train()
