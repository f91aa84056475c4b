"""How each loss kind calls a user's NumPy object: the CS231n signatures.

Every ``call_*(user_obj, inputs) -> (loss, grads)`` takes the case's inputs
(``ref_torch/cases.py``) and returns what the parity harness compares with
torch: the loss and the gradients (a dict, one array, or a tuple in the kind's
``wrt`` order).
"""

from __future__ import annotations

import inspect
import sys

import numpy as np

NET_PARAM_NAMES = ("W1", "b1", "W2", "b2")


def call_linear_loss(user_fn, inputs):
    """``svm_loss_vectorized(W, X, y, reg) -> (loss, dW)`` and friends."""
    return user_fn(inputs["W"], inputs["X"], inputs["y"], inputs["reg"])


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


def layer_caller(arg_names: tuple[str, ...]):
    """A caller for a forward/backward pair: L = sum(out * dout), grads from backward."""

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


def call_score_loss(fn, inputs):
    """``softmax_loss(scores, y) -> (loss, dscores)`` (the loss layers)."""
    loss, dscores = fn(inputs["scores"], inputs["y"])
    return loss, {"scores": dscores}


def call_user_net(net_class, inputs):
    """Build the user's class, give it the case's parameters, call ``loss(X, y, reg)``.

    ReLU cases call ``net_class(D, H, C)`` (CS231n's signature); sigmoid and tanh
    cases also pass ``activation=``.
    """
    D, H = inputs["W1"].shape
    C = inputs["W2"].shape[1]
    kwargs = {}
    if inputs["activation"] != "relu":
        accepted = inspect.signature(net_class).parameters
        if "activation" not in accepted and not any(
                p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
            raise ValueError(f"this case needs {net_class.__name__}(..., activation="
                             f"{inputs['activation']!r}); the class takes no activation argument")
        kwargs["activation"] = inputs["activation"]
    net = net_class(D, H, C, **kwargs)
    net.params = {name: inputs[name] for name in NET_PARAM_NAMES}
    return net.loss(inputs["X"], inputs["y"], reg=inputs["reg"])


def call_user_fc_net(net_class, inputs):
    """Assignment 2's layout: ``net_class(hidden_dims, input_dim=D, num_classes=C, reg=reg,
    dtype=...)`` (dropout and normalization left off), the case's parameters set on
    ``params`` (W1, b1, ..., WL, bL), then ``loss(X, y)`` with the reg held on the instance.
    """
    num_layers = sum(1 for name in inputs if name.startswith("W"))
    weights = [inputs[f"W{l}"] for l in range(1, num_layers + 1)]
    hidden_dims = [W.shape[1] for W in weights[:-1]]
    net = net_class(hidden_dims, input_dim=weights[0].shape[0], num_classes=weights[-1].shape[1],
                    reg=inputs["reg"], dtype=weights[0].dtype)
    net.params = {f"{kind}{l}": inputs[f"{kind}{l}"]
                  for l in range(1, num_layers + 1) for kind in ("W", "b")}
    return net.loss(inputs["X"], inputs["y"])
