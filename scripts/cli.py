"""What every command shares: arguments, data loading, output paths, exit status 2.

A command's ``main(argv) -> int`` is wrapped by :func:`command`: a
:class:`UsageError` raised anywhere inside (missing or damaged data, an
impossible option) is printed as ``error: ...`` and becomes exit status 2,
never a traceback; output cut short by its reader (``| head``) ends the command
quietly with status 141.

Numbers on the command line are checked by argparse (:func:`positive_int`,
:func:`positive_float`, :func:`non_negative_int`, :func:`non_negative_float`), so a
nonsense size is refused before any work.
Outputs are checked before any work too (:func:`output_folder`,
:func:`output_file`) and written atomically
(``scratch_numpy.checkpoints.atomic_output``): a long run is never lost to a bad
path at the end, and an interrupted write never leaves half a file.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys
from pathlib import Path

from ref_torch.devices import resolve_device
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
        except BrokenPipeError:
            # The reader went away (``| head``): stop quietly, as a shell tool does. Point
            # stdout at /dev/null so Python's exit flush does not raise the error again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 128 + 13  # killed by SIGPIPE, the shell's convention

    return wrapper


def int_at_least(minimum: int):
    """An argparse ``type``: an integer no smaller than ``minimum``."""

    wanted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {value}" if minimum == 1
                                             else f"must be at least {minimum}, got {value}")
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


# ---- argparse types -------------------------------------------------------------------------

positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def positive_float(text: str) -> float:
    """A finite number > 0 (``nan``, ``inf``, 0 and negatives are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def hidden_sizes(text: str) -> tuple[int, ...]:
    """``"1000,500"`` -> ``(1000, 500)``: hidden layer sizes, each > 0 (none: ``""``)."""
    try:
        dims = tuple(int(v) for v in text.split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 1000,500, got {text!r}") from None
    if any(d <= 0 for d in dims):
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive, got {text!r}")
    return dims


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def add_compile_argument(parser) -> None:
    """``--compile`` of a training command (see :func:`check_compile`)."""
    parser.add_argument("--compile", action="store_true",
                        help="the training step through torch.compile (with --backend torch)")


def check_compile(args) -> None:
    """``--compile`` compiles the torch training step: refused with another backend."""
    if getattr(args, "compile", False) and args.backend != "torch":
        raise UsageError("--compile applies to --backend torch only")


def fraction(text: str) -> float:
    """A number in (0, 1], such as an accuracy to reach."""
    value = positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1], got {text}")
    return value


def device_name(text: str) -> str:
    """A torch device this machine has: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``."""
    try:
        return str(resolve_device(text))
    except (ValueError, RuntimeError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def output_folder(text: str) -> Path:
    """A folder for results: created now if missing (that loses nothing) and writable."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot create the folder {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"the folder {path} is not writable")
    return path


def output_file(path, suffix: str = "", overwrite: bool = False) -> Path:
    """The file a command will write, checked before any work: ``suffix`` appended when
    missing (what ``np.savez`` would do silently), its folder existing and writable, and
    an existing file refused unless ``overwrite``."""
    path = Path(path)
    if suffix and path.suffix != suffix:
        path = path.with_name(path.name + suffix)
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write {path}: the folder {folder} is not writable")
    if path.is_dir():
        raise UsageError(f"{path} is a folder; give a file name")
    if path.exists() and not overwrite:
        raise UsageError(f"{path} exists; choose another name or pass --overwrite")
    return path


def write_new(path: Path, write, overwrite: bool) -> Path:
    """``write(path, overwrite)`` for a result that cost time (a trained network): when a file
    appeared at ``path`` while it was computed and ``overwrite`` is off, that file is kept and
    the result goes to the first free ``NAME.1.npz``, ``NAME.2.npz``, ... instead (said on
    stderr); nothing is lost either way. Returns the path written."""
    try:
        return write(path, overwrite)
    except FileExistsError:
        for k in range(1, 1000):
            other = path.with_name(f"{path.stem}.{k}{path.suffix}")
            try:
                written = write(other, False)
            except FileExistsError:
                continue
            print(f"note: {path} appeared while this ran and is kept; wrote {written} instead",
                  file=sys.stderr)
            return written
        raise


def section_command(report_section, description: str, argv: list[str] | None = None) -> int:
    """The command of a script that is one section of the main job (an experiment):
    ``--quick``, ``--out`` (its PNG), ``--cifar10-dir``; prints the section's table.

    ``report_section(ctx) -> list[ResultRow]`` is what ``scripts.reproduce`` runs."""
    from scratch_numpy.data import split_cifar10
    from scripts.report import ReportContext, format_table

    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke-test sizes")
    parser.add_argument("--out", type=output_folder, default="reports", help="folder for the PNG")
    add_cifar10_argument(parser)
    args = parser.parse_args(argv)
    data = load_data(args.cifar10_dir)
    ctx = ReportContext(data=data, splits=split_cifar10(data), out_dir=args.out, quick=args.quick)
    print(format_table(report_section(ctx)))
    return 0
