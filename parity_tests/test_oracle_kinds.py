"""The kinds of assignments 2 and 3 (``ref_torch/oracle/kinds.py``): found by name, built on
cases that run, passed by correct student code in every dtype and device, and tight enough
that a gradient or an output off by a hundred times the tolerance fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ref_torch.oracle import check_gradient
from ref_torch.oracle.adapters import find_backward
from ref_torch.oracle.kinds import KINDS, get_kind, kind_of_name
from ref_torch.oracle.user_code import load_target
from ref_torch.parity import torch_reference
from ref_torch.tolerances import PARITY_RTOL

FIXTURES = Path(__file__).parent / "oracle_fixtures"
A2 = FIXTURES / "assignment2_2024" / "cs231n" / "layers.py"
A3 = FIXTURES / "assignment3_2017" / "cs231n" / "rnn_layers.py"
GROUPNORM = FIXTURES / "groupnorm_layers.py"
# Its LSTM step is correct and, unlike the 2017 one, leaves its arguments alone.
A3_OTHER = FIXTURES / "assignment3_mistakes" / "cs231n" / "rnn_layers.py"

# A correct student implementation of every kind of assignments 2 and 3.
CORRECT = {
    "conv": (A2, "conv_forward_naive"),
    "max_pool": (A2, "max_pool_forward_naive"),
    "batchnorm": (A2, "batchnorm_forward"),
    "spatial_batchnorm": (A2, "spatial_batchnorm_forward"),
    "layernorm": (A2, "layernorm_forward"),
    "groupnorm": (GROUPNORM, "spatial_groupnorm_forward"),
    "dropout": (A2, "dropout_forward"),
    "rnn_step": (A3, "rnn_step_forward"),
    "rnn": (A3, "rnn_forward"),
    "lstm_step": (A3_OTHER, "lstm_step_forward"),
    "lstm": (A3, "lstm_forward"),
    "temporal_affine": (A3, "temporal_affine_forward"),
    "word_embedding": (A3, "word_embedding_forward"),
    "temporal_softmax_loss": (A3, "temporal_softmax_loss"),
}


def target(kind: str):
    file, name = CORRECT[kind]
    return load_target(f"{file}:{name}")


@pytest.mark.parametrize("name, kind", [
    ("conv_forward_naive", "conv"), ("conv_forward_fast", "conv"), ("conv_forward_im2col", "conv"),
    ("max_pool_forward_naive", "max_pool"), ("max_pool_forward_fast", "max_pool"),
    ("batchnorm_forward", "batchnorm"), ("spatial_batchnorm_forward", "spatial_batchnorm"),
    ("layernorm_forward", "layernorm"), ("spatial_groupnorm_forward", "groupnorm"),
    ("groupnorm_forward", "groupnorm"), ("dropout_forward", "dropout"),
    ("rnn_step_forward", "rnn_step"), ("rnn_forward", "rnn"), ("lstm_step_forward", "lstm_step"),
    ("lstm_forward", "lstm"), ("temporal_affine_forward", "temporal_affine"),
    ("word_embedding_forward", "word_embedding"), ("temporal_softmax_loss", "temporal_softmax_loss"),
    ("affine_forward", "affine"), ("Layers.affine_forward", "affine"), ("relu_forward", "relu"),
    ("softmax_loss", "softmax_scores"), ("svm_loss", "svm_scores"),
    ("svm_loss_naive", "svm"), ("svm_loss_vectorized", "svm"), ("LinearSVM.loss", "svm"),
    ("Softmax.loss", "softmax"), ("TwoLayerNet", "two_layer_net"),
    ("FullyConnectedNet.loss", "fc_net"),
    ("affine_relu_forward", None), ("conv_relu_pool_forward", None), ("ThreeLayerConvNet", None),
    ("svm_loss_vectorised", None),
])
def test_the_kind_is_found_by_name(name, kind):
    found = kind_of_name(name)
    assert (found.name if found else None) == kind


@pytest.mark.parametrize("kind_name", [k for k, kind in KINDS.items() if kind.dout_names])
def test_every_layer_case_runs_and_its_upstream_gradient_fits(kind_name, dev_batch):
    """The torch reference runs on every case, and each dout has its output's shape."""
    kind = get_kind(kind_name)
    if kind.setup:
        pytest.skip("--kind layer builds its case from the user's inputs")
    X, y = dev_batch
    inputs_of = dict(kind.make_cases(X, y))
    assert len(inputs_of) >= 3
    for name, inputs in inputs_of.items():
        if kind.reference_inputs:
            inputs = kind.reference_inputs(inputs, None)
        value, grads = torch_reference(kind.torch_loss, inputs, kind.wrt)
        outputs = value if len(kind.dout_names) > 1 else [value]
        for out, dout in zip(outputs, kind.dout_names):
            assert np.shape(out) == inputs[dout].shape, (name, dout)
        assert set(grads) == set(kind.wrt)


def test_the_cases_hold_the_regimes_mistakes_hide_in(dev_batch):
    X, y = dev_batch
    conv = [i["conv_param"] for _, i in get_kind("conv").make_cases(X, y)]
    assert {p["stride"] for p in conv} == {1, 2} and 0 in {p["pad"] for p in conv}
    shapes = [i["x"].shape for _, i in get_kind("conv").make_cases(X, y)]
    assert any(s[2] != s[3] for s in shapes) and any(s[0] == 1 for s in shapes)
    pools = [i["pool_param"] for _, i in get_kind("max_pool").make_cases(X, y)]
    assert any(p["stride"] < p["pool_height"] for p in pools)  # overlapping windows
    assert any(p["pool_height"] != p["pool_width"] for p in pools)
    masks = [i["mask"] for _, i in get_kind("temporal_softmax_loss").make_cases(X, y)]
    assert masks[0].all() and not all(m.all() for m in masks[1:])
    words = [i["x"] for _, i in get_kind("word_embedding").make_cases(X, y)]
    assert all(len(np.unique(x)) < x.size for x in words[:2])  # repeated words
    modes = {i["dropout_param"]["mode"] for _, i in get_kind("dropout").make_cases(X, y)}
    assert modes == {"train", "test"}


@pytest.mark.parametrize("kind_name", list(CORRECT))
def test_correct_student_code_passes_in_every_dtype_and_device(kind_name, device, dev_batch):
    X, y = dev_batch
    report = check_gradient(target(kind_name), X=X[:100], y=y[:100], devices=[device])
    assert report.kind == kind_name  # found by its name
    assert report.verdict == "pass" and not report.warnings, str(report)
    assert {r.dtype for r in report.cases} == {"float64", "float32"}
    float64 = [d.error for r in report.cases if r.dtype == "float64" for d in (r.loss, *r.grads)]
    assert max(float64) <= PARITY_RTOL[np.dtype(np.float64)]


def test_batchnorm_backward_alt_is_checked_with_backward(dev_batch):
    X, y = dev_batch
    report = check_gradient(target("batchnorm"), backward="batchnorm_backward_alt",
                            devices=["cpu"], dtypes=["float64"], X=X[:50], y=y[:50])
    assert report.verdict == "pass", str(report)


def _scaled(kind_name: str, factor: float, what: str):
    """The correct forward and a backward with its first gradient (``what="grad"``) or the
    forward's output (``what="out"``) multiplied by ``factor``."""
    forward = target(kind_name)
    if not get_kind(kind_name).dout_names:  # a loss: scale the loss or its gradient
        def loss(x, y, mask):
            value, dx = forward(x, y, mask)
            return (value * factor, dx) if what == "out" else (value, dx * factor)
        return loss, None
    backward = find_backward(forward)
    if what == "out":
        def scaled_forward(*args):
            out, *rest = forward(*args)
            return (out * factor, *rest)
        scaled_forward.__name__ = forward.__name__
        return scaled_forward, backward

    def scaled_backward(*args):
        grads = backward(*args)
        return (grads[0] * factor, *grads[1:]) if isinstance(grads, tuple) else grads * factor
    return forward, scaled_backward


@pytest.mark.parametrize("what", ["grad", "out"])
@pytest.mark.parametrize("kind_name", list(CORRECT))
def test_a_value_off_by_a_hundred_tolerances_fails(kind_name, what, dev_batch):
    """In each dtype, scaling by 1 + 100 tol fails and by 1 + tol / 100 passes."""
    X, y = dev_batch
    for dtype, tol in PARITY_RTOL.items():
        for factor, passes in ((1 + 100 * tol, False), (1 + tol / 100, True)):
            forward, backward = _scaled(kind_name, factor, what)
            report = check_gradient(forward, kind_name, backward=backward, X=X[:50], y=y[:50],
                                    dtypes=[dtype], devices=["cpu"])
            assert (report.verdict == "pass") == passes, (dtype, factor, str(report))
