"""The loss kinds a user can check against torch autograd: one explicit table.

A kind says what the user's target computes. Each row of :data:`KINDS` names
the target's signature, the inputs it is checked on (``ref_torch/cases.py``),
how the user's object is called (``ref_torch/adapters.py``), the torch
reference (autograd differentiates it), the gradients compared, and the
project's own NumPy implementation (what a user's code should match).
``scripts/check_gradient.py`` and the main job's parity section read this
table and nothing else.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from ref_torch import cases
from ref_torch.adapters import (call_linear_loss, call_score_loss, call_user_fc_net, call_user_net,
                               layer_caller)
from ref_torch.fc_net import fc_loss
from ref_torch.layers import ACTIVATIONS, affine_forward
from ref_torch.layers import softmax_loss as softmax_scores_loss
from ref_torch.layers import svm_loss as svm_scores_loss
from ref_torch.linear_svm import svm_loss
from ref_torch.softmax import softmax_loss
from ref_torch.two_layer_net import net_loss


@dataclass(frozen=True)
class LossKind:
    """A loss that ``scripts/check_gradient.py`` can check against torch.

    name: command-line name (``svm``, ``softmax``, ``affine``, ...).
    signature: what the user's function looks like, shown in ``--list``.
    make_cases(X, y) -> [(case name, float64 inputs)]: inputs built from a real
        CIFAR-10 batch ``X (N, 3072)`` float64 (mean-subtracted), ``y (N,)``.
    call_numpy(user_obj, inputs) -> (loss, grads): runs the user's object.
    torch_loss(tensors) -> scalar: the autograd reference.
    wrt: input names to differentiate.
    reference: ``module:attribute`` of the project's own NumPy implementation.
    """

    name: str
    signature: str
    make_cases: Callable
    call_numpy: Callable
    torch_loss: Callable
    wrt: tuple[str, ...]
    reference: str


# The fc_net kind's cases have len(cases.FC_HIDDEN_DIMS) + 1 affine layers.
_FC_PARAMS = tuple(f"{kind}{l}" for l in range(1, len(cases.FC_HIDDEN_DIMS) + 2) for kind in ("W", "b"))


def _layer_loss(torch_forward, arg_names: tuple[str, ...]):
    """The scalar ``sum(forward(inputs) * dout)``: its gradients are what backward returns."""
    return lambda t: (torch_forward(*(t[k] for k in arg_names)) * t["dout"]).sum()


def _layer_kind(name: str, torch_forward, arg_names: tuple[str, ...], make_cases, signature: str):
    return LossKind(name, signature, make_cases, layer_caller(arg_names),
                    _layer_loss(torch_forward, arg_names), arg_names,
                    f"scratch_numpy.layers:{name}_forward")


def _score_kind(name: str, torch_loss, function: str):
    return LossKind(name, f"{function}(scores (N, C), y (N,)) -> (loss, dscores (N, C))",
                    cases.score_cases, call_score_loss,
                    lambda t: torch_loss(t["scores"], t["y"]), ("scores",),
                    f"scratch_numpy.layers:{function}")


_ROWS = (
    LossKind("svm", "svm_loss_vectorized(W, X, y, reg) -> (loss, dW); W (D, C), X (N, D), y (N,)",
             cases.linear_cases, call_linear_loss,
             lambda t: svm_loss(t["W"], t["X"], t["y"], t["reg"]), ("W",),
             "scratch_numpy.linear_svm:svm_loss_vectorized"),
    LossKind("softmax", "softmax_loss_vectorized(W, X, y, reg) -> (loss, dW); W (D, C), X (N, D), y (N,)",
             cases.linear_cases, call_linear_loss,
             lambda t: softmax_loss(t["W"], t["X"], t["y"], t["reg"]), ("W",),
             "scratch_numpy.softmax:softmax_loss_vectorized"),
    _layer_kind("affine", affine_forward, ("x", "w", "b"), cases.affine_cases,
                "affine_forward(x, w, b) -> (out, cache); affine_backward(dout, cache) -> (dx, dw, db)"),
    *(_layer_kind(name, forward, ("x",), cases.activation_cases,
                  f"{name}_forward(x) -> (out, cache); {name}_backward(dout, cache) -> dx")
      for name, forward in ACTIVATIONS.items()),
    _score_kind("softmax_scores", softmax_scores_loss, "softmax_loss"),
    _score_kind("svm_scores", svm_scores_loss, "svm_loss"),
    LossKind("two_layer_net", "class TwoLayerNet(input_size, hidden_size, output_size[, activation=]) "
             "with .params {W1,b1,W2,b2} and .loss(X, y, reg) -> (loss, grads)",
             cases.net_cases, call_user_net,
             lambda t: net_loss(t["X"], t["y"], t["W1"], t["b1"], t["W2"], t["b2"],
                                t["activation"], t["reg"]),
             ("W1", "b1", "W2", "b2"), "scratch_numpy.two_layer_net:TwoLayerNet"),
    LossKind("fc_net", "class FullyConnectedNet(hidden_dims, input_dim, num_classes, reg=, dtype=) "
             "(assignment 2, no dropout or normalization) with .params {W1,b1,...,W3,b3} "
             "and .loss(X, y) -> (loss, grads), loss + reg * sum(W**2)",
             cases.fc_net_cases, call_user_fc_net,
             lambda t: fc_loss(t["X"], t["y"], {k: t[k] for k in _FC_PARAMS}, "relu", t["reg"]),
             _FC_PARAMS, "scratch_numpy.fc_net:FullyConnectedNet"),
)
KINDS: dict[str, LossKind] = {kind.name: kind for kind in sorted(_ROWS, key=lambda k: k.name)}


def get_kind(name: str) -> LossKind:
    if name not in KINDS:
        raise ValueError(f"unknown loss kind {name!r}; available: {', '.join(KINDS)}")
    return KINDS[name]


def load_reference(kind: LossKind):
    """The project's own NumPy object for ``kind`` (what a user's code should match)."""
    module, attribute = kind.reference.split(":")
    return getattr(importlib.import_module(module), attribute)
