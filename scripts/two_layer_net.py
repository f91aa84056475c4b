"""Two-layer network on CIFAR-10: search, training, dead-unit experiment, report section.

    python -m scripts.two_layer_net search [--epochs 4] [--hidden 500 1000]
    python -m scripts.two_layer_net train [--backend numpy|torch] [--device cpu|cuda] [--compile] [--save net.npz]
    python -m scripts.two_layer_net units [--device cpu|cuda]

Data: raw pixels as float32 rows, minus the training split's mean image (no
other preprocessing). ``search`` trains a small, informed grid on the 49,000
training images and ranks it by validation accuracy; ``train`` trains the
chosen configuration (``scripts.configs.NET_CHOSEN``) and reports validation and test accuracy
with curves and first-layer weights as PNGs; ``units`` runs the dead-ReLU /
saturated-sigmoid experiment (a sane vs a too-high learning rate).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from scratch_numpy.data import split_cifar10
from scratch_numpy.preprocessing import network_rows
from scratch_numpy.progress import progress
from scratch_numpy.two_layer_net import TwoLayerNet
from scripts.cli import (add_cifar10_argument, add_compile_argument, check_compile, command,
                         device_name, load_data, output_file, output_folder, positive_float,
                         positive_int, write_new)
from scripts.configs import NET_CHOSEN, NET_QUICK, NetConfig, train_net_config
from scripts.plots import plot_curves
from scripts.report import ReportContext, ResultRow, format_table, save_figure


# Dead-unit experiment on a 10,000-image training subset (short epochs), hidden size 200,
# no decay, no reg: (activation, input, learning rate, label). Mean-subtracted inputs at
# NET_CHOSEN's rate and ten times it; raw (uncentred, all-positive) pixels at their best rate
# of a 3-epoch probe (1e-4) and three times it, where ReLU units die.
UNIT_RUNS = (
    ("relu", "mean-subtracted", 2e-4, "sane"),
    ("relu", "mean-subtracted", 2e-3, "too high"),
    ("relu", "raw pixels", 1e-4, "sane"),
    ("relu", "raw pixels", 3e-4, "too high"),
    ("sigmoid", "mean-subtracted", 2e-4, "sane"),
    ("sigmoid", "mean-subtracted", 2e-3, "too high"),
)
UNIT_EXPERIMENT = NetConfig(hidden_size=200, learning_rate=2e-4, learning_rate_decay=1.0, reg=0.0,
                         epochs=6)
UNIT_EXPERIMENT_ROWS = 10_000


SEARCH_GRID = dict(learning_rate=(2e-4, 4e-4), reg=(0.03, 0.3))
CURVES = "two_layer_net_curves.png"  # the training curves (scripts.plots)


def search(rows, hidden_sizes=(1000,), epochs: float = 4, flip: bool = False) -> list:
    """Rank SEARCH_GRID x hidden sizes by validation accuracy after ``epochs`` epochs."""
    configs = [NetConfig(hidden_size=h, learning_rate=lr, learning_rate_decay=0.92, reg=reg,
                      epochs=epochs, augment_flip=flip)
               for h, lr, reg in itertools.product(hidden_sizes, SEARCH_GRID["learning_rate"],
                                                   SEARCH_GRID["reg"])]
    results = []
    bar = progress(configs, "search", unit="config")
    for config in bar:
        start = time.perf_counter()
        _, history = train_net_config(rows, config, progress=True)
        results.append((history["best_val_acc"], history["val_acc_history"][-1],
                        time.perf_counter() - start, config))
        bar.write(f"val {results[-1][0]:.3f} ({results[-1][2]:.0f} s)  {config}")
    return sorted(results, key=lambda r: -r[0])


def plot_first_layer(net: TwoLayerNet, ctx: ReportContext, name="two_layer_net_weights.png",
                     count: int = 100):
    """First-layer weights as 32x32 colour images, each rescaled to [0, 1]."""
    import matplotlib.pyplot as plt

    W1 = net.params["W1"].T[:count].astype(np.float64)
    side = int(np.ceil(np.sqrt(len(W1))))
    fig, axes = plt.subplots(side, side, figsize=(side * 0.8, side * 0.8))
    for ax in axes.ravel():
        ax.axis("off")
    for ax, w in zip(axes.ravel(), W1):
        img = w.reshape(32, 32, 3)
        ax.imshow((img - img.min()) / (np.ptp(img) or 1.0))
    fig.suptitle(f"first-layer weights of {count} hidden units")
    return save_figure(fig, ctx, name)


def unit_experiment(rows, config: NetConfig = UNIT_EXPERIMENT, runs=UNIT_RUNS,
                    num_train: int = UNIT_EXPERIMENT_ROWS, backend="numpy", device="cpu",
                    progress: bool = True) -> dict:
    """{run: history} for each (activation, input, rate, label) of ``runs``: dead and
    saturated hidden units over training. "raw pixels" adds the training mean back."""
    mean = rows.preprocessor.mean_.astype(rows.X_train.dtype)
    raw = replace(rows, X_train=rows.X_train[:num_train] + mean, X_val=rows.X_val + mean)
    results = {}
    for run in runs:
        activation, inputs, rate, label = run
        expected = (f"the rate {rate:g} is meant to be too high in this experiment"
                    if label == "too high" else "")
        results[run] = train_net_config(raw if inputs == "raw pixels" else rows,
                                    replace(config, activation=activation, learning_rate=rate),
                                    backend=backend, device=device, num_train=num_train,
                                    progress=progress, expected_divergence=expected)[1]
    return results


def plot_units(results: dict, ctx: ReportContext, name="two_layer_net_dead_units.png"):
    import matplotlib.pyplot as plt

    fig, (ax_relu, ax_sig) = plt.subplots(1, 2, figsize=(12, 4.5))
    for (activation, inputs, rate, label), history in results.items():
        if activation == "relu":
            ax_relu.plot(history["epochs"], history["dead_fraction_history"], "o-",
                         label=f"{inputs}, lr {rate:g} ({label})")
        else:
            (line,) = ax_sig.plot(history["epochs"], history["saturated_fraction_history"], "o-",
                                  label=f"{inputs}, lr {rate:g} ({label}): unit-image pairs")
            ax_sig.plot(history["epochs"], history["dead_fraction_history"], "x--",
                        color=line.get_color(), label=f"lr {rate:g}: units saturated on every val image")
    ax_relu.set(xlabel="epoch", ylabel="fraction", ylim=(-0.02, 1.02),
                title="ReLU: dead units (never active on 1,000 val images)")
    ax_sig.set(xlabel="epoch", ylim=(-0.02, 1.02),
               title="sigmoid: saturation, sigma'(z) < 0.01")
    ax_relu.legend(fontsize=7)
    ax_sig.legend(fontsize=7, loc="center right")
    return save_figure(fig, ctx, name)


def report_section(ctx: ReportContext) -> list[ResultRow]:
    """Train :data:`NET_CHOSEN` (numpy, float32), report val/test accuracy, plots, unit experiment;
    on a CUDA context also train the torch twin there."""
    rows = network_rows(ctx.splits)
    config = NET_QUICK if ctx.quick else NET_CHOSEN
    num_train = 2000 if ctx.quick else None
    net, history = train_net_config(rows, config, num_train=num_train, progress=not ctx.quick)
    test_acc = net.accuracy(rows.X_test, rows.y_test)
    plot_curves(history, ctx, CURVES)
    plot_first_layer(net, ctx)
    units = unit_experiment(rows, replace(UNIT_EXPERIMENT, epochs=1, hidden_size=20) if ctx.quick
                            else UNIT_EXPERIMENT, num_train=1000 if ctx.quick else UNIT_EXPERIMENT_ROWS,
                            progress=not ctx.quick)
    plot_units(units, ctx)
    label = (f"H={config.hidden_size}, {config.epochs:g} epochs"
             + (", flips" if config.augment_flip else ""))
    result = [
        ResultRow("two-layer net", f"val accuracy ({label})", f"{history['best_val_acc']:.3f}"),
        ResultRow("two-layer net", "test accuracy", f"{test_acc:.3f}", ">= 0.55 (assignment > 0.48)",
                  None if ctx.quick else test_acc >= 0.55),
    ]
    if ctx.device.startswith("cuda"):
        start = time.perf_counter()
        torch_net, torch_history = train_net_config(rows, config, backend="torch", device=ctx.device,
                                                num_train=num_train, progress=not ctx.quick)
        result.append(ResultRow(
            "two-layer net", f"torch on {ctx.device}: val / test accuracy, seconds",
            f"{torch_history['best_val_acc']:.3f} / {torch_net.accuracy(rows.X_test, rows.y_test):.3f}"
            f", {time.perf_counter() - start:.0f} s"))
    for (activation, inputs, rate, verdict), history in units.items():
        if activation == "relu":
            result.append(ResultRow("two-layer net", f"dead ReLU units, {inputs}, lr {rate:g} ({verdict})",
                                    f"{history['dead_fraction_history'][-1]:.1%}"))
        else:
            result.append(ResultRow("two-layer net", f"sigmoid sigma' < 0.01, lr {rate:g} ({verdict})",
                                    f"{history['saturated_fraction_history'][-1]:.1%}"))
    return result


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_search = sub.add_parser("search", help="rank a small grid by validation accuracy")
    p_search.add_argument("--epochs", type=positive_float, default=4)
    p_search.add_argument("--hidden", type=positive_int, nargs="+", default=[1000])
    p_search.add_argument("--flip", action="store_true", help="horizontal-flip augmentation")
    p_train = sub.add_parser("train", help="train the chosen configuration")
    p_train.add_argument("--epochs", type=positive_float, default=NET_CHOSEN.epochs)
    p_train.add_argument("--save", type=Path, default=None,
                         help="write the parameters to this .npz file (checked before training)")
    p_train.add_argument("--overwrite", action="store_true", help="replace an existing --save file")
    add_compile_argument(p_train)
    p_units = sub.add_parser("units", help="dead-ReLU / saturated-sigmoid experiment")
    for p in (p_train, p_units):
        p.add_argument("--backend", choices=["numpy", "torch"], default="numpy")
        p.add_argument("--device", type=device_name, default="cpu", help="torch device (with --backend torch)")
        p.add_argument("--out", type=output_folder, default="reports", help="folder for the PNGs")
    for p in (p_search, p_train, p_units):
        add_cifar10_argument(p)
    args = parser.parse_args(argv)
    check_compile(args)
    # Checked before any work: a finished run is never lost to a bad output path.
    save_path = (output_file(args.save, ".npz", args.overwrite)
                 if args.command == "train" and args.save else None)

    data = load_data(args.cifar10_dir)
    splits = split_cifar10(data)
    rows = network_rows(splits)
    if args.command == "search":
        results = search(rows, tuple(args.hidden), args.epochs, args.flip)
        print("\nbest val  last val  seconds  config")
        for best, last, seconds, config in results:
            print(f"  {best:.3f}    {last:.3f}    {seconds:6.0f}  {asdict(config)}")
        return 0
    ctx = ReportContext(data=data, splits=splits, out_dir=args.out, device=args.device)
    if args.command == "train":
        config = replace(NET_CHOSEN, epochs=args.epochs)
        start = time.perf_counter()
        net, history = train_net_config(rows, config, backend=args.backend, device=args.device,
                                        compile=args.compile)
        seconds = time.perf_counter() - start
        test_acc = net.accuracy(rows.X_test, rows.y_test)
        print(f"config: {asdict(config)}")
        print(format_table([
            ResultRow("two-layer net", "best val accuracy (epoch)",
                      f"{history['best_val_acc']:.3f} ({history['best_epoch']:g})"),
            ResultRow("two-layer net", "test accuracy", f"{test_acc:.3f}", ">= 0.55", test_acc >= 0.55),
            ResultRow("two-layer net", "training time", f"{seconds:.0f} s ({args.backend} {args.device})"),
        ]))
        if save_path:  # the network first: it cost the time, a plot does not
            print("wrote", write_new(save_path, net.save, args.overwrite))
        try:
            print("wrote", plot_curves(history, ctx, CURVES), plot_first_layer(net, ctx))
        except OSError as exc:
            print(f"warning: the plots were not written: {exc}", file=sys.stderr)
        return 0
    results = unit_experiment(rows, backend=args.backend, device=args.device)
    for (activation, inputs, rate, label), history in results.items():
        print(f"{activation:8s} {inputs:16s} lr {rate:g} ({label}): val acc "
              f"{history['val_acc_history'][-1]:.3f}, dead "
              + " ".join(f"{d:.3f}" for d in history["dead_fraction_history"]) + ", saturated "
              + " ".join(f"{d:.3f}" for d in history["saturated_fraction_history"]))
    print("wrote", plot_units(results, ctx))
    return 0


if __name__ == "__main__":
    sys.exit(main())
