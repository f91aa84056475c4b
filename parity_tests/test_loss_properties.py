"""Property tests: every loss and layer, NumPy vs torch autograd in float64, on random
shapes (N, D, H from 1, C from 2) with entries from 1e-30 to 1e30 and scores up to 1e4.

Such inputs cancel and saturate, so "equal within a fixed relative tolerance" is not a
property they have. What holds for every input is a forward error bound: a sum of n
rounded products differs from the exact one by at most ``gamma(n) * sum |terms|``, with
``gamma(n) = n u / (1 - n u)`` and ``u = 2**-53``, whatever the summation order (BLAS
blocking, pairwise sums, fused multiply-add). Each test propagates such bounds through
the loss (the ``|.|`` version of each product, as in ``|X| @ |W|``) and requires, for the
loss and every gradient entry,

    |numpy - torch| <= PROPERTY_BOUND_SLACK * (bound of the numpy side + bound of torch)

Where neither side can know the answer, the example is left out rather than hidden
behind a loose bound: an SVM or ReLU input within its rounding bound of the kink at 0
(the subgradient there depends on the last bit). ``tiny`` (the smallest normal float)
is added where one side may round a result below the normal range to 0 and the other
keep a subnormal. ``test_bounds_fail_a_wrong_gradient`` proves each check can fail.

Linear inputs are scaled so that the largest ``|X| @ |W|`` lies in 1e-4..1e4: entries
still span 1e-30..1e30, and the softmax sees scores where an unshifted exp overflows.

About 400 lines: each loss has its own bound, kept beside the strategies and the property
it guards so that a reader can check one against the other.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ref_torch.oracle.kinds import KINDS, load_reference
from ref_torch.oracle.numerical import scalar_of
from ref_torch.oracle.user_code import Guard
from ref_torch.linear_svm import svm_loss as torch_svm
from ref_torch.softmax import softmax_loss as torch_softmax
from ref_torch.tolerances import PROPERTY_BOUND_SLACK
from scratch_numpy.linear_svm import svm_loss_naive, svm_loss_vectorized
from scratch_numpy.softmax import softmax_loss_naive, softmax_loss_vectorized

U = 2.0 ** -53
TINY = np.finfo(np.float64).tiny
LIPSCHITZ = {"relu": 1.0, "sigmoid": 0.25, "tanh": 1.0}        # max |act'|
CURVATURE = {"relu": 0.0, "sigmoid": 0.1, "tanh": 0.77}        # max |act''|


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The tensors here have a few entries: a second thread only adds hand-over costs (10x)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def gamma(n: int) -> float:
    return n * U / (1 - n * U)


# ---- strategies ---------------------------------------------------------------------------

def magnitudes():
    """0, or +-m * 10**e with m in [1, 10) and e in -30..29."""
    nonzero = st.builds(lambda sign, m, e: sign * m * 10.0 ** e, st.sampled_from([-1.0, 1.0]),
                        st.floats(1.0, 10.0, exclude_max=True), st.integers(-30, 29))
    return st.one_of(st.just(0.0), nonzero)


def arrays(shape, elements=None):
    return hnp.arrays(np.float64, shape, elements=magnitudes() if elements is None else elements)


def labels(n: int, c: int):
    return hnp.arrays(np.int64, n, elements=st.integers(0, c - 1))


def sizes(low: int = 1):
    return st.integers(low, 5)


def _rescaled(draw, A, B, *extra):
    """``B`` (and ``extra``, added after the product) scaled so max(|A| @ |B| + |extra|) is
    10**k for a drawn k in -4..4: the products still span the whole range, the sums do not
    overflow a softmax."""
    scale = (np.abs(A) @ np.abs(B) + sum(np.abs(e) for e in extra)).max()
    factor = 10.0 ** draw(st.integers(-4, 4)) / scale if scale > 0 else 1.0
    return [B * factor, *(e * factor for e in extra)]


@st.composite
def linear_cases(draw):
    N, D, C = draw(sizes()), draw(sizes()), draw(sizes(2))
    X = draw(arrays((N, D)))
    [W] = _rescaled(draw, X, draw(arrays((D, C))))
    return dict(W=W, X=X, y=draw(labels(N, C)), reg=draw(st.sampled_from([0.0, 1e-3, 1.0, 2.5e4])))


@st.composite
def affine_cases(draw):
    N, D, M = draw(sizes()), draw(sizes()), draw(sizes())
    return dict(x=draw(arrays((N, D))), w=draw(arrays((D, M))), b=draw(arrays(M)),
                dout=draw(arrays((N, M))))


@st.composite
def activation_cases(draw):
    shape = (draw(sizes()), draw(sizes()))
    return dict(x=draw(arrays(shape)), dout=draw(arrays(shape)))


@st.composite
def score_cases(draw):
    N, C = draw(sizes()), draw(sizes(2))
    scores = draw(arrays((N, C), st.floats(-1e4, 1e4)))
    return dict(scores=scores, y=draw(labels(N, C)))


@st.composite
def net_cases(draw):
    N, D, H, C = draw(sizes()), draw(sizes()), draw(sizes()), draw(sizes(2))
    X = draw(arrays((N, D)))
    W1, b1 = _rescaled(draw, X, draw(arrays((D, H))), draw(arrays(H)))
    activation = draw(st.sampled_from(list(LIPSCHITZ)))
    h = _activation(activation, X @ W1 + b1)
    W2, b2 = _rescaled(draw, h, draw(arrays((H, C))), draw(arrays(C)))
    return dict(X=X, y=draw(labels(N, C)), W1=W1, b1=b1, W2=W2, b2=b2, activation=activation,
                reg=draw(st.sampled_from([0.0, 1e-3, 1.0])))


# ---- the two sides ------------------------------------------------------------------------

def run_both(numpy_fn, torch_fn, inputs: dict, wrt: tuple[str, ...]):
    """(numpy values, torch values): each a dict with "loss" and one entry per ``wrt`` name."""
    loss, grads = numpy_fn({k: v.copy() if isinstance(v, np.ndarray) else v
                            for k, v in inputs.items()})
    if not isinstance(grads, dict):
        grads = dict(zip(wrt, grads if isinstance(grads, (tuple, list)) else (grads,)))
    tensors = {k: torch.from_numpy(v.copy()) if isinstance(v, np.ndarray) else v
               for k, v in inputs.items()}
    for k in wrt:
        tensors[k].requires_grad_(True)
    torch_loss = torch_fn(tensors)
    if isinstance(torch_loss, tuple):  # a layer's reference: (L, out)
        torch_loss = torch_loss[0]
    torch_grads = torch.autograd.grad(torch_loss, [tensors[k] for k in wrt], allow_unused=True)
    numpy_values = {"loss": np.float64(loss), **{k: np.asarray(grads[k]) for k in wrt}}
    torch_values = {"loss": np.float64(torch_loss.item()),
                    **{k: (g.numpy() if g is not None else np.zeros_like(inputs[k]))
                       for k, g in zip(wrt, torch_grads)}}
    return numpy_values, torch_values


def check_within(numpy_values: dict, torch_values: dict, bounds: dict) -> None:
    """Every entry within ``PROPERTY_BOUND_SLACK * bound``; the message names the worst."""
    for name, bound in bounds.items():
        a, b = numpy_values[name], torch_values[name]
        assert a.shape == b.shape and np.isfinite(a).all(), (name, a)
        excess = np.abs(a - b) - PROPERTY_BOUND_SLACK * np.asarray(bound)
        assert (excess <= 0).all(), (
            f"{name}: numpy {a} vs torch {b}, |difference| {np.abs(a - b)} above "
            f"{PROPERTY_BOUND_SLACK} x bound {bound}")


# ---- error bounds -------------------------------------------------------------------------

def _activation(name, z):
    if name == "relu":
        return np.maximum(z, 0)
    return np.tanh(z) if name == "tanh" else 1 / (1 + np.exp(-np.clip(z, -709, 709)))


def softmax_bounds(s, score_error, y):
    """Cross-entropy of scores ``s`` (N, C) whose two sides differ by at most
    ``score_error`` (N, C). Returns (bound on the mean loss, bound on dscores (N, C))."""
    N, C = s.shape
    shifted = s - s.max(axis=1, keepdims=True)
    p = np.exp(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))
    # Each side's own rounding: the shift and the log-sum-exp are exact up to a few ulps of
    # the largest score; an exponent error e changes p by the factor exp(e).
    magnitude = np.abs(s).max(axis=1) + math.log(C) + 1
    row_error = score_error.max(axis=1)
    loss = (2 * row_error + 4 * gamma(C + 4) * magnitude).sum() / N
    exponent = 2 * row_error + 8 * gamma(C + 4) * magnitude
    with np.errstate(over="ignore"):  # no probability moves by more than 1
        dscores = np.minimum((p + TINY) * np.expm1(exponent)[:, None], 1.0) / N
    onehot = np.eye(C)[y]
    return loss, dscores + 2 * U * np.abs(p - onehot) / N


def svm_margins(W, X, y):
    """The SVM margins (0 at the correct class) and a bound on how far the two sides' differ."""
    N, D = X.shape
    rows = np.arange(N)
    s, A = X @ W, np.abs(X) @ np.abs(W)
    margins = s - s[rows, y][:, None] + 1
    margin_error = 2 * gamma(D + 2) * (A + A[rows, y][:, None] + np.abs(s) + 1)
    margins[rows, y] = margin_error[rows, y] = 0
    return margins, margin_error


def at_a_kink(value, error):
    """Entries within their rounding bound of 0: which side of the kink they fall on is a
    matter of the last bit, so NumPy and torch may take different subgradients."""
    return bool(((np.abs(value) <= error) & (error > 0)).any())


def linear_bounds(kind, W, X, y, reg):
    """Bounds for the SVM or softmax loss of ``W, X, y, reg`` (SVM margins off their kinks)."""
    N, D = X.shape
    C = W.shape[1]
    s, A = X @ W, np.abs(X) @ np.abs(W)
    score_error = 2 * gamma(D) * A
    penalty = reg * np.sum(W * W)
    if kind == "svm":
        rows = np.arange(N)
        margins, margin_error = svm_margins(W, X, y)
        active = margins > 0
        G = active.astype(float)
        G[rows, y] = -active.sum(axis=1)
        loss = (margin_error * active).sum() / N + 2 * gamma(N * C + D * C + 2) * (
            (margins * active).sum() / N + penalty)
        dW = 2 * gamma(N + C + 2) * (np.abs(X).T @ np.abs(G)) / N
    else:
        data_loss, dscores = softmax_bounds(s, score_error, y)
        shifted = s - s.max(axis=1, keepdims=True)
        p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        G = (p - np.eye(C)[y]) / N
        loss = data_loss + 2 * gamma(N + D * C + 2) * (np.abs(s).max() + penalty)
        dW = np.abs(X).T @ dscores + 2 * gamma(N + 2) * (np.abs(X).T @ np.abs(G))
    return {"loss": loss, "W": dW + 8 * U * reg * np.abs(W)}


def affine_bounds(x, w, b, dout):
    N, D = x.shape
    M = w.shape[1]
    out_magnitude = np.abs(x) @ np.abs(w) + np.abs(b)
    return {
        "loss": 2 * gamma(D + 1) * np.sum(out_magnitude * np.abs(dout))
        + 2 * gamma(N * M + 1) * np.sum(np.abs((x @ w + b) * dout)),
        "x": 2 * gamma(M) * (np.abs(dout) @ np.abs(w).T),
        "w": 2 * gamma(N) * (np.abs(x).T @ np.abs(dout)),
        "b": 2 * gamma(N) * np.abs(dout).sum(axis=0),
    }


def activation_bounds(name, x, dout):
    """Elementwise: out within a few ulps (or below the normal range), and dx within a few
    ulps of |dout|: act'(x) lies in [0, 1] and is formed from out by a subtraction."""
    out = _activation(name, x)
    out_error = 2 * gamma(8) * np.abs(out) + 2 * TINY
    return {"loss": np.sum(out_error * np.abs(dout)) + 2 * gamma(x.size + 1) * np.sum(np.abs(out * dout)),
            "x": 2 * gamma(8) * np.abs(dout) + TINY * np.abs(dout)}


def svm_score_bounds(scores, y):
    """Both sides form the margins by the same two IEEE operations, so they agree bit for bit
    and so do the active sets; only the order of the sums differs."""
    N, C = scores.shape
    rows = np.arange(N)
    margins = scores - scores[rows, y][:, None] + 1
    margins[rows, y] = 0
    G = (margins > 0).astype(float)
    G[rows, y] = -G.sum(axis=1)
    return {"loss": 2 * gamma(N * C + 1) * np.maximum(margins, 0).sum() / N,
            "scores": 2 * gamma(C + 1) * np.abs(G) / N}


def hidden_inputs(X, W1, b1):
    """z = X @ W1 + b1 and a bound on how far the two sides' z differ."""
    return X @ W1 + b1, 2 * gamma(X.shape[1] + 1) * (np.abs(X) @ np.abs(W1) + np.abs(b1))


def net_bounds(X, y, W1, b1, W2, b2, activation, reg):
    """Forward: the difference between the sides grows through each layer; backward: through
    softmax, the second affine layer, the activation and the first affine layer. (ReLU
    inputs off their kinks.)"""
    N, D = X.shape
    H, C = W2.shape
    z, z_error = hidden_inputs(X, W1, b1)
    h = _activation(activation, z)
    # A ReLU unit off its kink is 0 on both sides (z < 0) or passes z's error on (z > 0).
    slope = (z > 0) if activation == "relu" else LIPSCHITZ[activation]
    h_error = slope * z_error + 2 * gamma(8) * np.abs(h) + 2 * TINY
    s = h @ W2 + b2
    s_error = h_error @ np.abs(W2) + 2 * gamma(H + 1) * (np.abs(h) @ np.abs(W2) + np.abs(b2))
    loss, G_error = softmax_bounds(s, s_error, y)
    shifted = s - s.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    G = (p - np.eye(C)[y]) / N
    dh = G @ W2.T
    dh_error = G_error @ np.abs(W2).T + 2 * gamma(C) * (np.abs(G) @ np.abs(W2).T)
    derivative = (z > 0).astype(float) if activation == "relu" else (
        1 - h * h if activation == "tanh" else h * (1 - h))
    derivative_error = CURVATURE[activation] * z_error + 4 * gamma(4)
    dz_error = dh_error * np.abs(derivative) + np.abs(dh) * derivative_error
    penalty = reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    return {
        "loss": loss + 2 * gamma(N + D * H + H * C + 2) * (np.abs(s).max() + penalty),
        "W1": np.abs(X).T @ dz_error + 2 * gamma(N) * (np.abs(X).T @ np.abs(dh * derivative))
        + 8 * U * reg * np.abs(W1),
        "b1": dz_error.sum(axis=0) + 2 * gamma(N) * np.abs(dh * derivative).sum(axis=0),
        "W2": np.abs(h).T @ G_error + h_error.T @ np.abs(G) + 2 * gamma(N) * (np.abs(h).T @ np.abs(G))
        + 8 * U * reg * np.abs(W2),
        "b2": G_error.sum(axis=0) + 2 * gamma(N) * np.abs(G).sum(axis=0),
    }


# ---- the properties -----------------------------------------------------------------------

LINEAR = {"svm": (svm_loss_naive, svm_loss_vectorized, torch_svm),
          "softmax": (softmax_loss_naive, softmax_loss_vectorized, torch_softmax)}
SMALLEST_LINEAR = dict(W=np.array([[1e-30, -3e29]]), X=np.array([[2e-26]]), y=np.array([1]), reg=1.0)


@pytest.mark.parametrize("kind, variant", [(k, v) for k in LINEAR for v in (0, 1)],
                         ids=["svm_loss_naive", "svm_loss_vectorized",
                              "softmax_loss_naive", "softmax_loss_vectorized"])
@given(case=linear_cases())
@example(case=SMALLEST_LINEAR)
def test_linear_loss_matches_torch(kind, variant, case):
    assume(kind != "svm" or not at_a_kink(*svm_margins(case["W"], case["X"], case["y"])))
    numpy_loss, torch_loss = LINEAR[kind][variant], LINEAR[kind][2]
    numpy_values, torch_values = run_both(
        lambda t: numpy_loss(t["W"], t["X"], t["y"], t["reg"]),
        lambda t: torch_loss(t["W"], t["X"], t["y"], t["reg"]), case, ("W",))
    check_within(numpy_values, torch_values, linear_bounds(kind, **case))


def _kind_runner(kind_name):
    kind = KINDS[kind_name]
    reference = kind.prepare(load_reference(kind))  # as the oracle prepares a user's target

    def numpy_fn(t):  # a layer's value is its output: compare L = sum(out * dout), as torch's
        value, grads = kind.call_numpy(reference, t, Guard())
        return scalar_of(value, t, kind.dout_names), grads
    return lambda case: run_both(numpy_fn, kind.torch_loss, case, kind.wrt)


@given(case=affine_cases())
@example(case=dict(x=np.array([[3e29]]), w=np.array([[-1e-30]]), b=np.array([0.0]),
                   dout=np.array([[1e-12]])))
def test_affine_matches_torch(case):
    check_within(*_kind_runner("affine")(case), affine_bounds(**case))


@pytest.mark.parametrize("name", list(LIPSCHITZ))
@given(case=activation_cases())
@example(case=dict(x=np.array([[-720.0, 0.0, 30.0, 1e-30]]), dout=np.array([[1e30, 1.0, -1.0, 2.0]])))
def test_activation_matches_torch(name, case):
    check_within(*_kind_runner(name)(case), activation_bounds(name, **case))


@given(case=score_cases())
@example(case=dict(scores=np.array([[1e4, -1e4]]), y=np.array([1])))
def test_softmax_scores_match_torch(case):
    loss, dscores = softmax_bounds(case["scores"], np.zeros_like(case["scores"]), case["y"])
    check_within(*_kind_runner("softmax_scores")(case), {"loss": loss, "scores": dscores})


@given(case=score_cases())
@example(case=dict(scores=np.array([[1e4, -1e4]]), y=np.array([1])))
def test_svm_scores_match_torch(case):
    check_within(*_kind_runner("svm_scores")(case), svm_score_bounds(**case))


@given(case=net_cases())
@example(case=dict(X=np.array([[1e-30]]), y=np.array([0]), W1=np.array([[3e31]]), b1=np.array([0.5]),
                   W2=np.array([[1e3, -1e3]]), b2=np.array([0.0, 1e-30]), activation="tanh", reg=1.0))
def test_two_layer_net_matches_torch(case):
    assume(case["activation"] != "relu" or not at_a_kink(*hidden_inputs(case["X"], case["W1"], case["b1"])))
    check_within(*_kind_runner("two_layer_net")(case), net_bounds(**case))


# ---- each check fails a wrong gradient ----------------------------------------------------

def _reg_without_factor_2(W, X, y, reg):
    loss, dW = softmax_loss_vectorized(W, X, y, reg)
    return loss, dW - reg * W


def _sigmoid_backward_without_1_minus_s(inputs):
    x, dout = inputs["x"], inputs["dout"]
    s = 1 / (1 + np.exp(-x))
    return np.sum(s * dout), {"x": dout * s}


def _svm_counting_the_correct_class(W, X, y, reg):
    loss, dW = svm_loss_vectorized(W, X, y, reg)
    return loss + 1.0, dW


def _scaled_by(factor):
    def scaled(W, X, y, reg):
        loss, dW = softmax_loss_vectorized(W, X, y, reg)
        return loss, dW * factor
    return scaled


@pytest.mark.parametrize("wrong", [_reg_without_factor_2, _svm_counting_the_correct_class,
                                   _scaled_by(1 + 1e-9), _sigmoid_backward_without_1_minus_s],
                         ids=["reg gradient without its 2", "SVM loss counting y_i",
                              "dW scaled by 1 + 1e-9", "sigmoid backward without 1 - s"])
def test_bounds_fail_a_wrong_gradient(wrong):
    rng = np.random.default_rng(0)
    # Entries of X ~1e20, of W ~1e-20: scores ~1; reg 1e40 makes the L2 term ~1 as well.
    W, X, y = rng.standard_normal((4, 3)), 1e20 * rng.standard_normal((5, 4)), np.array([0, 1, 2, 0, 1])
    W *= 1.0 / (np.abs(X) @ np.abs(W)).max()
    if wrong is _sigmoid_backward_without_1_minus_s:
        case = dict(x=rng.standard_normal((3, 4)), dout=rng.standard_normal((3, 4)))
        values = run_both(wrong, KINDS["sigmoid"].torch_loss, case, ("x",))
        bounds = activation_bounds("sigmoid", **case)
    else:
        kind = "svm" if wrong is _svm_counting_the_correct_class else "softmax"
        assert not at_a_kink(*svm_margins(W, X, y))
        values = run_both(lambda t: wrong(t["W"], t["X"], t["y"], t["reg"]),
                          lambda t: LINEAR[kind][2](t["W"], t["X"], t["y"], t["reg"]),
                          dict(W=W, X=X, y=y, reg=1e40), ("W",))
        bounds = linear_bounds(kind, W, X, y, 1e40)
    with pytest.raises(AssertionError, match="above"):
        check_within(*values, bounds)
