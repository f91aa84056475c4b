"""The one NumPy trainer: minibatch SGD for any model, as CS231n assignment 2's ``Solver``.

A model is its parameters and its loss:

* ``params``: dict name -> float array; the solver updates it in place;
* ``loss_fn(X_batch, y_batch) -> (loss, grads)``, ``grads`` keyed like ``params``;
* ``predict_fn(X) -> labels (N,)``, needed only with validation data.

The solver owns the rest:

* batching: the indices of each step come from ``batches`` (``"epoch"``: a
  fresh permutation per epoch; ``"replace"`` / ``"distinct"``: one
  ``rng.choice`` per step; or an explicit ``(num_iters, batch_size)`` array),
  then ``augment(X_batch, rng)`` may change the rows (a copy);
* the update rule, per parameter ``p`` with gradient ``dp``:
  ``"sgd"``: ``p <- p - lr_t dp``;
  ``"sgd_momentum"``: ``v <- mu v - lr_t dp;  p <- p + v``;
* decay: ``lr_t = learning_rate * lr_decay ** (t // decay_every)``, with
  ``decay_every`` one epoch unless given (``scratch_numpy.training``);
* history: the loss of every step; with validation data also, at epoch 0,
  at every epoch's end and after the last step: train accuracy on
  ``monitor_size`` fixed training rows, validation accuracy, the model's
  ``epoch_metrics()``, the learning rate and the training seconds;
* best parameters: with validation data, those of the best validation epoch
  are restored at the end;
* stopping early: with validation data, ``stop_at_val_acc`` ends training after
  the first epoch record that reaches it, and ``on_epoch(history) -> bool`` is
  called after every epoch record but epoch 0's (each epoch's end and the last
  step): a true return ends training there (a sweep's scheduler reports
  through it and stops bad trials);
* divergence: a non-finite loss at any step, or non-finite parameters, raise
  :class:`~scratch_numpy.training.TrainingDivergedError`. Parameters are
  checked after every step with ``check_every_step`` (the update is computed
  aside and committed only when finite: the model keeps the last finite
  parameters; cheap for small models), otherwise before every epoch record and
  at the end (in-place updates; the model gets the best validation epoch's
  parameters back). Non-finite parameters are never scored or kept.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from scratch_numpy import training
from scratch_numpy.progress import progress
from scratch_numpy.training import TrainingDivergedError
# Elements per block of the in-place update: the blocks of a parameter, its velocity and
# its gradient (float32: 512 KiB each) stay in a 2 MiB L2 cache between the ufuncs. Each
# ufunc call costs ~1-2 us besides its work: on the 3072 x 1000 first layer 2^17 took
# about 20% less time than 2^15 (docs/benchmarks.md).
BLOCK = 1 << 17


def _all_finite(params: dict) -> bool:
    return all(np.isfinite(p).all() for p in params.values())


class Solver(training.SolverOptions):
    """Minibatch SGD on ``params`` with the loss ``loss_fn``; see the module docstring.

    X (N, D), y (N,): training rows; X_val, y_val: validation rows or None.
    learning_rate > 0 (>= 0 with validation data: a zero rate evaluates only);
    momentum in [0, 1) ("sgd_momentum" only); lr_decay in [0, 1];
    batch_size, num_iters, decay_every: positive ints; rng: a NumPy Generator
    (batches, augmentation); stop_at_val_acc: stop after the first epoch whose
    validation accuracy reaches it; on_epoch: ``f(history) -> bool`` after each
    epoch record (validation data only), true stops; verbose: a line per epoch,
    and per ``print_every`` steps when given; progress: a bar labelled ``label``.
    The keyword options (update_rule, learning_rate, momentum, lr_decay,
    decay_every, batch_size, num_iters, stop_at_val_acc, on_epoch,
    check_every_step, verbose, print_every, progress, label) and their defaults
    are those of ``training.SolverOptions._set_options``, shared with the torch solver.
    """

    def __init__(self, params: dict, loss_fn: Callable, X, y, X_val=None, y_val=None, *,
                 predict_fn: Callable | None = None, batches="epoch", rng=None,
                 augment: Callable | None = None, monitor_size=1000,
                 epoch_metrics: Callable[[], dict] | None = None, **options):
        self._set_options(len(y), None if X_val is None else len(y_val), batches=batches, **options)
        not_contiguous = [k for k, v in params.items() if not v.flags.c_contiguous]
        if not_contiguous:
            raise ValueError(f"parameters {', '.join(not_contiguous)} are not C-contiguous arrays: "
                             "the solver updates them in place, block by block")
        self.params, self.loss_fn, self.predict_fn = params, loss_fn, predict_fn
        self.X, self.y, self.X_val, self.y_val = X, y, X_val, y_val
        self.rng = rng if rng is not None else np.random.default_rng()
        self.batches = self._batch_source(batches, len(y))
        self.augment, self.epoch_metrics = augment, epoch_metrics
        self.monitor = training.monitor_rows(len(y), monitor_size) if X_val is not None else None

    def _batch_source(self, batches, num_train: int):
        if isinstance(batches, str):
            if batches == "epoch":
                return training.epoch_batches(num_train, self.batch_size, self.num_iters, self.rng)
            return training.minibatches(self.rng, num_train, self.batch_size, self.num_iters,
                                        replace=batches == "replace")
        return training.check_batch_indices(batches, self.num_iters, self.batch_size, num_train)

    # ---- one step -------------------------------------------------------------------------

    def _step(self, grads: dict, lr: float) -> None:
        """Apply the update rule; with check_every_step, commit only finite parameters."""
        if self.check_every_step:
            new = {}
            for name, p in self.params.items():
                if self.update_rule == "sgd":
                    new[name] = p - lr * grads[name]
                else:
                    new[name] = p + (self.momentum * self.velocity[name] - lr * grads[name])
            if not _all_finite(new):
                raise FloatingPointError("the updated parameters are not finite")
            for name, value in new.items():
                if self.update_rule == "sgd_momentum":
                    self.velocity[name] = value - self.params[name]
                self.params[name] = value
            return
        for name, p in self.params.items():
            g = np.ascontiguousarray(grads[name])
            p_flat, g_flat, v_flat = p.reshape(-1), g.reshape(-1), self.velocity[name].reshape(-1)
            # Blocks small enough to stay in cache: p, v and grad are each read from
            # memory once per step, where whole-array ufuncs would read them 2-3 times.
            for start in range(0, p_flat.size, BLOCK):
                block = slice(start, start + BLOCK)
                gb = np.multiply(g_flat[block], -lr, out=self._scratch[:len(g_flat[block])])
                if self.update_rule == "sgd":
                    p_flat[block] += gb
                else:
                    vb = v_flat[block]
                    vb *= self.momentum
                    vb += gb
                    p_flat[block] += vb

    # ---- epochs ---------------------------------------------------------------------------

    def _accuracy(self, X, y) -> float:
        return float(np.mean(self.predict_fn(X) == y))

    def _record(self, iteration: int, epoch: float, lr: float) -> None:
        began = time.perf_counter()
        seconds = self.clock.train_seconds()
        try:  # a model whose scores overflow is broken: it is never scored
            train_acc = self._accuracy(self.X[self.monitor], self.y[self.monitor])
            val_acc = self._accuracy(self.X_val, self.y_val)
        except FloatingPointError as exc:
            raise self._diverged(iteration, str(exc)) from None
        metrics = self.epoch_metrics() if self.epoch_metrics else {}
        best = training.record_epoch(self.history, epoch, train_acc, val_acc, lr, seconds, metrics)
        if best:
            self.best_params = {k: v.copy() for k, v in self.params.items()}
        if self.verbose:
            print(training.epoch_line(self.history, metrics))
        self.clock.add_evaluation(began)

    def _diverged(self, iteration: int, what: str):
        kept_best = not self.check_every_step
        if kept_best:
            self.params.update({k: v.copy() for k, v in self.best_params.items()})
        return TrainingDivergedError(
            training.divergence_message(iteration, what, self.learning_rate, self.history, kept_best),
            iteration, self.history)

    def train(self) -> dict:
        """Run all steps; returns the history dict (see ``scratch_numpy.training.new_history``)."""
        validating = self.X_val is not None
        metric_names = self.epoch_metrics().keys() if validating and self.epoch_metrics else ()
        self.history = training.new_history(metric_names)
        self.best_params = {k: v.copy() for k, v in self.params.items()}
        self.velocity = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._scratch = np.empty(BLOCK, dtype=np.result_type(*self.params.values()))
        self.clock = training.TrainingClock()
        lr = self.learning_rate
        if validating:
            self._record(0, 0.0, lr)
        steps = progress(zip(range(self.num_iters), self.batches), self.label,
                         total=self.num_iters, enabled=self.progress)
        for it, idx in steps:
            lr = training.learning_rate_at(self.learning_rate, self.lr_decay, self.decay_every, it)
            X_batch = self.X[idx]
            if self.augment is not None:
                X_batch = self.augment(X_batch, self.rng)
            try:
                # Overflow shows as a non-finite loss below, not as a warning.
                with np.errstate(over="ignore", invalid="ignore"):
                    loss, grads = self.loss_fn(X_batch, self.y[idx])
                    if not np.isfinite(loss):
                        raise FloatingPointError(f"the loss is not finite ({loss})")
                    self._step(grads, lr)
            except FloatingPointError as exc:
                raise self._diverged(it, str(exc)) from None
            self.history["loss_history"].append(float(loss))
            if self.verbose and self.print_every and it % self.print_every == 0:
                print(f"iteration {it} / {self.num_iters}: loss {loss:f}")
            done = it + 1
            at_epoch_end = done % self.per_epoch == 0
            if at_epoch_end or done == self.num_iters:
                if not self.check_every_step and not _all_finite(self.params):
                    raise self._diverged(it, "the parameters are not finite")
                if validating:
                    next_lr = training.learning_rate_at(self.learning_rate, self.lr_decay,
                                                        self.decay_every, done)
                    self._record(it, done / self.per_epoch, next_lr)
                    if self._stop_requested():
                        break
        if validating:
            self.params.update(self.best_params)
        return self.history
