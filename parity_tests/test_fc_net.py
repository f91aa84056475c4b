"""Fully-connected net of any depth: NumPy vs torch (loss, every gradient, training),
numerical gradients, the fc_net kind on user classes, parameter transfer, bad input.

Longer than most test files: it mirrors its module pair (``scratch_numpy/fc_net.py``,
``ref_torch/fc_net.py``), as every test file does, and the pair covers all of the above."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ref_torch import fc_net as torch_fc
from ref_torch.oracle.kinds import get_kind
from ref_torch.oracle import check_gradient, run_kind
from ref_torch.parity import check_parity, compare_arrays
from ref_torch.tolerances import GRAD_CHECK_RTOL, TWO_LAYER_GRAD_CHECK_MIN_GRAD, parity_rtol
from scratch_numpy import fc_net as np_fc
from scratch_numpy.fc_net import FullyConnectedNet, param_names
from scratch_numpy.gradient_check import grad_check_sparse
from scratch_numpy.training import TrainingDivergedError

ACTIVATIONS = ["relu", "sigmoid", "tanh"]
DEPTHS = range(0, 7)  # hidden layers: 0 (a linear softmax) to 6


def case_params(sizes, seed=0, first_scale=1e-3, dtype=np.float64):
    """Weights that keep every activation in its working range on dev rows (first layer
    1e-3 times pixels ~60 over 3072 features: pre-activations ~3; deeper layers
    Xavier-scaled times 1.5), biases nonzero."""
    rng = np.random.default_rng(seed)
    params = {}
    for l, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        scale = first_scale if l == 1 else 1.5 / np.sqrt(fan_in)
        params[f"W{l}"] = (scale * rng.standard_normal((fan_in, fan_out))).astype(dtype)
        params[f"b{l}"] = (0.1 * rng.standard_normal(fan_out)).astype(dtype)
    return params


def sizes_of(depth, D=3072, width=40, C=10):
    return [D] + [width - i for i in range(depth)] + [C]


# ---- loss and gradients vs torch, every depth and activation ----------------------------

@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_depth_and_activation_matches_torch(dev_batch, dtype, device, depth, activation):
    """Loss and every gradient, reg 0 and 0.1, on the 500-image dev batch."""
    X, y = dev_batch
    params = case_params(sizes_of(depth))
    names = tuple(params)
    for reg in (0.0, 0.1):
        def numpy_fn(inputs):
            net = FullyConnectedNet.from_params({k: inputs[k] for k in names}, activation, reg)
            return net.loss(inputs["X"], inputs["y"])

        report = check_parity(
            numpy_fn, lambda t: torch_fc.fc_loss(t["X"], t["y"], {k: t[k] for k in names},
                                                 activation, reg),
            dict(X=X, y=y, **params), names, dtype=dtype, device=device,
            case=f"depth {depth}, {activation}, reg {reg}")
        print(f"{report.case} {dtype}: max err "
              f"{max(d.error for d in (report.loss, *report.grads)):.1e}")
        assert report.passed, str(report)


def test_module_loss_and_scores_match_numpy(dev_batch_typed, dtype):
    X, y = dev_batch_typed
    net = FullyConnectedNet.from_params(case_params(sizes_of(3), dtype=dtype), "tanh", reg=0.05)
    loss, grads = net.loss(X, y)
    module = torch_fc.FullyConnectedNet.from_numpy_params(net.params, "tanh", reg=0.05)
    torch_loss = module.loss(X, y)
    torch_loss.backward()
    tol = parity_rtol(dtype)
    diffs = [compare_arrays("loss", np.float64(loss), float(torch_loss.detach()), tol)]
    diffs += [compare_arrays(k, grads[k], p.grad.numpy(), tol) for k, p in module.param_dict.items()]
    diffs.append(compare_arrays("scores", net.loss(X), module.loss(X).detach().numpy(), tol))
    assert all(d.passed for d in diffs), "\n".join(map(str, diffs))


# ---- the fc_net kind: a user's assignment-2 class ------------------------------------------

def test_fc_kind_passes_the_project_class(dev_batch, dtype, device):
    X, y = dev_batch
    reports = run_kind(get_kind("fc_net"), FullyConnectedNet, X, y, dtypes=[dtype], devices=[device])
    # 4 correctness cases, and in float64 the case whose scores need the max shift.
    assert [r.role for r in reports].count("correctness") == 4
    assert [r.role for r in reports].count("stability") == (dtype == np.float64)
    for report in reports:
        assert report.passed, str(report)


class Assignment2Net:
    """A student's class in assignment 2's layout (ReLU, reg on the instance), written
    independently of the project's: loops over layers with plain NumPy."""

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout_keep_ratio=1,
                 normalization=None, reg=0.0, weight_scale=1e-2, dtype=np.float32, seed=None):
        self.reg, self.dtype = reg, dtype
        self.num_layers = len(hidden_dims) + 1
        dims = [input_dim, *hidden_dims, num_classes]
        self.params = {}
        for i in range(self.num_layers):
            self.params[f"W{i + 1}"] = weight_scale * np.random.randn(dims[i], dims[i + 1])
            self.params[f"b{i + 1}"] = np.zeros(dims[i + 1])

    def reg_scale(self):
        return self.reg  # the project's convention: reg * sum(W**2)

    def loss(self, X, y=None):
        X = X.reshape(X.shape[0], -1).astype(self.dtype)  # images (N, d1, ..., dk) to rows
        hs, h = [X], X
        for i in range(1, self.num_layers):
            h = np.maximum(0, h @ self.params[f"W{i}"] + self.params[f"b{i}"])
            hs.append(h)
        L = self.num_layers
        scores = h @ self.params[f"W{L}"] + self.params[f"b{L}"]
        if y is None:
            return scores
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        p = np.exp(log_p)
        n = len(y)
        loss = -log_p[np.arange(n), y].mean()
        dout = p.copy()
        dout[np.arange(n), y] -= 1
        dout /= n
        grads = {}
        for i in range(L, 0, -1):
            W = self.params[f"W{i}"]
            loss += self.reg_scale() * np.sum(W * W)
            grads[f"W{i}"] = hs[i - 1].T @ dout + 2 * self.reg_scale() * W
            grads[f"b{i}"] = dout.sum(axis=0)
            dout = (dout @ W.T) * (hs[i - 1] > 0)
        return loss, grads


def test_fc_kind_passes_an_independent_assignment2_class(dev_batch):
    X, y = dev_batch
    for report in run_kind(get_kind("fc_net"), Assignment2Net, X, y, devices=["cpu"]):
        assert report.passed, str(report)


def without_reg(report) -> bool:
    """A reg 0 case (the stability case included: "..., reg 0, scores up to ...")."""
    return report.case.endswith(", reg 0") or ", reg 0, " in report.case


def test_fc_kind_names_the_wrong_parameter(dev_batch):
    class ForgetsRegOnW3(Assignment2Net):
        def loss(self, X, y=None):
            loss, grads = super().loss(X, y)
            grads["W3"] = grads["W3"] - 2 * self.reg * self.params["W3"]
            return loss, grads

    class HalfReg(Assignment2Net):  # assignment 2's 0.5 * reg * sum(W**2)
        def reg_scale(self):
            return 0.5 * self.reg

    class ScaledBiasGradient(Assignment2Net):
        def loss(self, X, y=None):
            loss, grads = super().loss(X, y)
            grads["b2"] = grads["b2"] * 1.001
            return loss, grads

    X, y = dev_batch
    kind = get_kind("fc_net")
    for cls, wrong in ((ForgetsRegOnW3, {"W3"}), (ScaledBiasGradient, {"b2"})):
        for report in run_kind(kind, cls, X, y, devices=["cpu"]):
            if cls is ForgetsRegOnW3 and without_reg(report):
                assert report.passed, str(report)
            else:
                assert set(report.failed_names) == wrong, str(report)
    # The other reg convention fails the loss and weight gradients, never a bias, and
    # only where reg > 0 (in float32 the small W1 reg term can hide within the tolerance).
    for report in run_kind(kind, HalfReg, X, y, devices=["cpu"]):
        if without_reg(report):
            assert report.passed, str(report)
        else:
            assert {"loss", "W2", "W3"} <= set(report.failed_names) <= {"loss", "W1", "W2", "W3"}
    # Left to recognise it, the oracle finds that convention and passes the class.
    report = check_gradient(HalfReg, kind="fc_net", X=X, y=y, devices=["cpu"])
    assert report.passed and report.convention.startswith("0.5 * reg"), str(report)


# ---- numerical gradient of the full net (float64) -----------------------------------------

@pytest.fixture
def grad_check_rows(dev_batch):
    """20 dev rows scaled to unit std (see test_two_layer_net.grad_check_rows)."""
    X, y = dev_batch
    return X[:20] / X.std(), y[:20]


def full_net_check(net, X, y, num_checks=10):
    """Sparse centred differences of every parameter: {name: (judged max rel error, kinks,
    tiny-gradient probes)}; kinks and entries below the threshold are reported, not judged."""
    _, grads = net.loss(X, y)
    out = {}
    for name in net.params:
        check = grad_check_sparse(lambda _: net.loss(X, y)[0], net.params[name], grads[name],
                                  num_checks=num_checks, seed=1)
        judged = [p for p in check.probes
                  if not p.kink and abs(p.analytic) >= TWO_LAYER_GRAD_CHECK_MIN_GRAD]
        out[name] = (max((p.rel_error for p in judged), default=0.0), len(check.kinks),
                     len(check.probes) - len(check.kinks) - len(judged))
    return out


@pytest.mark.parametrize("depth", range(1, 7))
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("reg", [0.0, 0.01])
def test_full_net_matches_numerical_gradient(grad_check_rows, depth, activation, reg):
    X, y = grad_check_rows
    params = case_params(sizes_of(depth, width=12), first_scale=0.05)
    net = FullyConnectedNet.from_params(params, activation, reg)
    result = full_net_check(net, X, y)
    judged = 0
    for name, (error, kinks, tiny) in result.items():
        print(f"depth {depth} {activation} reg {reg} {name}: max rel error {error:.1e}; "
              f"{kinks} kink(s), {tiny} tiny-gradient probe(s) reported, not judged")
        assert error <= GRAD_CHECK_RTOL, name
        judged += 10 - kinks - tiny
    assert judged >= 6 * (depth + 1), "most probes must be judged"


def test_numerical_check_catches_a_wrong_backward(grad_check_rows, monkeypatch):
    def slipped_tanh_backward(dout, cache):
        return dout * (1 - cache * cache) * 1.0001  # a 1e-4 slip

    monkeypatch.setitem(np_fc.ACTIVATIONS, "tanh", (np_fc.tanh_forward, slipped_tanh_backward))
    X, y = grad_check_rows
    net = FullyConnectedNet.from_params(case_params(sizes_of(3, width=12), first_scale=0.05), "tanh")
    result = full_net_check(net, X, y)
    assert result["W1"][0] > GRAD_CHECK_RTOL and result["b3"][0] > GRAD_CHECK_RTOL
    assert result["W4"][0] <= GRAD_CHECK_RTOL and result["b4"][0] <= GRAD_CHECK_RTOL


# ---- training trajectories ------------------------------------------------------------------

def train_both(X, y, dtype, device="cpu", torch_momentum=0.9, steps=100, activation="relu"):
    """NumPy and torch trainers, 3 hidden layers, from identical parameters and minibatch
    indices: 400 training rows, 100 validation rows, batch 40 (10 steps an epoch)."""
    X = X.astype(dtype) / X.std()
    Xt, yt, Xv, yv = X[:400], y[:400], X[400:], y[400:]
    net = FullyConnectedNet([50, 40, 30], X.shape[1], 10, reg=0.01, weight_scale="he",
                            dtype=dtype, seed=0, activation=activation)
    start = {k: v.copy() for k, v in net.params.items()}
    idx = np.random.default_rng(5).integers(0, 400, (steps, 40))
    options = dict(learning_rate=1e-2, learning_rate_decay=0.9, num_iters=steps, batch_size=40,
                   batch_indices=idx)
    h_np = net.train(Xt, yt, Xv, yv, momentum=0.9, **options)
    module = torch_fc.FullyConnectedNet.from_numpy_params(start, activation, 0.01, device=device)
    h_t = torch_fc.train_fc_net(module, Xt, yt, Xv, yv, momentum=torch_momentum, **options)
    return net, h_np, module, h_t


@pytest.mark.parametrize("dtype, activation", [(np.dtype(np.float64), "relu"),
                                               (np.dtype(np.float64), "sigmoid"),
                                               (np.dtype(np.float64), "tanh"),
                                               (np.dtype(np.float32), "relu")],
                         ids=["float64-relu", "float64-sigmoid", "float64-tanh", "float32-relu"])
def test_training_trajectory_numpy_vs_torch(dev_batch, dtype, device, activation):
    X, y = dev_batch
    net, h_np, module, h_t = train_both(X, y, dtype, device, activation=activation)
    tol = parity_rtol(dtype)
    assert h_np["loss_history"][-1] < 0.9 * h_np["loss_history"][0]  # it did learn
    diffs = [compare_arrays("losses", h_np["loss_history"], h_t["loss_history"], tol)]
    trained = module.numpy_params()
    diffs += [compare_arrays(k, net.params[k], trained[k], tol) for k in net.params]
    print("\n".join(map(str, diffs)))
    assert all(d.passed for d in diffs)
    assert h_np["epochs"] == h_t["epochs"] and h_np["best_epoch"] == h_t["best_epoch"]
    assert h_np["val_acc_history"] == h_t["val_acc_history"]


def test_training_trajectory_detects_a_different_update(dev_batch, dtype):
    X, y = dev_batch
    net, _, module, _ = train_both(X, y, dtype, torch_momentum=0.899, steps=30)
    diff = compare_arrays("W1", net.params["W1"], module.numpy_params()["W1"], parity_rtol(dtype))
    assert not diff.passed, str(diff)


@pytest.mark.cuda
def test_cuda_float64_training_matches_cpu(dev_batch):
    X, y = dev_batch
    _, _, cpu_module, h_cpu = train_both(X, y, np.float64, "cpu")
    _, _, cuda_module, h_cuda = train_both(X, y, np.float64, "cuda")
    tol = parity_rtol(np.float64)
    cpu, cuda = cpu_module.numpy_params(), cuda_module.numpy_params()
    diffs = [compare_arrays(k, cuda[k], cpu[k], tol) for k in cpu]
    diffs.append(compare_arrays("losses", h_cuda["loss_history"], h_cpu["loss_history"], tol))
    assert all(d.passed for d in diffs), "\n".join(map(str, diffs))


def test_torch_trainer_samples_minibatches_on_its_own(dev_batch):
    X, y = dev_batch
    module = torch_fc.FullyConnectedNet([20, 20], X.shape[1], 10, weight_scale=1e-4, seed=0)
    history = torch_fc.train_fc_net(module, X[:400], y[:400], X[400:], y[400:],
                                    learning_rate=1e-4, num_iters=25, batch_size=40, seed=3,
                                    augment_flip=True)
    assert history["epochs"] == [0.0, 1.0, 2.0, 2.5] and len(history["loss_history"]) == 25


def test_diverging_training_stops_and_keeps_best_parameters(dev_batch):
    X, y = dev_batch
    # lr * 2 * reg = 200: each step multiplies the weights by about -199.
    net = FullyConnectedNet([20], X.shape[1], 10, reg=0.1, weight_scale=1e-3, dtype=np.float32,
                            seed=0, activation="tanh")
    start = {k: v.copy() for k, v in net.params.items()}
    with pytest.raises(TrainingDivergedError, match="diverged at iteration"):
        net.train(X[:400], y[:400], X[400:], y[400:], learning_rate=1e3, num_iters=50,
                  batch_size=40, seed=0)
    for k in start:
        np.testing.assert_array_equal(net.params[k], start[k])


# ---- initialisation, parameters, bad input -----------------------------------------------------

@pytest.mark.parametrize("scale, expected", [("xavier", 1.0), ("he", 2.0), (0.05, None)])
def test_initialisation_scales(scale, expected):
    sizes = [800, 400, 200, 10]
    net = FullyConnectedNet(sizes[1:-1], sizes[0], sizes[-1], weight_scale=scale, seed=0)
    module = torch_fc.FullyConnectedNet(sizes[1:-1], sizes[0], sizes[-1], weight_scale=scale, seed=0)
    for l, fan_in in enumerate(sizes[:-1], start=1):
        want = np.sqrt(expected / fan_in) if expected else scale
        for W in (net.params[f"W{l}"], module.numpy_params()[f"W{l}"]):
            assert W.std() == pytest.approx(want, rel=0.1), (scale, l)
        assert not net.params[f"b{l}"].any()
    assert list(net.params) == param_names(3) == module.names


def test_parameters_move_both_ways_losslessly(dtype):
    params = case_params(sizes_of(4, D=30), dtype=dtype)
    module = torch_fc.FullyConnectedNet.from_numpy_params(params, "sigmoid")
    assert module.dtype == torch.from_numpy(params["W1"]).dtype and module.num_layers == 5
    back = FullyConnectedNet.from_params(module.numpy_params(), "sigmoid")
    assert back.hidden_dims == [40, 39, 38, 37]
    for k in params:
        assert back.params[k].dtype == dtype
        np.testing.assert_array_equal(back.params[k], params[k])


@pytest.mark.parametrize("cls", [FullyConnectedNet, torch_fc.FullyConnectedNet])
def test_dropout_and_normalization_are_refused(cls):
    with pytest.raises(ValueError, match="dropout"):
        cls([10], dropout_keep_ratio=0.5)
    with pytest.raises(ValueError, match="normalization"):
        cls([10], normalization="batchnorm")


@pytest.mark.parametrize("cls", [FullyConnectedNet, torch_fc.FullyConnectedNet])
def test_bad_constructor_arguments_are_refused(cls):
    for kwargs, message in ((dict(hidden_dims=[10, 0]), "hidden_dims\\[1\\]"),
                            (dict(hidden_dims=10), "list of positive integers"),
                            (dict(hidden_dims=[10], activation="softplus"), "unknown activation"),
                            (dict(hidden_dims=[10], weight_scale="lecun"), "weight_scale"),
                            (dict(hidden_dims=[10], weight_scale=-1.0), "weight_scale"),
                            (dict(hidden_dims=[10], reg=-1.0), "reg"),
                            (dict(hidden_dims=[10], dtype=np.int32), "float32 or float64"),
                            (dict(hidden_dims=[10], input_dim=0), "input_dim")):
        with pytest.raises(ValueError, match=message):
            cls(**kwargs)


def test_bad_loss_inputs_are_refused():
    net = FullyConnectedNet([5, 5], 4, 3, reg=0.1, seed=0, dtype=np.float64)
    module = torch_fc.FullyConnectedNet.from_numpy_params(net.params, reg=0.1)
    X, y = np.zeros((2, 4)), np.array([0, 2])
    for loss in (net.loss, module.loss):
        with pytest.raises(ValueError, match="4"):
            loss(np.zeros((2, 5)), y)
        with pytest.raises(ValueError, match="0..2"):
            loss(X, np.array([0, 3]))
        bad = X.copy()
        bad[0, 1] = np.nan
        with pytest.raises(ValueError, match="NaN or infinite"):
            loss(bad, y)
        with pytest.raises(ValueError, match="no rows"):
            loss(np.zeros((0, 4)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="W3"):
        FullyConnectedNet.from_params({"W1": np.zeros((4, 5)), "b1": np.zeros(5), "W3": np.zeros((5, 3))})
    with pytest.raises(ValueError, match=r"W2 has shape \(6, 3\), the network needs \(5, 3\)"):
        torch_fc.FullyConnectedNet.from_numpy_params(
            {"W1": np.zeros((4, 5)), "b1": np.zeros(5), "W2": np.zeros((6, 3)), "b2": np.zeros(3)})


@pytest.mark.slow
def test_chosen_configuration_reaches_58_percent_test_accuracy(splits):
    """The full training run of docs/fc_net.md (tens of minutes on 2 cores)."""
    from scratch_numpy.preprocessing import standardized_rows
    from scripts.configs import FC_CHOSEN, train_fc_config

    rows = standardized_rows(splits)
    net, history = train_fc_config(rows, FC_CHOSEN, progress=False)
    assert net.accuracy(rows.X_test, rows.y_test) >= 0.58


def test_command_refuses_impossible_devices_before_loading_data(capsys):
    from scripts import fc_net as command

    def status(argv):
        try:
            return command.main(argv)
        except SystemExit as exc:  # argparse refuses a device this machine lacks
            return exc.code

    assert status(["train", "--device", "cuda"]) == 2
    assert "cuda" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert status(["train", "--backend", "torch", "--device", "cuda"]) == 2
        assert "cuda" in capsys.readouterr().err
