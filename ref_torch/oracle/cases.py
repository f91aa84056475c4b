"""The inputs every loss kind is checked on, built from a real CIFAR-10 batch.

Each ``*_cases(X, y)`` takes dev rows ``X (N, 3072)`` float64 (the training
mean image subtracted) and labels ``y (N,)`` and returns
``[(case name, inputs)]``: float64 arrays (cast per dtype by the parity
harness), labels and scalars. Scales are chosen so that each case exercises a
different regime of the loss; random parts are seeded. Layers also get 4-D
inputs ``(N, 3, 32, 32)``, as CS231n feeds them.

The ``*_stability_cases`` give a softmax scores of the notes' magnitude
(``[123, 456, 789]``): the largest ~750, above 709.8 where float64 ``exp``
overflows, each row's spread ~650, below 708.4, so a softmax that subtracts the
row maximum stays finite and one that does not gets NaN (``ref_torch/oracle/stability.py``).
"""

from __future__ import annotations

import numpy as np

from ref_torch.layers import ACTIVATIONS

# Seed of every random case input.
CASE_SEED = 231
# Columns of the affine case's output.
AFFINE_OUTPUTS = 50
# Hidden units of the two-layer net's cases.
HIDDEN_SIZE = 50
# Hidden layers of the fully-connected net's cases: three affine layers, so the checked
# gradient flows through two hidden layers (W1, b1, W2, b2, W3, b3).
FC_HIDDEN_DIMS = (50, 40)
# Weight scales and reg values of the linear cases. 1e-4 is the assignment's
# initial scale (scores near 0, every margin ~1 active); at 1e-3 and 1e-2 the
# scores spread over tens of units, so active and inactive margins mix. Each
# reg > 0 makes 2 * reg * W a sizeable part of dW (2.5e4 is the assignment's
# value), so a missing or mis-scaled reg term fails float32 too.
PARITY_CASES = ((1e-4, 0.0), (1e-4, 2.5e4), (1e-3, 5e2), (1e-2, 0.0), (1e-2, 1e2))
# Per-class score offsets of the stability cases (see the module docstring).
STABILITY_OFFSETS = np.linspace(100.0, 750.0, 10)
STABILITY_NAME = "scores up to ~750 (needs the max shift)"
IMAGE_SHAPE = (3, 32, 32)


def linear_cases(X: np.ndarray, y: np.ndarray, num_classes: int = 10, seed: int = 0):
    """The bias trick applied, W at several scales: [(name, {"W", "X", "y", "reg"})]."""
    X = np.hstack([X, np.ones((X.shape[0], 1))])
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((X.shape[1], num_classes))
    return [(f"W scale {scale:g}, reg {reg:g}", {"W": scale * base, "X": X, "y": y, "reg": reg})
            for scale, reg in PARITY_CASES]


def _scaled_rows(X: np.ndarray, scale: float) -> np.ndarray:
    """Dev rows rescaled to standard deviation ``scale`` (real image structure, chosen range)."""
    return X * (scale / X.std())


def affine_cases(X, y):
    """Weights small (1e-3) and large (1e-1), random bias and upstream gradient."""
    rng = np.random.default_rng(CASE_SEED)
    n, d = X.shape
    cases = []
    for label, w_scale in (("weights 1e-3", 1e-3), ("weights 1e-1", 1e-1)):
        cases.append((label, dict(
            x=X, w=w_scale * rng.standard_normal((d, AFFINE_OUTPUTS)),
            b=rng.standard_normal(AFFINE_OUTPUTS),
            dout=rng.standard_normal((n, AFFINE_OUTPUTS)))))
    images = dict(cases[0][1], x=_as_images(X))
    cases.append(("weights 1e-3, images (N, 3, 32, 32)", images))
    return cases


def _as_images(X: np.ndarray) -> np.ndarray:
    """Rows (N, 3072) as CS231n's 4-D input (N, 3, 32, 32); others unchanged in shape."""
    return X.reshape(-1, *IMAGE_SHAPE) if X.shape[1] == np.prod(IMAGE_SHAPE) else X[:, None, :]


def activation_cases(X, y):
    """Dev rows at pre-activation scales 1 (the working range) and 10 (saturating),
    and a case with exact zeros (ReLU's kink: the derivative there must be 0)."""
    rng = np.random.default_rng(CASE_SEED)
    cases = []
    for scale in (1.0, 10.0):
        x = _scaled_rows(X, scale)
        cases.append((f"inputs of scale {scale:g}", dict(x=x, dout=rng.standard_normal(x.shape))))
    x = _scaled_rows(X, 1.0)
    x[rng.random(x.shape) < 0.1] = 0.0
    cases.append(("10% exact zeros", dict(x=x, dout=rng.standard_normal(x.shape))))
    images = _as_images(_scaled_rows(X, 1.0))
    cases.append(("images (N, 3, 32, 32)", dict(x=images, dout=rng.standard_normal(images.shape))))
    return cases


def score_cases(X, y):
    """Scores of a random linear map of the dev rows: moderate (~3) and large (~300,
    where an unshifted exp overflows)."""
    rng = np.random.default_rng(CASE_SEED)
    W = rng.standard_normal((X.shape[1], 10))
    base = X @ W
    base /= base.std()
    return [(f"scores of scale {s:g}", dict(scores=s * base, y=y)) for s in (3.0, 300.0)]


def net_cases(X, y, hidden_size: int = HIDDEN_SIZE):
    """Seeded parameters large enough that every activation is in its working range
    (W1 ~ 1e-3 puts pre-activations at ~3) and biases nonzero; each activation at
    reg 0 and 0.1."""
    params = _net_params(X.shape[1], hidden_size)
    return [(f"{act}, reg {reg:g}", dict(X=X, y=y, reg=reg, activation=act, **params))
            for act in ACTIVATIONS for reg in (0.0, 0.1)]


def _net_params(D: int, hidden_size: int, C: int = 10) -> dict:
    rng = np.random.default_rng(CASE_SEED)
    return {
        "W1": 1e-3 * rng.standard_normal((D, hidden_size)),
        "b1": 0.1 * rng.standard_normal(hidden_size),
        "W2": 0.1 * rng.standard_normal((hidden_size, C)),
        "b2": 0.1 * rng.standard_normal(C),
    }


def linear_stability_cases(X, y):
    """Realistic weights (1e-4) whose bias row adds the stability offsets to every score."""
    name, inputs = linear_cases(X, y)[0]
    W = inputs["W"].copy()
    W[-1] += STABILITY_OFFSETS
    return [(STABILITY_NAME, dict(inputs, W=W))]


def score_stability_cases(X, y):
    name, inputs = score_cases(X, y)[0]
    return [(STABILITY_NAME, dict(inputs, scores=inputs["scores"] + STABILITY_OFFSETS))]


def net_stability_cases(X, y, hidden_size: int = HIDDEN_SIZE):
    """The relu net whose output bias adds the stability offsets."""
    params = _net_params(X.shape[1], hidden_size)
    params["b2"] = params["b2"] + STABILITY_OFFSETS
    return [(f"relu, reg 0, {STABILITY_NAME}", dict(X=X, y=y, reg=0.0, activation="relu", **params))]


def fc_net_cases(X, y, hidden_dims=FC_HIDDEN_DIMS):
    """Seeded parameters of a ReLU net with hidden layers ``hidden_dims``: first-layer
    weights 1e-3 (pre-activations ~3 on dev rows), deeper layers He-scaled, biases
    nonzero; at that scale and at 1.2x per layer (scores 1.2^3 = 1.7x larger, a row spread
    of ~70: still within what a correct shifted -log(p) survives in float32, see
    ``ref_torch/oracle/stability.py``), each at reg 0 and 0.1."""
    base = _fc_params(X.shape[1], hidden_dims)
    cases = []
    for factor in (1.0, 1.2):
        params = {k: v * factor if k.startswith("W") else v for k, v in base.items()}
        for reg in (0.0, 0.1):
            cases.append((f"hidden {list(hidden_dims)}, weights x{factor:g}, reg {reg:g}",
                          dict(X=X, y=y, reg=reg, **params)))
    return cases


def fc_net_stability_cases(X, y, hidden_dims=FC_HIDDEN_DIMS):
    """The net whose output bias adds the stability offsets."""
    params = _fc_params(X.shape[1], hidden_dims)
    last = f"b{len(hidden_dims) + 1}"
    params[last] = params[last] + STABILITY_OFFSETS
    return [(f"hidden {list(hidden_dims)}, reg 0, {STABILITY_NAME}", dict(X=X, y=y, reg=0.0, **params))]


def _fc_params(D: int, hidden_dims, C: int = 10) -> dict:
    rng = np.random.default_rng(CASE_SEED)
    sizes = [D, *hidden_dims, C]
    params = {}
    for l, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        scale = 1e-3 if l == 1 else np.sqrt(2.0 / fan_in)
        params[f"W{l}"] = scale * rng.standard_normal((fan_in, fan_out))
        params[f"b{l}"] = 0.1 * rng.standard_normal(fan_out)
    return params
