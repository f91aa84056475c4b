"""What a sweep can tune: one registry entry per model, and the data its trials get.

An entry (:class:`SweepModel`) says which hyperparameters the model has (with
their checks), the values used for those a search space leaves out, the default
space, how the model's rows are made, and how one configuration is trained
(``fit``). Trials run the project's own solvers through ``scripts.configs``; a
``fit`` reports through ``on_epoch(history)``:

* the networks report every epoch from inside training (the solver's hook), so
  ASHA can stop bad trials at epoch boundaries on validation accuracy;
* the linear classifiers have no validation data inside training: ``fit``
  reports once, at the end, and their sweeps run every trial to the end (FIFO).

A diverging configuration raises ``TrainingDivergedError`` out of ``fit``.
Adding a model is one entry in :data:`MODELS`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Callable

import numpy as np

from scratch_numpy.data import Splits
from scratch_numpy.preprocessing import linear_rows, network_rows, standardized_rows
from scratch_numpy.training import iterations_per_epoch
from scripts.configs import (FC_CHOSEN, LINEAR_CHOSEN, LINEAR_CLASSIFIERS, LINEAR_GRID,
                             LINEAR_SCHEDULE, NET_CHOSEN, FCConfig, NetConfig, fit_linear,
                             fit_linear_torch, train_fc_config, train_net_config)
from scripts.sweep.space import FLAG, Dimension, Param, integer, one_of, real

BACKENDS = ("numpy", "torch")

# What one trial can run: a sweep refuses larger values before Ray starts (a trial's memory
# grows with its steps, its batch and its layers; epochs=1e300 would never end).
MAX_EPOCHS = 1000
MAX_ITERS = 1_000_000           # SGD steps of a linear classifier
MAX_BATCH_SIZE = 49_000         # the training split's rows
MAX_HIDDEN_SIZE = 4096
MAX_HIDDEN_LAYERS = 10


@dataclass(frozen=True)
class SweepModel:
    """A model a sweep can tune.

    params: name -> :class:`~scripts.sweep.space.Param`, every tunable hyperparameter;
    base: the value of each parameter that the search space leaves out;
    default_space: the space of a sweep given none; default_samples: its ``--num-samples``;
    rows: CIFAR-10 splits -> the model's rows (statistics fit on train only);
    fit: ``fit(data, config, backend, device, seed, on_epoch) -> model`` (with
        ``predict(X)``); ``data`` has train and val rows only;
    epochs: ``epochs(config, num_train)``, the epochs a full run of ``config`` trains;
    per_epoch: True when ``fit`` reports every epoch (ASHA; the model then has an
        ``epochs`` parameter), False when it reports once, at the end (FIFO).
    """

    params: dict[str, Param]
    base: dict
    default_space: dict[str, Dimension]
    default_samples: int
    rows: Callable[[Splits], Splits]
    fit: Callable
    epochs: Callable[[dict, int], float]
    per_epoch: bool


def accuracy(model, X, y) -> float:
    return float(np.mean(model.predict(X) == y))


# ---- linear classifiers ----------------------------------------------------------------

LINEAR_PARAMS = dict(learning_rate=real(0, low_open=True), reg=real(0),
                     num_iters=integer(1, MAX_ITERS), batch_size=integer(1, MAX_BATCH_SIZE),
                     lr_decay=real(0, 1), decay_every=integer(1, MAX_ITERS))


def linear_epochs(config: dict, num_train: int) -> float:
    return config["num_iters"] * config["batch_size"] / num_train


def linear_fit(name: str) -> Callable:
    def fit(data: Splits, config: dict, backend: str, device: str, seed: int, on_epoch,
            compile: bool = False):
        hyper = {k: config[k] for k in ("learning_rate", "reg")}
        schedule = {k: config[k] for k in LINEAR_SCHEDULE}
        if backend == "numpy":
            clf, _ = fit_linear(name, data, hyper, schedule, seed=seed)
        else:
            torch_clf, _ = fit_linear_torch(name, data, hyper, schedule, device, seed=seed,
                                            compile=compile)
            clf = LINEAR_CLASSIFIERS[name]()  # the NumPy twin holds the trained weights
            clf.W = torch_clf.weights()
        val = accuracy(clf, data.X_val, data.y_val)
        epochs = linear_epochs(config, len(data.y_train))
        # The one record of a run without validation inside training: its end.
        on_epoch({"epochs": [epochs], "val_acc_history": [val], "best_val_acc": val,
                  "best_epoch": epochs})
        return clf

    return fit


def linear_model(name: str) -> SweepModel:
    grid = {k: Dimension("grid", tuple(v)) for k, v in LINEAR_GRID.items()}
    return SweepModel(params=LINEAR_PARAMS, base={**LINEAR_CHOSEN[name], **LINEAR_SCHEDULE},
                      default_space=grid, default_samples=1,
                      rows=lambda splits: linear_rows(splits), fit=linear_fit(name),
                      epochs=linear_epochs, per_epoch=False)


# ---- networks --------------------------------------------------------------------------

NET_PARAMS = dict(hidden_size=integer(1, MAX_HIDDEN_SIZE), learning_rate=real(0, low_open=True),
                  learning_rate_decay=real(0, 1), reg=real(0),
                  epochs=real(0, MAX_EPOCHS, low_open=True), momentum=real(0, 1, high_open=True),
                  batch_size=integer(1, MAX_BATCH_SIZE), std=real(0),
                  augment_flip=FLAG, activation=one_of("relu", "sigmoid", "tanh"))


def net_epochs(config: dict, num_train: int) -> float:
    """The epochs a full run of ``config`` trains, as its last report says: ``epochs`` rounded to
    whole steps (``scripts.configs``), over the steps of one epoch (1.04 epochs of 10 steps
    each are 10 steps: 1.0 epoch)."""
    steps = max(int(round(config["epochs"] * num_train / config["batch_size"])), 1)
    return steps / iterations_per_epoch(num_train, config["batch_size"])


def net_fit(data: Splits, config: dict, backend: str, device: str, seed: int, on_epoch,
            compile: bool = False):
    net, _ = train_net_config(data, NetConfig(**config), backend=backend, device=device, seed=seed,
                              progress=False, on_epoch=on_epoch, catch_divergence=False,
                              compile=compile)
    return net


TWO_LAYER_NET = SweepModel(
    params=NET_PARAMS, base=asdict(NET_CHOSEN),
    default_space={"learning_rate": Dimension("loguniform", (1e-4, 1e-3)),
                   "reg": Dimension("loguniform", (1e-3, 1.0))},
    default_samples=12, rows=network_rows, fit=net_fit,
    epochs=net_epochs, per_epoch=True)


# The fully-connected net tunes its shape as a width and a depth: hidden_dims is
# (hidden_size,) * num_hidden_layers, the shape of the project's chosen net.
FC_PARAMS = dict(hidden_size=integer(1, MAX_HIDDEN_SIZE),
                 num_hidden_layers=integer(0, MAX_HIDDEN_LAYERS),
                 learning_rate=real(0, low_open=True), learning_rate_decay=real(0, 1),
                 reg=real(0), epochs=real(0, MAX_EPOCHS, low_open=True),
                 momentum=real(0, 1, high_open=True), batch_size=integer(1, MAX_BATCH_SIZE),
                 weight_scale=one_of("he", "xavier"), augment_flip=FLAG,
                 activation=one_of("relu", "sigmoid", "tanh"))


def fc_config(config: dict) -> FCConfig:
    """A sweep's flat fc_net configuration as the FCConfig it trains."""
    shape = {k: config[k] for k in ("hidden_size", "num_hidden_layers")}
    rest = {k: v for k, v in config.items() if k not in shape}
    return FCConfig(hidden_dims=(shape["hidden_size"],) * shape["num_hidden_layers"], **rest)


def fc_fit(data: Splits, config: dict, backend: str, device: str, seed: int, on_epoch,
           compile: bool = False):
    net, _ = train_fc_config(data, fc_config(config), backend=backend, device=device, seed=seed,
                             progress=False, on_epoch=on_epoch, catch_divergence=False,
                             compile=compile)
    return net


def _fc_base() -> dict:
    """FC_CHOSEN as flat sweep values (its hidden layers all have one width)."""
    base = asdict(FC_CHOSEN)
    dims = base.pop("hidden_dims")
    assert len(set(dims)) == 1, "FC_CHOSEN's hidden layers must share one width"
    return {"hidden_size": dims[0], "num_hidden_layers": len(dims), **base}


FC_NET = SweepModel(
    params=FC_PARAMS, base=_fc_base(),
    default_space={"learning_rate": Dimension("loguniform", (3e-3, 3e-2)),
                   "reg": Dimension("loguniform", (1e-4, 1e-2)),
                   "num_hidden_layers": Dimension("choice", (2, 3, 4))},
    default_samples=12, rows=standardized_rows, fit=fc_fit,
    epochs=net_epochs, per_epoch=True)


MODELS = {"svm": linear_model("svm"), "softmax": linear_model("softmax"),
          "two_layer_net": TWO_LAYER_NET, "fc_net": FC_NET}


# ---- data ------------------------------------------------------------------------------

def sweep_rows(model: SweepModel, splits: Splits, num_train: int | None = None,
               num_val: int | None = None) -> tuple[Splits, tuple[np.ndarray, np.ndarray]]:
    """(trial data, (X_test, y_test)): the model's rows of the first ``num_train`` training
    and ``num_val`` validation images (None: all), statistics fit on those training rows.
    The trial data holds train and val only: the test split never reaches a trial."""
    splits = replace(splits, X_train=splits.X_train[:num_train], y_train=splits.y_train[:num_train],
                     X_val=splits.X_val[:num_val], y_val=splits.y_val[:num_val],
                     X_dev=splits.X_dev[:0], y_dev=splits.y_dev[:0])
    rows = model.rows(splits)
    trial_data = replace(rows, X_test=rows.X_test[:0], y_test=rows.y_test[:0], preprocessor=None)
    return trial_data, (rows.X_test, rows.y_test)


def full_config(model: SweepModel, config: dict) -> dict:
    """``config`` (a trial's sampled values) completed with the model's base values."""
    return {**model.base, **config}


def max_epochs(model: SweepModel, space: dict[str, Dimension], num_train: int) -> int:
    """The most epoch reports any configuration of ``space`` makes on ``num_train`` rows: the
    ASHA horizon of a per-epoch model (whose ``epochs`` is a parameter; a loguniform's bounds
    are its values, and the epochs trained grow with ``epochs``)."""
    def values(name):
        return space[name].values if name in space else (model.base[name],)

    return max(max(math.ceil(model.epochs({"epochs": epochs, "batch_size": batch}, num_train)
                             - 1e-9), 1)
               for epochs in values("epochs") for batch in values("batch_size"))
