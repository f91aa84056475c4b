"""The torch trainer: the NumPy solver's algorithm on cpu or cuda, written op for op.

Twin of ``scratch_numpy/solver.py`` (read its docstring for the contract): a
model is a dict of parameter tensors and ``loss_fn(X_batch, y_batch) ->``
scalar tensor; autograd gives the gradients and the solver owns batching, the
update rule (``"sgd"``, ``"sgd_momentum"``, written out rather than
``torch.optim`` so that each step is the NumPy side's arithmetic), the decay,
the history, the best parameters and divergence. The model-free bookkeeping
(schedules, history record, divergence error) is ``scratch_numpy.training``,
shared by both solvers.

On a GPU: the data stay on the device (the caller moves them once), minibatch
indices and flips are drawn there by a device generator, and the losses stay
there until an epoch ends (no host sync per step, unless ``check_every_step``
asks for one). The update of every parameter is one ``torch._foreach_*`` call per
arithmetic operation (the same operations, in the same order, as one parameter at a
time: the results are bit-identical, tested), not a few small kernels per parameter.

``l2=(reg, names)``: the loss adds ``reg * sum_k |W_k|^2`` over those parameters and the
solver, not autograd, takes care of it (``loss_fn`` is then the data loss alone): the value
is the same sum of dot products ``ref_torch.layers.l2_term`` computes, and the gradient
``2 reg W`` is written into a buffer allocated once and added in place to autograd's, which
is bit-identical to autograd's own accumulation and spares a fresh weight-sized tensor (and
the kernel zeroing its pages) per weight and step.

``compile=True`` compiles the step with ``torch.compile``: the loss (its backward too,
through AOTAutograd) as one function of the minibatch, and the update as another of the
learning rate given as a tensor (so a decayed rate does not recompile), with the L2 term's
gradient and value fused into its pass over the weights; the minibatch gather and flips
stay eager (a few kernels). On CUDA both use ``mode="reduce-overhead"``: CUDA graphs replay
each step's kernels in one launch. With ``check_every_step`` only the loss is compiled. The
history, the divergence checks and the best-epoch bookkeeping are the eager path's; the
values agree to float rounding, not bit for bit (the compiler fuses operations).
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

from ref_torch.validation import all_finite
from scratch_numpy import training
from scratch_numpy.progress import progress
from scratch_numpy.training import TrainingDivergedError


def _all_finite(tensors) -> bool:
    return all(all_finite(t) for t in tensors)


class Solver(training.SolverOptions):
    """Minibatch SGD on ``params`` (name -> tensor) with the loss ``loss_fn``.

    Same arguments as ``scratch_numpy.solver.Solver``, except: X, y, X_val,
    y_val are tensors on the training device; ``generator`` is a
    ``torch.Generator`` (for ``"epoch"`` sampling and augmentation: on that
    device; ``"replace"``/``"distinct"`` draw on the generator's own device);
    ``batches`` may also be an iterable of index arrays, consumed lazily.
    """

    def __init__(self, params: dict, loss_fn: Callable, X, y, X_val=None, y_val=None, *,
                 predict_fn: Callable | None = None, batches="epoch", generator=None,
                 augment: Callable | None = None, monitor_size=1000,
                 epoch_metrics: Callable[[], dict] | None = None, compile: bool = False,
                 l2: tuple[float, tuple[str, ...]] | None = None, **options):
        self._set_options(X.shape[0], None if X_val is None else X_val.shape[0],
                          batches=batches, **options)
        self.params, self.loss_fn, self.predict_fn = params, loss_fn, predict_fn
        self.X, self.y, self.X_val, self.y_val = X, y, X_val, y_val
        self.device = X.device
        self.num_train = X.shape[0]
        self.generator = generator if generator is not None else torch.Generator(device=self.device)
        self.batches = self._batch_source(batches)
        self.augment, self.epoch_metrics = augment, epoch_metrics
        self.compile = bool(compile)
        self.l2_reg, self.l2_names = l2 if l2 is not None and l2[0] != 0 else (0.0, ())
        self.monitor = (torch.as_tensor(training.monitor_rows(self.num_train, monitor_size),
                                        device=self.device) if X_val is not None else None)

    # ---- batches --------------------------------------------------------------------------

    def _batch_source(self, batches):
        if isinstance(batches, str):
            if batches != "epoch":
                training.check_batch_size(self.num_train, self.batch_size, batches == "replace")
            return (self._sample(batches, it) for it in range(self.num_iters))
        if hasattr(batches, "shape"):  # one array of every step's indices
            indices = training.check_batch_indices(np.asarray(batches), self.num_iters,
                                                   self.batch_size, self.num_train)
            return iter(torch.as_tensor(indices, device=self.device))
        return (torch.as_tensor(np.asarray(idx), device=self.device) for idx in batches)

    def _sample(self, sampler: str, it: int) -> torch.Tensor:
        gen = self.generator
        if sampler == "replace" or (sampler == "epoch" and self.batch_size > self.num_train):
            idx = torch.randint(self.num_train, (self.batch_size,), generator=gen, device=gen.device)
        elif sampler == "distinct":
            idx = torch.randperm(self.num_train, generator=gen, device=gen.device)[:self.batch_size]
        else:  # a fresh permutation each epoch, cut into consecutive batches
            if it % self.per_epoch == 0:
                self._order = torch.randperm(self.num_train, generator=gen, device=gen.device)
            start = (it % self.per_epoch) * self.batch_size
            idx = self._order[start:start + self.batch_size]
        return idx.to(self.device)

    # ---- one step -------------------------------------------------------------------------

    @torch.no_grad()
    def _step(self, grads, lr: float) -> None:
        """Apply the update rule; with check_every_step, commit only finite parameters."""
        names = list(self.params)
        if self.check_every_step:
            if self.update_rule == "sgd":
                # add(alpha=-lr), torch.optim.SGD's arithmetic for a plain step.
                new = [torch.add(self.params[n], g, alpha=-lr) for n, g in zip(names, grads)]
            else:
                new = [self.params[n] + (self.momentum * self.velocity[n] - lr * g)
                       for n, g in zip(names, grads)]
            if not _all_finite(new):
                raise FloatingPointError("the updated parameters are not finite")
            for name, value in zip(names, new):
                if self.update_rule == "sgd_momentum":
                    self.velocity[name] = value - self.params[name]
                self.params[name] = value.requires_grad_(True)
            return
        self._update(list(self.params.values()), list(self.velocity.values()), list(grads), lr)

    def _update(self, params: list, velocity: list, grads: list, lr) -> None:
        """The update of every parameter at once: ``p -= lr * g`` (sgd) or ``v = momentum * v
        - lr * g; p += v`` (sgd_momentum), each operation one foreach call over the list
        (``grads`` are used up: scaled in place)."""
        if self.update_rule == "sgd":
            torch._foreach_add_(params, grads, alpha=-lr)
            return
        torch._foreach_mul_(velocity, self.momentum)
        torch._foreach_mul_(grads, lr)  # the gradients are the solver's own: no temporary
        torch._foreach_sub_(velocity, grads)
        torch._foreach_add_(params, velocity)

    def _mode(self):
        return "reduce-overhead" if self.device.type == "cuda" else None

    def _compiled_update(self):
        """The update compiled (see the module docstring); it takes the learning rate as a
        0-d tensor on the device and returns the L2 term's ``sum |W|^2`` before the step (0
        without ``l2``), read in the update's own pass over the weights."""
        momentum, sgd = self.momentum, self.update_rule == "sgd"
        decayed = [name in self.l2_names for name in self.params]
        twice_reg = 2 * self.l2_reg

        @torch.no_grad()
        def update(params, velocity, grads, lr):
            # sum |W|^2 of the weights before the step, read in the same pass as the update
            squares = sum((p * p).sum() for p, d in zip(params, decayed) if d)
            grads = [g + twice_reg * p if d else g for g, p, d in zip(grads, params, decayed)]
            scaled = torch._foreach_mul(grads, lr)
            if sgd:
                torch._foreach_sub_(params, scaled)
            else:
                torch._foreach_mul_(velocity, momentum)
                torch._foreach_sub_(velocity, scaled)
                torch._foreach_add_(params, velocity)
            return squares

        return torch.compile(update, mode=self._mode(), dynamic=False)

    def _add_l2(self, loss, grads: list, buffers: dict) -> torch.Tensor:
        """The L2 term's value added to ``loss`` and its gradient ``2 reg W`` to ``grads``
        (in place, through ``buffers``: the rounding of autograd's ``g + 2 reg W``)."""
        names = list(self.params)
        with torch.no_grad():
            total = sum(torch.dot(self.params[n].reshape(-1), self.params[n].reshape(-1))
                        for n in self.l2_names)
            for name in self.l2_names:
                torch.mul(self.params[name], 2 * self.l2_reg, out=buffers[name])
                grads[names.index(name)].add_(buffers[name])
        return loss.detach() + self.l2_reg * total

    # ---- epochs ---------------------------------------------------------------------------

    @torch.no_grad()
    def _accuracy(self, X, y) -> float:
        return float((self.predict_fn(X) == y).double().mean())

    def _record(self, iteration: int, epoch: float, lr: float) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)  # queued kernels belong to the training time
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
            with torch.no_grad():
                for name, p in self.params.items():
                    self.best_params[name].copy_(p)
        if self.verbose:
            print(training.epoch_line(self.history, metrics))
        self.clock.add_evaluation(began)

    def _restore_best(self) -> None:
        with torch.no_grad():
            for name, p in self.params.items():
                p.copy_(self.best_params[name])

    def _diverged(self, iteration: int, what: str) -> TrainingDivergedError:
        kept_best = not self.check_every_step
        if kept_best:
            self._restore_best()
        return TrainingDivergedError(
            training.divergence_message(iteration, what, self.learning_rate, self.history, kept_best),
            iteration, self.history)

    def _sync_losses(self, upto: int) -> None:
        """Copy the device-side losses of steps ``synced..upto-1`` to the history;
        raise at the first non-finite one."""
        chunk = self._losses[self._synced:upto]
        bad = torch.nonzero(~torch.isfinite(chunk))
        if len(bad):
            first = int(bad[0])
            self.history["loss_history"].extend(chunk[:first].tolist())
            raise self._diverged(self._synced + first,
                                 f"the loss is not finite ({float(chunk[first])})")
        self.history["loss_history"].extend(chunk.tolist())
        self._synced = upto

    def train(self) -> dict:
        """Run all steps; returns the history dict (``scratch_numpy.training.new_history``)."""
        validating = self.X_val is not None
        metric_names = self.epoch_metrics().keys() if validating and self.epoch_metrics else ()
        self.history = training.new_history(metric_names)
        for p in self.params.values():
            p.requires_grad_(True)
        self.best_params = {k: p.detach().clone() for k, p in self.params.items()}
        self.velocity = {k: torch.zeros_like(p, requires_grad=False) for k, p in self.params.items()}
        # Losses stay on the device until an epoch ends: no host sync per step.
        first = next(iter(self.params.values()))
        self._losses = torch.empty(self.num_iters, dtype=first.dtype, device=self.device)
        self._synced = 0
        self.clock = training.TrainingClock()
        if validating:
            self._record(0, 0.0, self.learning_rate)
        steps = progress(zip(range(self.num_iters), self.batches), self.label,
                         total=self.num_iters, enabled=self.progress)
        # check_every_step keeps its eager update (it commits only finite parameters)
        compiled = self.compile and not self.check_every_step
        loss_fn = torch.compile(self.loss_fn, mode=self._mode(), dynamic=False) \
            if self.compile else self.loss_fn
        update = self._compiled_update() if compiled else None
        if compiled and self.device.type == "cuda":
            # The update writes into these in place: fixed addresses let CUDA graphs replay it
            # (a graph is not used for a function that mutates inputs it must copy).
            for tensor in (*self.params.values(), *self.velocity.values()):
                torch._dynamo.mark_static_address(tensor)
        lr_tensor = torch.zeros((), dtype=first.dtype, device=self.device)
        # the compiled update adds the L2 gradient itself, fused
        l2_buffers = {} if compiled else {n: torch.empty_like(self.params[n])
                                          for n in self.l2_names}
        for it, idx in steps:
            lr = training.learning_rate_at(self.learning_rate, self.lr_decay, self.decay_every, it)
            X_batch = self.X[idx]
            if self.augment is not None:
                X_batch = self.augment(X_batch, self.generator)
            loss = loss_fn(X_batch, self.y[idx])
            grads = list(torch.autograd.grad(loss, list(self.params.values())))
            if self.l2_names and not compiled:
                loss = self._add_l2(loss, grads, l2_buffers)
            if self.check_every_step:  # the loss of this step before its update may fail
                self._losses[it] = loss.detach()
                self._sync_losses(it + 1)
                if self.verbose and self.print_every and it % self.print_every == 0:
                    print(f"iteration {it} / {self.num_iters}: loss {float(loss):f}")
            try:
                if compiled:
                    lr_tensor.fill_(lr)  # a value, not a new constant: no recompile
                    squares = update(list(self.params.values()), list(self.velocity.values()),
                                     grads, lr_tensor)
                    loss = loss.detach() + self.l2_reg * squares if self.l2_names else loss
                else:
                    self._step(grads, lr)
            except FloatingPointError as exc:
                raise self._diverged(it, str(exc)) from None
            if not self.check_every_step:
                self._losses[it] = loss.detach()
            done = it + 1
            if done % self.per_epoch == 0 or done == self.num_iters:
                self._sync_losses(done)
                if not self.check_every_step and not _all_finite(self.params.values()):
                    raise self._diverged(it, "the parameters are not finite")
                if validating:
                    next_lr = training.learning_rate_at(self.learning_rate, self.lr_decay,
                                                        self.decay_every, done)
                    self._record(it, done / self.per_epoch, next_lr)
                    if self._stop_requested():
                        break
        if validating:
            self._restore_best()
        return self.history
