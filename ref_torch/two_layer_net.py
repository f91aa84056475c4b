"""Torch twin of ``scratch_numpy/two_layer_net.py``: the module, its trainer, its parity kind.

``TwoLayerNet`` keeps the NumPy side's parameter names and layout (W1 is
``(D, H)``, scores are ``act(X @ W1 + b1) @ W2 + b2``), so parameters move
both ways losslessly (:meth:`TwoLayerNet.from_numpy_params`,
:meth:`TwoLayerNet.numpy_params`). The loss is the same: mean softmax
cross-entropy plus ``reg * (|W1|^2 + |W2|^2)``; autograd gives the gradients.

:func:`train_net` runs the torch solver (``ref_torch/solver.py``), the NumPy
solver's algorithm on cpu or cuda: the whole training set is moved to the
device once and every minibatch is gathered there, so no image crosses the
host-device link after the start.

Every public entry point checks its inputs as the NumPy twin does, with its messages
(``ref_torch/validation.py``), once per call; the solver's steps run :func:`net_loss`
unchecked.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ref_torch.devices import resolve_device, to_tensor, torch_dtype
from ref_torch.layers import ACTIVATIONS, affine, l2_term, predict_labels
from ref_torch.solver import Solver
from ref_torch.validation import as_dtype, check_finite_loss, check_label_tensor, check_tensor
from scratch_numpy.data import IMAGE_SHAPE
from scratch_numpy.preprocessing import check_image_rows
from scratch_numpy.validation import (check_array, check_has_rows, check_int, check_params, check_real,
                                      check_reg, check_width, param_dtype)

PARAM_NAMES = ("W1", "b1", "W2", "b2")
SATURATION_THRESHOLD = 0.01  # same definition of a saturated unit as the NumPy side


def scores_of(X, W1, b1, W2, b2, activation: str):
    """``act(X @ W1 + b1) @ W2 + b2`` (N, C)."""
    return affine(ACTIVATIONS[activation](affine(X, W1, b1)), W2, b2)


def net_loss(X, y, W1, b1, W2, b2, activation: str, reg: float):
    """Mean softmax cross-entropy + ``reg * (sum W1^2 + sum W2^2)`` (the L2 term exactly 0 at
    ``reg == 0``); inputs not checked."""
    scores = scores_of(X, W1, b1, W2, b2, activation)
    return F.cross_entropy(scores, y) + l2_term(reg, W1, W2)


class TwoLayerNet(nn.Module):
    """input - affine - relu|sigmoid|tanh - affine - softmax, parameters W1, b1, W2, b2.

    std: weights start as ``std * N(0, 1)`` (torch generator seeded with ``seed``), biases 0.
    dtype: float32 (default) or float64; device: "cpu", "cuda" or "auto".
    """

    def __init__(self, input_size, hidden_size, output_size, std=1e-4, activation="relu",
                 seed=None, dtype=np.float32, device="cpu"):
        super().__init__()
        D = check_int(input_size, "input_size")
        H = check_int(hidden_size, "hidden_size")
        C = check_int(output_size, "output_size")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        std = check_real(std, "std", low=0)
        self.activation = activation
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        tdtype, device = torch_dtype(dtype), resolve_device(device)

        def weights(*shape):
            w = std * torch.randn(*shape, generator=gen, dtype=torch.float64)
            return nn.Parameter(w.to(dtype=tdtype, device=device))

        self.W1, self.W2 = weights(D, H), weights(H, C)
        self.b1 = nn.Parameter(torch.zeros(H, dtype=tdtype, device=device))
        self.b2 = nn.Parameter(torch.zeros(C, dtype=tdtype, device=device))

    @property
    def device(self) -> torch.device:
        return self.W1.device

    @property
    def dtype(self) -> torch.dtype:
        return self.W1.dtype

    @classmethod
    def from_numpy_params(cls, params: dict, activation: str = "relu", device="cpu") -> "TwoLayerNet":
        """A module holding exactly ``params`` (NumPy arrays W1, b1, W2, b2: finite, real-valued,
        shapes that chain; dtype W1's when float32 or float64, else float64), checked as
        ``scratch_numpy``'s ``TwoLayerNet.from_params`` checks them."""
        W1 = check_array(params.get("W1"), "W1", 2)
        W2 = check_array(params.get("W2"), "W2", 2)
        net = cls(W1.shape[0], W1.shape[1], W2.shape[1], std=0.0, activation=activation,
                  dtype=param_dtype(W1), device=device)
        check_params(params, {name: tuple(getattr(net, name).shape) for name in PARAM_NAMES})
        with torch.no_grad():
            for name in PARAM_NAMES:
                target = getattr(net, name)
                target.copy_(to_tensor(np.asarray(params[name]), target.device))
        return net

    def numpy_params(self) -> dict:
        """The parameters as NumPy arrays (copies), keyed like the NumPy network."""
        return {name: getattr(self, name).detach().cpu().numpy().copy() for name in PARAM_NAMES}

    def _as_input(self, X) -> torch.Tensor:
        """Finite rows (N, D) (tensor or array) on the module's device and dtype."""
        X = check_tensor(X, "X", 2, self.device)
        check_width(X.shape[1], self.W1.shape[0], "X", "the network")
        return as_dtype(X, self.dtype)

    def forward(self, X) -> torch.Tensor:
        """Scores (N, C)."""
        return scores_of(X, self.W1, self.b1, self.W2, self.b2, self.activation)

    def loss(self, X, y=None, reg=0.0):
        """Scores (y None) or the scalar loss tensor (differentiate it with autograd)."""
        X = self._as_input(X)
        if y is None:
            return self(X)
        y = check_label_tensor(y, X.shape[0], self.W2.shape[1], device=self.device)
        check_has_rows(X.shape[0])
        return check_finite_loss(net_loss(X, y, self.W1, self.b1, self.W2, self.b2, self.activation,
                                          check_reg(reg)))

    @torch.no_grad()
    def predict(self, X, batch_size: int = 5000) -> torch.Tensor:
        """Predicted labels (N,) int64 on the module's device, in row chunks."""
        return predict_labels(self, self._as_input(X), batch_size)

    def unit_statistics(self, X) -> tuple[float, float]:
        """(dead fraction, saturated fraction) of the hidden units, as on the NumPy side."""
        with torch.enable_grad():
            z = (self._as_input(X) @ self.W1 + self.b1).detach().requires_grad_(True)
            # act'(z), elementwise: autograd's backward of the activation with upstream ones.
            (local_derivative,) = torch.autograd.grad(ACTIVATIONS[self.activation](z).sum(), z)
        saturated = local_derivative < SATURATION_THRESHOLD
        return float(saturated.all(dim=0).float().mean()), float(saturated.float().mean())


def _flip_rows(X: torch.Tensor) -> torch.Tensor:
    return X.reshape(-1, *IMAGE_SHAPE).flip(2).reshape(X.shape)


class RandomFlips:
    """The solver's ``augment``: mirror each row with probability 1/2, in two parts so that a
    compiled step fuses the second into its gather of the minibatch: ``draw`` the coins on the
    device (no host sync), ``apply`` them by a select (no row count to read back)."""

    @staticmethod
    def draw(n: int, generator: torch.Generator, device) -> torch.Tensor:
        return torch.rand(n, generator=generator, device=device) < 0.5

    @staticmethod
    def apply(X_batch: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
        if not torch.compiler.is_compiling():  # eagerly, a select of the flipped copy is fastest
            return torch.where(flips[:, None], _flip_rows(X_batch), X_batch)
        # compiled: each pixel read from its column in one indexed pass, which the compiler
        # vectorizes (it computes a select's two sides element by element), 4x faster on a CPU
        height, width, channels = IMAGE_SHAPE
        columns = torch.arange(width, device=X_batch.device)
        source = torch.where(flips[:, None], columns.flip(0), columns)  # (N, W)
        images = X_batch.reshape(-1, height, width, channels)
        index = source[:, None, :, None].expand(-1, height, width, channels)
        return torch.gather(images, 2, index).reshape(X_batch.shape)


def random_flips(X_batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror a random half of the rows (each with probability 1/2), drawn on the batch's device."""
    return RandomFlips.apply(X_batch, RandomFlips.draw(len(X_batch), generator, X_batch.device))


def train_net(net: TwoLayerNet, X, y, X_val, y_val, learning_rate=1e-3, learning_rate_decay=0.95,
              reg=5e-6, num_iters=100, batch_size=200, momentum=0.0, verbose=False, *,
              seed=None, batch_indices=None, augment_flip=False, progress=False,
              monitor_size=1000, stop_at_val_acc=None, on_epoch=None, compile=False) -> dict:
    """The NumPy trainer's algorithm on ``net``'s device and dtype; same arguments,
    same history dict (``TwoLayerNet.train`` of ``scratch_numpy``). Minibatch order
    comes from ``batch_indices`` or a device-side permutation per epoch seeded with
    ``seed``; flips (``augment_flip``) are drawn on the device too. ``compile``: the step
    through ``torch.compile`` (``ref_torch/solver.py``).
    """
    device = net.device
    X, X_val = net._as_input(X), net._as_input(X_val)
    C = net.W2.shape[1]
    y = check_label_tensor(y, X.shape[0], C, device=device)
    y_val = check_label_tensor(y_val, X_val.shape[0], C, "y_val", device)
    reg = check_reg(reg)
    if augment_flip:
        check_image_rows(X.shape[1])
    X_held = X_val[:check_int(monitor_size, "monitor_size")]
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else int(torch.seed() % 2**63))
    params = {name: getattr(net, name) for name in PARAM_NAMES}

    def unit_fractions():
        dead, saturated = net.unit_statistics(X_held)
        return {"dead_fraction": dead, "saturated_fraction": saturated}

    # the L2 term is the solver's (see its docstring): the loss it differentiates is the data's
    solver = Solver(
        params, lambda p, X_batch, y_batch: net_loss(X_batch, y_batch, p["W1"], p["b1"], p["W2"],
                                                     p["b2"], net.activation, 0.0),
        X, y, X_val, y_val, predict_fn=net.predict, update_rule="sgd_momentum",
        l2=(reg, ("W1", "W2")),
        learning_rate=learning_rate, momentum=momentum, lr_decay=learning_rate_decay,
        batch_size=batch_size, num_iters=num_iters,
        batches="epoch" if batch_indices is None else batch_indices, generator=generator,
        augment=RandomFlips if augment_flip else None, monitor_size=monitor_size,
        epoch_metrics=unit_fractions, stop_at_val_acc=stop_at_val_acc, on_epoch=on_epoch,
        verbose=verbose, progress=progress, compile=compile,
        label=f"torch {device.type} {net.activation} H={net.W1.shape[1]}")
    return solver.train()
