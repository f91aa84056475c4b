"""``--kind layer``: any forward/backward pair, checked against the numerical gradient of its
own forward (and torch autograd when a torch forward is given), on layers this project does
not have: a naive convolution and batch normalization, correct and with planted mistakes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


from ref_torch.oracle import check_gradient
from ref_torch.tolerances import LAYER_NUMERICAL_RTOL
from ref_torch.oracle.user_code import TargetError, load_target
from scripts import check_gradient as command

LAYERS = Path(__file__).parent / "oracle_fixtures" / "conv_and_batchnorm.py"


def check_layer(forward, **options):
    return check_gradient(forward, "layer", **options)


def layer(name):
    return load_target(f"{LAYERS}:{name}")


@pytest.mark.parametrize("forward, inputs, torch_forward", [
    ("conv_forward_naive", "conv_inputs", "conv_torch"),
    ("batchnorm_forward", "batchnorm_inputs", "batchnorm_torch"),
])
def test_correct_layers_pass_both_references(forward, inputs, torch_forward):
    report = check_layer(layer(forward), inputs=layer(inputs)(), torch_forward=layer(torch_forward),
                         devices=["cpu"])
    assert report.passed, str(report)
    numerical = report.cases[0]
    assert numerical.case == "layer: numerical gradient of your forward"
    assert all(d.error < LAYER_NUMERICAL_RTOL / 1000 for d in numerical.grads), str(report)
    assert [r.case for r in report.cases[1:]] == ["layer: torch autograd"] * 2


@pytest.mark.parametrize("forward, inputs, wrong, diagnosis", [
    ("conv_pad_forward", "conv_inputs", ["dx"],
     "dx has shape (2, 3, 7, 7) but x has shape (2, 3, 5, 5): return it in the input's shape"),
    ("conv_db_mean_forward", "conv_inputs", ["db"], "db is 0.04 times the reference"),
    ("batchnorm_no_mean_forward", "batchnorm_inputs", ["dx"],
     "only dx is wrong; dgamma, dbeta agree in every case"),
])
def test_planted_mistakes_fail_with_the_diagnosis(forward, inputs, wrong, diagnosis):
    report = check_layer(layer(forward), inputs=layer(inputs)())
    assert not report.passed
    assert report.cases[0].failed_names == wrong, str(report)
    assert diagnosis in report.diagnoses, report.diagnoses


def test_a_mistake_tolerance_fails_just_above_rounding():
    """A backward scaled by 1 + 100 * tol fails the numerical reference; 1 + tol / 100 passes."""
    forward, backward = layer("batchnorm_forward"), layer("batchnorm_backward")
    for factor, passes in ((1 + 100 * LAYER_NUMERICAL_RTOL, False),
                           (1 + LAYER_NUMERICAL_RTOL / 100, True)):
        def scaled(dout, cache, factor=factor):
            dx, dgamma, dbeta = backward(dout, cache)
            return dx * factor, dgamma, dbeta
        report = check_layer(forward, backward=scaled, inputs=layer("batchnorm_inputs")())
        assert report.passed == passes, str(report)


def test_shapes_sampling_wrt_and_a_torch_lambda():
    relu = load_target("scratch_numpy/layers.py:relu_forward")
    report = check_layer(relu, shapes={"x": (50, 50)},
                         torch_forward="lambda x: torch.relu(x)", devices=["cpu"],
                         dtypes=["float64"])
    assert report.passed, str(report)
    assert "2000 of 2500 coordinates probed" in str(report)
    affine = load_target("scratch_numpy/layers.py:affine_forward")
    report = check_layer(affine, shapes=[(3, 2, 4), (8, 5), (5,)], wrt=["w"])
    assert report.passed and [d.name for d in report.cases[0].grads] == ["dw"]


def test_a_target_in_the_callers_own_package_leaves_its_modules_alone():
    """Checking this project's own file in-process must not re-import ``scratch_numpy``: the
    caller's classes (an exception type, say) would stop matching the re-imported ones."""
    import sys

    import scratch_numpy.layers
    import scratch_numpy.training

    before = dict(sys.modules)
    relu = load_target("scratch_numpy/layers.py:relu_forward")
    assert relu is scratch_numpy.layers.relu_forward
    assert sys.modules["scratch_numpy.training"] is before["scratch_numpy.training"]
    assert sys.modules["scratch_numpy"] is before["scratch_numpy"]


def test_layer_usage_errors():
    conv = layer("conv_forward_naive")
    with pytest.raises(TargetError, match="give the layer's inputs"):
        check_layer(conv)
    with pytest.raises(TargetError, match="cannot take these inputs"):
        check_layer(conv, shapes=[(2, 3)])
    with pytest.raises(TargetError, match="the torch forward fails on these inputs"):
        check_layer(conv, inputs=layer("conv_inputs")(), torch_forward="lambda x, w, b, p: x @ w")
    with pytest.raises(TargetError, match="floating-point array inputs"):
        check_layer(conv, inputs=layer("conv_inputs")(), wrt=["conv_param"])


def test_layer_from_the_command_and_the_api(capsys):
    assert command.main([f"{LAYERS}:conv_db_mean_forward", "--kind", "layer", "--inputs",
                         "conv_inputs", "--torch", "conv_torch", "--device", "cpu"]) == 1
    out = capsys.readouterr().out
    assert "diagnosis: db is 0.04 times the reference" in out and "Traceback" not in out
    assert command.main([f"{LAYERS}:batchnorm_forward", "--kind", "layer", "--shapes", "x=6,4",
                         "gamma=4", "beta=4"]) == 2
    assert "cannot take these inputs" in capsys.readouterr().err
    report = check_gradient(f"{LAYERS}:batchnorm_forward", "layer",
                            inputs=layer("batchnorm_inputs")())
    assert report.passed and np.isclose(report.cases[0].loss.numpy_value,
                                        report.cases[0].loss.torch_value)
