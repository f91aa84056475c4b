"""How each loss kind calls a user's NumPy object: the CS231n signatures, as written.

Each kind has a ``prepare_*(obj)`` that checks the target before anything runs
(a class where a function is expected, the wrong number of arguments, a
``*_forward`` without its ``*_backward``) and raises :class:`TargetError` with a
hint, and a ``call_*(prepared, inputs, guard, backward=True) -> (value, grads)``
that runs it on one case: ``value`` is the loss (loss kinds) or the forward's output
(layers), and every call of user code goes through ``guard``
(``ref_torch.oracle.user_code.Guard``: private copies, in-place edits remembered).
``backward=False`` runs only as much as gives the value. The ``read_*`` helpers turn
anything else the user's code returns (None, a list, a swapped tuple, a per-example
loss) into a one-line :class:`UserCodeFailure`; returning None is flagged as the
starter code.

Two-layer nets come in CS231n's two layouts (:func:`net_layout`):

* 2016-2018 ``classifiers/neural_net.py``: ``TwoLayerNet(input_size, hidden_size,
  output_size, std)`` and ``loss(X, y, reg)``;
* 2019+ ``classifiers/fc_net.py``: ``TwoLayerNet(input_dim, hidden_dim, num_classes,
  weight_scale, reg)`` and ``loss(X, y)``, reg held on the instance, X given as
  images ``(N, 3, 32, 32)`` as that assignment's solver does.

(About 400 lines: one short section per CS231n signature, kept together so the
calling conventions of every kind read in one place.)
"""

from __future__ import annotations

import difflib
import inspect
import numbers
from dataclasses import dataclass

import numpy as np

from ref_torch.oracle.user_code import TargetError, UserCodeFailure, method_owner

NET_PARAM_NAMES = ("W1", "b1", "W2", "b2")
IMAGE_SHAPE = (3, 32, 32)


def describe(value) -> str:
    """A few words for what a value is: ``None``, ``an array of shape (3, 4)``, ``a list of 2``."""
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, (tuple, list, dict)):
        return f"a {type(value).__name__} of {len(value)}"
    if isinstance(value, numbers.Number):
        return f"a number ({value:.6g})"
    return f"a {type(value).__name__}"


def read_loss(value, what: str = "the loss") -> np.float64:
    """A scalar loss (a Python or NumPy number, or a 0-d array); NaN and inf pass
    through for the comparison to name."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Number, np.ndarray)):
        raise UserCodeFailure(f"returned {what} as {describe(value)}, expected a number",
                              starter=value is None)
    array = np.asarray(value)
    if array.shape != ():
        raise UserCodeFailure(f"returned {what} as {describe(value)}, expected a scalar "
                              "(the mean over the examples)")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise UserCodeFailure(f"returned {what} with dtype {array.dtype}, expected a real number")
    return np.float64(array)


def read_array(value, name: str) -> np.ndarray:
    """A real NumPy array of at least float32's precision (integers too)."""
    if not isinstance(value, np.ndarray):
        raise UserCodeFailure(f"returned {name} as {describe(value)}, expected a NumPy array",
                              starter=value is None)
    if np.iscomplexobj(value) or not np.issubdtype(value.dtype, np.number):
        raise UserCodeFailure(f"returned {name} with dtype {value.dtype}, expected a real array")
    if np.issubdtype(value.dtype, np.floating) and value.dtype.itemsize < 4:
        raise UserCodeFailure(f"returned {name} in {value.dtype}, less precise than its float32 "
                              "or float64 inputs: compute in the inputs' dtype")
    return value


def read_pair(result, first: str, second: str, second_shape: tuple):
    """``(loss, gradient)`` from a loss function's result."""
    expected = f"({first}, {second})"
    if not isinstance(result, tuple):
        raise UserCodeFailure(f"returned {describe(result)}, expected the tuple {expected}",
                              starter=result is None)
    if len(result) != 2:
        raise UserCodeFailure(f"returned a tuple of {len(result)} values, expected {expected}")
    a, b = result
    if isinstance(a, np.ndarray) and a.shape == second_shape and np.ndim(b) == 0:
        raise UserCodeFailure(f"returned ({second}, {first}): the order is {expected}")
    return read_loss(a), read_array(b, second)


def _binds(fn, num_args: int) -> bool:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # no signature (a builtin): let the call decide
        return True
    try:
        signature.bind(*range(num_args))
    except TypeError:
        return False
    return True


def _parameters(fn) -> str:
    try:
        return f"({', '.join(inspect.signature(fn).parameters)})"
    except (TypeError, ValueError):
        return "(...)"


def _require_function(obj, kind: str, expected: str, num_args: int, hint: str = ""):
    if inspect.isclass(obj):
        raise TargetError(f"the target is a class ({obj.__name__}): did you mean --kind "
                          f"two_layer_net (a network class), or the method {obj.__name__}.loss? "
                          f"--kind {kind} takes a function {expected}")
    if not callable(obj):
        raise TargetError(f"the target is {describe(obj)}, not a function; --kind {kind} takes "
                          f"{expected}")
    if not _binds(obj, num_args):
        raise TargetError(f"{obj.__name__}{_parameters(obj)} cannot be called as {expected}"
                          + (f". {hint}" if hint else ""))
    return obj


# ---- linear losses: svm_loss_vectorized(W, X, y, reg) -> (loss, dW) --------------------

def prepare_linear(obj, kind: str):
    """A loss function ``f(W, X, y, reg)``, or ``Class.loss`` of a CS231n
    ``LinearClassifier`` subclass (weights on ``self.W``, ``loss(X_batch, y_batch, reg)``)."""
    owner = method_owner(obj) if callable(obj) else None
    if owner is not None:
        _require_function(obj, kind, "loss(self, X_batch, y_batch, reg)", 4)

        def loss(W, X_batch, y_batch, reg):
            model = owner()
            model.W = W
            return obj(model, X_batch, y_batch, reg)
        loss.__name__ = obj.__qualname__
        return loss
    return _require_function(
        obj, kind, f"{kind}_loss_vectorized(W, X, y, reg)", 4,
        "A network class is --kind two_layer_net; a loss of scores is "
        f"--kind {kind}_scores")


def call_linear_loss(user_fn, inputs, guard, backward=True):
    W = inputs["W"]
    result = guard(user_fn, W, inputs["X"], inputs["y"], inputs["reg"])
    loss, dW = read_pair(result, "loss", "dW", W.shape)
    return loss, {"W": dW}


# ---- loss layers: softmax_loss(x, y) -> (loss, dx), temporal_softmax_loss(x, y, mask) ---

def prepare_loss_function(obj, kind: str, expected: str, num_args: int):
    return _require_function(obj, kind, expected, num_args)


def loss_caller(arg_names: tuple[str, ...], grad_name: str):
    """``call(fn, inputs, guard) -> (loss, {grad_name: gradient})`` for a loss layer
    ``fn(*arg_names) -> (loss, d<first input>)``."""
    def call(fn, inputs, guard, backward=True):
        result = guard(fn, *(inputs[n] for n in arg_names))
        loss, grad = read_pair(result, "loss", f"d{arg_names[0]}", inputs[grad_name].shape)
        return loss, {grad_name: grad}
    return call


# ---- forward/backward layer pairs ------------------------------------------------------

def backward_name_of(forward_name: str) -> str:
    """``conv_forward_naive`` -> ``conv_backward_naive``: the last ``forward`` made
    ``backward`` ("" when the name holds no ``forward``)."""
    head, found, tail = forward_name.rpartition("forward")
    return f"{head}backward{tail}" if found else ""


def _namespace(forward_fn) -> dict:
    owner = method_owner(forward_fn)
    return dict(vars(owner)) if owner else getattr(forward_fn, "__globals__", {})


def find_backward(forward_fn, backward=None):
    """The backward function of a user's forward: ``backward`` itself when it is a function,
    the function of that name beside the forward when it is a name (``--backward
    batchnorm_backward_alt``), else the forward's name with ``forward`` made ``backward``."""
    if callable(backward):
        return backward
    name = getattr(forward_fn, "__name__", "")
    backward_name = backward or backward_name_of(name)
    if not backward_name:
        raise TargetError(f"the target must be a forward function (name_forward), got "
                          f"{name or forward_fn!r}; or name its backward with --backward")
    namespace = _namespace(forward_fn)
    found = namespace.get(backward_name)
    if isinstance(found, staticmethod):
        found = found.__func__
    if not callable(found):
        close = difflib.get_close_matches(backward_name, [n for n in namespace
                                                          if "backward" in n], 3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise TargetError(f"{backward_name} not found beside {name}{hint}")
    return found


def prepare_layer(obj, kind: str, expected: str, num_inputs: int, num_outputs: int = 1,
                  backward=None):
    """``(forward, backward)``: the target ``name_forward`` and its backward (see
    :func:`find_backward`), each checked to take its arguments."""
    forward = _require_function(obj, kind, expected, num_inputs,
                                "Any other layer is --kind layer")
    backward = find_backward(forward, backward)
    if not _binds(backward, num_outputs + 1):
        upstream = "dout" if num_outputs == 1 else ", ".join(f"dout{k + 1}"
                                                               for k in range(num_outputs))
        raise TargetError(f"{backward.__name__}{_parameters(backward)} cannot be called as "
                          f"{backward.__name__}({upstream}, cache)")
    return forward, backward


def read_grads(result, names: tuple[str, ...], backward_name: str) -> dict:
    """The gradients a backward function returns, one per input, in input order."""
    grads = (result,) if len(names) == 1 and isinstance(result, np.ndarray) else result
    expected = ", ".join(f"d{n}" for n in names)
    if not isinstance(grads, tuple) or len(grads) != len(names):
        raise UserCodeFailure(f"{backward_name} returned {describe(result)}, expected "
                              f"{'the tuple ' if len(names) > 1 else ''}({expected})",
                              starter=result is None or (isinstance(grads, tuple) and all(
                                  g is None for g in grads)))
    return {n: read_array(g, f"d{n}") for n, g in zip(names, grads)}


def stack_outputs(outs) -> np.ndarray:
    """A forward's outputs as one array to compare: the output itself, or the outputs
    stacked along a new first axis (``next_h``, ``next_c`` -> ``(2, N, H)``; the torch
    reference stacks its own the same way, ``references.layer_loss``)."""
    return outs[0] if len(outs) == 1 else np.stack(outs)


def layer_caller(names, floats=None, wrt=None, dout_names=("dout",)):
    """``call(pair, inputs, guard, backward=True) -> (out, grads)`` for a forward/backward
    pair: forward takes the inputs ``names`` and returns ``(out_1, ..., out_K, cache)``,
    backward takes ``(dout_1, ..., dout_K, cache)`` and returns a gradient per
    floating-point array input (``floats``, default all of ``names``), in order. ``out``
    is the outputs stacked (:func:`stack_outputs`); the gradients of ``wrt`` (default
    ``floats``) are returned; ``backward=False`` calls the forward only."""
    floats = tuple(floats or names)
    wrt = tuple(wrt or floats)

    def call(pair, inputs, guard, backward=True):
        forward, backward_fn = pair
        result = guard(forward, *(inputs[n] for n in names))
        if not isinstance(result, tuple) or len(result) != len(dout_names) + 1:
            outs = ", ".join(["out"] * len(dout_names))
            raise UserCodeFailure(f"{forward.__name__} returned {describe(result)}, expected the "
                                  f"tuple ({outs}, cache)", starter=result is None)
        outs = [read_array(out, "out") for out in result[:-1]]
        douts = [inputs[d] for d in dout_names]
        for out, dout in zip(outs, douts):
            if out.shape != dout.shape:
                raise UserCodeFailure(f"{forward.__name__} returned out of shape {out.shape}, "
                                      f"expected {dout.shape}")
        if not backward:
            return stack_outputs(outs), {}
        grads = read_grads(guard(backward_fn, *douts, result[-1]), floats, backward_fn.__name__)
        return stack_outputs(outs), {k: grads[k] for k in wrt}

    return call


# ---- two-layer nets ---------------------------------------------------------------------

@dataclass(frozen=True)
class NetLayout:
    """How a user's ``TwoLayerNet`` takes reg and activation (see the module docstring)."""

    reg_in_loss: bool  # loss(X, y, reg): the 2016-2018 layout
    reg_in_init: bool  # TwoLayerNet(..., reg=): the 2019+ layout
    takes_activation: bool

    def __str__(self) -> str:
        if self.reg_in_loss:
            return "TwoLayerNet(input_size, hidden_size, output_size) with loss(X, y, reg)"
        where = "TwoLayerNet(..., reg=)" if self.reg_in_init else "the attribute net.reg"
        return f"TwoLayerNet(input_dim, hidden_dim, num_classes) with loss(X, y), reg through {where}"


def _signature_parameters(fn) -> dict:
    try:
        return dict(inspect.signature(fn).parameters)
    except (TypeError, ValueError):  # no signature (a builtin): nothing to read
        return {}


def _accepts(fn, name: str) -> bool:
    params = _signature_parameters(fn)
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def net_layout(net_class) -> NetLayout:
    return NetLayout(reg_in_loss="reg" in _signature_parameters(net_class.loss),
                     reg_in_init=_accepts(net_class, "reg"),
                     takes_activation=_accepts(net_class, "activation"))


def _network_class(obj, kind: str, example: str, hint: str = ""):
    """The class of a network target (the class, or one of its methods), with a loss method."""
    owner = method_owner(obj) if callable(obj) and not inspect.isclass(obj) else None
    net_class = owner or obj
    if not inspect.isclass(net_class):
        raise TargetError(f"the target is {describe(obj) if not callable(obj) else 'a function'}; "
                          f"--kind {kind} takes a class such as {example} (or {example}.loss){hint}")
    if not callable(getattr(net_class, "loss", None)):
        raise TargetError(f"class {net_class.__name__} has no loss method")
    return net_class


def prepare_net(obj, kind: str = "two_layer_net"):
    """A class ``TwoLayerNet`` (either layout), or its method ``TwoLayerNet.loss``."""
    net_class = _network_class(obj, kind, "TwoLayerNet", ". A loss function of W, X, y, reg is "
                               "--kind svm or --kind softmax")
    if not _binds(net_class, 3):
        raise TargetError(f"{net_class.__name__}{_parameters(net_class)} cannot be built as "
                          f"{net_class.__name__}(input_size, hidden_size, output_size)")
    return net_class


def net_skip_reason(net_class, inputs) -> str:
    """Why a case cannot run on this class ("" when it can)."""
    activation = inputs["activation"]
    if activation != "relu" and not net_layout(net_class).takes_activation:
        return (f"needs {net_class.__name__}(..., activation={activation!r}); the class takes no "
                "activation argument (a ReLU-only net)")
    return ""


def call_user_net(net_class, inputs, guard, backward=True):
    """Build the user's class, give it the case's parameters, call its loss."""
    layout = net_layout(net_class)
    D, H = inputs["W1"].shape
    C = inputs["W2"].shape[1]
    reg = inputs["reg"]
    kwargs = {} if inputs["activation"] == "relu" else {"activation": inputs["activation"]}
    if layout.reg_in_init and not layout.reg_in_loss:
        kwargs["reg"] = reg
    net = net_class(D, H, C, **kwargs)
    if not layout.reg_in_loss and not layout.reg_in_init:
        net.reg = reg
    net.params = {name: inputs[name].copy() for name in NET_PARAM_NAMES}
    X, y = inputs["X"], inputs["y"]
    if layout.reg_in_loss:
        result = guard(net.loss, X, y, reg=reg)
    else:
        images = X.reshape(-1, *IMAGE_SHAPE) if X.shape[1] == np.prod(IMAGE_SHAPE) else X
        result = guard(net.loss, images, y)
    return _read_net_result(result, NET_PARAM_NAMES)


def _read_net_result(result, param_names):
    """``(loss, grads)`` of a network's ``loss(X, y)``, checked: a tuple, grads a dict."""
    if not isinstance(result, tuple) or len(result) != 2:
        raise UserCodeFailure(f"loss(X, y) returned {describe(result)}, expected the tuple "
                              "(loss, grads) when labels are given", starter=result is None)
    loss, grads = result
    if not isinstance(grads, dict):
        raise UserCodeFailure(f"returned grads as {describe(grads)}, expected a dict keyed by "
                              f"{', '.join(param_names)}", starter=grads is None)
    return read_loss(loss), {k: read_array(v, k) for k, v in grads.items() if k in param_names}


# ---- fully-connected nets of any depth: assignment 2's FullyConnectedNet ---------------

def prepare_fc_net(obj, kind: str = "fc_net"):
    """A class ``FullyConnectedNet`` (assignment 2's layout), or its method ``loss``."""
    net_class = _network_class(obj, kind, "FullyConnectedNet")
    if not (_accepts(net_class, "reg") and _accepts(net_class, "input_dim")):
        raise TargetError(f"{net_class.__name__}{_parameters(net_class)} cannot be built as "
                          f"{net_class.__name__}(hidden_dims, input_dim=, num_classes=, reg=) "
                          "(assignment 2's FullyConnectedNet); a two-layer class is "
                          "--kind two_layer_net")
    return net_class


def call_user_fc_net(net_class, inputs, guard, backward=True):
    """Assignment 2's layout: ``net_class(hidden_dims, input_dim=D, num_classes=C, reg=reg,
    dtype=...)`` (dropout and normalization left at their defaults, off), the case's
    parameters set on ``params`` (W1, b1, ..., WL, bL), then ``loss(X, y)`` on images
    ``(N, 32, 32, 3)`` with the reg held on the instance.
    """
    num_layers = sum(1 for name in inputs if name.startswith("W"))
    names = tuple(f"{kind}{l}" for l in range(1, num_layers + 1) for kind in ("W", "b"))
    weights = [inputs[f"W{l}"] for l in range(1, num_layers + 1)]
    net = net_class([W.shape[1] for W in weights[:-1]], input_dim=weights[0].shape[0],
                    num_classes=weights[-1].shape[1], reg=inputs["reg"], dtype=weights[0].dtype)
    net.params = {name: inputs[name].copy() for name in names}
    X = inputs["X"]
    images = X.reshape(-1, *IMAGE_SHAPE) if X.shape[1] == np.prod(IMAGE_SHAPE) else X
    return _read_net_result(guard(net.loss, images, inputs["y"]), names)
