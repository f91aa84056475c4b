"""Check your own NumPy loss/gradient code against the torch autograd reference.

    cs231n-check-gradient path/to/linear_svm.py:svm_loss_vectorized --kind svm
    cs231n-check-gradient cs231n/classifiers/fc_net.py:TwoLayerNet --kind two_layer_net
    cs231n-check-gradient my_layers.py:conv_forward_naive --kind layer --inputs conv_inputs
    cs231n-check-gradient --list

Runs your code on real CIFAR-10 dev-batch inputs (several cases: weight scales,
reg values, 4-D images, scores that need the max shift) in float64 and float32,
on cpu and cuda when present, and prints for the loss and every gradient the
error against torch and the worst element, then a diagnosis of what is wrong.
Exit status 0 when every required check passes (advisory warnings allowed unless
--strict), 1 when one fails, 2 on a usage error, 130 on Ctrl-C. A thin shell over
``ref_torch.oracle.check_gradient``.
"""

from __future__ import annotations

import argparse
import sys

from ref_torch.devices import available_devices
from ref_torch.kinds import KINDS
from ref_torch.oracle import check_gradient
from ref_torch.user_code import UserCodeFailure, call_user, load_target
from scratch_numpy.data import CIFAR10Error, CIFAR10NotFoundError
from scripts.cli import UsageError, add_cifar10_argument, command, int_at_least

LAYER_LIST = ("name_forward(*inputs) -> (out, cache); name_backward(dout, cache) -> gradients",
              "any forward/backward pair (convolution, pooling, batch norm, an RNN step): inputs "
              "from --inputs FUNC or --shapes, the numerical gradient of your forward as the "
              "reference, and torch autograd too with --torch")


def parse_shapes(tokens: list[str]):
    """``["x=2,3,8,8", "w=4,3,3,3"]`` -> a dict; ``["2,3,8,8", "4"]`` -> a list of shapes."""
    named, shapes = {}, []
    for token in tokens:
        name, _, dims = token.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.split(",") if d.strip())
        except ValueError:
            raise UsageError(f"--shapes {token!r}: expected NAME=D1,D2,... or D1,D2,...") from None
        if any(d < 1 for d in shape):
            raise UsageError(f"--shapes {token!r}: every size must be at least 1")
        if name:
            named[name] = shape
        else:
            shapes.append(shape)
    if named and shapes:
        raise UsageError("--shapes: name every shape (x=2,3) or none")
    return named or shapes


def layer_options(args, target) -> dict:
    """The ``--kind layer`` options for ``check_layer``."""
    options = {"torch_forward": args.torch, "wrt": args.wrt}
    if args.shapes:
        options["shapes"] = parse_shapes(args.shapes)
    if args.inputs:
        make = load_target(f"{target.rpartition(':')[0]}:{args.inputs}")
        try:
            options["inputs"] = call_user(make)
        except UserCodeFailure as exc:
            raise UsageError(f"--inputs {args.inputs}: {exc}") from None
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?",
                        help="path/to/file.py:function_or_class (or file.py:Class.method)")
    parser.add_argument("--kind", help="what the target computes (see --list)")
    parser.add_argument("--list", action="store_true", help="list the kinds and what each accepts")
    parser.add_argument("--dtype", nargs="+", default=["float64", "float32"],
                        choices=["float64", "float32"])
    parser.add_argument("--device", nargs="+", default=None, choices=["cpu", "cuda"],
                        help="default: cpu, and cuda when available")
    add_cifar10_argument(parser)
    parser.add_argument("--num-dev", type=int_at_least(2), default=500,
                        help="rows of the dev batch (at least 2)")
    parser.add_argument("--reg-convention", choices=["full", "half"], default=None,
                        help="full: reg * sum(W**2), gradient 2 reg W; half: 0.5 reg * sum(W**2), "
                             "gradient reg W (default: whichever the target uses)")
    parser.add_argument("--strict", action="store_true",
                        help="advisory cases (scores beyond exp's range) fail instead of warning")
    layer = parser.add_argument_group("--kind layer")
    layer.add_argument("--inputs", metavar="FUNC",
                       help="a function in the target's file returning the forward's inputs "
                            "(a dict by name, or a tuple)")
    layer.add_argument("--shapes", nargs="+", metavar="[NAME=]D1,D2",
                       help="shapes of standard normal array inputs, e.g. x=2,3,8,8 w=4,3,3,3 b=4")
    layer.add_argument("--torch", metavar="EXPR",
                       help="the forward in torch: 'lambda x, w, b: ...' (torch, F, np in scope) "
                            "or a function of the target's file; adds the autograd reference")
    layer.add_argument("--wrt", nargs="+", metavar="NAME",
                       help="inputs to differentiate (default: every float array input)")
    return parser


def print_kinds() -> None:
    rows = [(k.name, k.signature, k.accepts) for k in KINDS.values()]
    rows.append(("layer", *LAYER_LIST))
    for name, signature, accepts in rows:
        print(f"{name:<14} {signature}\n{'':<14}   accepts: {accepts}")


@command
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        print_kinds()
        return 0
    if not args.target or not args.kind:
        raise UsageError("give a target path/to/file.py:name and --kind (see --list)")
    if args.device and "cuda" in args.device and "cuda" not in available_devices():
        raise UsageError("--device cuda given but no CUDA device is available")
    layer_flags = [f for f in ("inputs", "shapes", "torch", "wrt") if getattr(args, f)]
    if args.kind != "layer" and layer_flags:
        raise UsageError(f"--{layer_flags[0]} is for --kind layer only")
    try:
        options = layer_options(args, args.target) if args.kind == "layer" else {}
        report = check_gradient(args.target, args.kind, num_dev=args.num_dev,
                                cifar10_dir=args.cifar10_dir, dtypes=args.dtype,
                                devices=args.device, reg_convention=args.reg_convention,
                                strict=args.strict, **options)
    except (ValueError, CIFAR10NotFoundError, CIFAR10Error) as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(report)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
