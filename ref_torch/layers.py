"""Torch twins of ``scratch_numpy/layers.py`` and their parity kinds.

The twins are forward functions only: autograd supplies the backward pass that
the NumPy side writes by hand. A forward/backward layer is checked through the
scalar ``L = sum(out * dout)`` with a fixed random ``dout``: its gradient with
respect to each input is exactly what ``*_backward(dout, cache)`` must return.

Kinds registered here (``python -m scripts.check_gradient --list``):
``affine``, ``relu``, ``sigmoid``, ``tanh`` (target: your ``*_forward``; its
``*_backward`` is looked up in the same file) and ``softmax_scores``,
``svm_scores`` (target: your ``softmax_loss(scores, y)`` / ``svm_loss``).
"""

from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F

from ref_torch.linear_svm import SVM_DELTA
from ref_torch.parity import LossKind, register_kind

# Columns of the affine case's output and seed of every random case input.
AFFINE_OUTPUTS = 50
CASE_SEED = 231


def affine_forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``x (N, ...) -> x.reshape(N, D) @ w (D, M) + b (M,)``."""
    return x.reshape(x.shape[0], -1) @ w + b


def relu_forward(x: torch.Tensor) -> torch.Tensor:
    """``max(0, x)``; torch's derivative at 0 is 0, the project's convention."""
    return torch.relu(x)


def sigmoid_forward(x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(x)


def tanh_forward(x: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x)


ACTIVATIONS = {"relu": relu_forward, "sigmoid": sigmoid_forward, "tanh": tanh_forward}


def softmax_loss(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean softmax cross-entropy of ``scores (N, C)`` for labels ``y (N,)``."""
    return F.cross_entropy(scores, y)


def svm_loss(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean multiclass hinge loss, margin 1, correct class excluded.

    relu rather than clamp: relu's derivative at a zero margin is 0, as in the
    NumPy indicator 1(margin > 0).
    """
    correct = scores.gather(1, y.reshape(-1, 1))
    others = torch.ones_like(scores).scatter_(1, y.reshape(-1, 1), 0.0)
    return (torch.relu(scores - correct + SVM_DELTA) * others).sum() / scores.shape[0]


def find_backward(forward_fn):
    """The ``*_backward`` function defined beside a user's ``*_forward``."""
    name = getattr(forward_fn, "__name__", "")
    if not name.endswith("_forward"):
        raise ValueError(f"the target must be a *_forward function, got {name or forward_fn!r}")
    backward_name = name[: -len("_forward")] + "_backward"
    namespace = getattr(forward_fn, "__globals__", None)
    if namespace is None:
        namespace = vars(sys.modules[forward_fn.__module__])
    if backward_name not in namespace:
        raise ValueError(f"{backward_name} not found in the module that defines {name}")
    return namespace[backward_name]


def _layer_caller(arg_names: tuple[str, ...]):
    """call_numpy for a forward/backward pair: L = sum(out * dout), grads from backward."""

    def call(forward_fn, inputs):
        backward_fn = find_backward(forward_fn)
        out, cache = forward_fn(*(inputs[k] for k in arg_names))
        dout = inputs["dout"]
        if np.shape(out) != dout.shape:
            raise ValueError(f"forward output has shape {np.shape(out)}, expected {dout.shape}")
        grads = backward_fn(dout, cache)
        if len(arg_names) == 1 and not isinstance(grads, (tuple, list)):
            grads = (grads,)
        return np.sum(np.asarray(out) * dout), dict(zip(arg_names, grads))

    return call


def _layer_loss(torch_forward, arg_names: tuple[str, ...]):
    return lambda t: (torch_forward(*(t[k] for k in arg_names)) * t["dout"]).sum()


def _scaled_rows(X: np.ndarray, scale: float) -> np.ndarray:
    """Dev rows rescaled to standard deviation ``scale`` (real image structure, chosen range)."""
    return X * (scale / X.std())


def affine_cases(X, y):
    rng = np.random.default_rng(CASE_SEED)
    n, d = X.shape
    cases = []
    for label, w_scale in (("weights 1e-3", 1e-3), ("weights 1e-1", 1e-1)):
        cases.append((label, dict(
            x=X, w=w_scale * rng.standard_normal((d, AFFINE_OUTPUTS)),
            b=rng.standard_normal(AFFINE_OUTPUTS),
            dout=rng.standard_normal((n, AFFINE_OUTPUTS)))))
    return cases


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
    return cases


def score_cases(X, y):
    """Scores of a random linear map of the dev rows: moderate (~3) and large (~300,
    where an unshifted exp overflows)."""
    rng = np.random.default_rng(CASE_SEED)
    W = rng.standard_normal((X.shape[1], 10))
    base = X @ W
    base /= base.std()
    return [(f"scores of scale {s:g}", dict(scores=s * base, y=y)) for s in (3.0, 300.0)]


def _register_layer(name: str, torch_forward, arg_names, make_cases, signature: str):
    register_kind(LossKind(
        name=name,
        signature=signature,
        make_cases=make_cases,
        call_numpy=_layer_caller(arg_names),
        torch_loss=_layer_loss(torch_forward, arg_names),
        wrt=arg_names,
        reference=f"scratch_numpy.layers:{name}_forward",
    ))


def _score_loss_caller(fn, inputs):
    loss, dscores = fn(inputs["scores"], inputs["y"])
    return loss, {"scores": dscores}


def _register_score_loss(name: str, torch_loss, reference: str):
    register_kind(LossKind(
        name=name,
        signature=f"{reference}(scores (N, C), y (N,)) -> (loss, dscores (N, C))",
        make_cases=score_cases,
        call_numpy=_score_loss_caller,
        torch_loss=lambda t: torch_loss(t["scores"], t["y"]),
        wrt=("scores",),
        reference=f"scratch_numpy.layers:{reference}",
    ))


_register_layer("affine", affine_forward, ("x", "w", "b"), affine_cases,
                "affine_forward(x, w, b) -> (out, cache); affine_backward(dout, cache) -> (dx, dw, db)")
for _name, _forward in ACTIVATIONS.items():
    _register_layer(_name, _forward, ("x",), activation_cases,
                    f"{_name}_forward(x) -> (out, cache); {_name}_backward(dout, cache) -> dx")
_register_score_loss("softmax_scores", softmax_loss, "softmax_loss")
_register_score_loss("svm_scores", svm_loss, "svm_loss")
