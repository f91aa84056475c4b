"""Check your own NumPy gradient code against the torch autograd reference.

    cs231n-check-gradient assignment2/                          # every target of an assignment
    cs231n-check-gradient cs231n/layers.py                      # every target of a file
    cs231n-check-gradient cs231n/layers.py:conv_forward_naive   # one target, its full report
    cs231n-check-gradient cs231n/layers.py:batchnorm_forward --backward batchnorm_backward_alt
    cs231n-check-gradient my_layers.py:my_forward --kind layer --inputs my_inputs --torch my_torch
    cs231n-check-gradient --list

The kind of each target is found from its name (``--kind`` overrides it for one target).
Each target runs on real CIFAR-10 dev images or seeded inputs (several cases: weight
scales, reg values, strides, N = 1, masks) in float64 and float32, on cpu and cuda when
present, against torch; one target prints the error and the worst element of its value
and every gradient, then a diagnosis; a file or folder prints one line per target and a
summary. Exit status 0 when nothing failed (advisory warnings and unimplemented starter
code allowed unless --strict), 1 when a target failed, 2 on a usage error, 130 on Ctrl-C.
A thin shell over ``ref_torch.oracle``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from ref_torch.devices import available_devices
from ref_torch.oracle import check_gradient
from ref_torch.oracle.command import (failed, is_single_target, resolve_options, summary,
                                      to_json, write_json)
from ref_torch.oracle.kinds import KINDS, get_kind
from ref_torch.oracle.walk import check_path, plan_path
from scratch_numpy.data import CIFAR10Error, CIFAR10NotFoundError
from scripts.cli import UsageError, add_cifar10_argument, command, int_at_least, output_file

SINGLE_ONLY = ("kind", "backward", "inputs", "shapes", "torch", "wrt")


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?",
                        help="path/to/file.py:name (one target, or file.py:Class.method), "
                             "path/to/file.py (every target in it) or an assignment folder")
    parser.add_argument("--kind", help="what one target computes (default: found from its name; "
                                       "see --list)")
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
                        help="advisory cases, warnings (an argument modified in place) and "
                             "unimplemented targets fail")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--overwrite", action="store_true", help="let --json replace a file")
    parser.add_argument("--details", action="store_true",
                        help="a file or folder: print the full report of every target that "
                             "does not pass")
    parser.add_argument("--backward", metavar="NAME",
                        help="the backward to check the forward with (a function of the "
                             "target's file, e.g. batchnorm_backward_alt)")
    layer = parser.add_argument_group("--kind layer")
    layer.add_argument("--inputs", metavar="FUNC",
                       help="a function returning the forward's inputs (a dict by name, or a "
                            "tuple): a name in the target's file, or other.py:func")
    layer.add_argument("--shapes", nargs="+", metavar="[NAME=]D1,D2",
                       help="shapes of standard normal array inputs, e.g. x=2,3,8,8 w=4,3,3,3 b=4")
    layer.add_argument("--torch", metavar="EXPR",
                       help="the forward in torch: 'lambda x, w, b: ...' (torch, F, np in scope) "
                            "or a function of the target's file (or other.py:func); adds the "
                            "autograd reference")
    layer.add_argument("--wrt", nargs="+", metavar="NAME",
                       help="inputs to differentiate (default: every float array input)")
    return parser


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' * (count != 1)}"


def print_kinds() -> None:
    for kind in KINDS.values():
        print(f"{kind.name:<22}{kind.signature}")
        if kind.names:
            print(f"{'':<22}found by name: {', '.join(kind.names)}")
        print(f"{'':<22}accepts: {kind.accepts}")


def check_one(args) -> int:
    options = resolve_options(args.target, args.backward, args.inputs, args.torch)
    if args.shapes:
        options["shapes"] = parse_shapes(args.shapes)
    if args.wrt:
        options["wrt"] = args.wrt
    start = time.perf_counter()
    report = check_gradient(args.target, args.kind, num_dev=args.num_dev,
                            cifar10_dir=args.cifar10_dir, dtypes=args.dtype, devices=args.device,
                            reg_convention=args.reg_convention, strict=args.strict, **options)
    report.seconds = time.perf_counter() - start
    report.file = args.target.rpartition(":")[0]
    print(report)
    if args.json:
        write_json(args.json, to_json(args.target, [report], {}, report.seconds, args.strict),
                   args.overwrite)
    return 1 if failed(report, args.strict, single=True) else 0


def one_target(path: str, report) -> str:
    """The command line that checks ``report``'s target alone (quoted for a shell)."""
    file = Path(path) if path.endswith(".py") else Path(path) / report.file
    forward, _, backward = report.target.partition(" + ")
    return shlex.quote(f"{file}:{forward}") + (f" --backward {backward}" if backward else "")


def check_many(args) -> int:
    plan = plan_path(args.target)
    targets = plan.targets
    width = max((len(t.label) for t in targets), default=10) + 2
    devices = args.device or available_devices()
    files = sum(bool(f.targets or f.error) for f in plan.found)
    print(f"{plural(len(targets), 'target')} in {plural(files, 'file')} of {args.target} "
          f"({', '.join(args.dtype)} | {', '.join(devices)})")
    shown_files = set()

    def show(report):
        if report.file not in shown_files:
            shown_files.add(report.file)
            print(report.file)
        print(f"  {report.line(width)}", flush=True)

    start = time.perf_counter()
    reports = check_path(plan, num_dev=args.num_dev, cifar10_dir=args.cifar10_dir,
                         dtypes=args.dtype, devices=args.device,
                         reg_convention=args.reg_convention, strict=args.strict,
                         progress=sys.stderr.isatty(), on_report=show)
    seconds = time.perf_counter() - start
    for file, names in plan.not_checked.items():
        print(f"not checked (no kind): {file}: {', '.join(names)}")
    if args.details:
        for report in reports:
            if report.verdict != "pass":
                print(f"\n==== {report.file}: {report.target}\n{report}")
    print(summary(reports, seconds))
    bad = [r for r in reports if failed(r, args.strict) and r.target != "(file)"]
    if bad and not args.details:
        print(f"a target's full report: cs231n-check-gradient {one_target(args.target, bad[0])}")
    if args.json:
        write_json(args.json, to_json(args.target, reports, plan.not_checked, seconds,
                                      args.strict), args.overwrite)
    return 1 if any(failed(r, args.strict) for r in reports) else 0


@command
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        print_kinds()
        return 0
    if not args.target:
        raise UsageError("give a target: path/to/file.py:name, a file, or a folder (see --help)")
    if args.device and "cuda" in args.device and "cuda" not in available_devices():
        raise UsageError("--device cuda given but no CUDA device is available")
    single = is_single_target(args.target)
    given = [f for f in SINGLE_ONLY if getattr(args, f)]
    if given and not single:
        raise UsageError(f"--{given[0]} is for one target (path/to/file.py:name), not a file "
                         "or folder")
    try:
        if args.kind:
            get_kind(args.kind)
        if args.json:
            args.json = output_file(args.json, overwrite=args.overwrite)
        return check_one(args) if single else check_many(args)
    except (ValueError, CIFAR10NotFoundError, CIFAR10Error) as exc:
        raise UsageError(str(exc)) from None
    except FileExistsError as exc:
        raise UsageError(f"{exc.filename2 or exc.filename} appeared while the check ran; it is "
                         "kept: choose another --json name or pass --overwrite") from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
