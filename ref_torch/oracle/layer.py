"""``--kind layer``: any forward/backward pair (a layer with no kind of its own).

The user's pair, of any signature:

    name_forward(*inputs) -> (out, cache)        or (out_1, ..., out_K, cache)
    name_backward(dout, cache) -> gradients      or name_backward(dout_1, ..., dout_K, cache)

``name_backward`` returns one gradient per floating-point array input, in the
order of the inputs (other inputs, a parameter dict, are passed along and not
differentiated). The inputs come from the user (an example-inputs function, or
shapes of standard normal arrays); the upstream gradients are fixed random arrays of
the outputs' shapes. The reference is the numerical gradient of the user's own forward
(``ref_torch/oracle/numerical.py``); given a torch version of the forward, torch
autograd is a reference too, in every dtype and device as for the other kinds.

:func:`setup` is the ``layer`` row's: it builds, for one target and its options, the
row the engine runs (its one case, its caller and its torch reference).
"""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import torch

from ref_torch.oracle.adapters import describe, find_backward, layer_caller
from ref_torch.oracle.references import layer_loss
from ref_torch.oracle.user_code import Guard, TargetError, UserCodeFailure, call_user
from ref_torch.parity import torch_reference

SEED = 231
# Elements of one input made from --shapes (8 MB in float64): the numerical reference calls the
# forward twice per probed coordinate, so a layer check stays within seconds to minutes.
MAX_SHAPE_SIZE = 1_000_000
SIGNATURE = "name_forward(*inputs) -> (out, cache); name_backward(dout, cache) -> gradients"
ACCEPTS = ("any other forward/backward pair: inputs from --inputs FUNC or --shapes, the "
           "numerical gradient of your forward as the reference, and torch autograd too "
           "with --torch")


def no_cases(X, y):
    raise TargetError("--kind layer needs the layer's inputs: --inputs FUNC or --shapes")


def example_inputs(forward, inputs=None, shapes=None, seed: int = SEED) -> dict:
    """The forward's inputs by parameter name, in order: given (a dict, a tuple of
    positional values, or a function returning either), or standard normal float64
    arrays of the given shapes."""
    if (inputs is None) == (shapes is None):
        raise TargetError("give the layer's inputs (an example-inputs function) or their shapes "
                          "(e.g. --shapes x=2,3,8,8 w=4,3,3,3 b=4), one of the two")
    if callable(inputs):
        try:
            inputs = call_user(inputs)
        except UserCodeFailure as exc:
            raise TargetError(f"the inputs function failed: {exc}") from None
    if shapes is not None:
        named = shapes.items() if isinstance(shapes, dict) else enumerate(shapes, start=1)
        for name, shape in named:
            size = int(np.prod([int(d) for d in shape], dtype=object))
            if size > MAX_SHAPE_SIZE:
                raise TargetError(f"the shape {tuple(shape)} of input {name} has {size:,} "
                                  f"elements; --shapes takes at most {MAX_SHAPE_SIZE:,} per input "
                                  "(the numerical gradient calls your forward thousands of times)")
        rng = np.random.default_rng(seed)
        make = lambda shape: rng.standard_normal(tuple(shape))  # noqa: E731
        inputs = ({k: make(v) for k, v in shapes.items()} if isinstance(shapes, dict)
                  else [make(s) for s in shapes])
    if not isinstance(inputs, (dict, tuple, list)):
        raise TargetError(f"the example inputs are {describe(inputs)}, expected a dict or a tuple")
    try:
        params = list(inspect.signature(forward).parameters)
        bound = inspect.signature(forward).bind(
            *(inputs if isinstance(inputs, (tuple, list)) else ()),
            **(inputs if isinstance(inputs, dict) else {}))
    except TypeError as exc:
        raise TargetError(f"{forward.__name__}({', '.join(params)}) cannot take these inputs: "
                          f"{exc}") from None
    return dict(bound.arguments)


def load_torch_forward(spec, namespace: dict):
    """A torch forward from a callable, ``"lambda ...: ..."`` or a name in ``namespace``."""
    if callable(spec):
        return spec
    if spec.lstrip().startswith("lambda"):
        env = {"torch": torch, "F": torch.nn.functional, "np": np}
        try:
            return call_user(eval, spec, env)  # the user's own expression, as their own file is
        except UserCodeFailure as exc:
            raise TargetError(f"the torch expression does not evaluate: {exc}") from None
    if spec in namespace and callable(namespace[spec]):
        return namespace[spec]
    raise TargetError(f"--torch {spec!r}: neither a lambda nor a function of the target's file")


def _douts(outs, seed: int = SEED) -> dict:
    rng = np.random.default_rng(seed + 1)
    names = ["dout"] if len(outs) == 1 else [f"dout{k + 1}" for k in range(len(outs))]
    return {name: rng.standard_normal(np.shape(out)) for name, out in zip(names, outs)}


def _first_outputs(forward, values: dict) -> list | None:
    """The forward's outputs on the inputs (None when it fails: the report will say how)."""
    try:
        result = Guard()(forward, *values.values())
    except UserCodeFailure:
        return None
    if not isinstance(result, tuple) or len(result) < 2:
        return None
    outs = result[:-1]
    return list(outs) if all(isinstance(o, np.ndarray) for o in outs) else None


def _torch_outputs(torch_forward, values: dict) -> list:
    """The torch forward's outputs on the inputs (float64, cpu): they fix the shapes the
    user's outputs must have. A torch forward that fails is a usage error, never the
    user's code's failure."""
    tensors = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v
               for k, v in values.items()}
    try:
        outs = call_user(torch_forward, *tensors.values())
    except UserCodeFailure as exc:
        raise TargetError("the torch forward fails on these inputs: "
                          f"{str(exc).removeprefix('your code ')}") from None
    outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
    if not all(isinstance(o, torch.Tensor) for o in outs):
        raise TargetError("the torch forward must return a tensor (or a tuple of tensors)")
    return [o.detach().numpy() for o in outs]


def setup(kind, forward, options: dict):
    """``(row, (forward, backward))``: the ``layer`` row for this target and its options
    (``inputs`` or ``shapes``, ``backward``, ``torch_forward``, ``wrt``)."""
    if inspect.isclass(forward) or not callable(forward):
        raise TargetError(f"--kind layer takes a function name_forward, got {describe(forward)}")
    backward = find_backward(forward, options.get("backward"))
    values = example_inputs(forward, options.get("inputs"), options.get("shapes"))
    names = list(values)
    floats = [n for n, v in values.items()
              if isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating)]
    wrt = tuple(options.get("wrt") or floats)
    if not wrt or set(wrt) - set(floats):
        raise TargetError(f"the gradients are taken with respect to floating-point array inputs; "
                          f"this forward has {', '.join(floats) or 'none'}")
    values = {n: v.astype(np.float64) if n in floats else v for n, v in values.items()}
    torch_loss, torch_forward = None, options.get("torch_forward")
    if torch_forward is not None:
        torch_forward = load_torch_forward(torch_forward, getattr(forward, "__globals__", {}))
        outs = _torch_outputs(torch_forward, values)
    else:
        outs = _first_outputs(forward, values)
    douts = _douts(outs or [np.zeros(0)])
    case_inputs = {**values, **douts}
    if torch_forward is not None:
        torch_loss = layer_loss(lambda t: torch_forward(*(t[n] for n in names)), tuple(douts))
        try:  # autograd must go through it too (not through x.detach(), nor integer outputs)
            call_user(torch_reference, torch_loss, case_inputs, wrt)
        except UserCodeFailure as exc:
            raise TargetError("the torch forward cannot be differentiated on these inputs: "
                              f"{str(exc).removeprefix('your code ')}") from None
    row = dataclasses.replace(
        kind, make_cases=lambda X, y: [("torch autograd", case_inputs)],
        call_numpy=layer_caller(names, floats, wrt, tuple(douts)), torch_loss=torch_loss,
        wrt=wrt, dout_names=tuple(douts))
    return row, (forward, backward)
