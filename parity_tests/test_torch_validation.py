"""The torch twins refuse bad input as the NumPy twins do, with the same ``ValueError``.

One table of probes: each names an entry point pair (NumPy, torch) and the bad input a
careless user gives; the test runs the NumPy twin, takes its message and requires the
torch twin to raise ``ValueError`` with exactly that message. The torch side gets the
input as NumPy arrays and as tensors (cpu; cuda where a GPU is present). Then the
defects the torch side had one by one (torch's ``ignore_index=-100``, truncated float
labels, NaN that predicts class 0, empty batches, NaN weights loaded, NaN from huge
finite weights at reg 0) and the promise that the training loops run unchecked.

Longer than most test files: the probe table is the point, and splitting it would scatter
the one list a reader checks for a missing case.
"""

from __future__ import annotations

import re
from functools import partial

import numpy as np
import pytest
import torch

from ref_torch import fc_net as torch_fc
from ref_torch import knn as torch_knn
from ref_torch import layers as torch_layers
from ref_torch import two_layer_net as torch_net
from ref_torch.linear_classifier import TorchLinearSVM, TorchSoftmax
from ref_torch.linear_svm import svm_loss as torch_svm_loss
from ref_torch.softmax import softmax_loss as torch_softmax_loss
from scratch_numpy import knn as numpy_knn
from scratch_numpy import layers
from scratch_numpy.fc_net import FullyConnectedNet
from scratch_numpy.linear_classifier import LinearSVM, Softmax
from scratch_numpy.linear_svm import svm_loss_vectorized
from scratch_numpy.softmax import softmax_loss_vectorized
from scratch_numpy.two_layer_net import TwoLayerNet

RNG = np.random.default_rng(0)
W, X, Y = np.zeros((4, 3)), np.zeros((2, 4)), np.array([0, 1])
SCORES, SCORE_LABELS = np.zeros((3, 4)), np.array([0, 1, 2])
X_TRAIN, Y_TRAIN = RNG.standard_normal((20, 5)), RNG.integers(0, 3, 20)
X_NET, Y_NET = RNG.standard_normal((20, 4)), RNG.integers(0, 3, 20)
NAN, INF = np.full((2, 4), np.nan), np.full((2, 4), np.inf)
TRAIN = dict(num_iters=2, batch_size=5, seed=0)


def _first_is(value, index=0):
    """Y_TRAIN-like labels with entry ``index`` replaced by ``value``."""
    y = Y_TRAIN.copy()
    y[index] = value
    return y


# ---- the twins: side -> a callable, built fresh for every probe -----------------------------

def _numpy_linear(cls, trained):
    clf = cls()
    if trained:
        clf.train(X_TRAIN, Y_TRAIN, **TRAIN)
    return clf


def _torch_linear(cls, trained, device):
    clf = cls(device=device, dtype=np.float64)
    if trained:
        clf.train(X_TRAIN, Y_TRAIN, **TRAIN)
    return clf


def _numpy_two_layer():
    return TwoLayerNet(4, 5, 3, seed=0)


def _torch_two_layer(device):
    return torch_net.TwoLayerNet(4, 5, 3, seed=0, dtype=np.float64, device=device)


def _numpy_fc():
    return FullyConnectedNet([5], input_dim=4, num_classes=3, seed=0, dtype=np.float64)


def _torch_fc(device):
    return torch_fc.FullyConnectedNet([5], input_dim=4, num_classes=3, seed=0, dtype=np.float64,
                                      device=device)


def _knn(module, device=None):
    model = module.KNearestNeighbor() if device is None else module.KNearestNeighbor(device=device)
    return model.train(np.zeros((4, 3)), np.array([0, 1, 0, 1]))


# name -> (numpy callable (), torch callable (device))
TWINS = {
    "svm_loss": (lambda: svm_loss_vectorized, lambda d: torch_svm_loss),
    "softmax_loss": (lambda: softmax_loss_vectorized, lambda d: torch_softmax_loss),
    "layers.softmax_loss": (lambda: layers.softmax_loss, lambda d: torch_layers.softmax_loss),
    "layers.svm_loss": (lambda: layers.svm_loss, lambda d: torch_layers.svm_loss),
    "affine_forward": (lambda: layers.affine_forward, lambda d: torch_layers.affine_forward),
    **{f"{name}.train": (partial(lambda c: _numpy_linear(c, False).train, numpy_cls),
                         partial(lambda c, d: _torch_linear(c, False, d).train, torch_cls))
       for name, numpy_cls, torch_cls in (("LinearSVM", LinearSVM, TorchLinearSVM),
                                          ("Softmax", Softmax, TorchSoftmax))},
    **{f"{name}.{method} (trained)": (
        partial(lambda c, m: getattr(_numpy_linear(c, True), m), numpy_cls, method),
        partial(lambda c, m, d: getattr(_torch_linear(c, True, d), m), torch_cls, method))
       for name, numpy_cls, torch_cls in (("LinearSVM", LinearSVM, TorchLinearSVM),
                                          ("Softmax", Softmax, TorchSoftmax))
       for method in ("train", "predict")},
    "TwoLayerNet.loss": (lambda: _numpy_two_layer().loss, lambda d: _torch_two_layer(d).loss),
    "TwoLayerNet.predict": (lambda: _numpy_two_layer().predict, lambda d: _torch_two_layer(d).predict),
    "TwoLayerNet.unit_statistics": (lambda: _numpy_two_layer().unit_statistics,
                                    lambda d: _torch_two_layer(d).unit_statistics),
    "TwoLayerNet.from_params": (lambda: TwoLayerNet.from_params,
                                lambda d: partial(torch_net.TwoLayerNet.from_numpy_params, device=d)),
    "train_net": (lambda: _numpy_two_layer().train, lambda d: partial(torch_net.train_net, _torch_two_layer(d))),
    "FullyConnectedNet.loss": (lambda: _numpy_fc().loss, lambda d: _torch_fc(d).loss),
    "FullyConnectedNet.predict": (lambda: _numpy_fc().predict, lambda d: _torch_fc(d).predict),
    "FullyConnectedNet.from_params": (lambda: FullyConnectedNet.from_params,
                                      lambda d: partial(torch_fc.FullyConnectedNet.from_numpy_params,
                                                        device=d)),
    "train_fc_net": (lambda: _numpy_fc().train, lambda d: partial(torch_fc.train_fc_net, _torch_fc(d))),
    "knn.train": (lambda: numpy_knn.KNearestNeighbor().train,
                  lambda d: torch_knn.KNearestNeighbor(device=d).train),
    "knn.predict": (lambda: _knn(numpy_knn).predict, lambda d: _knn(torch_knn, d).predict),
    "knn.compute_distances": (lambda: _knn(numpy_knn).compute_distances_no_loops,
                              lambda d: _knn(torch_knn, d).compute_distances),
    "knn.predict_labels": (lambda: _knn(numpy_knn).predict_labels,
                           lambda d: _knn(torch_knn, d).predict_labels),
}

NET_PARAMS = _numpy_two_layer().params
FC_PARAMS = _numpy_fc().params


def probe(twin: str, label: str, *args, **kwargs):
    return pytest.param(twin, args, kwargs, id=f"{twin}: {label}")


LINEAR_PROBES = [
    ("label -100", (W, X, np.array([-100, 1]), 0.0)),
    ("label C", (W, X, np.array([0, 3]), 0.0)),
    ("float labels", (W, X, np.array([0.7, 1.2]), 0.0)),
    ("bool labels", (W, X, np.array([False, True]), 0.0)),
    ("more labels than rows", (W, X, np.array([0, 1, 2]), 0.0)),
    ("labels 2-D", (W, X, Y[:, None], 0.0)),
    ("NaN in X", (W, NAN, Y, 0.0)),
    ("inf in W", (np.full((4, 3), np.inf), X, Y, 0.0)),
    ("empty batch", (W, X[:0], Y[:0], 0.0)),
    ("X width 5, W 4 rows", (W, np.zeros((2, 5)), Y, 0.0)),
    ("W 1-D", (np.zeros(4), X, Y, 0.0)),
    ("bool X", (W, X.astype(bool), Y, 0.0)),
    ("complex X", (W, X.astype(complex), Y, 0.0)),
    ("text X", (W, np.full((2, 4), "a"), Y, 0.0)),
    ("reg -1", (W, X, Y, -1.0)),
    ("reg NaN", (W, X, Y, float("nan"))),
    ("reg text", (W, X, Y, "0.1")),
    ("reg bool", (W, X, Y, True)),
]
SCORE_PROBES = [
    ("label -100", (SCORES, np.array([-100, 1, 2]))),
    ("label C", (SCORES, np.array([0, 1, 4]))),
    ("float labels", (SCORES, np.array([0.0, 1.0, 2.0]))),
    ("fewer labels than rows", (SCORES, np.array([0, 1]))),
    ("NaN scores", (np.full((3, 4), np.nan), SCORE_LABELS)),
    ("no rows", (SCORES[:0], SCORE_LABELS[:0])),
    ("scores 1-D", (np.zeros(4), np.array([0]))),
]
CLASSIFIER_PROBES = [
    ("label -100", (X_TRAIN, _first_is(-100)), TRAIN),
    ("float labels", (X_TRAIN, Y_TRAIN + 0.7), TRAIN),
    ("more labels than rows", (X_TRAIN, np.r_[Y_TRAIN, 0]), TRAIN),
    ("NaN in X", (np.full_like(X_TRAIN, np.nan), Y_TRAIN), TRAIN),
    ("X 1-D", (X_TRAIN[0], Y_TRAIN[:1]), TRAIN),
    ("bool X", (X_TRAIN > 0, Y_TRAIN), TRAIN),
    ("no rows", (X_TRAIN[:0], Y_TRAIN[:0]), TRAIN),
    ("reg -1", (X_TRAIN, Y_TRAIN), dict(TRAIN, reg=-1.0)),
    ("num_iters -5", (X_TRAIN, Y_TRAIN), dict(TRAIN, num_iters=-5)),
]
TRAINED_CLASSIFIER_PROBES = [
    ("train", "label C with W (5, 3)", (X_TRAIN, np.full(20, 3)), TRAIN),
    ("train", "width 4 with W (5, 3)", (X_TRAIN[:, :4], Y_TRAIN), TRAIN),
    ("predict", "NaN input", (np.full((2, 5), np.nan),), {}),
    ("predict", "width 4", (np.zeros((2, 4)),), {}),
    ("predict", "X 1-D", (np.zeros(5),), {}),
    ("predict", "bool X", (np.zeros((2, 5), bool),), {}),
]
NET_X = np.zeros((2, 4))
NET_LOSS_PROBES = [
    ("label -100", (NET_X, np.array([-100, 0])), {}),
    ("float labels", (NET_X, np.array([0.7, 1.2])), {}),
    ("more labels than rows", (NET_X, np.array([0, 1, 2])), {}),
    ("empty batch", (NET_X[:0], np.zeros(0, int)), {}),
    ("width 5", (np.zeros((2, 5)), Y), {}),
    ("X 1-D", (np.zeros(4), Y), {}),
    ("bool X", (NET_X.astype(bool), Y), {}),
    ("NaN in X", (NAN, Y), {}),
    ("inf in X, scores wanted", (INF,), {}),
]
NET_PREDICT_PROBES = [
    ("NaN input", (NAN,), {}),
    ("width 5", (np.zeros((2, 5)),), {}),
    ("batch_size 0", (NET_X,), dict(batch_size=0)),
]


def _params_probes(params):
    first_b = "b1"
    return [
        ("NaN W1", (dict(params, W1=np.full_like(params["W1"], np.nan)),)),
        ("inf in the last bias", (dict(params, **{sorted(k for k in params if k[0] == "b")[-1]:
                                                  np.full(3, np.inf)}),)),
        ("b1 of the wrong shape", (dict(params, **{first_b: np.zeros(4)}),)),
        ("W1 1-D", (dict(params, W1=np.zeros(4)),)),
        ("b1 missing", ({k: v for k, v in params.items() if k != first_b},)),
        ("text W1", (dict(params, W1=np.full(params["W1"].shape, "a")),)),
        ("W2 does not chain", (dict(params, W2=np.zeros((6, 3))),)),
    ]


NET_TRAIN_PROBES = [
    ("label -100", (X_NET, _first_is(-100), X_NET, Y_NET), dict(num_iters=2, batch_size=5)),
    ("float labels", (X_NET, Y_NET + 0.5, X_NET, Y_NET), dict(num_iters=2, batch_size=5)),
    ("more labels than rows", (X_NET, np.r_[Y_NET, 0], X_NET, Y_NET), dict(num_iters=2, batch_size=5)),
    ("y_val shorter", (X_NET, Y_NET, X_NET[:5], Y_NET[:4]), dict(num_iters=2, batch_size=5)),
    ("NaN X_val", (X_NET, Y_NET, np.full_like(X_NET, np.nan), Y_NET), dict(num_iters=2, batch_size=5)),
    ("num_iters -5", (X_NET, Y_NET, X_NET, Y_NET), dict(num_iters=-5, batch_size=5)),
    ("monitor_size 0", (X_NET, Y_NET, X_NET, Y_NET), dict(num_iters=2, batch_size=5, monitor_size=0)),
]
KNN_TRAIN_PROBES = [
    ("X 1-D", (np.zeros(4), np.array([0, 1, 0, 1]))),
    ("bool X", (np.zeros((4, 3), bool), np.array([0, 1, 0, 1]))),
    ("text X", (np.full((4, 3), "a"), np.array([0, 1, 0, 1]))),
    ("float labels", (np.zeros((4, 3)), np.array([0.5, 1, 0, 1]))),
    ("bool labels", (np.zeros((4, 3)), np.array([False, True, False, True]))),
    ("more labels than rows", (np.zeros((4, 3)), np.array([0, 1, 0, 1, 0]))),
    ("label -100", (np.zeros((4, 3)), np.array([0, -100, 0, 1]))),
    ("no rows", (np.zeros((0, 3)), np.zeros(0, int))),
]
KNN_TEST_PROBES = [
    ("knn.predict", "NaN input", (np.full((2, 3), np.nan),), {}),
    ("knn.predict", "X_test 1-D", (np.zeros(3),), {}),
    ("knn.predict", "width 5", (np.zeros((2, 5)),), {}),
    ("knn.predict", "k 0", (np.zeros((2, 3)),), dict(k=0)),
    ("knn.predict", "k True", (np.zeros((2, 3)),), dict(k=True)),
    ("knn.compute_distances", "inf input", (np.full((2, 3), np.inf),), {}),
    ("knn.predict_labels", "NaN distances", (np.full((3, 4), np.nan),), {}),
    ("knn.predict_labels", "2 columns for 4 training rows", (np.zeros((3, 2)),), {}),
]

PROBES = [
    *(probe(loss, label, *args) for loss in ("svm_loss", "softmax_loss") for label, args in LINEAR_PROBES),
    probe("svm_loss", "delta -1", W, X, Y, 0.0, delta=-1.0),
    *(probe(loss, label, *args) for loss in ("layers.softmax_loss", "layers.svm_loss")
      for label, args in SCORE_PROBES),
    probe("layers.svm_loss", "delta NaN", SCORES, SCORE_LABELS, delta=float("nan")),
    probe("affine_forward", "x 1-D", np.zeros(4), np.zeros((4, 3)), np.zeros(3)),
    probe("affine_forward", "width 5, w 4 rows", np.zeros((2, 5)), np.zeros((4, 3)), np.zeros(3)),
    probe("affine_forward", "b (2,) for M 3", np.zeros((2, 4)), np.zeros((4, 3)), np.zeros(2)),
    *(probe(f"{name}.train", label, *args, **kwargs) for name in ("LinearSVM", "Softmax")
      for label, args, kwargs in CLASSIFIER_PROBES),
    *(probe(f"{name}.{method} (trained)", label, *args, **kwargs) for name in ("LinearSVM", "Softmax")
      for method, label, args, kwargs in TRAINED_CLASSIFIER_PROBES),
    *(probe(f"{net}.loss", label, *args, **kwargs) for net in ("TwoLayerNet", "FullyConnectedNet")
      for label, args, kwargs in NET_LOSS_PROBES),
    probe("TwoLayerNet.loss", "reg -1", NET_X, Y, reg=-1.0),
    *(probe(f"{net}.predict", label, *args, **kwargs) for net in ("TwoLayerNet", "FullyConnectedNet")
      for label, args, kwargs in NET_PREDICT_PROBES),
    probe("TwoLayerNet.unit_statistics", "NaN input", NAN),
    *(probe("TwoLayerNet.from_params", label, *args) for label, args in _params_probes(NET_PARAMS)),
    *(probe("FullyConnectedNet.from_params", label, *args) for label, args in _params_probes(FC_PARAMS)),
    probe("FullyConnectedNet.from_params", "W3 without b3", dict(FC_PARAMS, W3=np.zeros((3, 3)))),
    probe("FullyConnectedNet.from_params", "reg -1", FC_PARAMS, reg=-1.0),
    *(probe(train, label, *args, **kwargs) for train in ("train_net", "train_fc_net")
      for label, args, kwargs in NET_TRAIN_PROBES),
    *(probe("knn.train", label, *args) for label, args in KNN_TRAIN_PROBES),
    *(probe(twin, label, *args, **kwargs) for twin, label, args, kwargs in KNN_TEST_PROBES),
]

# How the torch twin is given the input: as the NumPy arrays, or as tensors on a device.
FORMS = [pytest.param(None, id="arrays"), pytest.param("cpu", id="cpu tensors"),
         pytest.param("cuda", id="cuda tensors", marks=pytest.mark.cuda)]


def _as_tensor(value, device):
    """NumPy arrays torch can hold become tensors on ``device``; text arrays, dicts of
    parameters (``from_numpy_params`` takes NumPy arrays) and scalars stay as they are."""
    if device is None or not isinstance(value, np.ndarray) or value.dtype.kind not in "biufc":
        return value
    return torch.from_numpy(value).to(device)


def numpy_message(twin: str, args, kwargs) -> str:
    with pytest.raises(ValueError) as error:
        TWINS[twin][0]()(*args, **kwargs)
    return str(error.value)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("twin, args, kwargs", PROBES)
def test_torch_twin_refuses_with_the_numpy_message(twin, args, kwargs, form):
    message = numpy_message(twin, args, kwargs)
    torch_call = TWINS[twin][1](form or "cpu")
    torch_args = [_as_tensor(a, form) for a in args]
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        torch_call(*torch_args, **kwargs)


# ---- the defects, one by one ------------------------------------------------------------------

@pytest.mark.parametrize("call", [
    pytest.param(lambda: torch_softmax_loss(torch.zeros(4, 3), torch.zeros(2, 4), torch.tensor([-100, 1]), 0.0),
                 id="softmax_loss"),
    pytest.param(lambda: torch_layers.softmax_loss(torch.zeros(2, 3), torch.tensor([-100, 1])),
                 id="layers.softmax_loss"),
    pytest.param(lambda: TorchSoftmax().train(X_TRAIN, _first_is(-100), **TRAIN), id="TorchSoftmax.train"),
])
def test_label_minus_100_is_refused_not_ignored(call):
    # F.cross_entropy skips target -100 (ignore_index): the loss used to leave the row out.
    with pytest.raises(ValueError, match="labels must .* found -100"):
        call()


@pytest.mark.parametrize("cls", [TorchLinearSVM, TorchSoftmax])
def test_classifier_refuses_float_labels_and_extra_labels_and_stays_untouched(cls):
    clf = cls()
    with pytest.raises(ValueError, match="must hold integer class labels, got dtype float64"):
        clf.train(X_TRAIN, Y_TRAIN + 0.7, **TRAIN)  # used to train on the truncated labels
    with pytest.raises(ValueError, match="y has 21 labels but X has 20 rows"):
        clf.train(X_TRAIN, np.r_[Y_TRAIN, 0], **TRAIN)  # the extra label used to be ignored
    assert clf.W is None


def test_nan_input_never_predicts_class_0():
    for cls in (TorchLinearSVM, TorchSoftmax):
        clf = cls(dtype=np.float64)
        clf.train(X_TRAIN, Y_TRAIN, **TRAIN)
        with pytest.raises(ValueError, match="X contains NaN or infinite values"):
            clf.predict(np.full((3, 5), np.nan))  # argmax of NaN scores used to say 0
    for net in (_torch_two_layer("cpu"), _torch_fc("cpu")):
        with pytest.raises(ValueError, match="X contains NaN or infinite values"):
            net.predict(torch.full((3, 4), float("nan")))


@pytest.mark.parametrize("call", [
    pytest.param(lambda: torch_svm_loss(torch.zeros(4, 3), torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), 0.0),
                 id="svm_loss"),
    pytest.param(lambda: torch_softmax_loss(torch.zeros(4, 3), torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), 0.0),
                 id="softmax_loss"),
    pytest.param(lambda: torch_layers.svm_loss(torch.zeros(0, 3), torch.zeros(0, dtype=torch.int64)),
                 id="layers.svm_loss"),
    pytest.param(lambda: _torch_two_layer("cpu").loss(np.zeros((0, 4)), np.zeros(0, int)),
                 id="TwoLayerNet.loss"),
])
def test_empty_batch_is_refused_not_nan(call):
    with pytest.raises(ValueError, match="has no rows: the loss of zero examples is undefined"):
        call()


def test_empty_input_predicts_no_labels_on_both_sides():
    for numpy_net, torch_module in ((_numpy_two_layer(), _torch_two_layer("cpu")), (_numpy_fc(), _torch_fc("cpu"))):
        assert numpy_net.predict(np.zeros((0, 4))).shape == (0,)
        assert torch_module.predict(np.zeros((0, 4))).shape == (0,)  # torch.cat([]) used to fail


@pytest.mark.parametrize("load", [partial(torch_net.TwoLayerNet.from_numpy_params),
                                  partial(torch_fc.FullyConnectedNet.from_numpy_params)],
                         ids=["TwoLayerNet", "FullyConnectedNet"])
@pytest.mark.parametrize("name, value", [("W1", np.nan), ("b1", np.inf), ("W2", -np.inf)])
def test_from_numpy_params_refuses_non_finite_weights(load, name, value):
    params = dict(NET_PARAMS)
    params[name] = params[name].copy()
    params[name].flat[0] = value
    with pytest.raises(ValueError, match=f"^{name} contains NaN or infinite values$"):
        load(params)


def test_set_weights_refuses_non_finite_weights():
    with pytest.raises(ValueError, match="W contains NaN or infinite values"):
        TorchSoftmax().set_weights(np.full((5, 3), np.nan))


def _huge_weights():
    """W of 1e160 (its square overflows float64) and rows small enough that the scores do not
    (the NumPy side's test_linear_losses uses the same)."""
    rng = np.random.default_rng(0)
    return 1e160 * rng.standard_normal((5, 3)), 1e-150 * rng.standard_normal((4, 5)), np.array([0, 1, 2, 0])


@pytest.mark.parametrize("numpy_loss, torch_loss", [(svm_loss_vectorized, torch_svm_loss),
                                                    (softmax_loss_vectorized, torch_softmax_loss)],
                         ids=["svm", "softmax"])
def test_torch_losses_at_huge_weights(numpy_loss, torch_loss):
    W_big, X_small, y = _huge_weights()
    W_t = torch.from_numpy(W_big).requires_grad_(True)
    # reg 0: reg * sum(W**2) was 0 * inf = NaN; now the finite data loss, as on the NumPy side.
    loss = torch_loss(W_t, torch.from_numpy(X_small), torch.from_numpy(y), 0.0)
    expected_loss, expected_dW = numpy_loss(W_big, X_small, y, 0.0)
    (dW,) = torch.autograd.grad(loss, W_t)
    assert np.isfinite(float(loss.detach())) and float(loss.detach()) == pytest.approx(expected_loss, rel=1e-12)
    np.testing.assert_allclose(dW.numpy(), expected_dW, rtol=1e-12)
    # reg 1: the loss overflows; both sides say so with one message.
    message = numpy_message_of(lambda: numpy_loss(W_big, X_small, y, 1.0))
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        torch_loss(W_t, torch.from_numpy(X_small), torch.from_numpy(y), 1.0)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_torch_nets_at_huge_weights_reg_0():
    params = dict(NET_PARAMS, W1=np.full((4, 5), 1e160))
    X_zero = np.zeros((2, 4))
    loss = torch_net.TwoLayerNet.from_numpy_params(params).loss(X_zero, Y, reg=0.0)
    assert float(loss.detach()) == pytest.approx(TwoLayerNet.from_params(params).loss(X_zero, Y, reg=0.0)[0])
    message = numpy_message_of(lambda: TwoLayerNet.from_params(params).loss(X_zero, Y, reg=1.0))
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        torch_net.TwoLayerNet.from_numpy_params(params).loss(X_zero, Y, reg=1.0)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_score_losses_beyond_the_float_range_give_the_numpy_error():
    scores, y = np.array([[1e308, -1e308]]), np.array([1])
    for numpy_loss, torch_loss in ((layers.softmax_loss, torch_layers.softmax_loss),
                                   (layers.svm_loss, torch_layers.svm_loss)):
        message = numpy_message_of(lambda: numpy_loss(scores, y))
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            torch_loss(torch.from_numpy(scores), torch.from_numpy(y))


def numpy_message_of(call) -> str:
    with pytest.raises(ValueError) as error:
        call()
    return str(error.value)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("where", [0, 7, -1])
def test_one_non_finite_entry_anywhere_is_found(dtype, bad, where):
    from ref_torch.validation import all_finite

    t = torch.linspace(-1e3, 1e3, 24, dtype=dtype).reshape(4, 6)
    assert all_finite(t) and all_finite(t[:0])
    t.view(-1)[where] = bad
    assert not all_finite(t)
    with pytest.raises(ValueError, match="^X contains NaN or infinite values$"):
        torch_softmax_loss(torch.zeros(6, 3, dtype=dtype), t, torch.zeros(4, dtype=torch.int64), 0.0)


# ---- checked once per call, never per step ----------------------------------------------------

def test_training_steps_run_the_unchecked_losses(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a training step ran the public (checked) loss")

    import ref_torch.linear_svm
    import ref_torch.softmax
    monkeypatch.setattr(ref_torch.linear_svm, "check_linear_tensors", refuse)
    monkeypatch.setattr(ref_torch.softmax, "check_linear_tensors", refuse)
    for cls in (TorchLinearSVM, TorchSoftmax):
        assert len(cls().train(X_TRAIN, Y_TRAIN, num_iters=5, batch_size=5, seed=0)) == 5


def test_float_inputs_of_mixed_precision_are_promoted_as_numpy_does():
    W64, X32 = torch.zeros(4, 3, dtype=torch.float64, requires_grad=True), torch.zeros(2, 4)
    loss = torch_softmax_loss(W64, X32, torch.tensor([0, 1]), 0.0)
    assert loss.dtype == torch.float64  # NumPy: float32 X and float64 W compute in float64
    (dW,) = torch.autograd.grad(loss, W64)
    assert dW.dtype == torch.float64
    assert float(loss.detach()) == pytest.approx(softmax_loss_vectorized(W64.detach().numpy(), X32.numpy(),
                                                                np.array([0, 1]), 0.0)[0])


# ---- cuda: the checks run on the device ------------------------------------------------------

@pytest.mark.cuda
def test_checks_keep_cuda_tensors_on_the_device():
    from ref_torch.validation import check_label_tensor, check_tensor

    X_dev = torch.zeros(3, 4, device="cuda")
    assert check_tensor(X_dev, "X", 2) is X_dev
    y_dev = check_label_tensor(torch.tensor([0, 1, 2], device="cuda"), 3, 3)
    assert y_dev.device.type == "cuda"
    X_dev[1, 2] = float("nan")
    with pytest.raises(ValueError, match="^X contains NaN or infinite values$"):
        check_tensor(X_dev, "X", 2)
    with pytest.raises(ValueError, match=r"^y labels must lie in 0\.\.2, found -100\.\.1$"):
        check_label_tensor(torch.tensor([-100, 1, 0], device="cuda"), 3, 3)


@pytest.mark.cuda
def test_cuda_classifier_refuses_minus_100_and_nan():
    with pytest.raises(ValueError, match="labels must be >= 0, found -100"):
        TorchSoftmax(device="cuda").train(X_TRAIN, _first_is(-100), **TRAIN)
    clf = TorchSoftmax(device="cuda")
    clf.train(X_TRAIN, Y_TRAIN, **TRAIN)
    with pytest.raises(ValueError, match="X contains NaN or infinite values"):
        clf.predict(torch.full((2, 5), float("nan"), device="cuda"))


def test_torch_float_dtypes_are_accepted_where_numpy_ones_are():
    for dtype in (torch.float32, torch.float64):
        assert torch_net.TwoLayerNet(4, 3, 2, dtype=dtype).W1.dtype == dtype
    with pytest.raises(ValueError, match="dtype must be float32 or float64, got torch.int64"):
        torch_net.TwoLayerNet(4, 3, 2, dtype=torch.int64)


@pytest.mark.parametrize("side", ["numpy", "torch"])
def test_a_float32_net_refuses_inputs_beyond_float32(side):
    """A finite 1e300 would be inf after the cast: the message names X and the range, not the
    parameters."""
    X = np.full((2, 4), 1e300)
    if side == "numpy":
        from scratch_numpy.two_layer_net import TwoLayerNet
        net = TwoLayerNet(4, 3, 2, dtype=np.float32)
    else:
        net = torch_net.TwoLayerNet(4, 3, 2, dtype=np.float32)
    with pytest.raises(ValueError, match=r"X holds values up to 1e\+300, beyond what float32"):
        net.predict(X)
