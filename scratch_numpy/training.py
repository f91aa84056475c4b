"""Model-free training bookkeeping, shared by the NumPy and the torch solver.

Nothing here touches a model or its math: the solver options and their checks
(:class:`SolverOptions`), the divergence error, the learning-rate schedule, the
minibatch index schedules, the history record and the training clock. Both
solvers (``scratch_numpy/solver.py``, ``ref_torch/solver.py``) use these, so the
two sides keep the same books by construction. NumPy only.

Schedules. The learning rate of iteration ``t`` is a step schedule

    lr_t = learning_rate * lr_decay ** (t // decay_every)

Minibatches are drawn lazily, either one ``rng.choice`` per step
(:func:`minibatches`) or as a fresh permutation per epoch cut into consecutive
batches (:func:`epoch_batches`).
"""

from __future__ import annotations

import copy
import time
from typing import Iterable, Iterator

import numpy as np

from scratch_numpy.validation import check_int, check_real

UPDATE_RULES = ("sgd", "sgd_momentum")
SAMPLERS = ("epoch", "replace", "distinct")

# The per-epoch lists of a history dict (plus one ``<metric>_history`` per model metric).
EPOCH_KEYS = ("epochs", "train_acc_history", "val_acc_history", "learning_rate_history",
              "train_seconds")


class TrainingDivergedError(FloatingPointError, ValueError):
    """The loss or the parameters stopped being finite (learning rate too large?).

    ``iteration``: the step that failed. ``history``: what was recorded before
    it (``loss_history`` holds the finite losses). The model holds the
    parameters the message names: the best validation epoch's, or the last
    finite ones.
    """

    def __init__(self, message: str, iteration: int, history: dict):
        super().__init__(message)
        self.iteration = iteration
        self.history = history

    @property
    def loss_history(self) -> list[float]:
        return self.history["loss_history"]


def learning_rate_at(learning_rate: float, lr_decay: float, decay_every: int, iteration: int) -> float:
    """The step schedule ``learning_rate * lr_decay ** (iteration // decay_every)``."""
    return learning_rate * lr_decay ** (iteration // decay_every)


def iterations_per_epoch(num_train: int, batch_size: int) -> int:
    """Steps in one pass over the data (at least 1)."""
    return max(num_train // batch_size, 1)


def check_batch_size(num_train: int, batch_size: int, replace: bool) -> None:
    if not replace and batch_size > num_train:
        raise ValueError(f"batch_size = {batch_size} exceeds the {num_train} training rows; "
                         "use replace=True or a smaller batch")


def minibatches(rng: np.random.Generator, num_train: int, batch_size: int, num_iters: int,
                replace: bool = True) -> Iterator[np.ndarray]:
    """``num_iters`` index arrays of ``batch_size`` rows, drawn from ``rng`` lazily.

    With ``replace`` a row may appear twice in one batch (cheap, and the
    assignment's choice); without it each batch holds distinct rows.
    """
    check_batch_size(num_train, batch_size, replace)
    return (rng.choice(num_train, batch_size, replace=replace) for _ in range(num_iters))


def epoch_batches(num_train: int, batch_size: int, num_iters: int, rng) -> Iterator[np.ndarray]:
    """``num_iters`` index arrays of ``batch_size`` rows: each epoch a fresh random
    permutation, cut into consecutive minibatches (every row seen once per epoch when
    batch_size divides num_train; a set smaller than a batch is sampled with replacement).

    Drawn lazily: one epoch's permutation in memory, however many epochs (1000 epochs of
    49,000 rows drawn up front were 374 MiB). The numbers are those of drawing every
    permutation up front: a copy of ``rng`` draws them as the steps need them, and ``rng``
    itself is moved past them now (a permutation costs well under a millisecond), so what
    ``rng`` draws afterwards (random flips) is unchanged too.
    """
    if batch_size > num_train:  # one batch an epoch: num_iters rows of a tiny set
        yield from rng.integers(0, num_train, size=(num_iters, batch_size))
        return
    per_epoch = num_train // batch_size
    epochs = -(-num_iters // per_epoch)
    draws = copy.deepcopy(rng)
    for _ in range(epochs):
        rng.permutation(num_train)
    steps = 0
    for _ in range(epochs):
        order = draws.permutation(num_train)
        for k in range(min(per_epoch, num_iters - steps)):
            yield order[k * batch_size:(k + 1) * batch_size]
        steps += per_epoch


def check_batch_indices(batch_indices, num_iters: int, batch_size: int, num_train: int) -> np.ndarray:
    """Given minibatch indices must be a (num_iters, batch_size) integer array in 0..num_train-1."""
    batch_indices = np.asarray(batch_indices)
    if (batch_indices.shape != (num_iters, batch_size)
            or not np.issubdtype(batch_indices.dtype, np.integer)
            or batch_indices.min() < 0 or batch_indices.max() >= num_train):
        raise ValueError(
            f"batch_indices must be ({num_iters}, {batch_size}) ints in 0..{num_train - 1}")
    return batch_indices


def monitor_rows(num_train: int, monitor_size) -> np.ndarray:
    """The fixed training rows whose accuracy is recorded each epoch (seed 0, no repeats)."""
    monitor_size = check_int(monitor_size, "monitor_size")
    return np.random.default_rng(0).choice(num_train, min(monitor_size, num_train), replace=False)


def new_history(metric_names: Iterable[str] = ()) -> dict:
    """An empty history: ``loss_history`` per step, the :data:`EPOCH_KEYS` lists and
    ``<metric>_history`` per epoch, ``best_val_acc`` -1 and ``best_epoch`` 0."""
    history = {"loss_history": []}
    history.update({key: [] for key in EPOCH_KEYS})
    history.update({f"{name}_history": [] for name in metric_names})
    history.update(best_val_acc=-1.0, best_epoch=0.0)
    return history


def record_epoch(history: dict, epoch: float, train_acc: float, val_acc: float, learning_rate: float,
                 seconds: float, metrics: dict) -> bool:
    """Append one epoch's figures; True when ``val_acc`` beats every earlier epoch."""
    for key, value in (("epochs", epoch), ("train_acc_history", train_acc),
                       ("val_acc_history", val_acc), ("learning_rate_history", learning_rate),
                       ("train_seconds", seconds)):
        history[key].append(value)
    for name, value in metrics.items():
        history[f"{name}_history"].append(value)
    if val_acc > history["best_val_acc"]:
        history.update(best_val_acc=val_acc, best_epoch=epoch)
        return True
    return False


def epoch_line(history: dict, metrics: dict) -> str:
    """One line for the log: the epoch just recorded."""
    extra = "".join(f" {name} {value:.3f}" for name, value in metrics.items())
    return (f"epoch {history['epochs'][-1]:g}: train acc {history['train_acc_history'][-1]:.3f} "
            f"val acc {history['val_acc_history'][-1]:.3f}{extra} "
            f"lr {history['learning_rate_history'][-1]:.2e}")


def divergence_message(iteration: int, what: str, learning_rate: float, history: dict,
                       kept_best: bool) -> str:
    """Why training stopped and which parameters the model now holds."""
    kept = "the last finite ones"
    if kept_best:
        kept = (f"those of the best validation epoch so far (epoch {history['best_epoch']:g}, "
                f"val acc {history['best_val_acc']:.3f})")
        if history["epochs"]:
            kept += f"; the last finite epoch was {history['epochs'][-1]:g}"
    return (f"training diverged at iteration {iteration}: {what} "
            f"(learning_rate={learning_rate:g} is probably too large); "
            f"the parameters are {kept}")


class TrainingClock:
    """Wall time spent training: evaluation inside :meth:`evaluating` is not counted."""

    def __init__(self):
        self._start = time.perf_counter()
        self._evaluating = 0.0

    def train_seconds(self) -> float:
        return time.perf_counter() - self._start - self._evaluating

    def add_evaluation(self, began: float) -> None:
        """Exclude the time since ``began`` (a ``time.perf_counter()`` reading)."""
        self._evaluating += time.perf_counter() - began


class SolverOptions:
    """The options both solvers take, checked once, the same way, and the stopping rule.

    Each side's ``Solver`` inherits this and passes its keyword options to
    :meth:`_set_options`; the arguments and their defaults are documented in
    ``scratch_numpy.solver.Solver``. Model-free: only sizes and numbers.
    """

    def _set_options(self, num_train: int, num_val: int | None, *, update_rule: str = "sgd",
                     learning_rate=1e-3, momentum=0.0, lr_decay=1.0, decay_every=None,
                     batch_size=200, num_iters=100, batches="epoch", stop_at_val_acc=None,
                     on_epoch=None, check_every_step: bool = False, verbose: bool = False,
                     print_every=None, progress: bool = False, label: str = "train") -> None:
        """``num_val``: validation rows, None without validation data."""
        validating = num_val is not None
        if update_rule not in UPDATE_RULES:
            raise ValueError(f"unknown update_rule {update_rule!r}; choose one of {UPDATE_RULES}")
        if not validating and not check_every_step:
            raise ValueError("without validation data there is no best epoch to fall back on: "
                             "use check_every_step=True")
        if isinstance(batches, str) and batches not in SAMPLERS:
            raise ValueError(f"unknown batches {batches!r}; choose one of {SAMPLERS} or give indices")
        if on_epoch is not None and not validating:
            raise ValueError("on_epoch needs validation data: "
                             "it is called after each epoch's record")
        if num_train == 0 or num_val == 0:
            raise ValueError("training and validation sets must not be empty")
        self.update_rule = update_rule
        # A zero rate only evaluates: allowed where there is a validation record to show.
        self.learning_rate = check_real(learning_rate, "learning_rate", low=0,
                                        low_open=not validating)
        self.momentum = check_real(momentum, "momentum", 0, 1, high_open=True)
        self.lr_decay = check_real(lr_decay, "lr_decay", 0, 1)
        self.batch_size = check_int(batch_size, "batch_size")
        self.num_iters = check_int(num_iters, "num_iters")
        self.per_epoch = iterations_per_epoch(num_train, self.batch_size)
        self.decay_every = self.per_epoch if decay_every is None else check_int(decay_every, "decay_every")
        if stop_at_val_acc is not None:
            stop_at_val_acc = check_real(stop_at_val_acc, "stop_at_val_acc", 0, 1)
        self.stop_at_val_acc, self.on_epoch = stop_at_val_acc, on_epoch
        self.check_every_step = check_every_step
        self.verbose, self.print_every = verbose, print_every
        self.progress, self.label = progress, label

    def _stop_requested(self) -> bool:
        """After an epoch's record: the target accuracy is reached, or ``on_epoch`` says stop."""
        if (self.stop_at_val_acc is not None
                and self.history["val_acc_history"][-1] >= self.stop_at_val_acc):
            return True
        return self.on_epoch is not None and bool(self.on_epoch(self.history))
