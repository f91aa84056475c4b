"""Torch twin of ``scratch_numpy/two_layer_net.py``: the module, its trainer, its parity kind.

``TwoLayerNet`` keeps the NumPy side's parameter names and layout (W1 is
``(D, H)``, scores are ``act(X @ W1 + b1) @ W2 + b2``), so parameters move
both ways losslessly (:meth:`TwoLayerNet.from_numpy_params`,
:meth:`TwoLayerNet.numpy_params`). The loss is the same: mean softmax
cross-entropy plus ``reg * (|W1|^2 + |W2|^2)``; autograd gives the gradients.

:func:`train_net` is the NumPy trainer's algorithm on cpu or cuda: the whole
training set is moved to the device once and every minibatch is gathered
there, so no image crosses the host-device link after the start.

Kind ``two_layer_net``: the target is a class like CS231n's ``TwoLayerNet``.
"""

from __future__ import annotations

import inspect
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ref_torch.devices import resolve_device, to_tensor, torch_dtype
from ref_torch.layers import ACTIVATIONS
from ref_torch.parity import LossKind, register_kind

PARAM_NAMES = ("W1", "b1", "W2", "b2")
SATURATION_THRESHOLD = 0.01  # same definition of a saturated unit as the NumPy side
IMAGE_SHAPE = (32, 32, 3)


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN or infinite; ``history`` holds what was recorded and the
    network holds the best-validation parameters seen before."""

    def __init__(self, message: str, history: dict):
        super().__init__(message)
        self.history = history


def _check_size(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def scores_of(X, W1, b1, W2, b2, activation: str):
    """``act(X @ W1 + b1) @ W2 + b2`` (N, C)."""
    return ACTIVATIONS[activation](X @ W1 + b1) @ W2 + b2


def net_loss(X, y, W1, b1, W2, b2, activation: str, reg: float):
    """Mean softmax cross-entropy + ``reg * (sum W1^2 + sum W2^2)``."""
    scores = scores_of(X, W1, b1, W2, b2, activation)
    return F.cross_entropy(scores, y) + reg * ((W1 * W1).sum() + (W2 * W2).sum())


def local_derivative(activation: str, z: torch.Tensor) -> torch.Tensor:
    if activation == "relu":
        return (z > 0).to(z.dtype)
    out = ACTIVATIONS[activation](z)
    return out * (1 - out) if activation == "sigmoid" else 1 - out * out


class TwoLayerNet(nn.Module):
    """input - affine - relu|sigmoid|tanh - affine - softmax, parameters W1, b1, W2, b2.

    std: weights start as ``std * N(0, 1)`` (torch generator seeded with ``seed``), biases 0.
    dtype: float32 (default) or float64; device: "cpu", "cuda" or "auto".
    """

    def __init__(self, input_size, hidden_size, output_size, std=1e-4, activation="relu",
                 seed=None, dtype=np.float32, device="cpu"):
        super().__init__()
        D = _check_size(input_size, "input_size")
        H = _check_size(hidden_size, "hidden_size")
        C = _check_size(output_size, "output_size")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        if not np.isscalar(std) or not np.isfinite(std) or std < 0:
            raise ValueError(f"std must be a finite number >= 0, got {std!r}")
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
        """A module holding exactly ``params`` (NumPy arrays; dtype taken from W1)."""
        missing = [k for k in PARAM_NAMES if k not in params]
        if missing:
            raise ValueError(f"parameters missing: {', '.join(missing)}")
        W1, W2 = np.asarray(params["W1"]), np.asarray(params["W2"])
        if W1.ndim != 2 or W2.ndim != 2 or W1.shape[1] != W2.shape[0]:
            raise ValueError(f"W1 (D, H) and W2 (H, C) do not fit: {W1.shape}, {W2.shape}")
        net = cls(W1.shape[0], W1.shape[1], W2.shape[1], std=0.0, activation=activation,
                  dtype=W1.dtype, device=device)
        with torch.no_grad():
            for name in PARAM_NAMES:
                value = np.asarray(params[name])
                target = getattr(net, name)
                if value.shape != tuple(target.shape):
                    raise ValueError(f"{name} has shape {value.shape}, expected {tuple(target.shape)}")
                target.copy_(to_tensor(value.astype(W1.dtype), target.device))
        return net

    def numpy_params(self) -> dict:
        """The parameters as NumPy arrays (copies), keyed like the NumPy network."""
        return {name: getattr(self, name).detach().cpu().numpy().copy() for name in PARAM_NAMES}

    def _as_input(self, X) -> torch.Tensor:
        X = X if isinstance(X, torch.Tensor) else to_tensor(np.asarray(X), self.device)
        if X.ndim != 2 or X.shape[1] != self.W1.shape[0]:
            raise ValueError(f"X must be (N, {self.W1.shape[0]}), got shape {tuple(X.shape)}")
        if not torch.isfinite(X).all():
            raise ValueError("X contains NaN or infinite values")
        return X.to(device=self.device, dtype=self.dtype)

    def forward(self, X) -> torch.Tensor:
        """Scores (N, C)."""
        return scores_of(X, self.W1, self.b1, self.W2, self.b2, self.activation)

    def loss(self, X, y=None, reg=0.0):
        """Scores (y None) or the scalar loss tensor (differentiate it with autograd)."""
        X = self._as_input(X)
        if y is None:
            return self(X)
        y = y if isinstance(y, torch.Tensor) else to_tensor(np.asarray(y), self.device)
        C = self.W2.shape[1]
        if y.shape != (X.shape[0],) or y.is_floating_point() or (y.numel() and (y.min() < 0 or y.max() >= C)):
            raise ValueError(f"y must be ({X.shape[0]},) integer labels in 0..{C - 1}")
        if not np.isscalar(reg) or not np.isfinite(reg) or reg < 0:
            raise ValueError(f"reg must be a finite number >= 0, got {reg!r}")
        return net_loss(X, y.to(self.device), self.W1, self.b1, self.W2, self.b2,
                        self.activation, float(reg))

    @torch.no_grad()
    def predict(self, X, batch_size: int = 5000) -> torch.Tensor:
        X = self._as_input(X)
        return torch.cat([self(X[i:i + batch_size]).argmax(dim=1)
                          for i in range(0, X.shape[0], batch_size)])

    @torch.no_grad()
    def unit_statistics(self, X) -> tuple[float, float]:
        """(dead fraction, saturated fraction) of the hidden units, as on the NumPy side."""
        z = self._as_input(X) @ self.W1 + self.b1
        saturated = local_derivative(self.activation, z) < SATURATION_THRESHOLD
        return float(saturated.all(dim=0).float().mean()), float(saturated.float().mean())


def _flip_rows(X: torch.Tensor) -> torch.Tensor:
    return X.reshape(-1, *IMAGE_SHAPE).flip(2).reshape(X.shape[0], -1)


def train_net(net: TwoLayerNet, X, y, X_val, y_val, learning_rate=1e-3, learning_rate_decay=0.95,
              reg=5e-6, num_iters=100, batch_size=200, momentum=0.0, verbose=False, *,
              seed=None, batch_indices=None, augment_flip=False, progress=False,
              monitor_size=1000, stop_at_val_acc=None) -> dict:
    """The NumPy trainer's algorithm on ``net``'s device and dtype; same arguments,
    same history dict. The update is written out (not torch.optim) so that it is
    the NumPy side's ``v <- momentum v - lr grad; param <- param + v`` op for op.
    Minibatch order comes from ``batch_indices`` or a device-side permutation per
    epoch seeded with ``seed``; flips (``augment_flip``) are drawn on the device too.
    """
    device, dtype = net.device, net.dtype
    X, X_val = net._as_input(X), net._as_input(X_val)
    C = net.W2.shape[1]

    def labels(v, n, name):
        v = v if isinstance(v, torch.Tensor) else to_tensor(np.asarray(v), device)
        if v.shape != (n,) or v.is_floating_point() or (n and (v.min() < 0 or v.max() >= C)):
            raise ValueError(f"{name} must be ({n},) integer labels in 0..{C - 1}")
        return v.to(device=device, dtype=torch.int64)

    y, y_val = labels(y, X.shape[0], "y"), labels(y_val, X_val.shape[0], "y_val")
    num_iters, batch_size = _check_size(num_iters, "num_iters"), _check_size(batch_size, "batch_size")
    if not np.isscalar(reg) or not np.isfinite(reg) or reg < 0:
        raise ValueError(f"reg must be a finite number >= 0, got {reg!r}")
    if not 0 <= momentum < 1 or not 0 <= learning_rate_decay <= 1 or not learning_rate >= 0:
        raise ValueError("need learning_rate >= 0, 0 <= learning_rate_decay <= 1, 0 <= momentum < 1")
    if X.shape[0] == 0 or X_val.shape[0] == 0:
        raise ValueError("training and validation sets must not be empty")
    if augment_flip and X.shape[1] != int(np.prod(IMAGE_SHAPE)):
        raise ValueError(f"flip augmentation needs rows of 32x32x3 images, got width {X.shape[1]}")

    gen = torch.Generator(device=device)
    gen.manual_seed(seed if seed is not None else int(torch.seed() % 2**63))
    num_train = X.shape[0]
    iterations_per_epoch = max(num_train // batch_size, 1)
    if batch_indices is not None:
        batch_indices = torch.as_tensor(np.asarray(batch_indices), device=device)
        if (tuple(batch_indices.shape) != (num_iters, batch_size) or batch_indices.is_floating_point()
                or batch_indices.min() < 0 or batch_indices.max() >= num_train):
            raise ValueError(f"batch_indices must be ({num_iters}, {batch_size}) ints in 0..{num_train - 1}")

    state = {"synced": 0, "order": None}  # losses copied to the host; this epoch's permutation

    def minibatch(it: int) -> torch.Tensor:
        if batch_indices is not None:
            return batch_indices[it]
        if batch_size > num_train:
            return torch.randint(0, num_train, (batch_size,), generator=gen, device=device)
        if it % iterations_per_epoch == 0:
            state["order"] = torch.randperm(num_train, generator=gen, device=device)
        start = (it % iterations_per_epoch) * batch_size
        return state["order"][start:start + batch_size]

    monitor = torch.as_tensor(np.random.default_rng(0).choice(
        num_train, min(monitor_size, num_train), replace=False), device=device)
    X_monitor, y_monitor, X_held = X[monitor], y[monitor], X_val[:monitor_size]
    history = {key: [] for key in ("loss_history", "epochs", "train_acc_history",
                                   "val_acc_history", "dead_fraction_history",
                                   "saturated_fraction_history", "learning_rate_history",
                                   "train_seconds")}
    history.update(best_val_acc=-1.0, best_epoch=0.0)
    params = [getattr(net, name) for name in PARAM_NAMES]
    best = [p.detach().clone() for p in params]
    velocity = [torch.zeros_like(p) for p in params]
    # Losses stay on the device until an epoch ends: no host sync per iteration.
    losses = torch.empty(num_iters, dtype=dtype, device=device)
    lr = float(learning_rate)

    def sync_losses(upto: int):
        chunk = losses[state["synced"]:upto]
        bad = torch.nonzero(~torch.isfinite(chunk))
        if len(bad):
            first = state["synced"] + int(bad[0])
            history["loss_history"].extend(chunk[:first - state["synced"]].tolist())
            with torch.no_grad():
                for p, b in zip(params, best):
                    p.copy_(b)
            raise TrainingDivergedError(
                f"training diverged at iteration {first} (loss {float(losses[first])}) with "
                f"learning_rate {learning_rate:g}, reg {reg:g}: lower the learning rate. The "
                f"parameters are those of the best validation epoch so far (epoch "
                f"{history['best_epoch']:g}, val acc {history['best_val_acc']:.3f}).", history)
        history["loss_history"].extend(chunk.tolist())
        state["synced"] = upto

    clock = {"start": time.perf_counter(), "evaluating": 0.0}

    def record(epoch):
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # queued kernels belong to the training time
        began = time.perf_counter()
        history["train_seconds"].append(began - clock["start"] - clock["evaluating"])
        val_acc = float((net.predict(X_val) == y_val).double().mean())
        dead, saturated = net.unit_statistics(X_held)
        train_acc = float((net.predict(X_monitor) == y_monitor).double().mean())
        for key, value in (("epochs", epoch), ("train_acc_history", train_acc),
                           ("val_acc_history", val_acc), ("dead_fraction_history", dead),
                           ("saturated_fraction_history", saturated), ("learning_rate_history", lr)):
            history[key].append(value)
        if val_acc > history["best_val_acc"]:
            history.update(best_val_acc=val_acc, best_epoch=epoch)
            for p, b in zip(params, best):
                b.copy_(p.detach())
        if verbose:
            print(f"epoch {epoch:g}: train acc {train_acc:.3f} val acc {val_acc:.3f} "
                  f"dead {dead:.3f} lr {lr:.2e}")
        clock["evaluating"] += time.perf_counter() - began

    record(0.0)
    steps = range(num_iters)
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc=f"torch {device.type} {net.activation} H={net.W1.shape[1]}", leave=False)
    for it in steps:
        idx = minibatch(it)
        X_batch, y_batch = X[idx], y[idx]
        if augment_flip:
            flip = torch.rand(len(idx), generator=gen, device=device) < 0.5
            X_batch[flip] = _flip_rows(X_batch[flip])
        loss = net_loss(X_batch, y_batch, *params, net.activation, float(reg))
        grads = torch.autograd.grad(loss, params)
        losses[it] = loss.detach()
        with torch.no_grad():
            for p, v, g in zip(params, velocity, grads):
                v.mul_(momentum)
                v.sub_(lr * g)
                p.add_(v)
        done = it + 1
        if done % iterations_per_epoch == 0 or done == num_iters:
            sync_losses(done)
            if done % iterations_per_epoch == 0:
                lr *= learning_rate_decay
            record(done / iterations_per_epoch)
            if stop_at_val_acc is not None and history["val_acc_history"][-1] >= stop_at_val_acc:
                break

    with torch.no_grad():
        for p, b in zip(params, best):
            p.copy_(b)
    return history


# ---- parity kind ---------------------------------------------------------------------

HIDDEN_SIZE = 50
CASE_SEED = 231


def net_cases(X, y, hidden_size: int = HIDDEN_SIZE):
    """Real dev rows; seeded parameters large enough that every activation is in its
    working range (W1 ~ 1e-3 puts pre-activations at ~3) and biases nonzero."""
    rng = np.random.default_rng(CASE_SEED)
    D, C = X.shape[1], 10
    params = {
        "W1": 1e-3 * rng.standard_normal((D, hidden_size)),
        "b1": 0.1 * rng.standard_normal(hidden_size),
        "W2": 0.1 * rng.standard_normal((hidden_size, C)),
        "b2": 0.1 * rng.standard_normal(C),
    }
    return [(f"{act}, reg {reg:g}", dict(X=X, y=y, reg=reg, activation=act, **params))
            for act in ACTIVATIONS for reg in (0.0, 0.1)]


def call_user_net(net_class, inputs):
    """Build the user's class, give it the case's parameters, call ``loss(X, y, reg)``.

    ReLU cases call ``net_class(D, H, C)`` (CS231n's signature); sigmoid and tanh
    cases also pass ``activation=``.
    """
    D, H = inputs["W1"].shape
    C = inputs["W2"].shape[1]
    kwargs = {}
    if inputs["activation"] != "relu":
        accepted = inspect.signature(net_class).parameters
        if "activation" not in accepted and not any(
                p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
            raise ValueError(f"this case needs {net_class.__name__}(..., activation="
                             f"{inputs['activation']!r}); the class takes no activation argument")
        kwargs["activation"] = inputs["activation"]
    net = net_class(D, H, C, **kwargs)
    net.params = {name: inputs[name] for name in PARAM_NAMES}
    return net.loss(inputs["X"], inputs["y"], reg=inputs["reg"])


register_kind(LossKind(
    name="two_layer_net",
    signature="class TwoLayerNet(input_size, hidden_size, output_size[, activation=]) "
              "with .params {W1,b1,W2,b2} and .loss(X, y, reg) -> (loss, grads)",
    make_cases=net_cases,
    call_numpy=call_user_net,
    torch_loss=lambda t: net_loss(t["X"], t["y"], t["W1"], t["b1"], t["W2"], t["b2"],
                                  t["activation"], t["reg"]),
    wrt=PARAM_NAMES,
    reference="scratch_numpy.two_layer_net:TwoLayerNet",
))
