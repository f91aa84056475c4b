"""The two solvers: a broken network is never scored, kept or returned.

A network whose parameters turned NaN or infinite on the last step of an
epoch, or whose finite but huge weights make its scores overflow (W1 ~ 1e303
here), predicts class 0 for every row (argmax of NaN). Scored, that can beat the honest epochs (here: every validation label
is 0, so the broken net would score 1.0) and be kept as "best". Both solvers
must instead stop with TrainingDivergedError, keep the best finite epoch and
name the last finite one.

The per-epoch hook ``on_epoch(history) -> bool`` (how a sweep reports and is stopped)
is called after every epoch record but epoch 0's, stops training on a true return,
needs validation data, and reaches the two-layer trainers and
``scripts.configs.train_net_config``; a linear softmax on synthetic rows keeps those
tests free of CIFAR-10.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ref_torch import two_layer_net as torch_net
from ref_torch.softmax import softmax_loss
from ref_torch.solver import Solver as TorchSolver
from scratch_numpy.softmax import softmax_loss_core
from scratch_numpy.solver import Solver
from scratch_numpy import training
from scratch_numpy.training import TrainingDivergedError
from scratch_numpy.two_layer_net import TwoLayerNet

BREAK_AT = 2  # the step whose update breaks the network (the end of epoch 3)


@pytest.fixture
def rows(dev_batch):
    """100 training rows, one step per epoch (batch 100), validation labels all 0."""
    X, y = dev_batch
    return X[:100], y[:100], X[400:], np.zeros(100, dtype=np.int64)


def numpy_net_breaking_at(step: int, value: float) -> TwoLayerNet:
    """A net whose gradient of W1 at ``step`` is ``value`` everywhere (loss unchanged)."""
    net = TwoLayerNet(3072, 20, 10, std=1e-3, seed=0)
    original = net._loss_and_grads
    calls = iter(range(10**6))

    def loss_and_grads(X, y, reg):
        loss, grads = original(X, y, reg)
        if next(calls) == step:
            grads = dict(grads, W1=np.full_like(grads["W1"], value))
        return loss, grads

    net._loss_and_grads = loss_and_grads
    return net


class _ScaledGradient(torch.autograd.Function):
    """Identity forward; backward replaces the gradient by a constant."""

    @staticmethod
    def forward(ctx, x, value):
        ctx.value = value
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return torch.full_like(grad, ctx.value), None


def torch_loss_breaking_at(step: int, value: float, monkeypatch):
    """Patch the torch net's loss so that W1's gradient at ``step`` is ``value``."""
    original = torch_net.net_loss
    calls = iter(range(10**6))

    def net_loss(X, y, W1, b1, W2, b2, activation, reg):
        if next(calls) == step:
            W1 = _ScaledGradient.apply(W1, value)
        return original(X, y, W1, b1, W2, b2, activation, reg)

    monkeypatch.setattr(torch_net, "net_loss", net_loss)


def train(side, rows, monkeypatch, value):
    X, y, X_val, y_val = rows
    options = dict(learning_rate=1e-3, num_iters=6, batch_size=100, seed=0)
    if side == "numpy":
        net = numpy_net_breaking_at(BREAK_AT, value)
        start = {k: v.copy() for k, v in net.params.items()}
        call = lambda: net.train(X, y, X_val, y_val, **options)  # noqa: E731
        params = lambda: net.params  # noqa: E731
    else:
        torch_loss_breaking_at(BREAK_AT, value, monkeypatch)
        start = TwoLayerNet(3072, 20, 10, std=1e-3, seed=0).params
        module = torch_net.TwoLayerNet.from_numpy_params(start)
        call = lambda: torch_net.train_net(module, X, y, X_val, y_val, **options)  # noqa: E731
        params = module.numpy_params
    with pytest.raises(TrainingDivergedError) as info:
        call()
    return info.value, params()


@pytest.mark.parametrize("side", ["numpy", "torch"])
@pytest.mark.parametrize("value, what", [(np.inf, "parameters are not finite"),
                                         (np.nan, "parameters are not finite"),
                                         (1e306, "scores are not finite")],
                         ids=["inf", "nan", "overflowing-scores"])
def test_a_broken_network_is_never_scored_or_kept(side, rows, monkeypatch, value, what):
    error, params = train(side, rows, monkeypatch, value)
    history = error.history
    assert what in str(error)
    # Epochs 0..3 were finite (the update of step 2 ends epoch 3 and breaks the net):
    # epoch 3 is never recorded, and the error names epoch 2 as the last finite one.
    assert history["epochs"] == [0.0, 1.0, 2.0]
    assert "the last finite epoch was 2" in str(error)
    assert max(history["val_acc_history"]) < 1.0
    assert all(np.isfinite(p).all() for p in params.values())
    assert error.iteration == BREAK_AT


def test_both_sides_raise_the_same_error_type(rows, monkeypatch):
    errors = [train(side, rows, monkeypatch, np.inf)[0] for side in ("numpy", "torch")]
    assert type(errors[0]) is type(errors[1]) is TrainingDivergedError
    assert isinstance(errors[0], ValueError) and isinstance(errors[0], FloatingPointError)


@pytest.mark.parametrize("make", [Solver, TorchSolver], ids=["numpy", "torch"])
def test_solver_refuses_what_it_cannot_do(make):
    X = np.zeros((4, 2)) if make is Solver else torch.zeros(4, 2)
    y = np.zeros(4, dtype=np.int64) if make is Solver else torch.zeros(4, dtype=torch.int64)
    loss = lambda X_batch, y_batch: (0.0, {})  # noqa: E731
    with pytest.raises(ValueError, match="update_rule"):
        make({}, loss, X, y, update_rule="adam", check_every_step=True)
    with pytest.raises(ValueError, match="no best epoch"):
        make({}, loss, X, y)
    with pytest.raises(ValueError, match="batches"):
        make({}, loss, X, y, batches="shuffled", check_every_step=True)
    with pytest.raises(ValueError, match="learning_rate"):
        make({}, loss, X, y, learning_rate=0.0, check_every_step=True)
    with pytest.raises(ValueError, match="stop_at_val_acc"):
        make({}, loss, X, y, X, y, stop_at_val_acc="0.5")
    with pytest.raises(TypeError, match="learning_rat"):  # a misspelt option is not ignored
        make({}, loss, X, y, learning_rat=0.1, check_every_step=True)


# ---- the on_epoch hook --------------------------------------------------------------------

N, D, C, BATCH = 120, 8, 3, 20  # 6 steps per epoch


def synthetic(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N + 40, D))
    y = (X[:, :C].argmax(axis=1)).astype(np.int64)  # learnable: the largest of 3 features
    return X[:N], y[:N], X[N:], y[N:]


def numpy_solver(num_iters, **kwargs):
    X, y, X_val, y_val = synthetic()
    params = {"W": 1e-3 * np.random.default_rng(1).standard_normal((D, C))}

    def loss_fn(X_batch, y_batch):
        loss, dW = softmax_loss_core(params["W"], X_batch, y_batch, 0.0)
        return loss, {"W": dW}

    return Solver(params, loss_fn, X, y, X_val, y_val,
                  predict_fn=lambda X: (X @ params["W"]).argmax(axis=1), learning_rate=0.5,
                  batch_size=BATCH, num_iters=num_iters, rng=np.random.default_rng(0), **kwargs)


def torch_solver(num_iters, **kwargs):
    X, y, X_val, y_val = (torch.from_numpy(a) for a in synthetic())
    params = {"W": 1e-3 * torch.from_numpy(np.random.default_rng(1).standard_normal((D, C)))}
    return TorchSolver(params,
                       lambda p, X_batch, y_batch: softmax_loss(p["W"], X_batch, y_batch, 0.0),
                       X, y, X_val, y_val, predict_fn=lambda X: (X @ params["W"]).argmax(dim=1),
                       learning_rate=0.5, batch_size=BATCH, num_iters=num_iters,
                       generator=torch.Generator().manual_seed(0), **kwargs)


SOLVERS = {"numpy": numpy_solver, "torch": torch_solver}


@pytest.mark.parametrize("side", SOLVERS)
def test_on_epoch_sees_every_epoch_record_but_epoch_0(side):
    seen = []
    history = SOLVERS[side](4 * N // BATCH + 2, on_epoch=lambda h: seen.append(
        (h["epochs"][-1], h["val_acc_history"][-1], len(h["loss_history"])))).train()
    # 4 whole epochs, then the record after the last (partial) step.
    assert [epoch for epoch, _, _ in seen] == pytest.approx([1, 2, 3, 4, 4 + 2 / 6])
    assert [acc for _, acc, _ in seen] == history["val_acc_history"][1:]
    assert [steps for _, _, steps in seen] == [6, 12, 18, 24, 26]


@pytest.mark.parametrize("side", SOLVERS)
def test_a_true_return_stops_training_and_keeps_the_best_parameters(side):
    solver = SOLVERS[side](60, on_epoch=lambda h: h["epochs"][-1] >= 2)
    history = solver.train()
    assert history["epochs"] == [0.0, 1.0, 2.0]
    assert len(history["loss_history"]) == 12
    assert history["best_val_acc"] > 0.5  # it learned something in 2 epochs
    W, best = (torch.as_tensor(w).detach() for w in (solver.params["W"], solver.best_params["W"]))
    assert torch.equal(W, best)


@pytest.mark.parametrize("side", SOLVERS)
def test_an_error_raised_in_on_epoch_reaches_the_caller(side):
    class Stop(Exception):
        pass

    def stop(history):
        raise Stop

    with pytest.raises(Stop):
        SOLVERS[side](60, on_epoch=stop).train()


@pytest.mark.parametrize("side", SOLVERS)
def test_on_epoch_without_validation_data_is_refused(side):
    solver = SOLVERS[side](6)
    with pytest.raises(ValueError, match="on_epoch needs validation data"):
        type(solver)(solver.params, solver.loss_fn, solver.X, solver.y, check_every_step=True,
                     on_epoch=lambda h: False)


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_train_net_config_passes_on_epoch_and_can_raise_divergence(dev_batch):
    """Both backends of the command layer report each epoch; a diverging run is returned
    (default) or raised (``catch_divergence=False``, how a sweep records it)."""
    from dataclasses import replace

    from scratch_numpy.data import Splits
    from scripts.configs import NET_QUICK, train_net_config

    X, y = dev_batch
    X = X.astype(np.float32)
    rows = Splits(X[:400], y[:400], X[400:], y[400:], X[:0], y[:0], X[:0], y[:0])
    config = replace(NET_QUICK, hidden_size=10, batch_size=100, epochs=3)
    for backend in ("numpy", "torch"):
        epochs = []
        _, history = train_net_config(rows, config, backend=backend, progress=False,
                                      on_epoch=lambda h: epochs.append(h["epochs"][-1]))
        assert epochs == [1.0, 2.0, 3.0] == history["epochs"][1:]

    exploding = replace(config, learning_rate=1e3)
    _, history = train_net_config(rows, exploding, progress=False)
    assert len(history["loss_history"]) < 12
    with pytest.raises(TrainingDivergedError):
        train_net_config(rows, exploding, progress=False, catch_divergence=False)


def test_blocked_momentum_update_is_exactly_the_formula():
    # Parameters over several update blocks with a rest, and a small one: the in-place
    # blocked update gives v <- mu v - lr g; p <- p + v bit for bit, in float32.
    from scratch_numpy import solver as solver_module
    rng = np.random.default_rng(5)
    params = {"W": rng.standard_normal(2 * solver_module.BLOCK + 11).astype(np.float32),
              "b": rng.standard_normal(7).astype(np.float32)}
    grads = [{k: rng.standard_normal(v.shape).astype(np.float32) for k, v in params.items()}
             for _ in range(3)]
    X, y = np.zeros((4, 1)), np.zeros(4, dtype=int)
    updated = {k: v.copy() for k, v in params.items()}
    solver = Solver(updated, None, X, y, X, y, predict_fn=lambda X: np.zeros(len(X), dtype=int),
                    update_rule="sgd_momentum", learning_rate=0.1, momentum=0.9, batch_size=2,
                    num_iters=1)
    solver.velocity = {k: np.zeros_like(v) for k, v in updated.items()}  # as train() sets them up
    solver._scratch = np.empty(solver_module.BLOCK, dtype=np.float32)
    p, v = dict(params), {k: np.zeros_like(a) for k, a in params.items()}
    for g in grads:
        solver._step(g, 0.1)
        v = {k: np.float32(0.9) * v[k] - np.float32(0.1) * g[k] for k in v}
        p = {k: p[k] + v[k] for k in p}
    for name in params:
        np.testing.assert_array_equal(updated[name], p[name])
        np.testing.assert_array_equal(solver.velocity[name], v[name])


def _epoch_batches_up_front(num_train, batch_size, num_iters, rng):
    """The earlier implementation: every epoch's permutation drawn before step 1."""
    per_epoch = num_train // batch_size
    epochs = -(-num_iters // per_epoch)
    batches = [rng.permutation(num_train)[:per_epoch * batch_size].reshape(per_epoch, batch_size)
               for _ in range(epochs)]
    return np.concatenate(batches)[:num_iters]


@pytest.mark.parametrize("num_train, batch_size, num_iters", [(50, 10, 23), (49, 7, 14), (10, 10, 3)])
def test_epoch_batches_are_lazy_and_draw_what_up_front_drew(num_train, batch_size, num_iters):
    """The lazy batches are the very indices drawn up front before, and the generator ends in
    the same state (the flips it draws next are unchanged): training stays bit-identical."""
    lazy_rng, eager_rng = np.random.default_rng(7), np.random.default_rng(7)
    batches = training.epoch_batches(num_train, batch_size, num_iters, lazy_rng)
    assert not isinstance(batches, np.ndarray)  # a generator: nothing held for later epochs
    lazy = np.array(list(batches))
    np.testing.assert_array_equal(lazy, _epoch_batches_up_front(num_train, batch_size, num_iters,
                                                                eager_rng))
    assert lazy_rng.random() == eager_rng.random()


def test_a_thousand_epochs_hold_one_permutation_at_a_time():
    batches = training.epoch_batches(49_000, 200, 1000 * 245, np.random.default_rng(0))
    first = next(batches)
    assert first.shape == (200,) and first.base is not None and first.base.nbytes == 49_000 * 8
