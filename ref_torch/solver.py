"""The torch trainer: the NumPy solver's algorithm on cpu or cuda, written op for op.

Twin of ``scratch_numpy/solver.py`` (read its docstring for the contract): a
model is a dict of parameter tensors and ``loss_fn(params, X_batch, y_batch) ->``
scalar tensor (the parameters passed in, so that ``torch.func`` can differentiate it);
autograd gives the gradients and the solver owns batching, the update rule (``"sgd"``,
``"sgd_momentum"``: CS231n's ``v = momentum v - lr g; p += v``, not ``torch.optim``'s
momentum, which differs once the rate decays), the decay, the history, the best parameters
and divergence. The model-free bookkeeping (schedules, history record, divergence error) is
``scratch_numpy.training``, shared by both solvers.

On a GPU: the data stay on the device (the caller moves them once), minibatch
indices and flips are drawn there by a device generator, and the losses stay
there until an epoch ends (no host sync per step, unless ``check_every_step``
asks for one). The update is ``torch._fused_sgd_`` (``torch.optim.SGD(fused=True)``'s
kernel): the L2 gradient, the momentum and the step in one pass over each parameter, one
call for the decayed weights and one for the rest, instead of several kernels per
parameter; equal to the rule written one parameter at a time to a few ulps (tested).

``l2=(reg, names)``: the loss adds ``reg * sum_k |W_k|^2`` over those parameters and the
solver, not autograd, takes care of it (``loss_fn`` is then the data loss alone): the value
is the same sum of dot products ``ref_torch.layers.l2_term`` computes, and the gradient
``2 reg W`` is the fused update's weight decay, which spares autograd's fresh weight-sized
tensor per weight and step and a pass to add it.

``augment``: an object with ``draw(n, generator, device)`` (the random numbers of a
minibatch of n rows) and ``apply(X_batch, draws)`` (``two_layer_net.RandomFlips``).

``compile=True`` compiles the whole step with ``torch.compile``, as one graph (a graph break
is an error): gather the minibatch from the device-side permutation, apply the draws (drawn
outside: a generator's draw is one kernel), forward, backward (``torch.func.grad_and_value``),
the L2 term and the update, with the learning rate, reg and momentum as 0-d tensors (a
decayed rate, or a sweep's next trial, does not recompile). On CUDA it uses
``mode="reduce-overhead"``: one CUDA graph replays the step's kernels with one launch;
parameters, velocity and the training set are marked static so the graph reads and
writes them in place. With ``check_every_step`` only the loss is compiled. The history,
the divergence checks (on the device's losses, once an epoch) and the best-epoch
bookkeeping are the eager path's; the values agree to float rounding, not bit for bit (the
compiler fuses operations).
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

from ref_torch.layers import l2_term
from ref_torch.validation import all_finite
from scratch_numpy import training
from scratch_numpy.progress import progress
from scratch_numpy.training import TrainingDivergedError


COMPILED_VARIANTS = 64  # compiled step variants one process keeps (dynamo's recompile limit)


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
                 augment=None, monitor_size=1000,
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
        if augment is not None and not (callable(getattr(augment, "draw", None))
                                        and callable(getattr(augment, "apply", None))):
            raise TypeError("augment must have draw(n, generator, device) and "
                            f"apply(X_batch, draws), as two_layer_net.RandomFlips; got {augment!r}")
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
    def _checked_step(self, grads, lr: float) -> None:
        """check_every_step's update: computed aside, committed only when every parameter is
        finite (the arithmetic of ``_update``, one parameter at a time)."""
        names = list(self.params)
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

    @torch.no_grad()
    def _update(self, grads: list, lr: float) -> None:
        """The update of every parameter, the L2 gradient ``2 reg W`` of the decayed ones
        included, as one fused kernel per group (decayed or not): ``torch._fused_sgd_``, the
        kernel of ``torch.optim.SGD(fused=True)``, one pass over each parameter (after one over
        the gradients to scale them, with momentum).

        * sgd: ``p -= lr (g + 2 reg W)``;
        * sgd_momentum: ``v = momentum v - lr (g + 2 reg W); p += v``. The kernel's momentum
          is torch's (``b = momentum b + g'; p -= lr' b``); given ``g' = -lr g`` (the
          gradients, the solver's own, scaled in place), a decay ``-lr 2 reg`` and ``lr' = -1``
          it is exactly the rule above with ``b = v``: the velocity stays CS231n's, so a
          decayed rate applies to new gradients only, as on the NumPy side.
        """
        params, velocity = list(self.params.values()), list(self.velocity.values())
        # the kernel walks a gradient as if laid out like its parameter; autograd may return
        # another layout (a transposed or an expanded gradient)
        grads = [g if g.stride() == p.stride() else torch.empty_like(p).copy_(g)
                 for g, p in zip(grads, params)]
        momentum = self.update_rule == "sgd_momentum"
        if momentum:
            torch._foreach_mul_(grads, -lr)
        kernel_lr = -1.0 if momentum else lr
        decay = 2 * self.l2_reg * (-lr if momentum else 1.0)
        decayed = [name in self.l2_names for name in self.params]
        for weight_decay, in_group in ((decay, True), (0.0, False)):
            group = [i for i, d in enumerate(decayed) if d == in_group]
            if not group:
                continue
            torch._fused_sgd_(
                [params[i] for i in group], [grads[i] for i in group],
                [velocity[i] for i in group] if momentum and self.momentum else [],
                weight_decay=weight_decay, momentum=self.momentum if momentum else 0.0,
                lr=kernel_lr, dampening=0.0, nesterov=False, maximize=False, is_first_step=False)

    @torch.no_grad()
    def _l2_penalty(self) -> torch.Tensor:
        """``reg * sum_k |W_k|^2`` over the decayed weights (``l2_term``: a dot product each)."""
        return l2_term(self.l2_reg, *(self.params[name] for name in self.l2_names))

    def _mode(self):
        return "reduce-overhead" if self.device.type == "cuda" else None

    def _compiled_step(self):
        """One whole training step as one compiled function (see the module docstring):
        ``step(params, velocity, X, y, idx, draws, lr, reg, momentum) -> loss`` gathers the
        minibatch ``X[idx]`` on the device, applies the augmentation's ``draws``,
        differentiates the data loss with ``torch.func.grad_and_value``, and updates
        ``params`` and ``velocity`` in place (``_update``'s rule, the L2 gradient included);
        the loss it returns has the L2 value of the weights before the step. The rate, reg
        and momentum are 0-d tensors on the device: a decayed rate, or the next trial of a
        sweep, is a new value, not a new constant to compile for."""
        loss_fn, augment, decayed, sgd = self.loss_fn, self.augment, self.l2_names, \
            self.update_rule == "sgd"

        @torch.no_grad()  # torch.func differentiates inside; nothing outside records a graph
        def step(params, velocity, X, y, idx, draws, lr, reg, momentum):
            X_batch = X[idx] if augment is None else augment.apply(X[idx], draws)
            grads, loss = torch.func.grad_and_value(loss_fn)(params, X_batch, y[idx])
            # sum |W|^2 before the step, by rows then over rows: the compiler sums more than
            # 4096 float32 terms through a slower, compensated accumulator
            squares = [(params[name] * params[name]).sum(dim=-1).sum() for name in decayed]
            for name, p in params.items():
                # lr (g + 2 reg W) as lr g + (2 reg lr) W: "gradient + tensor" would become a
                # GEMM accumulating into a copy of 2 reg W, two extra passes over each weight
                delta = lr * grads[name] + (2 * reg * lr) * p if name in decayed else lr * grads[name]
                if sgd:
                    p.sub_(delta)
                else:
                    velocity[name].mul_(momentum).sub_(delta)
                    p.add_(velocity[name])
            return loss + reg * sum(squares) if squares else loss

        # one graph, or an error saying where it breaks: on CUDA a break would split the step's
        # CUDA graph in two with Python between
        return torch.compile(step, mode=self._mode(), dynamic=False, fullgraph=True)

    def _eager_step(self, it: int, idx, lr: float, loss_fn) -> None:
        """One step through autograd: the loss of the (augmented) minibatch, its gradients, the
        update (``_update``, or ``_checked_step`` with its per-step check)."""
        X_batch = self.X[idx]
        if self.augment is not None:
            X_batch = self.augment.apply(X_batch, self.augment.draw(len(idx), self.generator,
                                                                    self.device))
        loss = loss_fn(self.params, X_batch, self.y[idx])
        grads = list(torch.autograd.grad(loss, list(self.params.values())))
        if not self.check_every_step:
            penalty = self._l2_penalty() if self.l2_names else None  # before the step
            self._update(grads, lr)
            self._losses[it] = loss.detach() + penalty if self.l2_names else loss.detach()
            return
        if self.l2_names:  # the loss of this step, before its update may fail
            loss = self._add_l2(loss, grads)
        self._losses[it] = loss.detach()
        self._sync_losses(it + 1)
        if self.verbose and self.print_every and it % self.print_every == 0:
            print(f"iteration {it} / {self.num_iters}: loss {float(loss):f}")
        try:
            self._checked_step(grads, lr)
        except FloatingPointError as exc:
            raise self._diverged(it, str(exc)) from None

    def _add_l2(self, loss, grads: list) -> torch.Tensor:
        """check_every_step's L2 term: its value added to ``loss``, its gradient to ``grads``
        (``g + 2 reg W``: the rounding of autograd's on the whole loss)."""
        names = list(self.params)
        with torch.no_grad():
            for name in self.l2_names:
                i = names.index(name)
                grads[i] = grads[i] + self.params[name] * (2 * self.l2_reg)
            return loss.detach() + self._l2_penalty()

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
        """Run all steps; returns the history dict (``scratch_numpy.training.new_history``).
        The parameters require grad afterwards, as autograd's path leaves them."""
        validating = self.X_val is not None
        metric_names = self.epoch_metrics().keys() if validating and self.epoch_metrics else ()
        self.history = training.new_history(metric_names)
        # check_every_step keeps its eager step (it commits only finite parameters): only its
        # loss is compiled
        whole_step = self._compiled_step() if self.compile and not self.check_every_step else None
        loss_fn = torch.compile(self.loss_fn, mode=self._mode(), dynamic=False) \
            if self.compile and whole_step is None else self.loss_fn
        # torch.func differentiates the compiled step itself: parameters that required grad
        # would make the compiler write every update to a copy and copy it back
        for p in self.params.values():
            p.requires_grad_(whole_step is None)
        self.best_params = {k: p.detach().clone() for k, p in self.params.items()}
        self.velocity = {k: torch.zeros_like(p, requires_grad=False) for k, p in self.params.items()}
        # Losses stay on the device until an epoch ends: no host sync per step.
        first = next(iter(self.params.values()))
        self._losses = torch.empty(self.num_iters, dtype=first.dtype, device=self.device)
        self._synced = 0
        self.clock = training.TrainingClock()
        try:
            if validating:
                self._record(0, 0.0, self.learning_rate)
            # each architecture, dtype and batch size is a variant of the compiled step: a sweep
            # trains many in one process, and past dynamo's default of 8 it runs them eagerly
            limit = max(torch._dynamo.config.recompile_limit, COMPILED_VARIANTS)
            with torch._dynamo.config.patch(recompile_limit=limit):
                self._run(whole_step, loss_fn, validating)
        finally:
            for p in self.params.values():
                p.requires_grad_(True)
        if validating:
            self._restore_best()
        return self.history

    def _run(self, whole_step, loss_fn, validating: bool) -> None:
        """The steps, with the end-of-epoch checks and records; stops early on request."""
        lr, reg, momentum = (torch.tensor(value, dtype=self._losses.dtype, device=self.device)
                             for value in (0.0, self.l2_reg, self.momentum))
        cuda_graphs = whole_step is not None and self.device.type == "cuda"
        if cuda_graphs:
            # Fixed addresses let a CUDA graph read the data and write the parameters where they
            # are (a graph is not used for a function that mutates inputs it must copy, and the
            # training set would be copied in at every replay). Unguarded: a sweep's next trial,
            # with tensors of its own, re-records the graph; it does not recompile.
            for tensor in (*self.params.values(), *self.velocity.values(), self.X, self.y,
                           lr, reg, momentum):
                torch._dynamo.mark_static_address(tensor)
        steps = progress(zip(range(self.num_iters), self.batches), self.label,
                         total=self.num_iters, enabled=self.progress)
        for it, idx in steps:
            rate = training.learning_rate_at(self.learning_rate, self.lr_decay, self.decay_every, it)
            if whole_step is not None:
                draws = (None if self.augment is None
                         else self.augment.draw(len(idx), self.generator, self.device))
                lr.fill_(rate)  # a value, not a new constant: no recompile
                if cuda_graphs:  # the last step's outputs are read: the next replay may reuse them
                    torch.compiler.cudagraph_mark_step_begin()
                self._losses[it] = whole_step(self.params, self.velocity, self.X, self.y, idx,
                                              draws, lr, reg, momentum)
            else:
                self._eager_step(it, idx, rate, loss_fn)
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
                        return
