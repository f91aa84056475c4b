"""The chosen hyperparameters of each trained model, and how one is trained on either backend.

Shared by the commands (training, search, benchmarks, the main job); the
choices themselves were made on the validation split (docs/linear_classifiers.md,
docs/two_layer_net.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ref_torch.fc_net import FullyConnectedNet as TorchFCNet
from ref_torch.fc_net import train_fc_net
from ref_torch.linear_classifier import TorchLinearSVM, TorchSoftmax
from ref_torch.two_layer_net import TwoLayerNet as TorchNet
from ref_torch.two_layer_net import train_net
from scratch_numpy.data import NUM_CLASSES, NUM_FEATURES, Splits
from scratch_numpy.fc_net import FullyConnectedNet
from scratch_numpy.linear_classifier import LinearSVM, Softmax
from scratch_numpy.training import TrainingDivergedError
from scratch_numpy.two_layer_net import TwoLayerNet

# ---- linear classifiers ----------------------------------------------------------------

LINEAR_CLASSIFIERS = {"svm": LinearSVM, "softmax": Softmax}
# The grid `linear_classifiers --search` trains (and a linear sweep's default space).
LINEAR_GRID = dict(learning_rate=(1e-7, 3e-7, 1e-6, 3e-6), reg=(1e2, 1e3, 1e4))
# Found with `linear_classifiers --search`: SGD, batch 500, 5000 steps, the step
# size multiplied by 0.8 every 500 steps.
LINEAR_CHOSEN = {
    "svm": dict(learning_rate=1e-6, reg=1e3),
    "softmax": dict(learning_rate=3e-6, reg=1e2),
}
LINEAR_SCHEDULE = dict(num_iters=5000, batch_size=500, lr_decay=0.8, decay_every=500)


def fit_linear(name: str, data: Splits, hyper: dict, schedule: dict = LINEAR_SCHEDULE, seed=0,
               progress: bool = False):
    """Train the NumPy classifier ``name`` with ``hyper`` and ``schedule``: (clf, loss history)."""
    clf = LINEAR_CLASSIFIERS[name]()
    history = clf.train(data.X_train, data.y_train, seed=seed, progress=progress, **hyper,
                        **schedule)
    return clf, history


def fit_linear_torch(name: str, data: Splits, hyper: dict, schedule: dict, device: str, seed=0,
                     progress: bool = False, compile: bool = False):
    """The torch twin with the same hyperparameters (its own seeded batches): (clf, seconds);
    ``compile``: its loss through ``torch.compile``."""
    clf = {"svm": TorchLinearSVM, "softmax": TorchSoftmax}[name](device=device, dtype=np.float32)
    start = time.perf_counter()
    clf.train(data.X_train, data.y_train, seed=seed, progress=progress, compile=compile, **hyper,
              **schedule)
    return clf, time.perf_counter() - start


# ---- two-layer network -----------------------------------------------------------------

@dataclass(frozen=True)
class NetConfig:
    hidden_size: int
    learning_rate: float
    learning_rate_decay: float
    reg: float
    epochs: float
    momentum: float = 0.9
    batch_size: int = 200
    std: float = 4e-4  # sqrt(2 / 3072) / 64: He scaling for pixels of std ~64
    augment_flip: bool = False
    activation: str = "relu"


# Chosen by ``two_layer_net search`` on the validation split.
NET_CHOSEN = NetConfig(hidden_size=1000, learning_rate=2e-4, learning_rate_decay=0.92, reg=0.03,
                       epochs=20, augment_flip=True)
# The smoke-test size of the main job's quick mode.
NET_QUICK = NetConfig(hidden_size=50, learning_rate=2e-4, learning_rate_decay=0.9, reg=0.1, epochs=2)


def diverged(exc: TrainingDivergedError, expected: str = "") -> dict:
    """Say that a run diverged, and why (the solver's guess, or what a run that is meant to
    diverge expects); returns what it recorded."""
    if expected:
        print(f"  training diverged at iteration {exc.iteration}, as expected here: {expected}")
    else:
        print(f"  {exc}")
    return exc.history


def train_net_config(rows: Splits, config: NetConfig, backend: str = "numpy", device: str = "cpu",
                     seed: int = 0, progress: bool = True, num_train: int | None = None,
                     stop_at_val_acc: float | None = None, on_epoch=None,
                     catch_divergence: bool = True, expected_divergence: str = "",
                     compile: bool = False):
    """Train ``config`` on ``rows`` (see ``network_rows``); returns (net, history).
    ``compile`` (torch backend): the training step through ``torch.compile``.

    ``net`` is a NumPy TwoLayerNet either way (a torch run's parameters are
    exported losslessly); both backends start from the NumPy initialisation of
    ``seed``. ``on_epoch(history) -> bool`` is the solver's per-epoch hook. A
    diverged run prints why and returns what it recorded (``expected_divergence``: why
    divergence is expected there, said instead of the advice on the learning rate); with
    ``catch_divergence=False`` the ``TrainingDivergedError`` propagates instead.
    """
    X, y = rows.X_train[:num_train], rows.y_train[:num_train]
    num_iters = max(int(round(config.epochs * len(y) / config.batch_size)), 1)
    kwargs = dict(learning_rate=config.learning_rate, learning_rate_decay=config.learning_rate_decay,
                  reg=config.reg, num_iters=num_iters, batch_size=config.batch_size,
                  momentum=config.momentum, seed=seed, augment_flip=config.augment_flip,
                  progress=progress, stop_at_val_acc=stop_at_val_acc, on_epoch=on_epoch)
    net = TwoLayerNet(NUM_FEATURES, config.hidden_size, NUM_CLASSES, std=config.std,
                      activation=config.activation, seed=seed, dtype=np.float32)
    try:
        if backend == "numpy":
            history = net.train(X, y, rows.X_val, rows.y_val, **kwargs)
        else:
            tnet = TorchNet.from_numpy_params(net.params, config.activation, device=device)
            try:
                history = train_net(tnet, X, y, rows.X_val, rows.y_val, compile=compile, **kwargs)
            finally:
                net = TwoLayerNet.from_params(tnet.numpy_params(), config.activation)
    except TrainingDivergedError as exc:
        if not catch_divergence:
            raise
        history = diverged(exc, expected_divergence)
    return net, history


# ---- fully-connected network of any depth ------------------------------------------------

@dataclass(frozen=True)
class FCConfig:
    """How a FullyConnectedNet is built and trained (on ``standardized_rows``)."""

    hidden_dims: tuple[int, ...]
    learning_rate: float
    learning_rate_decay: float
    reg: float
    epochs: float
    momentum: float = 0.9
    batch_size: int = 200
    weight_scale: float | str = "he"
    augment_flip: bool = True
    activation: str = "relu"


def train_fc_config(rows: Splits, config: FCConfig, backend: str = "numpy", device: str = "cpu",
                    seed: int = 0, progress: bool = True, num_train: int | None = None,
                    stop_at_val_acc: float | None = None, data_seed: int | None = None,
                    epoch_metrics=None, verbose: bool = False, on_epoch=None,
                    catch_divergence: bool = True, expected_divergence: str = "",
                    compile: bool = False):
    """Train ``config`` on ``rows`` (see ``standardized_rows``); returns (net, history).
    ``compile`` (torch backend): the training step through ``torch.compile``.

    ``net`` is a NumPy FullyConnectedNet either way (a torch run's parameters are
    exported losslessly); both backends start from the NumPy initialisation of
    ``seed``. ``data_seed`` (default ``seed``) draws the minibatches and flips, so
    runs can differ in their initialisation only. ``epoch_metrics(net) -> dict``
    (numpy backend) is recorded every epoch; ``on_epoch(history) -> bool`` is the
    solver's per-epoch hook. A diverged run prints why and returns what it recorded
    (``expected_divergence``: why divergence is expected there); with
    ``catch_divergence=False`` the ``TrainingDivergedError`` propagates instead.
    """
    X, y = rows.X_train[:num_train], rows.y_train[:num_train]
    num_iters = max(int(round(config.epochs * len(y) / config.batch_size)), 1)
    kwargs = dict(learning_rate=config.learning_rate, learning_rate_decay=config.learning_rate_decay,
                  num_iters=num_iters, batch_size=config.batch_size, momentum=config.momentum,
                  seed=seed if data_seed is None else data_seed, augment_flip=config.augment_flip,
                  progress=progress, stop_at_val_acc=stop_at_val_acc, verbose=verbose,
                  on_epoch=on_epoch)
    net = FullyConnectedNet(list(config.hidden_dims), X.shape[1], NUM_CLASSES, reg=config.reg,
                            weight_scale=config.weight_scale, dtype=np.float32, seed=seed,
                            activation=config.activation)
    try:
        if backend == "numpy":
            metrics = (lambda: epoch_metrics(net)) if epoch_metrics else None
            history = net.train(X, y, rows.X_val, rows.y_val, epoch_metrics=metrics, **kwargs)
        else:
            tnet = TorchFCNet.from_numpy_params(net.params, config.activation, config.reg,
                                                device=device)
            try:
                history = train_fc_net(tnet, X, y, rows.X_val, rows.y_val, compile=compile,
                                       **kwargs)
            finally:
                net = FullyConnectedNet.from_params(tnet.numpy_params(), config.activation,
                                                    config.reg)
    except TrainingDivergedError as exc:
        if not catch_divergence:
            raise
        history = diverged(exc, expected_divergence)
    return net, history


# Chosen by ``fc_net search`` on the validation split (docs/fc_net.md).
FC_CHOSEN = FCConfig(hidden_dims=(1000, 1000, 1000), learning_rate=1e-2, learning_rate_decay=0.9,
                     reg=1e-3, epochs=30)
# The smoke-test size of the main job's quick mode.
FC_QUICK = FCConfig(hidden_dims=(50, 50), learning_rate=1e-2, learning_rate_decay=0.9, reg=1e-4,
                    epochs=2, augment_flip=False)
