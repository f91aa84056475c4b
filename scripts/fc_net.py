"""Fully-connected nets of any depth on CIFAR-10: search, training, report section.

    python -m scripts.fc_net search [--hidden 1000,1000,1000 2000,1000] [--lr 1e-2 3e-2]
                                    [--reg 1e-4 1e-3] [--epochs 6]
    python -m scripts.fc_net train [--backend numpy|torch] [--device cpu|cuda] [--compile] [--epochs N]
                                   [--hidden ...] [--lr ...] [--reg ...] [--decay ...]

Data: raw pixels as float32 rows, standardized per feature with the training
split's mean image and std (``standardized_rows``). ``search`` trains every
combination on the 49,000 training images and ranks them by validation
accuracy; ``train`` trains the chosen configuration (``scripts.configs.FC_CHOSEN``)
and reports validation and test accuracy, training time and curves (PNG).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import asdict, replace

from scratch_numpy.data import split_cifar10
from scratch_numpy.preprocessing import standardized_rows
from scripts.cli import (UsageError, add_cifar10_argument, add_compile_argument, check_compile,
                         command, device_name, hidden_sizes, load_data, non_negative_float,
                         output_folder, positive_float)
from scripts.configs import FC_CHOSEN, FC_QUICK, FCConfig, train_fc_config
from scripts.plots import plot_curves
from scripts.report import ReportContext, ResultRow, format_table

TARGET_TEST_ACCURACY = 0.58


def search(rows, hidden: list[tuple[int, ...]], rates, regs, epochs: float) -> list:
    """[(best val, last val, seconds, config)] of every combination, best first."""
    from tqdm import tqdm

    configs = [replace(FC_CHOSEN, hidden_dims=dims, learning_rate=lr, reg=reg, epochs=epochs)
               for dims, lr, reg in itertools.product(hidden, rates, regs)]
    results = []
    for config in tqdm(configs, desc="search"):
        start = time.perf_counter()
        _, history = train_fc_config(rows, config, progress=True)
        results.append((history["best_val_acc"], history["val_acc_history"][-1],
                        time.perf_counter() - start, config))
        tqdm.write(f"val {results[-1][0]:.3f} ({results[-1][2]:.0f} s)  {config}")
    return sorted(results, key=lambda r: -r[0])


def train_and_test(rows, config: FCConfig, backend="numpy", device="cpu", progress=True,
                   num_train=None, verbose=False, compile=False):
    """(net, history, test accuracy, seconds) of one training run."""
    start = time.perf_counter()
    net, history = train_fc_config(rows, config, backend=backend, device=device,
                                   progress=progress, num_train=num_train, verbose=verbose,
                                   compile=compile)
    seconds = time.perf_counter() - start
    return net, history, net.accuracy(rows.X_test, rows.y_test), seconds


def describe(config: FCConfig) -> str:
    return (f"{config.activation} {list(config.hidden_dims)}, {config.epochs:g} epochs"
            + (", flips" if config.augment_flip else ""))


def report_section(ctx: ReportContext) -> list[ResultRow]:
    """Train :data:`FC_CHOSEN` (numpy, float32) and report val/test accuracy and time;
    on a CUDA context also train the torch twin there."""
    rows = standardized_rows(ctx.splits)
    config = FC_QUICK if ctx.quick else FC_CHOSEN
    num_train = 2000 if ctx.quick else None
    net, history, test_acc, seconds = train_and_test(rows, config, progress=not ctx.quick,
                                                     num_train=num_train)
    plot_curves(history, ctx, "fc_net_curves.png")
    result = [
        ResultRow("fc net", f"val accuracy ({describe(config)})", f"{history['best_val_acc']:.3f}"),
        ResultRow("fc net", "test accuracy", f"{test_acc:.3f}", f">= {TARGET_TEST_ACCURACY}",
                  None if ctx.quick else test_acc >= TARGET_TEST_ACCURACY),
        ResultRow("fc net", "training time, numpy cpu", f"{seconds:.0f} s"),
    ]
    if ctx.device.startswith("cuda"):
        _, t_history, t_test, t_seconds = train_and_test(rows, config, "torch", ctx.device,
                                                         progress=not ctx.quick,
                                                         num_train=num_train)
        result.append(ResultRow("fc net", f"torch on {ctx.device}: val / test accuracy, seconds",
                                f"{t_history['best_val_acc']:.3f} / {t_test:.3f}, {t_seconds:.0f} s"))
    return result


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_search = sub.add_parser("search", help="rank a grid by validation accuracy")
    p_search.add_argument("--hidden", type=hidden_sizes, nargs="+", default=[FC_CHOSEN.hidden_dims],
                          help="hidden sizes, comma-separated per network")
    p_search.add_argument("--lr", type=positive_float, nargs="+", default=[FC_CHOSEN.learning_rate])
    p_search.add_argument("--reg", type=non_negative_float, nargs="+", default=[FC_CHOSEN.reg])
    p_search.add_argument("--epochs", type=positive_float, default=6)
    p_train = sub.add_parser("train", help="train the chosen configuration")
    p_train.add_argument("--epochs", type=positive_float, default=FC_CHOSEN.epochs)
    p_train.add_argument("--hidden", type=hidden_sizes, default=FC_CHOSEN.hidden_dims,
                         help="override the chosen hidden sizes (comma-separated)")
    p_train.add_argument("--lr", type=positive_float, default=FC_CHOSEN.learning_rate)
    p_train.add_argument("--reg", type=non_negative_float, default=FC_CHOSEN.reg)
    p_train.add_argument("--decay", type=positive_float, default=FC_CHOSEN.learning_rate_decay,
                         help="learning-rate factor per epoch")
    p_train.add_argument("--backend", choices=["numpy", "torch"], default="numpy")
    p_train.add_argument("--device", type=device_name, default="cpu",
                         help="torch device (with --backend torch)")
    add_compile_argument(p_train)
    p_train.add_argument("--out", type=output_folder, default="reports", help="folder for the PNG")
    for p in (p_search, p_train):
        add_cifar10_argument(p)
    args = parser.parse_args(argv)
    if args.command == "train" and args.backend == "numpy" and args.device != "cpu":
        raise UsageError("--device applies to --backend torch only")
    check_compile(args)

    data = load_data(args.cifar10_dir)
    splits = split_cifar10(data)
    rows = standardized_rows(splits)
    if args.command == "search":
        results = search(rows, args.hidden, args.lr, args.reg, args.epochs)
        print("\nbest val  last val  seconds  config")
        for best, last, seconds, config in results:
            print(f"  {best:.3f}    {last:.3f}    {seconds:6.0f}  {asdict(config)}")
        return 0
    config = replace(FC_CHOSEN, epochs=args.epochs, hidden_dims=args.hidden,
                     learning_rate=args.lr, reg=args.reg, learning_rate_decay=args.decay)
    net, history, test_acc, seconds = train_and_test(rows, config, args.backend, args.device,
                                                     progress=sys.stderr.isatty(), verbose=True,
                                                     compile=args.compile)
    ctx = ReportContext(data=data, splits=splits, out_dir=args.out, device=args.device)
    print(f"config: {asdict(config)}")
    print(format_table([
        ResultRow("fc net", "best val accuracy (epoch)",
                  f"{history['best_val_acc']:.3f} ({history['best_epoch']:g})"),
        ResultRow("fc net", "test accuracy", f"{test_acc:.3f}", f">= {TARGET_TEST_ACCURACY}",
                  test_acc >= TARGET_TEST_ACCURACY),
        ResultRow("fc net", "training time", f"{seconds:.0f} s ({args.backend} {args.device})"),
    ]))
    print("wrote", plot_curves(history, ctx, "fc_net_curves.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
