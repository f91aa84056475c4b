"""The torch twins' training step: the fast paths compute what the plain ones did.

* the fused update (L2 gradient, momentum and step in one kernel) is the update rule
  written one parameter at a time, to a few ulps;
* the L2 term's gradient (one dot product, one multiplication) is bit-identical to
  autograd's of ``reg * (W * W).sum()``, its value equal to rounding;
* flips by a select are bit-identical to flips by a masked assignment, and to the compiled
  step's flips by index;
* ``compile=True`` trains to the eager path's history and parameters within float32
  rounding, raises the same divergence error, and works for the linear classifiers.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch._dynamo.utils import counters

from ref_torch.fc_net import FullyConnectedNet, train_fc_net
from ref_torch.layers import l2_term
from ref_torch.linear_classifier import TorchLinearSVM
from ref_torch.solver import Solver
from ref_torch.two_layer_net import RandomFlips, TwoLayerNet, _flip_rows, random_flips, train_net
from scratch_numpy.training import TrainingDivergedError


def tensors(seed, shapes, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=gen, dtype=dtype) for s in shapes]


SHAPES = [(30, 20), (20,), (20, 10), (10,)]


def per_parameter_update(params, velocity, grads, rule, lr, momentum, reg, decayed):
    """The update rule written out, one parameter at a time, with autograd's L2 gradient."""
    params, velocity = [p.clone() for p in params], [v.clone() for v in velocity]
    for p, v, g, d in zip(params, velocity, grads, decayed):
        g = g + p * (2 * reg) if d else g
        if rule == "sgd":
            p.sub_(lr * g)
        else:
            v.mul_(momentum)
            v.sub_(lr * g)
            p.add_(v)
    return params, velocity


def fused_update(params, velocity, grads, rule, lr, momentum, reg, decayed):
    """The solver's update of copies of ``params`` and ``velocity``."""
    solver = Solver.__new__(Solver)
    solver.update_rule, solver.momentum, solver.l2_reg = rule, momentum, reg
    solver.params = {str(i): p.clone() for i, p in enumerate(params)}
    solver.velocity = {str(i): v.clone() for i, v in enumerate(velocity)}
    solver.l2_names = tuple(str(i) for i, d in enumerate(decayed) if d)
    solver._update([g.clone() for g in grads], lr)
    return list(solver.params.values()), list(solver.velocity.values())


@pytest.mark.parametrize("rule,momentum", [("sgd", 0.0), ("sgd_momentum", 0.9),
                                           ("sgd_momentum", 0.0)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_fused_update_is_the_rule_to_rounding_and_a_wrong_rule_fails(rule, momentum, dtype,
                                                                         device):
    """Fused (decay, momentum and step in one pass) against one parameter at a time: the
    same arithmetic up to the kernel's fused multiply-adds, so equal to a few ulps; a rule
    that forgets the L2 gradient, or the momentum, is far outside that tolerance."""
    params, grads, velocity = ([t.to(device) for t in tensors(s, SHAPES, dtype)] for s in (1, 2, 3))
    velocity = [v * 1e-2 for v in velocity]
    lr, reg, decayed = 3e-2, 0.5, [True, False, True, False]
    got = fused_update(params, velocity, grads, rule, lr, momentum, reg, decayed)
    want = per_parameter_update(params, velocity, grads, rule, lr, momentum, reg, decayed)
    tol = dict(rtol=4 * torch.finfo(dtype).eps, atol=4 * torch.finfo(dtype).eps)
    compared = (got[0] + got[1], want[0] + want[1]) if momentum else (got[0], want[0])
    for got_t, want_t in zip(*compared):  # (a velocity without momentum is never read)
        torch.testing.assert_close(got_t, want_t, **tol)
    wrong = [per_parameter_update(params, velocity, grads, rule, lr, momentum, 0.0, decayed)]
    if momentum:
        wrong.append(per_parameter_update(params, velocity, grads, rule, lr, 0.5, reg, decayed))
    for wrong_p, _ in wrong:
        with pytest.raises(AssertionError):
            for got_t, wrong_t in zip(got[0], wrong_p):
                torch.testing.assert_close(got_t, wrong_t, **tol)


def plain_momentum_training(loss, start: dict, X, y, order, lr=1e-2, momentum=0.9):
    """The rule written out with autograd on the whole ``loss(params, X_batch, y_batch)``, one
    parameter at a time, over the minibatches ``order``: (parameters after, each step's loss)."""
    plain = {k: v.detach().clone().requires_grad_() for k, v in start.items()}
    velocity = {k: torch.zeros_like(v) for k, v in plain.items()}
    losses = []
    for idx in torch.as_tensor(order):
        total = loss(plain, X[idx], y[idx])
        losses.append(float(total.detach()))
        with torch.no_grad():
            for (name, p), g in zip(plain.items(), torch.autograd.grad(total, list(plain.values()))):
                velocity[name].mul_(momentum).sub_(lr * g)
                p.add_(velocity[name])
    return {k: p.detach() for k, p in plain.items()}, losses


def test_the_fused_update_takes_gradients_in_any_layout():
    """autograd may return a transposed gradient (``W.t()`` in the loss) or an expanded one
    (``c.sum()``); the fused kernel walks a gradient as if laid out like its parameter, so the
    solver hands it one so laid out. Trained against the rule written out with autograd."""
    X, y, X_val, y_val = small_problem(200)
    order = np.arange(200).reshape(2, 100)

    def loss(p, X_b, y_b):
        return F.cross_entropy(X_b @ p["W"].t() + p["b"], y_b) + 1e-2 * p["c"].sum()

    gen = torch.Generator().manual_seed(2)
    start = {"W": 1e-3 * torch.randn(10, 3072, generator=gen), "b": torch.zeros(10),
             "c": torch.ones(3)}
    params = {k: v.clone() for k, v in start.items()}
    on_epoch, snapshots = epoch_snapshots(params)
    Solver(params, loss, X, y, X_val, y_val, predict_fn=lambda rows: (rows @ params["W"].t()).argmax(1),
           update_rule="sgd_momentum", momentum=0.9, learning_rate=1e-2, batch_size=100,
           num_iters=2, batches=order, l2=(0.1, ("W",)), on_epoch=on_epoch).train()
    plain, _ = plain_momentum_training(
        lambda p, X_b, y_b: loss(p, X_b, y_b) + 0.1 * (p["W"] * p["W"]).sum(), start, X, y, order)
    for name in start:
        torch.testing.assert_close(snapshots[-1][name], plain[name], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_l2_gradient_is_bit_identical_and_its_value_equal_to_rounding(dtype):
    weights = tensors(4, [(300, 100), (100, 10)], dtype)
    reg = 3e-3
    mine = [w.clone().requires_grad_() for w in weights]
    plain = [w.clone().requires_grad_() for w in weights]
    value = l2_term(reg, *mine)
    reference = reg * sum((w * w).sum() for w in plain)
    for got, want in zip(torch.autograd.grad(value, mine), torch.autograd.grad(reference, plain)):
        assert torch.equal(got, want)
    rtol = 1e-6 if dtype == torch.float32 else 1e-14
    assert abs(float(value.detach()) - float(reference.detach())) <= rtol * float(reference.detach())
    assert l2_term(0.0, *mine) == 0.0


def test_flips_by_select_equal_flips_by_masked_assignment():
    X = tensors(5, [(16, 3072)])[0]
    mask = torch.rand(16, generator=torch.Generator().manual_seed(9)) < 0.5
    old = X.clone()
    old[mask] = _flip_rows(old[mask])
    assert torch.equal(random_flips(X.clone(), torch.Generator().manual_seed(9)), old)


def test_an_augment_without_draw_and_apply_is_refused():
    X, y, _, _ = small_problem(200)
    with pytest.raises(TypeError, match=r"draw\(n, generator, device\).*RandomFlips"):
        Solver({}, lambda p, X_b, y_b: 0.0, X, y, augment=random_flips, check_every_step=True)


def test_compiled_flips_equal_eager_flips():
    """The compiled step reads flipped pixels by index, the eager one selects a flipped copy."""
    X = tensors(6, [(16, 3072)])[0]
    flips = torch.rand(16, generator=torch.Generator().manual_seed(3)) < 0.5
    assert flips.any() and not flips.all()
    assert torch.equal(torch.compile(RandomFlips.apply)(X, flips), RandomFlips.apply(X, flips))
    assert not torch.equal(RandomFlips.apply(X, flips), X)


def small_problem(rows=400, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(rows, 3072, generator=gen)
    y = torch.randint(10, (rows,), generator=gen)
    return X, y, X[:100], y[:100]


def epoch_snapshots(params: dict):
    """(on_epoch hook, list): the list holds a copy of ``params`` as they start, and the hook
    appends one after every epoch, so that a test compares the trained parameters, not the
    best epoch's the solver restores."""
    snapshots = [{name: p.detach().clone() for name, p in params.items()}]

    def on_epoch(history) -> bool:
        snapshots.append({name: p.detach().clone() for name, p in params.items()})
        return False

    return on_epoch, snapshots


def train_small(compile, lr=1e-2, num_iters=6, model="fc", reg=1e-3, momentum=0.9, device="cpu"):
    """(net, history, parameters after the last epoch)."""
    X, y, X_val, y_val = small_problem()
    kwargs = dict(learning_rate=lr, num_iters=num_iters, batch_size=100, momentum=momentum,
                  seed=0, augment_flip=True, monitor_size=100, compile=compile)
    if model == "fc":
        net = FullyConnectedNet([40, 30], 3072, 10, reg=reg, seed=0, device=device)
        on_epoch, snapshots = epoch_snapshots(net.param_dict)
        history = train_fc_net(net, X, y, X_val, y_val, on_epoch=on_epoch, **kwargs)
    else:
        net = TwoLayerNet(3072, 40, 10, std=1e-2, seed=0, device=device)
        on_epoch, snapshots = epoch_snapshots(dict(net.named_parameters()))
        history = train_net(net, X, y, X_val, y_val, reg=reg, on_epoch=on_epoch, **kwargs)
    return net, history, snapshots


@pytest.mark.parametrize("model", ["fc", "two_layer"])
def test_compiled_training_matches_eager_training(model, device):
    """The parameters after the last epoch (not the best epoch's, which the solver restores)
    and every loss. On CUDA the compiled step is a CUDA graph replayed once per step: none
    skipped."""
    _, eager, eager_snapshots = train_small(False, model=model, device=device)
    skips = counters["inductor"]["cudagraph_skips"]
    _, compiled, compiled_snapshots = train_small(True, model=model, device=device)
    assert counters["inductor"]["cudagraph_skips"] == skips
    assert compiled.keys() == eager.keys()
    np.testing.assert_allclose(compiled["loss_history"], eager["loss_history"], rtol=1e-4)
    assert len(compiled["val_acc_history"]) == len(eager["val_acc_history"])
    for name, p in eager_snapshots[-1].items():
        assert not torch.equal(p, eager_snapshots[0][name]), name  # trained: a real comparison
        torch.testing.assert_close(compiled_snapshots[-1][name], p, rtol=1e-4, atol=1e-6, msg=name)


def test_the_next_trial_of_a_sweep_reuses_the_compiled_step(device):
    """A new rate, reg or momentum is a value of the compiled step, not a recompilation; the
    parameters require grad again afterwards, as after eager training."""
    train_small(True, device=device)
    with torch._dynamo.config.patch(error_on_recompile=True):
        net, _, _ = train_small(True, lr=3e-2, reg=5e-2, momentum=0.5, device=device)
    assert all(p.requires_grad for p in net.parameters())


@pytest.mark.parametrize("rule", ["sgd", "sgd_momentum"])
def test_the_compiled_step_follows_the_solvers_rule_and_decay(rule, device):
    """Straight through ``Solver``: both update rules, an L2 term on one parameter and a
    rate halved every epoch, compiled against eager."""
    X, y, X_val, y_val = (t.to(device) for t in small_problem(200))

    def run(compile):
        gen = torch.Generator().manual_seed(1)
        params = {"W": 1e-3 * torch.randn(3072, 10, generator=gen).to(device),
                  "b": torch.zeros(10, device=device)}
        on_epoch, snapshots = epoch_snapshots(params)
        solver = Solver(params, lambda p, X_b, y_b: F.cross_entropy(X_b @ p["W"] + p["b"], y_b),
                        X, y, X_val, y_val, predict_fn=lambda rows: (rows @ params["W"]).argmax(1),
                        update_rule=rule, momentum=0.9, learning_rate=1e-2, lr_decay=0.5,
                        batch_size=50, num_iters=12, l2=(0.1, ("W",)),
                        generator=torch.Generator(device=device).manual_seed(0), compile=compile,
                        on_epoch=on_epoch)
        return solver.train(), snapshots[-1]  # the last epoch's, not the best one's

    (eager, eager_params), (compiled, compiled_params) = run(False), run(True)
    np.testing.assert_allclose(compiled["loss_history"], eager["loss_history"], rtol=1e-5)
    for name in eager_params:
        torch.testing.assert_close(compiled_params[name], eager_params[name], rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_compiled_training_diverges_as_eager_training_does():
    for compile in (False, True):
        with pytest.raises(TrainingDivergedError, match="not finite"):
            train_small(compile, lr=1e12, num_iters=8)


@pytest.mark.slow
def test_a_compiled_linear_classifier_matches_the_eager_one():
    X, y, _, _ = small_problem(200)
    losses = {}
    for compile in (False, True):
        clf = TorchLinearSVM()
        losses[compile] = clf.train(X.numpy()[:, :100], y.numpy(), num_iters=5, seed=0,
                                    compile=compile)
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-5)


def test_the_solvers_l2_trains_as_autograd_on_the_whole_loss_does():
    """The solver adds the L2 gradient itself (inside the fused update) and its value apart;
    parameters and losses after training equal, to float32 rounding, those of the plain loop
    that differentiates data loss + reg * sum |W|^2 with autograd. Without the L2 term the
    same comparison fails."""
    from ref_torch.fc_net import fc_loss
    X, y, X_val, y_val = small_problem()
    order = np.arange(400).reshape(4, 100)

    def solver_run(reg):
        net = FullyConnectedNet([40, 30], 3072, 10, reg=reg, seed=0)
        on_epoch, snapshots = epoch_snapshots(net.param_dict)
        history = train_fc_net(net, X, y, X_val, y_val, learning_rate=1e-2, num_iters=4,
                               batch_size=100, momentum=0.9, batch_indices=order, monitor_size=100,
                               on_epoch=on_epoch)
        return snapshots[-1], history["loss_history"]  # the last epoch's, not the best one's

    plain, plain_losses = plain_momentum_training(
        lambda p, X_b, y_b: fc_loss(X_b, y_b, p, "relu", 1e-2),
        FullyConnectedNet([40, 30], 3072, 10, seed=0).param_dict, X, y, order)

    def agree(params, losses):
        np.testing.assert_allclose(losses, plain_losses, rtol=1e-6)
        for name, p in params.items():
            torch.testing.assert_close(p, plain[name], rtol=1e-5, atol=1e-7)

    agree(*solver_run(1e-2))
    with pytest.raises(AssertionError):
        agree(*solver_run(0.0))
