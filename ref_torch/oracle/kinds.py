"""The kinds of code a user can check against torch autograd: one explicit table.

A kind says what the user's target computes. Each row of :data:`KINDS` holds
everything the oracle knows about it: the target's signature and the names it is
found by (``conv_forward_naive`` is a ``conv``), the forms of target it accepts,
the inputs it is checked on (``ref_torch/oracle/cases.py``,
``ref_torch/oracle/layer_cases.py``), how the user's object is checked and called
(``ref_torch/oracle/adapters.py``), the torch reference (autograd differentiates it),
the gradients compared, the weights a reg term covers, how a case's scores are found
(softmax kinds: ``ref_torch/oracle/stability.py``), what its diagnoses may name (the
loss averages over N examples, the letters of each input's dimensions, a loss offset
that means a known mistake) and the project's own NumPy implementation, where it has
one. ``ref_torch/oracle/engine.py`` runs a row; ``layer`` (any forward/backward pair)
is a row too, whose cases and references come from the user's options
(``ref_torch/oracle/layer.py``).
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import numpy as np
import torch

from ref_torch.fc_net import fc_loss, fc_scores
from ref_torch.layers import ACTIVATIONS, affine_forward
from ref_torch.layers import softmax_loss as softmax_scores_loss
from ref_torch.layers import svm_loss as svm_scores_loss
from ref_torch.linear_svm import svm_loss
from ref_torch.oracle import adapters, cases, dropout, layer, layer_cases, references
from ref_torch.oracle.user_code import TargetError
from ref_torch.softmax import softmax_loss
from ref_torch.two_layer_net import net_loss, scores_of

SVM_DELTA_MESSAGE = ("the correct class's own margin max(0, s_y - s_y + 1) = 1 is counted; "
                     "skip j == y_i")
# Option names of the Python API and the command's flags.
FLAGS = {"backward": "--backward", "inputs": "--inputs", "shapes": "--shapes",
         "torch_forward": "--torch", "wrt": "--wrt"}


def _as_given(obj):
    return obj


class KindMismatch(TargetError):
    """The target's signature does not fit the kind (a usage error; other kinds may fit)."""


@dataclass(frozen=True)
class LossKind:
    """What the oracle can check against torch.

    name: command-line name (``svm``, ``conv``, ...).
    signature: what the user's code looks like, shown in ``--list``.
    accepts: the forms of target the kind takes, shown in ``--list``.
    names: ``fnmatch`` patterns of the names that have this kind (``conv_forward*``,
        ``LinearSVM.loss``): how the kind is found without ``--kind``.
    make_cases(X, y) -> [(case name, float64 inputs)]: inputs built from a real
        CIFAR-10 batch ``X (N, 3072)`` float64 (mean-subtracted), ``y (N,)``.
    prepare(obj, **options) -> prepared: checks the target before anything runs
        (raises ``TargetError`` with a hint) and gives what ``call_numpy`` calls.
    options: the options ``prepare`` takes (``backward`` for a forward/backward pair).
    call_numpy(prepared, inputs, guard, backward=True) -> (value, {name: gradient}):
        runs the user's code (``ref_torch/oracle/adapters.py``).
    torch_loss(tensors) -> scalar, or (scalar, value): the autograd reference; the value
        compared is the scalar itself (a loss) or the forward's output (a layer).
    wrt: input names to differentiate.
    value_name: what the value is called in reports ("loss", or "out" for a layer).
    dout_names: the upstream gradients of a layer's outputs (empty for a loss).
    reference: ``module:attribute`` of the project's own NumPy implementation ("" none).
    reg_params: the weights a reg term covers (empty: the kind has no reg).
    scores(inputs) -> (N, C) float64 scores fed to a softmax (None: no softmax).
    stability_cases(X, y): the float64 cases with scores that need the max shift.
    skip(prepared, inputs) -> why a case cannot run on this target ("" when it can).
    averages: the loss is a mean over the N examples (a diagnosis names "N").
    dims: the letters of each input's dimensions (``{"x": "N,C,H,W"}``): a gradient off
        by a product of them is named by it ("divided by 128 = N·H'·W'").
    loss_offsets: a loss too high by this constant in every case means this mistake.
    reference_inputs(inputs, value) -> inputs of the torch reference, from what the
        user's forward returned (dropout reads its mask there).
    value_problem(inputs, value) -> what is wrong with a value that fails ("" nothing known).
    random: a forward that may draw random numbers: how to make it repeatable.
    numerical: the numerical gradient of the user's own forward is a reference too.
    needs_data: the cases are built from CIFAR-10.
    setup(kind, obj, options) -> (kind, prepared): a row whose cases and references come
        from the options (``layer``) builds its own row for the target.
    """

    name: str
    signature: str
    make_cases: Callable
    call_numpy: Callable | None
    torch_loss: Callable | None
    wrt: tuple[str, ...]
    reference: str = ""
    accepts: str = ""
    names: tuple[str, ...] = ()
    prepare: Callable = _as_given
    options: tuple[str, ...] = ()
    value_name: str = "loss"
    dout_names: tuple[str, ...] = ()
    reg_params: tuple[str, ...] = ()
    scores: Callable | None = None
    stability_cases: Callable | None = None
    skip: Callable | None = None
    averages: bool = False
    dims: dict = field(default_factory=dict)
    loss_offsets: dict = field(default_factory=dict)
    reference_inputs: Callable | None = None
    value_problem: Callable | None = None
    random: str = ""
    numerical: bool = False
    needs_data: bool = True
    setup: Callable | None = None

    def matches(self, name: str) -> bool:
        """Whether a function or class called ``name`` (or ``Class.method``) has this kind."""
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.names)

    def bind(self, obj, options: dict | None = None):
        """``(kind, prepared)`` for the target ``obj``: its options checked and passed on."""
        given = {k: v for k, v in (options or {}).items() if v is not None}
        unknown = [k for k in given if k not in self.options]
        if unknown:
            takers = [k.name for k in KINDS.values() if unknown[0] in k.options]
            raise TargetError(f"{FLAGS.get(unknown[0], unknown[0])} is not an option of --kind "
                              f"{self.name} (it is for {', '.join(takers) or 'no kind'})")
        if self.setup:
            return self.setup(self, obj, given)
        try:
            return self, self.prepare(obj, **given)
        except TargetError as exc:
            raise KindMismatch(str(exc)) from None


# The fc_net kind's cases have len(cases.FC_HIDDEN_DIMS) + 1 affine layers.
_FC_PARAMS = tuple(f"{kind}{l}" for l in range(1, len(cases.FC_HIDDEN_DIMS) + 2) for kind in ("W", "b"))


def _layer_kind(name: str, args: tuple[str, ...], torch_forward, make_cases, signature: str, *,
                names=None, floats=None, outputs: int = 1, reference: str = "", accepts: str = "",
                dims=None, **more):
    """A forward/backward pair ``name_forward(*args) -> (out..., cache)``,
    ``name_backward(dout..., cache) -> (d<float arg>, ...)``."""
    floats = tuple(floats or args)
    dout_names = ("dout",) if outputs == 1 else tuple(f"dout{k + 1}" for k in range(outputs))
    return LossKind(
        name, signature, make_cases, adapters.layer_caller(args, floats, floats, dout_names),
        references.layer_loss(torch_forward, dout_names), floats, reference,
        accepts=accepts or f"a function {name}_forward (or {name}_forward_naive, ..._fast, any "
                           f"suffix) with its backward beside it, or named with --backward",
        names=names or (f"{name}_forward*",),
        prepare=partial(adapters.prepare_layer, kind=name, num_inputs=len(args),
                        num_outputs=outputs, expected=f"{name}_forward({', '.join(args)})"),
        options=("backward",), value_name="out", dout_names=dout_names,
        dims=dims or {}, **more)


def _activation_kind(name: str, forward):
    return _layer_kind(
        name, ("x",), lambda t: forward(t["x"]), cases.activation_cases,
        f"{name}_forward(x) -> (out, cache); {name}_backward(dout, cache) -> dx",
        reference=f"scratch_numpy.layers:{name}_forward", dims={"x": "N,D"},
        accepts=f"a function {name}_forward, its {name}_backward found beside it (a static "
                f"method Class.{name}_forward too); x may have any shape (N, d1, ..., dk)")


def _score_kind(name: str, torch_loss, function: str, softmax: bool):
    return LossKind(
        name, f"{function}(x (N, C), y (N,)) -> (loss, dx (N, C))",
        cases.score_cases, adapters.loss_caller(("scores", "y"), "scores"),
        lambda t: torch_loss(t["scores"], t["y"]), ("scores",), f"scratch_numpy.layers:{function}",
        accepts=f"a function {function}(x, y) of scores (CS231n's layers.py)",
        names=(function,),
        prepare=partial(adapters.prepare_loss_function, kind=name, expected=f"{function}(x, y)",
                        num_args=2),
        scores=(lambda inputs: inputs["scores"]) if softmax else None,
        stability_cases=cases.score_stability_cases if softmax else None,
        averages=True, dims={"scores": "N,C"},
        loss_offsets={} if softmax else {1.0: SVM_DELTA_MESSAGE})


def _linear_kind(name: str, torch_loss, module: str, softmax: bool):
    classifier = "Softmax" if softmax else "LinearSVM"
    return LossKind(
        name, f"{name}_loss_vectorized(W, X, y, reg) -> (loss, dW); W (D, C), X (N, D), y (N,)",
        cases.linear_cases, adapters.call_linear_loss,
        lambda t: torch_loss(t["W"], t["X"], t["y"], t["reg"]), ("W",),
        f"scratch_numpy.{module}:{name}_loss_vectorized",
        accepts=f"a function {name}_loss_naive or {name}_loss_vectorized(W, X, y, reg), or the "
                f"method {classifier}.loss of a CS231n LinearClassifier (weights on self.W)",
        names=(f"{name}_loss_naive", f"{name}_loss_vectorized", f"{classifier}.loss"),
        prepare=partial(adapters.prepare_linear, kind=name), reg_params=("W",),
        scores=(lambda inputs: inputs["X"] @ inputs["W"]) if softmax else None,
        stability_cases=cases.linear_stability_cases if softmax else None,
        averages=True, dims={"X": "N,D", "W": "D,C"},
        loss_offsets={} if softmax else {1.0: SVM_DELTA_MESSAGE})


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
    _layer_kind("affine", ("x", "w", "b"), lambda t: affine_forward(t["x"], t["w"], t["b"]),
                cases.affine_cases,
                "affine_forward(x, w, b) -> (out, cache); affine_backward(dout, cache) -> (dx, dw, db)",
                reference="scratch_numpy.layers:affine_forward", dims={"dout": "N,M", "w": "D,M"},
                accepts="a function affine_forward, its affine_backward found beside it (a static "
                        "method Class.affine_forward too); x may have any shape (N, d1, ..., dk)"),
    *(_activation_kind(name, forward) for name, forward in ACTIVATIONS.items()),
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
                     "skipped", names=("TwoLayerNet", "TwoLayerNet.loss"),
             prepare=adapters.prepare_net,
             reg_params=("W1", "W2"), scores=_net_scores,
             stability_cases=cases.net_stability_cases, skip=adapters.net_skip_reason,
             averages=True, dims={"X": "N,D"}),
    LossKind("fc_net", "class FullyConnectedNet(hidden_dims, input_dim, num_classes, reg=, dtype=) "
             "with .params {W1,b1,...,W3,b3} and .loss(X, y) -> (loss, grads)",
             cases.fc_net_cases, adapters.call_user_fc_net,
             lambda t: fc_loss(t["X"], t["y"], {k: t[k] for k in _FC_PARAMS}, "relu", t["reg"]),
             _FC_PARAMS, "scratch_numpy.fc_net:FullyConnectedNet",
             accepts="a class FullyConnectedNet in assignment 2's layout (reg on the instance, "
                     "loss(X, y) on images, dropout and normalization left off), or "
                     "FullyConnectedNet.loss", names=("FullyConnectedNet", "FullyConnectedNet.loss"),
             prepare=adapters.prepare_fc_net,
             reg_params=tuple(k for k in _FC_PARAMS if k.startswith("W")), scores=_fc_scores,
             stability_cases=cases.fc_net_stability_cases, averages=True, dims={"X": "N,D"}),
    # ---- assignment 2 ----
    _layer_kind("conv", ("x", "w", "b", "conv_param"), references.conv, layer_cases.conv_cases,
                "conv_forward_naive(x (N, C, H, W), w (F, C, HH, WW), b (F,), conv_param "
                "{stride, pad}) -> (out, cache); conv_backward_naive(dout, cache) -> (dx, dw, db)",
                floats=("x", "w", "b"),
                dims={"x": "N,C,H,W", "w": "F,C,HH,WW", "dout": "N,F,H',W'"}),
    _layer_kind("max_pool", ("x", "pool_param"), references.max_pool, layer_cases.max_pool_cases,
                "max_pool_forward_naive(x (N, C, H, W), pool_param {pool_height, pool_width, "
                "stride}) -> (out, cache); max_pool_backward_naive(dout, cache) -> dx",
                floats=("x",), dims={"x": "N,C,H,W", "dout": "N,C,H',W'"}),
    _layer_kind("batchnorm", ("x", "gamma", "beta", "bn_param"), references.batchnorm,
                layer_cases.batchnorm_cases,
                "batchnorm_forward(x (N, D), gamma (D,), beta (D,), bn_param {mode: train}) -> "
                "(out, cache); batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)",
                floats=("x", "gamma", "beta"), dims={"x": "N,D"},
                accepts="a function batchnorm_forward with batchnorm_backward beside it; "
                        "--backward batchnorm_backward_alt checks the other (a whole-file check "
                        "checks both)"),
    _layer_kind("spatial_batchnorm", ("x", "gamma", "beta", "bn_param"), references.batchnorm,
                layer_cases.spatial_batchnorm_cases,
                "spatial_batchnorm_forward(x (N, C, H, W), gamma (C,), beta (C,), bn_param) -> "
                "(out, cache); spatial_batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)",
                floats=("x", "gamma", "beta"), dims={"x": "N,C,H,W"}),
    _layer_kind("layernorm", ("x", "gamma", "beta", "ln_param"), references.layernorm,
                layer_cases.layernorm_cases,
                "layernorm_forward(x (N, D), gamma (D,), beta (D,), ln_param) -> (out, cache); "
                "layernorm_backward(dout, cache) -> (dx, dgamma, dbeta)",
                floats=("x", "gamma", "beta"), dims={"x": "N,D"}),
    _layer_kind("groupnorm", ("x", "gamma", "beta", "G", "gn_param"), references.groupnorm,
                layer_cases.groupnorm_cases,
                "spatial_groupnorm_forward(x (N, C, H, W), gamma (1, C, 1, 1), beta (1, C, 1, 1), "
                "G, gn_param) -> (out, cache); spatial_groupnorm_backward(dout, cache) -> "
                "(dx, dgamma, dbeta)", floats=("x", "gamma", "beta"),
                names=("spatial_groupnorm_forward*", "groupnorm_forward*"), dims={"x": "N,C,H,W"},
                accepts="a function spatial_groupnorm_forward (or groupnorm_forward) with its "
                        "backward beside it"),
    _layer_kind("dropout", ("x", "dropout_param"), references.dropout, layer_cases.dropout_cases,
                "dropout_forward(x, dropout_param {p: keep probability, mode, seed}) -> "
                "(out, cache); dropout_backward(dout, cache) -> dx",
                floats=("x",), dims={"x": "N,D"},
                reference_inputs=dropout.reference_inputs, value_problem=dropout.mask_problem,
                random="seed the mask with np.random.seed(dropout_param['seed']) when 'seed' is "
                       "in dropout_param, as the starter code does"),
    # ---- assignment 3 ----
    _layer_kind("rnn_step", ("x", "prev_h", "Wx", "Wh", "b"), references.rnn_step,
                layer_cases.rnn_step_cases,
                "rnn_step_forward(x (N, D), prev_h (N, H), Wx (D, H), Wh (H, H), b (H,)) -> "
                "(next_h, cache); rnn_step_backward(dnext_h, cache) -> (dx, dprev_h, dWx, dWh, db)",
                dims={"x": "N,D", "prev_h": "N,H"}, needs_data=False),
    _layer_kind("rnn", ("x", "h0", "Wx", "Wh", "b"), references.rnn, layer_cases.rnn_cases,
                "rnn_forward(x (N, T, D), h0 (N, H), Wx, Wh, b) -> (h (N, T, H), cache); "
                "rnn_backward(dh, cache) -> (dx, dh0, dWx, dWh, db)",
                dims={"x": "N,T,D", "h0": "N,H"}, needs_data=False),
    _layer_kind("lstm_step", ("x", "prev_h", "prev_c", "Wx", "Wh", "b"), references.lstm_step,
                layer_cases.lstm_step_cases,
                "lstm_step_forward(x (N, D), prev_h (N, H), prev_c (N, H), Wx (D, 4H), Wh (H, 4H), "
                "b (4H,)) -> (next_h, next_c, cache); lstm_step_backward(dnext_h, dnext_c, cache) "
                "-> (dx, dprev_h, dprev_c, dWx, dWh, db)", outputs=2,
                dims={"x": "N,D", "prev_h": "N,H"}, needs_data=False),
    _layer_kind("lstm", ("x", "h0", "Wx", "Wh", "b"), references.lstm, layer_cases.lstm_cases,
                "lstm_forward(x (N, T, D), h0 (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,)) -> "
                "(h (N, T, H), cache); lstm_backward(dh, cache) -> (dx, dh0, dWx, dWh, db)",
                dims={"x": "N,T,D", "h0": "N,H"}, needs_data=False),
    _layer_kind("temporal_affine", ("x", "w", "b"), references.temporal_affine,
                layer_cases.temporal_affine_cases,
                "temporal_affine_forward(x (N, T, D), w (D, M), b (M,)) -> (out, cache); "
                "temporal_affine_backward(dout, cache) -> (dx, dw, db)",
                dims={"x": "N,T,D", "w": "D,M"}, needs_data=False),
    _layer_kind("word_embedding", ("x", "W"), references.word_embedding,
                layer_cases.word_embedding_cases,
                "word_embedding_forward(x (N, T) integers, W (V, D)) -> (out (N, T, D), cache); "
                "word_embedding_backward(dout, cache) -> dW", floats=("W",),
                dims={"x": "N,T", "W": "V,D"}, needs_data=False),
    LossKind("temporal_softmax_loss", "temporal_softmax_loss(x (N, T, V), y (N, T), mask (N, T)) "
             "-> (loss, dx): the masked sum of -log p over the N·T steps, divided by N",
             layer_cases.temporal_softmax_cases, adapters.loss_caller(("x", "y", "mask"), "x"),
             references.temporal_softmax_loss, ("x",),
             accepts="a function temporal_softmax_loss(x, y, mask, verbose=False)",
             names=("temporal_softmax_loss*",),
             prepare=partial(adapters.prepare_loss_function, kind="temporal_softmax_loss",
                             expected="temporal_softmax_loss(x, y, mask)", num_args=3),
             averages=True, dims={"x": "N,T,V"}, needs_data=False),
    LossKind("layer", layer.SIGNATURE, layer.no_cases, None, None, (), accepts=layer.ACCEPTS,
             options=tuple(FLAGS), value_name="out", numerical=True, needs_data=False,
             setup=layer.setup),
)
KINDS: dict[str, LossKind] = {kind.name: kind for kind in sorted(_ROWS, key=lambda k: k.name)}


def get_kind(name: str) -> LossKind:
    if name not in KINDS:
        close = difflib.get_close_matches(str(name), KINDS, 1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ValueError(f"unknown loss kind {name!r}{hint}; available: {', '.join(KINDS)}")
    return KINDS[name]


def kind_of_name(name: str) -> LossKind | None:
    """The kind a function or class of this name has (``conv_forward_naive`` -> conv,
    ``LinearSVM.loss`` -> svm, a static method ``Layers.affine_forward`` -> affine)."""
    for candidate in dict.fromkeys((name, name.rpartition(".")[2])):
        found = next((kind for kind in KINDS.values() if kind.matches(candidate)), None)
        if found:
            return found
    return None


def project_kinds() -> dict[str, LossKind]:
    """The kinds the project implements itself in NumPy (its own parity checks)."""
    return {name: kind for name, kind in KINDS.items() if kind.reference}


def load_reference(kind: LossKind):
    """The project's own NumPy object for ``kind`` (what a user's code should match)."""
    module, attribute = kind.reference.split(":")
    return getattr(importlib.import_module(module), attribute)
