"""Any forward/backward layer (``--kind layer``): convolution, pooling, batch norm, an RNN step.

The user's pair, of any signature:

    name_forward(*inputs) -> (out, cache)        or (out_1, ..., out_K, cache)
    name_backward(dout, cache) -> gradients      or name_backward(dout_1, ..., dout_K, cache)

``name_backward`` returns one gradient per floating-point array input, in the
order of the inputs (``conv_backward(dout, cache) -> (dx, dw, db)`` for
``conv_forward(x, w, b, conv_param)``); other inputs (a ``conv_param`` dict) are
passed along and not differentiated.

With fixed random upstream gradients ``dout_k`` the scalar
``L = sum_k sum(out_k * dout_k)`` has ``dL/d input`` equal to what backward must
return. The reference is the centred numerical gradient of ``L`` through *their
own forward*, float64, kink-aware (``scratch_numpy.gradient_check.numerical_gradient_at``),
judged with ``LAYER_NUMERICAL_RTOL``; with a torch expression of the forward,
torch autograd is a reference too, in every dtype and device like the other kinds.
"""

from __future__ import annotations

import copy
import inspect

import numpy as np
import torch

from ref_torch.adapters import describe, find_backward, layer_caller
from ref_torch.diagnosis import diagnose_array
from ref_torch.kinds import LossKind
from ref_torch.oracle import OracleReport, run_checks
from ref_torch.parity import ArrayDiff, ParityReport, describe_non_finite, torch_reference
from ref_torch.tolerances import LAYER_NUMERICAL_RTOL
from ref_torch.user_code import TargetError, UserCodeFailure, call_user, modified_inputs
from scratch_numpy.gradient_check import numerical_gradient_at

SEED = 231
# Coordinates probed per input; a larger input gets this many, drawn at random (seeded).
MAX_PROBES = 2000


def example_inputs(forward, inputs=None, shapes=None, seed: int = SEED) -> dict:
    """The forward's inputs by parameter name, in order: given (a dict, or a tuple of
    positional values), or standard normal float64 arrays of the given shapes."""
    if (inputs is None) == (shapes is None):
        raise TargetError("give the layer's inputs (an example-inputs function) or their shapes "
                          "(e.g. --shapes x=2,3,8,8 w=4,3,3,3 b=4), one of the two")
    if shapes is not None:
        rng = np.random.default_rng(seed)
        make = lambda shape: rng.standard_normal(tuple(shape))  # noqa: E731
        inputs = ({k: make(v) for k, v in shapes.items()} if isinstance(shapes, dict)
                  else [make(s) for s in shapes])
    try:
        params = list(inspect.signature(forward).parameters)
        bound = inspect.signature(forward).bind(
            *(inputs if isinstance(inputs, (tuple, list)) else ()),
            **(inputs if isinstance(inputs, dict) else {}))
    except TypeError as exc:
        raise TargetError(f"{forward.__name__}({', '.join(params)}) cannot take these inputs: "
                          f"{exc}") from None
    if not isinstance(inputs, (dict, tuple, list)):
        raise TargetError(f"the example inputs are {describe(inputs)}, expected a dict or a tuple")
    return dict(bound.arguments)


def _douts(outs, seed: int = SEED) -> dict:
    rng = np.random.default_rng(seed + 1)
    names = ["dout"] if len(outs) == 1 else [f"dout{k + 1}" for k in range(len(outs))]
    return {name: rng.standard_normal(np.shape(out)) for name, out in zip(names, outs)}


def _torch_layer_loss(torch_forward, names, dout_names):
    def loss(t):
        outs = torch_forward(*(t[n] for n in names))
        outs = outs if isinstance(outs, (tuple, list)) else (outs,)
        return sum((o * t[d]).sum() for o, d in zip(outs, dout_names))
    return loss


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


def _compare_probes(name, analytic, x, numerical, kink, indices, tol) -> ArrayDiff:
    if analytic.shape != x.shape:
        return ArrayDiff(name, float("inf"), tol, problem=f"shape {analytic.shape} but the input "
                         f"has shape {x.shape}")
    values = np.array([analytic[ix] for ix in indices], dtype=np.float64)
    if not np.isfinite(values).all() or not np.isfinite(analytic).all():
        return ArrayDiff(name, float("inf"), tol, problem=describe_non_finite(
            np.asarray(analytic, dtype=np.float64)))
    judged = ~kink
    diff = np.where(judged, np.abs(values - numerical), 0.0)
    scale = float(np.max(np.abs(numerical[judged]), initial=0.0))
    worst = int(np.argmax(diff))
    error = float(diff[worst]) / scale if scale else (0.0 if not diff.any() else float("inf"))
    remarks = []
    if kink.any():
        remarks.append(f"{int(kink.sum())} probe(s) straddle a kink, not judged")
    if len(indices) < x.size:
        remarks.append(f"{len(indices)} of {x.size} coordinates probed")
    return ArrayDiff(name, error, tol, indices[worst], float(values[worst]),
                     float(numerical[worst]), reference="numerical", remark="; ".join(remarks))


def _numerical_report(pair, caller, wrt, inputs, max_probes, seed):
    """The report of the user's pair against the numerical gradient of their own forward."""
    tol = LAYER_NUMERICAL_RTOL
    label = dict(case="layer: numerical gradient of your forward", dtype="float64",
                 device="cpu")
    given = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in inputs.items()}
    try:
        L, grads = call_user(caller, pair, given)
        if modified_inputs(inputs, given):
            raise UserCodeFailure(modified_inputs(inputs, given))
        rng = np.random.default_rng(seed)
        diffs, probes = [], {}
        for name in wrt:
            x = inputs[name].copy()
            every = list(np.ndindex(x.shape))
            picks = every if len(every) <= max_probes else [
                every[i] for i in np.sort(rng.choice(len(every), max_probes, replace=False))]
            analytic = np.asarray(grads[name])
            probe_at = analytic if analytic.shape == x.shape else np.zeros_like(x)

            def f(value, name=name):
                return call_user(caller, pair, dict(inputs, **{name: value}))[0]
            numerical, kink = numerical_gradient_at(f, x, probe_at, picks)
            diffs.append(_compare_probes(f"d{name}", analytic, x, numerical, kink, picks, tol))
            probes[name] = (analytic, x.shape, picks, numerical, kink)
    except UserCodeFailure as exc:
        missing = ArrayDiff("loss", float("inf"), tol, problem="not computed")
        return ParityReport(loss=missing, error=str(exc), **label), {}
    loss = ArrayDiff("loss", 0.0, tol, (), float(L), float(L), reference="numerical",
                     remark="L = sum(out * dout): the function differentiated")
    return ParityReport(loss=loss, grads=diffs, **label), probes


def _numerical_diagnoses(report, probes) -> list[str]:
    """Per wrong gradient: its shape, or a factor against the probed numerical values."""
    lines = []
    for diff in report.grads:
        if diff.passed or diff.name[1:] not in probes:
            continue
        analytic, shape, picks, numerical, kink = probes[diff.name[1:]]
        if analytic.shape != shape:
            lines.append(f"{diff.name} has shape {analytic.shape} but {diff.name[1:]} has shape "
                         f"{shape}: return it in the input's shape")
        elif not diff.problem:
            values = np.array([analytic[ix] for ix in picks], dtype=np.float64)
            lines.append(diagnose_array(diff.name, values[~kink], numerical[~kink],
                                        100 * LAYER_NUMERICAL_RTOL))
    wrong = [d.name for d in report.grads if not d.passed]
    right = [d.name for d in report.grads if d.passed]
    if wrong and right:
        lines.append(f"only {', '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} wrong; "
                     f"{', '.join(right)} agree in every case")
    return [line for line in lines if line]


def check_layer(forward, *, backward=None, inputs=None, shapes=None, torch_forward=None,
                wrt=None, label=None, dtypes=("float64", "float32"), devices=None,
                progress: bool = False, max_probes: int = MAX_PROBES, seed: int = SEED):
    """Check a forward/backward pair of any signature (see the module docstring).

    inputs: a dict by parameter name or a tuple of positional values; or shapes: a
        dict or list of shapes for standard normal float64 inputs.
    torch_forward: a torch function of the same inputs (or ``"lambda x, w: ..."``):
        autograd becomes a second reference, in every dtype and device.
    wrt: the inputs to differentiate (default: every floating-point array input).
    Returns an ``OracleReport``.
    """
    if inspect.isclass(forward) or not callable(forward):
        raise TargetError(f"--kind layer takes a function name_forward, got {describe(forward)}")
    backward = backward or find_backward(forward)
    values = example_inputs(forward, inputs, shapes, seed)
    names = list(values)
    floats = [n for n, v in values.items()
              if isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating)]
    wrt = tuple(wrt or floats)
    if not wrt or set(wrt) - set(floats):
        raise TargetError(f"the gradients are taken with respect to floating-point array inputs; "
                          f"this forward has {', '.join(floats) or 'none'}")
    values = {n: v.astype(np.float64) if n in floats else v for n, v in values.items()}
    pair = (forward, backward)
    try:
        first = call_user(forward, *(copy.deepcopy(v) for v in values.values()))
    except UserCodeFailure as exc:
        first = exc
    outs = first[:-1] if isinstance(first, tuple) and len(first) >= 2 else (None,)
    douts = _douts([o if isinstance(o, np.ndarray) else np.zeros(0) for o in outs], seed)
    case_inputs = {**values, **douts}
    caller = layer_caller(names, floats, wrt, list(douts))
    numerical, probes = _numerical_report(pair, caller, wrt, case_inputs, max_probes, seed)
    reports, diagnoses = [numerical], _numerical_diagnoses(numerical, probes)
    name = label or getattr(forward, "__qualname__", repr(forward))
    if torch_forward is not None and not isinstance(first, UserCodeFailure):
        torch_fn = load_torch_forward(torch_forward, getattr(forward, "__globals__", {}))
        loss = _torch_layer_loss(torch_fn, names, list(douts))
        try:
            call_user(torch_reference, loss, case_inputs, wrt)
        except UserCodeFailure as exc:
            raise TargetError(f"the torch forward fails on these inputs: {exc}") from None
        kind = LossKind("layer", "", lambda X, y: [("torch autograd", case_inputs)],
                        caller, loss, wrt, "")
        autograd = run_checks(kind, pair, None, None, dtypes, devices, progress=progress,
                              label=name)
        reports += autograd.cases
        diagnoses += [d for d in autograd.diagnoses if d not in diagnoses]
    return OracleReport(name, "layer", reports, diagnoses=diagnoses,
                        data=f"inputs {', '.join(f'{n} {np.shape(values[n])}' for n in wrt)}")
