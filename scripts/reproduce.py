"""The main job: every model on CIFAR-10, one results table, plots in a folder.

    python -m scripts.reproduce [--out reports] [--quick] [--device cpu|cuda]

Loads CIFAR-10 (``$CIFAR10_DIR`` or the cache), runs each section, prints the
results table and writes it, with every section's PNGs, into ``--out``.
``--quick`` shrinks every section to a smoke test of a few seconds. ``--only S``
runs some sections and merges them into the folder's earlier table (``results.json``
keeps each section's rows and the run they came from), never replacing a full table
with a partial one.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from scratch_numpy.data import split_cifar10
from scripts.cli import add_cifar10_argument, command, device_name, load_data, output_folder
from scripts.report import ReportContext, Section, format_table, write_results

# Script modules with a ``report_section(ctx)``, in report order.
SECTIONS = [
    "scripts.data_report",
    "scripts.knn",
    "scripts.linear_classifiers",
    "scripts.optimization_strategies",
    "scripts.two_layer_net",
    "scripts.fc_net",
    "scripts.exp_network_size",
    "scripts.exp_zero_centred",
    "scripts.exp_initialisation",
    "scripts.exp_preprocessing",
]


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=output_folder, default="reports", help="folder for table and PNGs")
    parser.add_argument("--quick", action="store_true", help="smoke-test sizes, seconds per section")
    parser.add_argument("--device", type=device_name, default="auto", help="torch device: cpu, cuda or auto")
    add_cifar10_argument(parser)
    parser.add_argument("--only", nargs="+", default=None,
                        choices=[name.removeprefix("scripts.") for name in SECTIONS],
                        help="run only these sections (merged into the folder's earlier table)")
    args = parser.parse_args(argv)

    data = load_data(args.cifar10_dir)
    ctx = ReportContext(data=data, splits=split_cifar10(data), out_dir=args.out,
                        quick=args.quick, device=args.device)

    sections = {}
    for module_name in SECTIONS:
        if args.only and module_name.removeprefix("scripts.") not in args.only:
            continue
        print(f"== {module_name}", flush=True)
        rows = importlib.import_module(module_name).report_section(ctx)
        sections[module_name] = Section(rows, quick=args.quick, device=str(args.device),
                                        finished=time.strftime("%Y-%m-%d %H:%M"))

    print("\n" + format_table([row for s in sections.values() for row in s.rows]))
    written = write_results(args.out, sections, bool(args.only), SECTIONS)
    print(f"\n{written}; plots written to {args.out.resolve()}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
