"""Benchmark: one training epoch of the two-layer net, NumPy vs torch (CPU, and CUDA when present).

    python -m scripts.bench_two_layer_net [--repeats 5] [--hidden 1000] [--skip-time-to-50]

One epoch = 49,000 images in minibatches of 200 at the chosen configuration
(float32, hidden size of ``scripts.configs.NET_CHOSEN``), the same SGD +
momentum algorithm on both sides. Prints the median over ``--repeats`` runs,
images per second and the NumPy / torch-CPU ratio (target <= 1.25), then the
training time until the test accuracy first reaches 50% (measured at the end
of each epoch, evaluation time excluded, training stopped there; the test split
is used only as the yardstick here, never to choose anything).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace

import torch

from ref_torch.devices import available_devices
from scripts.bench_env import blas_line
from scripts.report import ResultRow, format_table
from scratch_numpy.data import split_cifar10
from scratch_numpy.preprocessing import network_rows
from scripts.cli import add_cifar10_argument, command, load_data, positive_float, positive_int
from scripts.configs import NET_CHOSEN, train_net_config

TARGET_ACCURACY = 0.5
RATIO_TARGET = 1.25


def time_epochs(rows, config, ways, repeats):
    """{(backend, device): [seconds of one training epoch per repeat]}. The ways take
    turns within each repeat, so load from other jobs on the machine hits them alike."""
    times = {way: [] for way in ways}
    for seed in range(repeats):
        for backend, device in ways:
            _, history = train_net_config(rows, replace(config, epochs=1), backend=backend,
                                      device=device, seed=seed, progress=False)
            times[backend, device].append(history["train_seconds"][-1])
    return times


def time_to_accuracy(rows, config, backend, device, max_epochs):
    """Training seconds until the test accuracy first reaches TARGET_ACCURACY (or None)."""
    yardstick = replace(rows, X_val=rows.X_test, y_val=rows.y_test)
    _, history = train_net_config(yardstick, replace(config, epochs=max_epochs), backend=backend,
                              device=device, progress=True, stop_at_val_acc=TARGET_ACCURACY)
    for epoch, acc, seconds in zip(history["epochs"], history["val_acc_history"],
                                   history["train_seconds"]):
        if acc >= TARGET_ACCURACY:
            return seconds, epoch, acc
    return None, history["epochs"][-1], max(history["val_acc_history"])


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=positive_int, default=5)
    parser.add_argument("--hidden", type=positive_int, default=NET_CHOSEN.hidden_size)
    parser.add_argument("--max-epochs", type=positive_float, default=6,
                        help="cap of the time-to-50%% runs")
    parser.add_argument("--skip-time-to-50", action="store_true")
    add_cifar10_argument(parser)
    args = parser.parse_args(argv)
    print(blas_line())

    rows = network_rows(split_cifar10(load_data(args.cifar10_dir)))
    config = replace(NET_CHOSEN, hidden_size=args.hidden)
    ways = [("numpy", "cpu"), ("torch", "cpu")]
    if "cuda" in available_devices():
        ways.append(("torch", "cuda"))
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; "
          f"config {config}; {len(rows.y_train)} training images")

    table, medians = [], {}
    for (backend, device), times in time_epochs(rows, config, ways, args.repeats).items():
        median = medians[backend, device] = statistics.median(times)
        name = f"{backend} {device}" + (f" ({torch.cuda.get_device_name()})" if device == "cuda" else "")
        table.append(ResultRow("epoch", f"{name}: seconds (median of {len(times)})",
                               f"{median:.2f}  [{', '.join(f'{t:.2f}' for t in times)}]"))
        table.append(ResultRow("epoch", f"{name}: images/s", f"{len(rows.y_train) / median:,.0f}"))
    ratio = medians["numpy", "cpu"] / medians["torch", "cpu"]
    table.append(ResultRow("epoch", "numpy / torch cpu time ratio", f"{ratio:.2f}",
                           f"<= {RATIO_TARGET}", ratio <= RATIO_TARGET))
    if not args.skip_time_to_50:
        for backend, device in ways:
            seconds, epoch, acc = time_to_accuracy(rows, config, backend, device, args.max_epochs)
            value = (f"{seconds:.1f} s (epoch {epoch:g}, test acc {acc:.3f})" if seconds is not None
                     else f"not reached in {epoch:g} epochs (best {acc:.3f})")
            table.append(ResultRow("time to 50% test", f"{backend} {device}", value))
    print(format_table(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
