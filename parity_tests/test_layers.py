"""Layers of ``scratch_numpy/layers.py``: torch autograd parity, numerical gradients,
wrong implementations caught with the wrong array named, bad input."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from ref_torch.oracle.kinds import get_kind, load_reference
from ref_torch.oracle import run_kind
from ref_torch.tolerances import GRAD_CHECK_RTOL
from ref_torch.oracle.user_code import TargetError, load_target
from scratch_numpy import layers
from scratch_numpy.gradient_check import eval_numerical_gradient_array, rel_error
from ref_torch.oracle import api
from scripts import check_gradient

LAYER_KINDS = ["affine", "relu", "sigmoid", "tanh", "softmax_scores", "svm_scores"]
H = 1e-5  # numerical-gradient step


@pytest.mark.parametrize("kind_name", LAYER_KINDS)
def test_layer_matches_torch_autograd(kind_name, dev_batch, dtype, device):
    X, y = dev_batch
    kind = get_kind(kind_name)
    reports = run_kind(kind, load_reference(kind), X, y, dtypes=[dtype], devices=[device])
    assert len(reports) >= 2
    for report in reports:
        assert report.passed, str(report)


# ---- numerical gradients (float64, a small slice of the dev batch) ----------------------

@pytest.fixture
def small_rows(dev_batch):
    """4 dev rows, 60 features each, scaled to unit std: a slice where every probe is cheap."""
    X = dev_batch[0][:4, :60]
    return X / X.std()


def test_affine_backward_matches_numerical_gradient(small_rows):
    rng = np.random.default_rng(0)
    x = small_rows.copy()
    w, b = rng.standard_normal((60, 7)), rng.standard_normal(7)
    dout = rng.standard_normal((4, 7))
    dx, dw, db = layers.affine_backward(dout, layers.affine_forward(x, w, b)[1])
    for name, value, analytic in (("x", x, dx), ("w", w, dw), ("b", b, db)):
        def f(_):
            return layers.affine_forward(x, w, b)[0]
        numerical = eval_numerical_gradient_array(f, value, dout, h=H)
        assert rel_error(numerical, analytic) <= GRAD_CHECK_RTOL, name


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_smooth_activation_backward_matches_numerical_gradient(name, small_rows):
    forward, backward = getattr(layers, f"{name}_forward"), getattr(layers, f"{name}_backward")
    x = small_rows.copy()
    dout = np.random.default_rng(1).standard_normal(x.shape)
    numerical = eval_numerical_gradient_array(lambda v: forward(v)[0], x, dout, h=H)
    assert rel_error(numerical, backward(dout, forward(x)[1])) <= GRAD_CHECK_RTOL


def relu_numerical_check(x, dout):
    """Numerical vs analytic ReLU gradient; probes whose interval [x-h, x+h] holds the
    kink at 0 are reported, not judged. Returns (max rel error off kinks, kink count)."""
    numerical = eval_numerical_gradient_array(lambda v: layers.relu_forward(v)[0], x, dout, h=H)
    analytic = layers.relu_backward(dout, layers.relu_forward(x)[1])
    kink = np.abs(x) <= H
    return rel_error(numerical[~kink], analytic[~kink]), int(kink.sum())


def test_relu_backward_matches_numerical_gradient_off_the_kink(small_rows):
    x = small_rows.copy()
    x[0, :5] = 0.0  # exact zeros: the centred difference straddles the kink there
    x[1, :3] = 0.3 * H  # inside the probe interval too
    dout = np.random.default_rng(2).standard_normal(x.shape)
    error, kinks = relu_numerical_check(x, dout)
    print(f"relu: max rel error {error:.2e} off the kink; {kinks} kink probe(s) reported, not judged")
    assert kinks == 8
    assert error <= GRAD_CHECK_RTOL


@pytest.mark.parametrize("name", ["softmax_loss", "svm_loss"])
def test_loss_layer_matches_numerical_gradient(name, small_rows, dev_batch):
    fn = getattr(layers, name)
    scores = 3 * small_rows[:, :10].copy()
    y = dev_batch[1][:4]
    _, dscores = fn(scores, y)
    numerical = eval_numerical_gradient_array(lambda s: np.array(fn(s, y)[0]), scores,
                                              np.array(1.0), h=H)
    assert rel_error(numerical, dscores) <= GRAD_CHECK_RTOL


def test_softmax_loss_is_stable_for_huge_scores():
    scores = np.array([[1000.0, 0.0, -1000.0], [0.0, 1e4, 0.0]])
    loss, dscores = layers.softmax_loss(scores, np.array([0, 0]))
    assert np.isfinite(loss) and np.isfinite(dscores).all()
    assert loss == pytest.approx(1e4 / 2)


def test_sigmoid_does_not_overflow():
    out, _ = layers.sigmoid_forward(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_array_equal(out, [0.0, 0.5, 1.0])


def test_relu_derivative_at_zero_is_zero():
    dx = layers.relu_backward(np.ones(3), layers.relu_forward(np.array([-1.0, 0.0, 1.0]))[1])
    np.testing.assert_array_equal(dx, [0.0, 0.0, 1.0])


# ---- wrong user implementations are caught, the wrong array named -----------------------

WRONG_LAYERS = {
    "affine": ("""
        import numpy as np
        def affine_forward(x, w, b):
            return x @ w + b, (x, w, b)
        def affine_backward(dout, cache):
            x, w, b = cache
            return dout @ w.T, x.T @ dout, dout.mean(axis=0)  # db should be a sum
        """, "affine_forward", ["db"]),
    "relu": ("""
        import numpy as np
        def relu_forward(x):
            return np.maximum(x, 0), x
        def relu_backward(dout, cache):
            return dout * (cache >= 0)  # passes gradient at exactly 0
        """, "relu_forward", ["dx"]),
    "sigmoid": ("""
        import numpy as np
        def sigmoid_forward(x):
            s = 1 / (1 + np.exp(-x))
            return s, s
        def sigmoid_backward(dout, cache):
            return dout * cache  # forgot the (1 - s) factor
        """, "sigmoid_forward", ["dx"]),
    "tanh": ("""
        import numpy as np
        def tanh_forward(x):
            return np.tanh(x), x  # caches the input ...
        def tanh_backward(dout, cache):
            return dout * (1 - cache ** 2)  # ... but treats it as the output
        """, "tanh_forward", ["dx"]),
    "softmax_scores": ("""
        import numpy as np
        def softmax_loss(scores, y):
            shifted = scores - scores.max(axis=1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            n = len(y)
            loss = -log_p[np.arange(n), y].mean()
            p = np.exp(log_p)
            p[np.arange(n), y] -= 1
            return loss, p  # forgot to divide by N
        """, "softmax_loss", ["dscores"]),
    "svm_scores": ("""
        import numpy as np
        def svm_loss(scores, y):
            n = len(y)
            margins = np.maximum(0, scores - scores[np.arange(n), y][:, None] + 1)
            margins[np.arange(n), y] = 0
            dscores = (margins > 0).astype(float)
            dscores[np.arange(n), y] = -1  # should be minus the count of positive margins
            return margins.sum() / n, dscores / n
        """, "svm_loss", ["dscores"]),
}


@pytest.mark.parametrize("kind_name", sorted(WRONG_LAYERS))
def test_wrong_layer_fails_naming_the_wrong_array(kind_name, tmp_path, dev_batch):
    source, target, wrong = WRONG_LAYERS[kind_name]
    path = tmp_path / f"student_{kind_name}.py"
    path.write_text(textwrap.dedent(source))
    user_fn = load_target(f"{path}:{target}")
    X, y = dev_batch
    reports = run_kind(get_kind(kind_name), user_fn, X, y, devices=["cpu"])
    failed = [r for r in reports if not r.passed]
    assert failed, "a wrong implementation passed"
    for report in failed:
        if report.error:  # the wrong affine also lacks the reshape: 4-D input raises
            assert kind_name == "affine" and "images" in report.case, str(report)
        else:
            assert report.failed_names == wrong, str(report)


def test_layer_kind_without_backward_is_a_usage_error(tmp_path, dev_batch):
    path = tmp_path / "only_forward.py"
    path.write_text("import numpy as np\ndef relu_forward(x):\n    return np.maximum(x, 0), x\n")
    user_fn = load_target(f"{path}:relu_forward")
    X, y = dev_batch
    with pytest.raises(TargetError, match="relu_backward not found beside relu_forward"):
        run_kind(get_kind("relu"), user_fn, X[:20], y[:20], dtypes=[np.float64], devices=["cpu"])


def test_check_gradient_command_accepts_user_layers(tmp_path, monkeypatch, dev_batch, capsys):
    source, target, _ = WRONG_LAYERS["sigmoid"]
    path = tmp_path / "student_sigmoid.py"
    path.write_text(textwrap.dedent(source))
    monkeypatch.setattr(api, "load_dev_batch", lambda *a, **k: dev_batch)
    assert check_gradient.main([f"{path}:{target}", "--kind", "sigmoid", "--device", "cpu"]) == 1
    assert "FAIL" in capsys.readouterr().out
    reference = "scratch_numpy/layers.py:sigmoid_forward"
    assert check_gradient.main([reference, "--kind", "sigmoid", "--device", "cpu"]) == 0


# ---- bad input ----------------------------------------------------------------------------

def test_affine_rejects_wrong_width():
    with pytest.raises(ValueError, match="features per row"):
        layers.affine_forward(np.zeros((2, 5)), np.zeros((4, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="b \\(M,\\)"):
        layers.affine_forward(np.zeros((2, 4)), np.zeros((4, 3)), np.zeros(2))


@pytest.mark.parametrize("fn", [layers.softmax_loss, layers.svm_loss])
def test_loss_layers_reject_bad_input(fn):
    scores = np.zeros((3, 4))
    with pytest.raises(ValueError, match="labels must lie in 0..3"):
        fn(scores, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match="labels but X has"):
        fn(scores, np.array([0, 1]))
    with pytest.raises(ValueError, match="integer class labels"):
        fn(scores, np.array([0.0, 1.0, 2.0]))
    bad = scores.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        fn(bad, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="no rows"):
        fn(np.zeros((0, 4)), np.zeros(0, dtype=int))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")  # NumPy's, before the error
@pytest.mark.parametrize("loss", [layers.softmax_loss, layers.svm_loss], ids=lambda f: f.__name__)
def test_score_loss_beyond_the_float_range_is_a_clear_error(loss):
    # Finite scores 2e308 apart: the loss of the one row is ~2e308. It used to come back inf.
    with pytest.raises(ValueError, match="the loss is inf although every input is finite"):
        loss(np.array([[1e308, -1e308]]), np.array([1]))


@pytest.mark.parametrize("shape", [(3, 4), (300, 250)])  # one sum block, and several with a rest
def test_add_l2_term_adds_the_reg_term_in_blocks(shape):
    rng = np.random.default_rng(0)
    W, dW = rng.standard_normal(shape), rng.standard_normal(shape)
    expected_grad = dW + 2 * 0.3 * W
    for w, g in ((W, dW.copy()), (np.asfortranarray(W), np.asfortranarray(dW))):  # blocked, fallback
        assert layers.add_l2_term(w, g, 0.3) == pytest.approx(0.3 * np.sum(W * W), rel=1e-13)
        np.testing.assert_allclose(g, expected_grad, rtol=1e-15)
    untouched = dW.copy()
    assert layers.add_l2_term(np.full(shape, 1e300), untouched, 0.0) == 0.0  # not 0 * inf
    np.testing.assert_array_equal(untouched, dW)


def test_add_l2_term_sums_fixed_blocks_in_order_and_is_elementwise_exact():
    # Over several blocks with a rest: the loss is the in-order sum of np.dot over blocks of
    # SUM_BLOCK elements (the split training's loss bits depend on), and dW gets exactly
    # dW + (2 reg) W, element by element, whatever the block size of the pass.
    rng = np.random.default_rng(3)
    shape = (3 * layers.BLOCK // 1000 + 1, 1000)
    W, dW = rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape).astype(np.float32)
    got = dW.copy()
    loss = layers.add_l2_term(W, got, 0.03)
    w, total = W.reshape(-1), 0.0
    for i in range(0, w.size, layers.SUM_BLOCK):
        total += float(np.dot(w[i:i + layers.SUM_BLOCK], w[i:i + layers.SUM_BLOCK]))
    assert layers.BLOCK % layers.SUM_BLOCK == 0
    assert loss == 0.03 * total
    np.testing.assert_array_equal(got, dW + np.float32(2 * 0.03) * W)
