"""The torch twins' training step: the fast paths compute what the plain ones did.

* the foreach update is bit-identical to one parameter at a time (sgd and momentum);
* the L2 term's gradient (one dot product, one multiplication) is bit-identical to
  autograd's of ``reg * (W * W).sum()``, its value equal to rounding;
* flips by a select are bit-identical to flips by a masked assignment;
* ``compile=True`` trains to the eager path's history and parameters within float32
  rounding, raises the same divergence error, and works for the linear classifiers.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ref_torch.fc_net import FullyConnectedNet, train_fc_net
from ref_torch.layers import l2_term
from ref_torch.linear_classifier import TorchLinearSVM
from ref_torch.solver import Solver
from ref_torch.two_layer_net import TwoLayerNet, _flip_rows, random_flips, train_net
from scratch_numpy.training import TrainingDivergedError


def tensors(seed, shapes, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=gen, dtype=dtype) for s in shapes]


SHAPES = [(30, 20), (20,), (20, 10), (10,)]


@pytest.mark.parametrize("rule", ["sgd", "sgd_momentum"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_foreach_update_is_bit_identical_to_one_parameter_at_a_time(rule, dtype):
    params, grads, velocity = (tensors(s, SHAPES, dtype) for s in (1, 2, 3))
    lr, momentum = 3e-3, 0.9
    expected_p = [p.clone() for p in params]
    expected_v = [v.clone() for v in velocity]
    for p, v, g in zip(expected_p, expected_v, grads):  # the per-parameter arithmetic
        if rule == "sgd":
            p.add_(g, alpha=-lr)
        else:
            v.mul_(momentum)
            v.sub_(lr * g)
            p.add_(v)
    solver = Solver.__new__(Solver)
    solver.update_rule, solver.momentum = rule, momentum
    solver._update(params, velocity, grads, lr)
    for got, want in zip(params + velocity, expected_p + expected_v):
        assert torch.equal(got, want)


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


def small_problem(rows=400, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(rows, 3072, generator=gen)
    y = torch.randint(10, (rows,), generator=gen)
    return X, y, X[:100], y[:100]


def train_small(compile, lr=1e-2, num_iters=6, model="fc"):
    X, y, X_val, y_val = small_problem()
    kwargs = dict(learning_rate=lr, num_iters=num_iters, batch_size=100, momentum=0.9, seed=0,
                  augment_flip=True, monitor_size=100, compile=compile)
    if model == "fc":
        net = FullyConnectedNet([40, 30], 3072, 10, reg=1e-3, seed=0)
        history = train_fc_net(net, X, y, X_val, y_val, **kwargs)
    else:
        net = TwoLayerNet(3072, 40, 10, std=1e-2, seed=0)
        history = train_net(net, X, y, X_val, y_val, reg=1e-3, **kwargs)
    return net, history


@pytest.mark.parametrize("model", ["fc", "two_layer"])
def test_compiled_training_matches_eager_training(model):
    eager_net, eager = train_small(False, model=model)
    compiled_net, compiled = train_small(True, model=model)
    assert compiled.keys() == eager.keys()
    np.testing.assert_allclose(compiled["loss_history"], eager["loss_history"], rtol=1e-4)
    assert len(compiled["val_acc_history"]) == len(eager["val_acc_history"])
    for (name, p), q in zip(eager_net.named_parameters(), compiled_net.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-6, msg=name)


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


def test_the_solvers_l2_trains_bit_identically_to_autograd_on_the_whole_loss():
    """The solver adds the L2 gradient itself; the parameters after training equal those of
    the plain loop that differentiates data loss + reg * sum |W|^2 with autograd."""
    from ref_torch.fc_net import fc_loss
    X, y, X_val, y_val = small_problem()
    net = FullyConnectedNet([40, 30], 3072, 10, reg=1e-2, seed=0)
    plain = {k: v.detach().clone().requires_grad_() for k, v in net.param_dict.items()}
    order = np.arange(400).reshape(4, 100)
    train_fc_net(net, X, y, X_val, y_val, learning_rate=1e-2, num_iters=4, batch_size=100,
                 momentum=0.9, batch_indices=order, monitor_size=100)
    velocity = {k: torch.zeros_like(v) for k, v in plain.items()}
    for idx in order:
        idx = torch.as_tensor(idx)
        loss = fc_loss(X[idx], y[idx], plain, "relu", 1e-2)
        grads = torch.autograd.grad(loss, list(plain.values()))
        with torch.no_grad():
            for (name, p), g in zip(plain.items(), grads):
                velocity[name].mul_(0.9)
                velocity[name].sub_(1e-2 * g)
                p.add_(velocity[name])
    for name, p in net.param_dict.items():
        assert torch.equal(p.detach(), plain[name].detach()), name
