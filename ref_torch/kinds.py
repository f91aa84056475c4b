"""The loss kinds a user can check against torch autograd: one explicit table.

A kind says what the user's target computes. Each row of :data:`KINDS` names
the target's signature and the forms of target it accepts, the inputs it is
checked on (``ref_torch/cases.py``), how the user's object is checked and called
(``ref_torch/adapters.py``), the torch reference (autograd differentiates it),
the gradients compared, the weights a reg term covers, how to get a case's
scores (softmax kinds: for the stability rules of ``ref_torch/stability.py``)
and the project's own NumPy implementation (what a user's code should match).
``ref_torch/oracle.py`` (the command and the Python API) and the main job's
parity section read this table. Any other layer is checked by ``--kind layer``
(``ref_torch/layer_oracle.py``), which needs no row here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np
import torch

from ref_torch import adapters, cases
from ref_torch.fc_net import fc_loss, fc_scores
from ref_torch.layers import ACTIVATIONS, affine_forward
from ref_torch.layers import softmax_loss as softmax_scores_loss
from ref_torch.layers import svm_loss as svm_scores_loss
from ref_torch.linear_svm import svm_loss
from ref_torch.softmax import softmax_loss
from ref_torch.two_layer_net import net_loss, scores_of


def _as_given(obj):
    return obj


@dataclass(frozen=True)
class LossKind:
    """A loss that the oracle can check against torch.

    name: command-line name (``svm``, ``softmax``, ``affine``, ...).
    signature: what the user's function looks like, shown in ``--list``.
    accepts: the forms of target the kind takes, shown in ``--list``.
    make_cases(X, y) -> [(case name, float64 inputs)]: inputs built from a real
        CIFAR-10 batch ``X (N, 3072)`` float64 (mean-subtracted), ``y (N,)``.
    prepare(obj) -> prepared: checks the target before anything runs (raises
        ``TargetError`` with a hint) and gives what ``call_numpy`` calls.
    call_numpy(prepared, inputs) -> (loss, {name: gradient}): runs the user's code.
    torch_loss(tensors) -> scalar: the autograd reference.
    wrt: input names to differentiate.
    reference: ``module:attribute`` of the project's own NumPy implementation.
    reg_params: the weights a reg term covers (empty: the kind has no reg).
    scores(inputs) -> (N, C) float64 scores fed to a softmax (None: no softmax).
    stability_cases(X, y): the float64 cases with scores that need the max shift.
    skip(prepared, inputs) -> why a case cannot run on this target ("" when it can).
    """

    name: str
    signature: str
    make_cases: Callable
    call_numpy: Callable
    torch_loss: Callable
    wrt: tuple[str, ...]
    reference: str
    accepts: str = ""
    prepare: Callable = _as_given
    reg_params: tuple[str, ...] = ()
    scores: Callable | None = None
    stability_cases: Callable | None = None
    skip: Callable | None = None


# The fc_net kind's cases have len(cases.FC_HIDDEN_DIMS) + 1 affine layers.
_FC_PARAMS = tuple(f"{kind}{l}" for l in range(1, len(cases.FC_HIDDEN_DIMS) + 2) for kind in ("W", "b"))


def _layer_loss(torch_forward, arg_names: tuple[str, ...]):
    """The scalar ``sum(forward(inputs) * dout)``: its gradients are what backward returns."""
    return lambda t: (torch_forward(*(t[k] for k in arg_names)) * t["dout"]).sum()


def _layer_kind(name: str, torch_forward, arg_names: tuple[str, ...], make_cases, signature: str):
    return LossKind(
        name, signature, make_cases, adapters.layer_caller(arg_names),
        _layer_loss(torch_forward, arg_names), arg_names, f"scratch_numpy.layers:{name}_forward",
        accepts=f"a function {name}_forward, its {name}_backward found beside it (a static "
                f"method Class.{name}_forward too); x may have any shape (N, d1, ..., dk)",
        prepare=partial(adapters.prepare_layer, kind=name, num_inputs=len(arg_names)))


def _score_kind(name: str, torch_loss, function: str, softmax: bool):
    return LossKind(
        name, f"{function}(scores (N, C), y (N,)) -> (loss, dscores (N, C))",
        cases.score_cases, adapters.call_score_loss,
        lambda t: torch_loss(t["scores"], t["y"]), ("scores",), f"scratch_numpy.layers:{function}",
        accepts=f"a function {function}(scores, y) (CS231n's layers.py)",
        prepare=partial(adapters.prepare_score_loss, kind=name),
        scores=(lambda inputs: inputs["scores"]) if softmax else None,
        stability_cases=cases.score_stability_cases if softmax else None)


def _linear_kind(name: str, torch_loss, module: str, softmax: bool):
    classifier = "Softmax" if softmax else "LinearSVM"
    return LossKind(
        name, f"{name}_loss_vectorized(W, X, y, reg) -> (loss, dW); W (D, C), X (N, D), y (N,)",
        cases.linear_cases, adapters.call_linear_loss,
        lambda t: torch_loss(t["W"], t["X"], t["y"], t["reg"]), ("W",),
        f"scratch_numpy.{module}:{name}_loss_vectorized",
        accepts=f"a function {name}_loss_naive or {name}_loss_vectorized(W, X, y, reg), or the "
                f"method {classifier}.loss of a CS231n LinearClassifier (weights on self.W)",
        prepare=partial(adapters.prepare_linear, kind=name), reg_params=("W",),
        scores=(lambda inputs: inputs["X"] @ inputs["W"]) if softmax else None,
        stability_cases=cases.linear_stability_cases if softmax else None)


def _net_scores(inputs) -> np.ndarray:
    t = {k: torch.from_numpy(inputs[k]) for k in adapters.NET_PARAM_NAMES + ("X",)}
    return scores_of(t["X"], t["W1"], t["b1"], t["W2"], t["b2"], inputs["activation"]).numpy()


def _fc_scores(inputs) -> np.ndarray:
    t = {k: torch.from_numpy(inputs[k]) for k in _FC_PARAMS}
    weights = [t[k] for k in _FC_PARAMS if k.startswith("W")]
    biases = [t[k] for k in _FC_PARAMS if k.startswith("b")]
    return fc_scores(torch.from_numpy(inputs["X"]), weights, biases, "relu").numpy()


_ROWS = (
    _linear_kind("svm", svm_loss, "linear_svm", softmax=False),
    _linear_kind("softmax", softmax_loss, "softmax", softmax=True),
    _layer_kind("affine", affine_forward, ("x", "w", "b"), cases.affine_cases,
                "affine_forward(x, w, b) -> (out, cache); affine_backward(dout, cache) -> (dx, dw, db)"),
    *(_layer_kind(name, forward, ("x",), cases.activation_cases,
                  f"{name}_forward(x) -> (out, cache); {name}_backward(dout, cache) -> dx")
      for name, forward in ACTIVATIONS.items()),
    _score_kind("softmax_scores", softmax_scores_loss, "softmax_loss", softmax=True),
    _score_kind("svm_scores", svm_scores_loss, "svm_loss", softmax=False),
    LossKind("two_layer_net", "class TwoLayerNet(input_size, hidden_size, output_size) "
             "with .params {W1,b1,W2,b2} and .loss(X, y, reg) -> (loss, grads)",
             cases.net_cases, adapters.call_user_net,
             lambda t: net_loss(t["X"], t["y"], t["W1"], t["b1"], t["W2"], t["b2"],
                                t["activation"], t["reg"]),
             adapters.NET_PARAM_NAMES, "scratch_numpy.two_layer_net:TwoLayerNet",
             accepts="a class TwoLayerNet in either CS231n layout: neural_net.py (loss(X, y, reg)) "
                     "or fc_net.py (reg on the instance, loss(X, y) on images (N, 3, 32, 32)); or "
                     "TwoLayerNet.loss. sigmoid/tanh cases need an activation= argument, else "
                     "skipped", prepare=adapters.prepare_net,
             reg_params=("W1", "W2"), scores=_net_scores,
             stability_cases=cases.net_stability_cases, skip=adapters.net_skip_reason),
    LossKind("fc_net", "class FullyConnectedNet(hidden_dims, input_dim, num_classes, reg=, dtype=) "
             "with .params {W1,b1,...,W3,b3} and .loss(X, y) -> (loss, grads)",
             cases.fc_net_cases, adapters.call_user_fc_net,
             lambda t: fc_loss(t["X"], t["y"], {k: t[k] for k in _FC_PARAMS}, "relu", t["reg"]),
             _FC_PARAMS, "scratch_numpy.fc_net:FullyConnectedNet",
             accepts="a class FullyConnectedNet in assignment 2's layout (reg on the instance, "
                     "loss(X, y) on images, dropout and normalization left off), or "
                     "FullyConnectedNet.loss", prepare=adapters.prepare_fc_net,
             reg_params=tuple(k for k in _FC_PARAMS if k.startswith("W")), scores=_fc_scores,
             stability_cases=cases.fc_net_stability_cases),
)
KINDS: dict[str, LossKind] = {kind.name: kind for kind in sorted(_ROWS, key=lambda k: k.name)}
# Kinds the command knows beyond the table (see ref_torch/layer_oracle.py).
EXTRA_KINDS = ("layer",)


def get_kind(name: str) -> LossKind:
    if name not in KINDS:
        raise ValueError(f"unknown loss kind {name!r}; available: "
                         f"{', '.join((*KINDS, *EXTRA_KINDS))}")
    return KINDS[name]


def load_reference(kind: LossKind):
    """The project's own NumPy object for ``kind`` (what a user's code should match)."""
    module, attribute = kind.reference.split(":")
    return getattr(importlib.import_module(module), attribute)
