"""Check that a change to the NumPy training path leaves its results bit-identical.

    python -m scripts.check_training_identical --save before.npz     # on the old code
    python -m scripts.check_training_identical --against before.npz  # on the new code

Trains, for a fixed seed on the first ``--rows`` real CIFAR-10 training rows for
``--epochs`` epochs (float32, SGD + momentum, flips, L2): the two-layer net
(``NET_CHOSEN``'s sizes, ReLU, also sigmoid) and the fully-connected net (``FC_CHOSEN``'s
sizes). Saves every history list (losses, accuracies, learning rates; not the seconds)
and the final parameters, or compares them with a saved file by
``np.testing.assert_array_equal``: equal bits, not a tolerance (exit 1 and the first
differing array otherwise). Matrix products give other bits under other BLAS kernels, so
compare files made with the same OpenBLAS settings.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

import numpy as np

from scratch_numpy.checkpoints import load_arrays, save_arrays
from scratch_numpy.data import split_cifar10
from scratch_numpy.preprocessing import network_rows, standardized_rows
from scripts.bench_env import blas_line
from scripts.cli import (UsageError, add_cifar10_argument, command, load_data, output_file,
                         positive_int, write_new)
from scripts.configs import FC_CHOSEN, NET_CHOSEN, train_fc_config, train_net_config

RUNS = ("two_layer_relu", "two_layer_sigmoid", "fc")


def fingerprint(splits, rows: int, epochs: int) -> dict[str, np.ndarray]:
    """{run/name: array} of every history list and final parameter of each run."""
    net_rows, fc_rows = network_rows(splits), standardized_rows(splits)
    out = {}
    for run in RUNS:
        if run == "fc":
            config = replace(FC_CHOSEN, epochs=epochs, augment_flip=True)
            net, history = train_fc_config(fc_rows, config, seed=1, progress=False, num_train=rows,
                                           catch_divergence=False)
        else:
            config = replace(NET_CHOSEN, epochs=epochs, activation=run.rsplit("_", 1)[1])
            net, history = train_net_config(net_rows, config, seed=1, progress=False,
                                            num_train=rows, catch_divergence=False)
        for name, value in history.items():
            if name != "train_seconds" and isinstance(value, list):
                out[f"{run}/history/{name}"] = np.asarray(value)
        for name, value in net.params.items():
            out[f"{run}/params/{name}"] = value
    return out


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--save", help="write the fingerprint to this .npz file")
    action.add_argument("--against", help="compare with the fingerprint in this .npz file")
    parser.add_argument("--rows", type=positive_int, default=600)
    parser.add_argument("--epochs", type=positive_int, default=3)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --save file")
    add_cifar10_argument(parser)
    args = parser.parse_args(argv)
    save = output_file(args.save, ".npz", args.overwrite) if args.save else None
    saved = None
    if args.against:  # read before any training: a missing or damaged file fails at once
        try:
            saved = load_arrays(args.against)
        except (OSError, ValueError) as exc:
            raise UsageError(str(exc)) from None
    print(blas_line())
    current = fingerprint(split_cifar10(load_data(args.cifar10_dir)), args.rows, args.epochs)
    if save:
        written = write_new(save, lambda path, overwrite: save_arrays(path, current, overwrite),
                            args.overwrite)
        print(f"saved {len(current)} arrays to {written}")
        return 0
    if sorted(saved) != sorted(current):
        raise UsageError(f"{args.against} holds other arrays: {sorted(set(saved) ^ set(current))}")
    for name in sorted(current):
        try:
            np.testing.assert_array_equal(current[name], saved[name], err_msg=name, strict=True)
        except AssertionError as exc:
            print(f"DIFFERENT: {name}{exc}")
            return 1
    print(f"identical: {len(current)} arrays (histories and final parameters of {', '.join(RUNS)})")
    return 0

if __name__ == "__main__":
    sys.exit(main())
