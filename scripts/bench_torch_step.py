"""Benchmark: the torch twins' training against the PyTorch a user would write, per device.

    python -m scripts.bench_torch_step [--rows 10000] [--repeats 3] [--devices cpu] [--no-compile]
                                       [--time-to 0.58]

For the two-layer net (3072-1000-10, ``NET_CHOSEN``) and the fully-connected net
(3 x 1000, ``FC_CHOSEN``), one epoch of ``--rows`` rows (default 10,000 on CPU, 49,000 on
CUDA) in minibatches of 200, float32, momentum 0.9 with the config's reg, random flips:

* **idiomatic**: ``nn.Sequential`` of ``nn.Linear``/``nn.ReLU``, ``nn.CrossEntropyLoss``,
  ``torch.optim.SGD(momentum=0.9, weight_decay=2 * reg)`` (the gradient of the twins'
  ``reg * sum(W**2)``), a ``randperm`` per epoch, the batch gathered and flipped on the
  device, no ``.item()`` per step: the loop a PyTorch user writes, at its fastest;
* **twin eager**: ``ref_torch`` (``train_net`` / ``train_fc_net``), its training time
  (``history["train_seconds"]``: the epoch's evaluation excluded);
* **twin compiled**: the same with ``compile=True``, timed on its second epoch (the first
  compiles; its time is printed apart).

Ways take turns, ``--repeats`` rounds of one epoch each. Each line gives the median epoch
time and images/s, the median over rounds of its epoch time divided by idiomatic's in the
same round (targets on CPU: eager <= 1.0, compiled <= 0.9), and the median time over the
epoch's GEMM bound on that device: exactly the epoch's matrix products, run back to back
with ``torch.mm`` into preallocated outputs, measured in the same run.

``--time-to ACC`` then trains the chosen fully-connected net (the twin, compiled unless
``--no-compile``) on CIFAR-10 per device until its test accuracy reaches ACC, and prints the
training seconds it took (the per-epoch test evaluation and the compiling not counted).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn

from ref_torch.devices import available_devices
from ref_torch.fc_net import FullyConnectedNet, train_fc_net
from scratch_numpy.data import split_cifar10
from scratch_numpy.preprocessing import standardized_rows
from ref_torch.two_layer_net import TwoLayerNet, _flip_rows, train_net
from scripts.bench_env import blas_line, gemm_shapes
from scripts.cli import add_cifar10_argument, command, fraction, load_data, positive_int
from scripts.configs import FC_CHOSEN, NET_CHOSEN

D, C, BATCH = 3072, 10, 200
TARGETS = {"twin eager": 1.0, "twin compiled": 0.9}


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def idiomatic_epoch(X, y, hidden, reg, lr, seed) -> float:
    """Seconds of one epoch of the loop a PyTorch user writes."""
    torch.manual_seed(seed)
    sizes = [D, *hidden]
    layers = [m for a, b in zip(sizes[:-1], sizes[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
    model = nn.Sequential(*layers, nn.Linear(sizes[-1], C)).to(X.device)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=2 * reg)
    sync(X.device)
    start = time.perf_counter()
    order = torch.randperm(len(X), device=X.device)
    for k in range(len(X) // BATCH):
        idx = order[k * BATCH:(k + 1) * BATCH]
        xb = X[idx]
        flip = torch.rand(BATCH, device=X.device) < 0.5
        xb = torch.where(flip[:, None], _flip_rows(xb), xb)
        opt.zero_grad(set_to_none=True)
        loss_fn(model(xb), y[idx]).backward()
        opt.step()
    sync(X.device)
    return time.perf_counter() - start


def twin_epoch(X, y, X_val, y_val, model, config, seed, compile=False) -> tuple[float, float]:
    """(seconds of the measured epoch, seconds of the first when compiling)."""
    epochs = 2 if compile else 1
    steps = epochs * (len(X) // BATCH)
    kwargs = dict(learning_rate=config.learning_rate, learning_rate_decay=config.learning_rate_decay,
                  num_iters=steps, batch_size=BATCH, momentum=config.momentum, seed=seed,
                  augment_flip=True, monitor_size=len(X_val),
                  **({"compile": True} if compile else {}))  # as an older twin is called too
    if model == "two-layer":
        net = TwoLayerNet(D, config.hidden_size, C, std=1e-3, seed=seed, device=X.device)
        history = train_net(net, X, y, X_val, y_val, reg=config.reg, **kwargs)
    else:
        net = FullyConnectedNet(list(config.hidden_dims), D, C, reg=config.reg, seed=seed,
                                device=X.device)
        history = train_fc_net(net, X, y, X_val, y_val, **kwargs)
    seconds = np.diff([0.0, *history["train_seconds"][1:]])
    return float(seconds[-1]), float(seconds[0]) if compile else 0.0


def time_to_accuracy(splits, device, target: float, compile: bool) -> str:
    """One line: training seconds of the chosen fully-connected net (``FC_CHOSEN``, the twin,
    compiled or eager) until its test accuracy reaches ``target``, measured after every epoch
    (the test evaluation not timed; compiling done beforehand, by a warm-up of two steps,
    and timed apart)."""
    rows = standardized_rows(splits)
    config = FC_CHOSEN
    tensors = [torch.as_tensor(a).to(device) for a in
               (rows.X_train, rows.y_train, rows.X_val, rows.y_val, rows.X_test, rows.y_test)]
    X, y, X_val, y_val, X_test, y_test = tensors
    kwargs = dict(learning_rate=config.learning_rate, learning_rate_decay=config.learning_rate_decay,
                  batch_size=config.batch_size, momentum=config.momentum, seed=0,
                  augment_flip=config.augment_flip, compile=compile)

    def network():
        return FullyConnectedNet(list(config.hidden_dims), D, C, reg=config.reg,
                                 weight_scale=config.weight_scale, seed=0, device=device)

    start = time.perf_counter()
    train_fc_net(network(), X, y, X_val, y_val, num_iters=2, **kwargs)
    warm_up = time.perf_counter() - start
    net, reached, evaluating = network(), [], [0.0]

    def on_epoch(history) -> bool:
        began = time.perf_counter()
        accuracy = float((net.predict(X_test) == y_test).double().mean())
        reached.append((history["train_seconds"][-1] - evaluating[0], accuracy))
        evaluating[0] += time.perf_counter() - began
        return accuracy >= target

    epochs = int(config.epochs)
    train_fc_net(net, X, y, X_val, y_val, num_iters=epochs * (len(X) // config.batch_size),
                 on_epoch=on_epoch, **kwargs)
    seconds, accuracy = reached[-1]
    way = "compiled" if compile else "eager"
    verdict = (f"reached in {seconds:.2f} s ({len(reached)} epochs)" if accuracy >= target else
               f"not reached in {len(reached)} epochs, {seconds:.1f} s (best {max(a for _, a in reached):.3f})")
    return (f"{device.type} time to {target:.0%} test, fully-connected twin {way}, {len(X)} training rows: "
            f"{verdict}; warm-up{' (compiling)' if compile else ''} {warm_up:.1f} s")


def gemm_bound(sizes, rows: int, device) -> float:
    """Seconds of one epoch's matrix products, back to back (median of 5 timings of 10 steps)."""
    gen = torch.Generator(device=device).manual_seed(0)
    work = []
    for m, k, n, transposed in gemm_shapes(sizes, BATCH):
        a = torch.randn((k, m) if transposed else (m, k), generator=gen, device=device)
        work.append((a.T if transposed else a, torch.randn(k, n, generator=gen, device=device),
                     torch.empty(m, n, device=device)))
    steps, times = rows // BATCH, []
    for _ in range(5):
        sync(device)
        start = time.perf_counter()
        for _ in range(10):
            for a, b, out in work:
                torch.mm(a, b, out=out)
        sync(device)
        times.append((time.perf_counter() - start) / 10 * steps)
    return statistics.median(times)


def bench_device(device, rows: int, repeats: int, compile: bool) -> list[str]:
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(rows, D, generator=gen).to(device)
    y = torch.randint(C, (rows,), generator=gen).to(device)
    X_val, y_val = X[:BATCH], y[:BATCH]
    lines = []
    for model, config in (("two-layer", NET_CHOSEN), ("fully-connected", FC_CHOSEN)):
        hidden = [config.hidden_size] if model == "two-layer" else list(config.hidden_dims)
        times = {"idiomatic": [], "twin eager": []}
        compile_seconds = []
        if compile:
            times["twin compiled"] = []
        for seed in range(repeats):
            times["idiomatic"].append(idiomatic_epoch(X, y, hidden, config.reg,
                                                      config.learning_rate, seed))
            times["twin eager"].append(twin_epoch(X, y, X_val, y_val, model, config, seed)[0])
            if compile:
                epoch, first = twin_epoch(X, y, X_val, y_val, model, config, seed, compile=True)
                times["twin compiled"].append(epoch)
                compile_seconds.append(first - epoch)
        bound = gemm_bound([D, *hidden, C], rows, device)
        lines.append(f"{device.type} {model} ({rows} rows, GEMM bound {bound:.3f} s = "
                     f"{rows / bound:,.0f} images/s)")
        for way, runs in times.items():
            median = statistics.median(runs)
            # each round runs every way back to back: its ratio is immune to the slow drifts of
            # a shared machine that move all the ways of a round together
            ratio = statistics.median(t / base for t, base in zip(runs, times["idiomatic"]))
            target = TARGETS.get(way) if device.type == "cpu" else None
            verdict = "" if target is None else (" ok" if ratio <= target else " MISSED") \
                + f" (target <= {target})"
            lines.append(f"  {way:<14} {median:7.3f} s [{', '.join(f'{t:.3f}' for t in runs)}] "
                         f"{rows / median:10,.0f} images/s  / idiomatic {ratio:5.2f}"
                         f"{verdict}  / GEMM bound {median / bound:5.2f}")
        if compile_seconds:  # later repeats reuse the compiler's caches
            lines.append(f"  (the first compiled epoch took {compile_seconds[0]:.1f} s longer: "
                         "compiling, once per process)")
    return lines


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=positive_int,
                        help="training rows per epoch (default 10,000 on CPU, 49,000 on CUDA)")
    parser.add_argument("--repeats", type=positive_int, default=3)
    parser.add_argument("--devices", default=",".join(available_devices()))
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled twin")
    parser.add_argument("--time-to", type=fraction, metavar="ACC",
                        help="also train the chosen fully-connected twin on CIFAR-10 until its "
                             "test accuracy reaches ACC (e.g. 0.58), per device")
    add_cifar10_argument(parser)
    args = parser.parse_args(argv)
    splits = split_cifar10(load_data(args.cifar10_dir)) if args.time_to else None
    print(blas_line())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name in args.devices.split(","):
        device = torch.device(name)
        rows = args.rows or (49_000 if device.type == "cuda" else 10_000)
        if device.type == "cuda":
            print(f"cuda: {torch.cuda.get_device_name(device)}")
        for line in bench_device(device, rows, args.repeats, not args.no_compile):
            print(line, flush=True)
        if splits is not None:
            print(time_to_accuracy(splits, device, args.time_to, not args.no_compile), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
