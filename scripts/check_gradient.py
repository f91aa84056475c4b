"""Check your own NumPy loss/gradient code against the torch autograd reference.

    python -m scripts.check_gradient path/to/file.py:svm_loss_vectorized --kind svm
    python -m scripts.check_gradient --list

Runs your function on real CIFAR-10 dev-batch inputs (several cases: weight
scales, reg values) in float64 and float32, on cpu and cuda when present, and
prints, for the loss and every gradient, the normwise error against torch and
the worst element (index, your value, torch's value). Exit status 0 when every
check passes, 1 when any fails, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

from ref_torch.devices import available_devices
from ref_torch.kinds import KINDS, get_kind
from ref_torch.parity import run_kind
from scratch_numpy.data import CIFAR10NotFoundError, load_cifar10, split_cifar10
from scratch_numpy.preprocessing import dev_batch


def load_user_object(spec: str):
    """``path/to/file.py:name`` -> the object ``name`` defined in that file."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise ValueError(f"expected path/to/file.py:function_name, got {spec!r}")
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{file}: no such file")
    module_name = f"user_code_{file.stem}"
    module_spec = importlib.util.spec_from_file_location(module_name, file)
    module = importlib.util.module_from_spec(module_spec)
    # The user's file may import its neighbours (e.g. a cs231n package).
    sys.path.insert(0, str(file.resolve().parent))
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:  # whatever the user's file raised while loading
        raise ValueError(f"{file} failed to load: {type(exc).__name__}: {exc}") from exc
    if not hasattr(module, name):
        raise ValueError(f"{file} defines no {name!r}")
    return getattr(module, name)


def load_dev_batch(cifar10_dir=None, num_dev: int = 500, seed: int = 0):
    """The dev batch as float64 rows, mean image of the training split subtracted."""
    return dev_batch(split_cifar10(load_cifar10(cifar10_dir), num_dev=num_dev, seed=seed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", help="path/to/file.py:function_or_class")
    parser.add_argument("--kind", help="which loss the target computes (see --list)")
    parser.add_argument("--list", action="store_true", help="list the loss kinds and exit")
    parser.add_argument("--dtype", nargs="+", default=["float64", "float32"],
                        choices=["float64", "float32"])
    parser.add_argument("--device", nargs="+", default=None, choices=["cpu", "cuda"],
                        help="default: cpu, and cuda when available")
    parser.add_argument("--cifar10-dir", default=None, help="default: $CIFAR10_DIR or the cache")
    parser.add_argument("--num-dev", type=int, default=500, help="rows of the dev batch")
    args = parser.parse_args(argv)

    if args.list:
        for kind in KINDS.values():
            print(f"{kind.name:<14} {kind.signature}")
        return 0
    if not args.target or not args.kind:
        parser.print_usage(sys.stderr)
        print("error: give a target path/to/file.py:name and --kind (see --list)", file=sys.stderr)
        return 2
    if args.device and "cuda" in args.device and "cuda" not in available_devices():
        print("error: --device cuda given but no CUDA device is available", file=sys.stderr)
        return 2
    try:
        kind = get_kind(args.kind)
        user_obj = load_user_object(args.target)
        X, y = load_dev_batch(args.cifar10_dir, args.num_dev)
    except (ValueError, CIFAR10NotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    reports = run_kind(kind, user_obj, X, y, dtypes=[np.dtype(d) for d in args.dtype],
                       devices=args.device)
    for report in reports:
        print(report)
    failed = [r for r in reports if not r.passed]
    print(f"\n{len(reports) - len(failed)} passed, {len(failed)} failed "
          f"({args.target} as kind {kind.name!r}, {len(y)} CIFAR-10 dev images)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
