"""Two-layer network: NumPy vs torch (loss, gradients, training), numerical gradients,
wrong implementations caught, CUDA vs CPU, save/load, bad input, divergence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ref_torch import two_layer_net as torch_net
from ref_torch.oracle.kinds import get_kind
from ref_torch.oracle import run_kind
from ref_torch.parity import compare_arrays
from ref_torch.tolerances import GRAD_CHECK_RTOL, TWO_LAYER_GRAD_CHECK_MIN_GRAD, parity_rtol
from scratch_numpy import two_layer_net as np_net
from scratch_numpy.gradient_check import grad_check_sparse
from scratch_numpy.preprocessing import flip_rows_horizontally
from scratch_numpy.training import TrainingDivergedError
from scratch_numpy.two_layer_net import TwoLayerNet

ACTIVATIONS = ["relu", "sigmoid", "tanh"]
PARAMS = ("W1", "b1", "W2", "b2")


def case_params(D, H, C=10, w1=1e-3, seed=0, dtype=np.float64):
    """Parameters that keep every activation in its working range on dev rows
    (W1 ~ 1e-3 times pixels ~ 60 over 3072 features: pre-activations ~ 3)."""
    rng = np.random.default_rng(seed)
    params = dict(W1=w1 * rng.standard_normal((D, H)), b1=0.1 * rng.standard_normal(H),
                  W2=0.5 * rng.standard_normal((H, C)), b2=0.1 * rng.standard_normal(C))
    return {k: v.astype(dtype) for k, v in params.items()}


# ---- loss and gradients vs torch ----------------------------------------------------------

def test_net_kind_matches_torch(dev_batch, dtype, device):
    """The registered kind: relu, sigmoid, tanh, each with reg 0 and 0.1, on 500 dev images,
    and in float64 the stability case (scores up to ~750)."""
    X, y = dev_batch
    reports = run_kind(get_kind("two_layer_net"), TwoLayerNet, X, y, dtypes=[dtype],
                       devices=[device])
    assert len(reports) == (7 if dtype == np.float64 else 6)
    for report in reports:
        assert report.passed, str(report)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("reg", [0.0, 0.1])
def test_torch_module_matches_numpy_net(dev_batch_typed, dtype, activation, reg):
    X, y = dev_batch_typed
    net = TwoLayerNet.from_params(case_params(X.shape[1], 50, dtype=dtype), activation)
    loss, grads = net.loss(X, y, reg=reg)
    module = torch_net.TwoLayerNet.from_numpy_params(net.params, activation)
    torch_loss = module.loss(X, y, reg=reg)
    torch_loss.backward()
    tol = parity_rtol(dtype)
    diffs = [compare_arrays("loss", np.float64(loss), float(torch_loss.detach()), tol)]
    diffs += [compare_arrays(k, grads[k], getattr(module, k).grad.numpy(), tol) for k in PARAMS]
    assert all(d.passed for d in diffs), "\n".join(map(str, diffs))
    scores = module.loss(X).detach().numpy()
    assert compare_arrays("scores", net.loss(X), scores, tol).passed


def test_wrong_user_net_fails_naming_the_parameter(dev_batch):
    class ForgetsRegOnW2(TwoLayerNet):
        def loss(self, X, y=None, reg=0.0):
            loss, grads = super().loss(X, y, reg)
            grads["W2"] = grads["W2"] - 2 * reg * self.params["W2"]
            return loss, grads

    class ScaledBiasGradient(TwoLayerNet):
        def loss(self, X, y=None, reg=0.0):
            loss, grads = super().loss(X, y, reg)
            grads["b1"] = grads["b1"] * 1.001
            return loss, grads

    X, y = dev_batch
    kind = get_kind("two_layer_net")
    for cls, wrong in ((ForgetsRegOnW2, ["W2"]), (ScaledBiasGradient, ["b1"])):
        reports = run_kind(kind, cls, X, y, devices=["cpu"])
        for report in reports:
            if cls is ForgetsRegOnW2 and "reg 0," in report.case + ",":
                assert report.passed, str(report)
            else:
                assert report.failed_names == wrong, str(report)


def test_relu_only_user_class_skips_the_other_activations(dev_batch):
    class ReluOnly:  # CS231n's signature: no activation argument
        def __init__(self, input_size, hidden_size, output_size, std=1e-4):
            self.impl = TwoLayerNet(input_size, hidden_size, output_size, std=std)
            self.params = self.impl.params

        def loss(self, X, y=None, reg=0.0):
            self.impl.params = self.params
            return self.impl.loss(X, y, reg)

    X, y = dev_batch
    reports = run_kind(get_kind("two_layer_net"), ReluOnly, X[:50], y[:50],
                       dtypes=[np.float64], devices=["cpu"])
    for report in reports:
        if report.case.startswith("two_layer_net: relu"):
            assert report.passed, str(report)
        else:
            assert report.status == "SKIP" and "takes no activation argument" in report.skipped


# ---- numerical gradient of the full net (float64) -----------------------------------------

@pytest.fixture
def grad_check_rows(dev_batch):
    """20 dev rows scaled to unit std: the centred difference's truncation error grows
    like (|x| h)^2, and raw pixels (~100) would make it ~1e-6 instead of ~1e-14."""
    X, y = dev_batch
    return X[:20] / X.std(), y[:20]


def full_net_check(net, X, y, reg, num_checks=15):
    """Sparse centred-difference check of every parameter. Returns {name: (judged max
    rel error, kink probes, tiny-gradient probes)}; kinks and tiny entries are reported."""
    _, grads = net.loss(X, y, reg)
    out = {}
    for name in PARAMS:
        check = grad_check_sparse(lambda _: net.loss(X, y, reg)[0], net.params[name],
                                  grads[name], num_checks=num_checks, seed=1)
        judged = [p for p in check.probes
                  if not p.kink and abs(p.analytic) >= TWO_LAYER_GRAD_CHECK_MIN_GRAD]
        out[name] = (max((p.rel_error for p in judged), default=0.0), len(check.kinks),
                     len(check.probes) - len(check.kinks) - len(judged))
    return out


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("reg", [0.0, 0.1])
def test_full_net_matches_numerical_gradient(grad_check_rows, activation, reg):
    X, y = grad_check_rows
    net = TwoLayerNet.from_params(case_params(X.shape[1], 10, w1=0.05), activation)
    result = full_net_check(net, X, y, reg)
    for name, (error, kinks, tiny) in result.items():
        print(f"{activation} reg {reg} {name}: max rel error {error:.1e}; "
              f"{kinks} kink probe(s), {tiny} tiny-gradient probe(s) reported, not judged")
        assert error <= GRAD_CHECK_RTOL, name
        assert tiny <= 5, name  # most probes are judged


def test_numerical_check_catches_a_wrong_backward(grad_check_rows, monkeypatch):
    def wrong_relu_backward(dout, cache):
        return dout * (cache > 0) * 1.0001  # a 1e-4 slip

    monkeypatch.setitem(np_net.ACTIVATIONS, "relu", (np_net.relu_forward, wrong_relu_backward))
    X, y = grad_check_rows
    net = TwoLayerNet.from_params(case_params(X.shape[1], 10, w1=0.05), "relu")
    result = full_net_check(net, X, y, 0.0)
    assert result["W1"][0] > GRAD_CHECK_RTOL and result["b1"][0] > GRAD_CHECK_RTOL
    assert result["W2"][0] <= GRAD_CHECK_RTOL


# ---- training parity ------------------------------------------------------------------------

def train_both(X, y, dtype, device="cpu", momentum=0.9, torch_momentum=None, steps=100):
    """NumPy and torch trainers from identical parameters and minibatch indices:
    400 training rows, 100 validation rows, batch 40 (10 steps an epoch, so the
    learning rate decays and the best-epoch bookkeeping runs 10 times)."""
    X = X.astype(dtype)
    Xt, yt, Xv, yv = X[:400], y[:400], X[400:], y[400:]
    params = case_params(X.shape[1], 50, dtype=dtype)
    params["W2"] *= 0.02  # a sane start: initial loss ~ log(10)
    idx = np.random.default_rng(5).integers(0, 400, (steps, 40))
    options = dict(learning_rate=1e-4, learning_rate_decay=0.9, reg=0.1, num_iters=steps,
                   batch_size=40, batch_indices=idx)
    net = TwoLayerNet.from_params(params, "relu")
    h_np = net.train(Xt, yt, Xv, yv, momentum=momentum, **options)
    module = torch_net.TwoLayerNet.from_numpy_params(params, "relu", device=device)
    h_t = torch_net.train_net(module, Xt, yt, Xv, yv,
                              momentum=momentum if torch_momentum is None else torch_momentum,
                              **options)
    return net, h_np, module, h_t


def test_training_parity_numpy_vs_torch(dev_batch, dtype, device):
    X, y = dev_batch
    net, h_np, module, h_t = train_both(X, y, dtype, device)
    tol = parity_rtol(dtype)
    assert h_np["loss_history"][-1] < 0.9 * h_np["loss_history"][0]  # it did learn
    diffs = [compare_arrays("losses", h_np["loss_history"], h_t["loss_history"], tol)]
    trained = module.numpy_params()
    diffs += [compare_arrays(k, net.params[k], trained[k], tol) for k in PARAMS]
    print("\n".join(map(str, diffs)))
    assert all(d.passed for d in diffs)
    assert h_np["epochs"] == h_t["epochs"] and h_np["best_epoch"] == h_t["best_epoch"]
    assert h_np["val_acc_history"] == h_t["val_acc_history"]
    np.testing.assert_allclose(h_np["learning_rate_history"], h_t["learning_rate_history"])


def test_training_parity_detects_a_different_update(dev_batch, dtype):
    X, y = dev_batch
    net, h_np, module, h_t = train_both(X, y, dtype, torch_momentum=0.899, steps=30)
    diff = compare_arrays("W1", net.params["W1"], module.numpy_params()["W1"], parity_rtol(dtype))
    assert not diff.passed, str(diff)


@pytest.mark.cuda
def test_cuda_float64_training_matches_cpu(dev_batch):
    X, y = dev_batch
    _, _, cpu_module, h_cpu = train_both(X, y, np.float64, "cpu")
    _, _, cuda_module, h_cuda = train_both(X, y, np.float64, "cuda")
    tol = parity_rtol(np.float64)
    cpu_params, cuda_params = cpu_module.numpy_params(), cuda_module.numpy_params()
    diffs = [compare_arrays(k, cuda_params[k], cpu_params[k], tol) for k in PARAMS]
    diffs.append(compare_arrays("losses", h_cuda["loss_history"], h_cpu["loss_history"], tol))
    assert all(d.passed for d in diffs), "\n".join(map(str, diffs))


def test_torch_trainer_samples_minibatches_on_its_own(dev_batch):
    X, y = dev_batch
    module = torch_net.TwoLayerNet(X.shape[1], 20, 10, std=1e-4, seed=0)
    history = torch_net.train_net(module, X[:400], y[:400], X[400:], y[400:],
                                  learning_rate=1e-4, num_iters=25, batch_size=40,
                                  momentum=0.9, seed=3, augment_flip=True)
    assert history["epochs"] == [0.0, 1.0, 2.0, 2.5]
    assert len(history["loss_history"]) == 25


# ---- training bookkeeping --------------------------------------------------------------------

def test_history_fields_and_best_parameters_kept(dev_batch):
    X, y = dev_batch
    net = TwoLayerNet(X.shape[1], 30, 10, std=1e-4, seed=0)
    history = net.train(X[:400], y[:400], X[400:], y[400:], learning_rate=2e-4, num_iters=35,
                        batch_size=40, momentum=0.9, seed=0, augment_flip=True)
    assert len(history["loss_history"]) == 35
    per_epoch = ("epochs", "train_acc_history", "val_acc_history", "dead_fraction_history",
                 "saturated_fraction_history", "learning_rate_history")
    for key in per_epoch:
        assert len(history[key]) == 5, key  # epoch 0, 1, 2, 3 and the final 3.5
    assert history["epochs"] == [0.0, 1.0, 2.0, 3.0, 3.5]
    assert net.accuracy(X[400:], y[400:]) == history["best_val_acc"]
    assert history["best_val_acc"] == max(history["val_acc_history"])


def test_unit_statistics_count_dead_and_saturated_units():
    X = np.random.default_rng(0).standard_normal((50, 4))
    net = TwoLayerNet(4, 6, 3, std=0.0, activation="relu")
    net.params["b1"][:] = [-1e6, -1e6, 1e6, 1e6, 1e6, 1e6]  # two units never fire
    dead, saturated = net.unit_statistics(X)
    assert dead == pytest.approx(2 / 6) and saturated == pytest.approx(2 / 6)
    module = torch_net.TwoLayerNet.from_numpy_params(net.params, "relu")
    assert module.unit_statistics(X) == pytest.approx((dead, saturated))
    sig = TwoLayerNet.from_params(net.params, "sigmoid")  # sigma'(1e6) < 0.01: all saturated
    assert sig.unit_statistics(X) == (1.0, 1.0)


def test_flip_mirrors_images_left_to_right():
    images = np.arange(2 * 32 * 32 * 3, dtype=np.float64).reshape(2, 32, 32, 3)
    flipped = flip_rows_horizontally(images.reshape(2, -1)).reshape(images.shape)
    np.testing.assert_array_equal(flipped, images[:, :, ::-1, :])
    torch_flipped = torch_net._flip_rows(torch.from_numpy(images.reshape(2, -1)))
    np.testing.assert_array_equal(torch_flipped.numpy().reshape(images.shape), flipped)


def test_flip_of_any_float_rows_equals_the_reversed_image_view():
    rows = np.random.default_rng(6).standard_normal((5, 3072)).astype(np.float32)
    expected = rows.reshape(5, 32, 32, 3)[:, :, ::-1, :].reshape(5, -1)
    np.testing.assert_array_equal(flip_rows_horizontally(rows), expected)


def test_diverging_training_stops_and_keeps_best_parameters(dev_batch):
    X, y = dev_batch
    net = TwoLayerNet(X.shape[1], 20, 10, std=1e-3, seed=0)
    start = {k: v.copy() for k, v in net.params.items()}
    with pytest.raises(TrainingDivergedError, match="diverged at iteration") as info:
        net.train(X[:400], y[:400], X[400:], y[400:], learning_rate=1e3, num_iters=50,
                  batch_size=40, seed=0)
    assert info.value.history["best_epoch"] == 0.0
    for k in PARAMS:  # only epoch 0 was recorded: its parameters are back
        np.testing.assert_array_equal(net.params[k], start[k])
    module = torch_net.TwoLayerNet.from_numpy_params(start)
    with pytest.raises(TrainingDivergedError, match="diverged at iteration"):  # the same type on both sides
        torch_net.train_net(module, X[:400], y[:400], X[400:], y[400:], learning_rate=1e3,
                            num_iters=50, batch_size=40, seed=0)
    for k, v in module.numpy_params().items():
        np.testing.assert_array_equal(v, start[k])


# ---- parameters: torch <-> NumPy, files ----------------------------------------------------

def test_parameters_move_both_ways_losslessly(dtype):
    params = case_params(30, 7, dtype=dtype)
    module = torch_net.TwoLayerNet.from_numpy_params(params, "tanh")
    assert module.W1.shape == (30, 7) and module.dtype == torch.from_numpy(params["W1"]).dtype
    back = TwoLayerNet.from_params(module.numpy_params(), "tanh")
    for k in PARAMS:
        assert back.params[k].dtype == dtype
        np.testing.assert_array_equal(back.params[k], params[k])


def test_save_and_load_round_trip(tmp_path):
    net = TwoLayerNet(12, 5, 3, std=0.1, activation="sigmoid", seed=0)
    path = tmp_path / "net.npz"
    net.save(path)
    loaded = TwoLayerNet.load(path)
    assert loaded.activation == "sigmoid"
    for k in PARAMS:
        np.testing.assert_array_equal(loaded.params[k], net.params[k])


def test_load_refuses_bad_files(tmp_path):
    missing = tmp_path / "missing.npz"
    np.savez(missing, W1=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="missing b1, W2, b2, activation"):
        TwoLayerNet.load(missing)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, W1=np.array([{"evil": 1}], dtype=object), b1=np.zeros(2), W2=np.zeros((2, 2)),
             b2=np.zeros(2), activation=np.array("relu"))
    with pytest.raises(ValueError, match="allow_pickle"):
        TwoLayerNet.load(pickled)


# ---- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("sizes", [(0, 5, 3), (4, -1, 3), (4, 5, 0), (4.0, 5, 3)])
def test_non_positive_sizes_are_refused(sizes):
    with pytest.raises(ValueError, match="must be a positive integer"):
        TwoLayerNet(*sizes)
    with pytest.raises(ValueError, match="must be a positive integer"):
        torch_net.TwoLayerNet(*sizes)


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="unknown activation 'softplus'"):
        TwoLayerNet(4, 5, 3, activation="softplus")
    with pytest.raises(ValueError, match="unknown activation 'softplus'"):
        torch_net.TwoLayerNet(4, 5, 3, activation="softplus")


def test_bad_loss_inputs_are_refused():
    net = TwoLayerNet(4, 5, 3, seed=0)
    module = torch_net.TwoLayerNet.from_numpy_params(net.params)
    X, y = np.zeros((2, 4)), np.array([0, 2])
    for loss in (net.loss, module.loss):
        with pytest.raises(ValueError, match="4"):
            loss(np.zeros((2, 5)), y)  # wrong width
        with pytest.raises(ValueError, match="labels in 0..2|lie in 0..2"):
            loss(X, np.array([0, 3]))
        bad = X.copy()
        bad[0, 1] = np.inf
        with pytest.raises(ValueError, match="NaN or infinite"):
            loss(bad, y)
        with pytest.raises(ValueError, match="reg"):
            loss(X, y, reg=-1.0)


def test_huge_weights_at_reg_0_give_a_finite_loss_and_beyond_the_float_range_an_error():
    net = TwoLayerNet(4, 5, 3, std=1.0, seed=0)
    net.params["W1"] = 1e160 * net.params["W1"]  # its square overflows; the scores do not
    X, y = 1e-150 * np.random.default_rng(1).standard_normal((2, 4)), np.array([0, 2])
    loss, grads = net.loss(X, y, reg=0.0)  # reg * sum(W1**2) used to be 0 * inf = NaN
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in grads.values())
    with pytest.raises(ValueError, match="the loss is inf although every input is finite"):
        net.loss(X, y, reg=1.0)


def test_bad_training_arguments_are_refused(dev_batch):
    X, y = dev_batch
    net = TwoLayerNet(X.shape[1], 5, 10, seed=0)
    with pytest.raises(ValueError, match="momentum"):
        net.train(X, y, X, y, momentum=1.0)
    with pytest.raises(ValueError, match="num_iters"):
        net.train(X, y, X, y, num_iters=0)
    with pytest.raises(ValueError, match="y_val"):
        net.train(X, y, X[:5], y[:4])
    with pytest.raises(ValueError, match="batch_indices"):
        net.train(X, y, X, y, num_iters=2, batch_size=3, batch_indices=np.zeros((2, 4), int))
    with pytest.raises(ValueError, match="monitor_size"):
        net.train(X, y, X, y, monitor_size=0)
    with pytest.raises(ValueError, match="learning_rate"):
        net.train(X, y, X, y, learning_rate="1e-3")


@pytest.mark.slow
def test_chosen_configuration_reaches_55_percent_test_accuracy(splits):
    """The full training run of the README (minutes on 2 cores)."""
    from scratch_numpy.preprocessing import network_rows
    from scripts.configs import NET_CHOSEN, train_net_config

    rows = network_rows(splits)
    net, history = train_net_config(rows, NET_CHOSEN, progress=False)
    assert history["best_val_acc"] >= 0.55
    assert net.accuracy(rows.X_test, rows.y_test) >= 0.55


def test_training_stops_at_the_target_validation_accuracy(dev_batch):
    X, y = dev_batch
    for backend in ("numpy", "torch"):
        net = TwoLayerNet(X.shape[1], 20, 10, std=1e-4, seed=0)
        kwargs = dict(learning_rate=1e-4, num_iters=100, batch_size=40, momentum=0.9, seed=0,
                      stop_at_val_acc=0.0)
        if backend == "numpy":
            history = net.train(X[:400], y[:400], X[400:], y[400:], **kwargs)
        else:
            module = torch_net.TwoLayerNet.from_numpy_params(net.params)
            history = torch_net.train_net(module, X[:400], y[:400], X[400:], y[400:], **kwargs)
        assert history["epochs"] == [0.0, 1.0] and len(history["loss_history"]) == 10
