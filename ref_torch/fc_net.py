"""Torch twin of ``scratch_numpy/fc_net.py``: the module, its loss, its trainer.

``FullyConnectedNet`` keeps the NumPy side's parameter names and layout (``Wl``
is ``(H_{l-1}, H_l)``, scores are ``... act(h @ Wl + bl) ... @ WL + bL``), so
parameters move both ways losslessly (:meth:`FullyConnectedNet.from_numpy_params`,
:meth:`FullyConnectedNet.numpy_params`). The loss is the same: mean softmax
cross-entropy plus ``reg * sum_l |Wl|^2``; autograd gives the gradients.

:func:`train_fc_net` runs the torch solver (``ref_torch/solver.py``) on the
module's device: the training set is moved there once and every minibatch is
gathered (and flipped) there.

Every public entry point checks its inputs as the NumPy twin does, with its messages
(``ref_torch/validation.py``), once per call; the solver's steps run :func:`fc_loss`
unchecked.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ref_torch.devices import resolve_device, to_tensor, torch_dtype
from ref_torch.layers import ACTIVATIONS, affine, l2_term, predict_labels
from ref_torch.solver import Solver
from ref_torch.two_layer_net import RandomFlips
from ref_torch.validation import as_dtype, check_label_tensor, check_tensor
from scratch_numpy.preprocessing import check_image_rows
from scratch_numpy.validation import (check_array, check_has_rows, check_int, check_params, check_real,
                                      check_reg, check_width, count_layers, param_dtype)

INITS = {"xavier": lambda fan_in: math.sqrt(1.0 / fan_in),
         "he": lambda fan_in: math.sqrt(2.0 / fan_in)}


def fc_scores(X, weights: list, biases: list, activation: str) -> torch.Tensor:
    """Scores (N, C): affine - act for every hidden layer, then a last affine."""
    act = ACTIVATIONS[activation]
    h = X
    for W, b in zip(weights[:-1], biases[:-1]):
        h = act(affine(h, W, b))
    return affine(h, weights[-1], biases[-1])


def fc_loss(X, y, params: dict, activation: str, reg: float) -> torch.Tensor:
    """Mean softmax cross-entropy + ``reg * sum_l |Wl|^2``; ``params`` holds W1, b1, ..., WL, bL."""
    num_layers = len(params) // 2
    weights = [params[f"W{l}"] for l in range(1, num_layers + 1)]
    biases = [params[f"b{l}"] for l in range(1, num_layers + 1)]
    return F.cross_entropy(fc_scores(X, weights, biases, activation), y) + l2_term(reg, *weights)


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
        """A module holding exactly ``params`` (NumPy arrays W1, b1, ..., WL, bL: finite,
        real-valued, shapes that chain; dtype W1's when float32 or float64, else float64),
        checked as ``scratch_numpy``'s ``FullyConnectedNet.from_params`` checks them."""
        num_layers = count_layers(params)
        shapes = [check_array(params.get(f"W{l}"), f"W{l}", 2).shape for l in range(1, num_layers + 1)]
        net = cls([s[1] for s in shapes[:-1]], shapes[0][0], shapes[-1][1], reg=reg,
                  weight_scale=0.0, activation=activation, dtype=param_dtype(np.asarray(params["W1"])),
                  device=device)
        check_params(params, {name: tuple(p.shape) for name, p in net.param_dict.items()})
        with torch.no_grad():
            for name, target in net.param_dict.items():
                target.copy_(to_tensor(np.asarray(params[name]), target.device))
        return net

    def numpy_params(self) -> dict:
        """The parameters as NumPy arrays (copies), keyed like the NumPy network."""
        return {name: p.detach().cpu().numpy().copy() for name, p in self.param_dict.items()}

    def _as_input(self, X) -> torch.Tensor:
        """Finite rows (N, D) on the module's device and dtype; images (N, d1, ..., dk) are
        flattened per row, as the NumPy net does."""
        X = X if isinstance(X, torch.Tensor) else np.asarray(X)
        if X.ndim > 2:
            X = X.reshape(X.shape[0], -1)
        X = check_tensor(X, "X", 2, self.device)
        check_width(X.shape[1], self.W1.shape[0], "X", "the network")
        return as_dtype(X, self.dtype)

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
        y = check_label_tensor(y, X.shape[0], self.param_dict[f"W{self.num_layers}"].shape[1],
                               device=self.device)
        check_has_rows(X.shape[0])
        return fc_loss(X, y, self.param_dict, self.activation, self.reg)

    @torch.no_grad()
    def predict(self, X, batch_size: int = 5000) -> torch.Tensor:
        """Predicted labels (N,) int64 on the module's device, in row chunks."""
        return predict_labels(self, self._as_input(X), batch_size)


def train_fc_net(net: FullyConnectedNet, X, y, X_val, y_val, learning_rate=1e-3,
                 learning_rate_decay=0.95, num_iters=100, batch_size=200, momentum=0.9,
                 verbose=False, *, seed=None, batch_indices=None, augment_flip=False,
                 progress=False, monitor_size=1000, stop_at_val_acc=None, on_epoch=None,
                 compile=False) -> dict:
    """The NumPy trainer's algorithm (``FullyConnectedNet.train`` of ``scratch_numpy``) on
    ``net``'s device and dtype; same arguments, same history dict. Minibatch order comes
    from ``batch_indices`` or a device-side permutation per epoch seeded with ``seed``.
    ``compile``: the step through ``torch.compile`` (``ref_torch/solver.py``)."""
    device = net.device
    X, X_val = net._as_input(X), net._as_input(X_val)
    C = net.param_dict[f"W{net.num_layers}"].shape[1]
    y = check_label_tensor(y, X.shape[0], C, device=device)
    y_val = check_label_tensor(y_val, X_val.shape[0], C, "y_val", device)
    if augment_flip:
        check_image_rows(X.shape[1])
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else int(torch.seed() % 2**63))
    params = net.param_dict
    # the L2 term is the solver's (see its docstring): the loss it differentiates is the data's
    weights = tuple(f"W{l}" for l in range(1, net.num_layers + 1))
    solver = Solver(
        params, lambda p, X_batch, y_batch: fc_loss(X_batch, y_batch, p, net.activation, 0.0),
        X, y, X_val, y_val, predict_fn=net.predict, update_rule="sgd_momentum",
        l2=(net.reg, weights),
        learning_rate=learning_rate, momentum=momentum, lr_decay=learning_rate_decay,
        batch_size=batch_size, num_iters=num_iters,
        batches="epoch" if batch_indices is None else batch_indices, generator=generator,
        augment=RandomFlips if augment_flip else None, monitor_size=monitor_size,
        stop_at_val_acc=stop_at_val_acc, on_epoch=on_epoch, verbose=verbose, progress=progress,
        label=f"torch {device.type} fc {net.activation} {net.hidden_dims}", compile=compile)
    return solver.train()
