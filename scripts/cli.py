"""What every command shares: the data-folder argument, loading it, exit status 2.

A command's ``main(argv) -> int`` is wrapped by :func:`command`: a
:class:`UsageError` raised anywhere inside (missing or damaged data, an
impossible option) is printed as ``error: ...`` and becomes exit status 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import sys

from scratch_numpy.data import CIFAR10, CIFAR10Error, CIFAR10NotFoundError, load_cifar10


class UsageError(Exception):
    """What the user asked for cannot be done; the message says why."""


def command(main):
    """Decorate ``main(argv) -> int``: a :class:`UsageError` prints and returns 2."""

    @functools.wraps(main)
    def wrapper(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return wrapper


def int_at_least(minimum: int):
    """An argparse ``type``: an integer no smaller than ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def add_cifar10_argument(parser) -> None:
    parser.add_argument("--cifar10-dir", default=None,
                        help="CIFAR-10 folder or its parent (default: $CIFAR10_DIR, else the cache)")


def load_data(cifar10_dir=None) -> CIFAR10:
    """CIFAR-10 from ``cifar10_dir`` (see ``find_cifar10_dir``); missing or damaged
    data is a :class:`UsageError`."""
    try:
        return load_cifar10(cifar10_dir)
    except (CIFAR10NotFoundError, CIFAR10Error) as exc:
        raise UsageError(str(exc)) from None
