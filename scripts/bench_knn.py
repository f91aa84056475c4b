"""Benchmark of the kNN: full-scale 1-NN L2 against the GEMM bound and peers.

    flock /tmp/heavy.lock python -m scripts.bench_knn [--num-test 10000] [--repeats 3]

1-NN L2 with 50,000 training and 10,000 test images (float32 pixel rows) is,
at its core, one (10000 x 3072) @ (3072 x 50000) matrix product: 3.07 TFLOP.
In one run, on the same data and thread count, this prints (medians of
``--repeats``; the slow peers and the float64 reference once):

* the plain GEMM of that size with NumPy (OpenBLAS) and torch (MKL): the bound;
* the project's paths: NumPy ``predict`` (exact float32-screened search),
  NumPy assignment-style no-loop float32 distances + ``predict_labels``,
  torch-CPU ``predict`` with ``search="fast"`` (exact screened; the torch
  default, ``search="plain"``, is the float64 oracle and is not timed here),
  and the float64 no-loop reference;
* peers: scikit-learn ``KNeighborsClassifier(algorithm="brute")`` and
  faiss-cpu ``IndexFlatL2``;
each with time, ratio to the GEMM bound, accuracy, and whether its
predictions equal the float64 reference. Then the two-loop / one-loop /
no-loop distance times on the 5,000 x 500 subset, the L1 full-scale run with
the fastest of the project's L1 paths (chosen on a sample), and the peak memory (``ru_maxrss``:
the process's resident high-water mark, read right after the first
full-scale run, i.e. data + that run).

``--num-test`` / ``--l1-num-test`` shrink the test set (times scale
linearly; the table says what was run).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from ref_torch.knn import KNearestNeighbor as TorchKNN
from scratch_numpy.knn import KNearestNeighbor
from scratch_numpy.preprocessing import assignment_subset, pixel_rows
from scripts.bench_env import blas_line
from scripts.cli import add_cifar10_argument, command, load_data, positive_int


def timed(fn, repeats: int):
    """(median seconds, result of the last call) over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def max_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def print_table(title: str, header: tuple, rows: list[tuple]) -> None:
    cells = [header] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    print(f"\n{title}")
    for n, c in enumerate(cells):
        print("  ".join(c[i].ljust(widths[i]) for i in range(len(header))).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def numpy_screened(X_train, y_train, X_test):
    return KNearestNeighbor("l2").train(X_train, y_train).predict(X_test, 1)


def numpy_plain_no_loops(X_train, y_train, X_test, chunk=1024):
    model = KNearestNeighbor("l2", chunk_size=chunk).train(X_train, y_train)
    return np.concatenate([model.predict_labels(model.compute_distances_no_loops(X_test[s:s + chunk]), 1)
                           for s in range(0, len(X_test), chunk)])


def float64_reference(X_train, y_train, X_test, chunk=1024):
    """The assignment's no-loop distances in float64, then ``predict_labels``."""
    return numpy_plain_no_loops(X_train.astype(np.float64), y_train, X_test.astype(np.float64), chunk)


def torch_screened(X_train, y_train, X_test):
    model = TorchKNN("l2", dtype=np.float32, search="fast").train(X_train, y_train)
    return model.predict(X_test, 1).numpy()


def sklearn_brute(X_train, y_train, X_test):
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=1, algorithm="brute").fit(X_train, y_train).predict(X_test)


def faiss_flat(X_train, y_train, X_test, metric="l2"):
    import faiss

    dim = X_train.shape[1]
    index = faiss.IndexFlatL2(dim) if metric == "l2" else faiss.IndexFlat(dim, faiss.METRIC_L1)
    index.add(X_train)
    _, nearest = index.search(X_test, 1)
    return y_train[nearest[:, 0]]


def l2_section(args, data) -> None:
    X_train = pixel_rows(data.X_train[:args.num_train], np.float32)
    y_train = data.y_train[:args.num_train]
    X_test = pixel_rows(data.X_test[:args.num_test], np.float32)
    y_test = data.y_test[:args.num_test]
    n, m, d = len(X_test), len(X_train), X_train.shape[1]
    tflop = 2 * n * m * d / 1e12
    print(f"\n1-NN L2: {m} train x {n} test x {d} features, float32; GEMM = {tflop:.2f} TFLOP; "
          f"{args.threads} threads; data loaded, ru_maxrss {max_rss_gib():.2f} GiB")

    runs = {}  # name -> (seconds, predictions or None, repeats)
    seconds, predicted = timed(lambda: numpy_screened(X_train, y_train, X_test), args.repeats)
    runs["numpy predict (exact, float32 screen)"] = (seconds, predicted, args.repeats)
    peak_after_first = max_rss_gib()

    out = np.empty((n, m), dtype=np.float32)
    runs["GEMM numpy (OpenBLAS)"] = (timed(lambda: np.matmul(X_test, X_train.T, out=out), args.repeats)[0],
                                     None, args.repeats)
    A, B, C = torch.from_numpy(X_test), torch.from_numpy(X_train), torch.from_numpy(out)
    runs["GEMM torch (MKL)"] = (timed(lambda: torch.mm(A, B.T, out=C), args.repeats)[0], None, args.repeats)
    del out, A, B, C
    bound = min(runs["GEMM numpy (OpenBLAS)"][0], runs["GEMM torch (MKL)"][0])

    seconds, predicted = timed(lambda: torch_screened(X_train, y_train, X_test), args.repeats)
    runs["torch-CPU predict, search='fast' (exact, float32 screen)"] = (seconds, predicted, args.repeats)
    seconds, predicted = timed(lambda: numpy_plain_no_loops(X_train, y_train, X_test), 1)
    runs["numpy no-loop float32 distances + predict_labels"] = (seconds, predicted, 1)
    if not args.skip_peers:
        runs["faiss IndexFlatL2"] = (*timed(lambda: faiss_flat(X_train, y_train, X_test), args.repeats),
                                     args.repeats)
        runs["sklearn KNeighborsClassifier brute"] = (*timed(lambda: sklearn_brute(X_train, y_train, X_test), 1), 1)
    seconds, reference = timed(lambda: float64_reference(X_train, y_train, X_test), 1)
    runs["numpy no-loop float64 (reference)"] = (seconds, reference, 1)

    rows = []
    for name, (seconds, predicted, repeats) in runs.items():
        accuracy = "" if predicted is None else f"{100 * np.mean(predicted == y_test):.2f}%"
        same = "" if predicted is None else ("yes" if np.array_equal(predicted, reference)
                                             else f"no ({int(np.sum(predicted != reference))} differ)")
        rows.append((name, f"{seconds:.2f}", repeats, f"{seconds / bound:.3f}",
                     f"{tflop / seconds * 1e3:.0f}", accuracy, same))
    print_table(f"1-NN L2 (bound = fastest GEMM, {bound:.2f} s)",
                ("path", "median s", "runs", "x bound", "GFLOP/s equiv", "accuracy", "= float64"), rows)
    print(f"\npeak memory (ru_maxrss, process high-water mark right after the first full-size run "
          f"'numpy predict': data + run): {peak_after_first:.2f} GiB")


def loops_section(args, data) -> None:
    X_train, y_train, X_test, _ = assignment_subset(data)
    X_test = X_test[:args.loop_test_rows]
    model = KNearestNeighbor("l2").train(X_train, y_train)
    no_loop = timed(lambda: model.compute_distances_no_loops(X_test), args.repeats)[0]
    rows = [("no loops", f"{no_loop:.3f}", args.repeats, "1.0")]
    for name, fn in [("one loop", model.compute_distances_one_loop),
                     ("two loops", model.compute_distances_two_loops)]:
        seconds = timed(lambda: fn(X_test), 1)[0]
        rows.append((name, f"{seconds:.3f}", 1, f"{seconds / no_loop:.0f}"))
    print_table(f"L2 distance matrix, {len(X_train)} train x {len(X_test)} test, float64",
                ("variant", "median s", "runs", "x no-loop"), rows)


def l1_section(args, data) -> None:
    X_train = pixel_rows(data.X_train[:args.num_train], np.float32)
    y_train = data.y_train[:args.num_train]
    sample = pixel_rows(data.X_test[:args.l1_sample], np.float32)
    def full_matrix(X):
        model = KNearestNeighbor("l1").train(X_train, y_train)
        return model.predict_labels(model.compute_distances_no_loops(X), 1)

    candidates = {
        "numpy predict (exact, lower-bound pruned, float32)":
            lambda X: KNearestNeighbor("l1").train(X_train, y_train).predict(X, 1),
        "numpy no-loop blocked broadcast (float32)": full_matrix,
        "torch predict, search='fast' (torch.cdist p=1, float32)":
            lambda X: TorchKNN("l1", dtype=np.float32, search="fast").train(X_train, y_train)
                      .predict(X, 1).numpy(),
    }
    if not args.skip_peers:
        candidates["faiss IndexFlat METRIC_L1 (peer)"] = lambda X: faiss_flat(X_train, y_train, X, "l1")
    rows, speed = [], {}
    for name, fn in candidates.items():
        seconds, predicted = timed(lambda: fn(sample), 1)
        speed[name] = seconds
        rows.append((name, f"{seconds:.2f}", f"{seconds * 10000 / len(sample):.0f}"))
    print_table(f"1-NN L1 on a {len(sample)}-image sample ({len(X_train)} train)",
                ("path", "s", "extrapolated s for 10,000 test"), rows)

    fastest = min((n for n in speed if "peer" not in n), key=speed.get)
    X_test = pixel_rows(data.X_test[:args.l1_num_test], np.float32)
    seconds, predicted = timed(lambda: candidates[fastest](X_test), 1)
    accuracy = np.mean(predicted == data.y_test[:args.l1_num_test])
    scale = 10000 / len(X_test)
    print(f"\n1-NN L1, {fastest}, {len(X_train)} train x {len(X_test)} test: {seconds:.1f} s"
          + (f" (x{scale:.0f} -> ~{seconds * scale:.0f} s at 10,000)" if scale != 1 else "")
          + f", accuracy {100 * accuracy:.2f}%")


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_cifar10_argument(parser)
    parser.add_argument("--num-train", type=positive_int, default=50_000)
    parser.add_argument("--num-test", type=positive_int, default=10_000, help="test images for the L2 table")
    parser.add_argument("--repeats", type=positive_int, default=3, help="repeats of the fast paths (median)")
    parser.add_argument("--threads", type=positive_int, default=os.cpu_count())
    parser.add_argument("--skip-peers", action="store_true", help="no sklearn / faiss")
    parser.add_argument("--loop-test-rows", type=positive_int, default=500, help="test rows for the loop variants")
    parser.add_argument("--l1-sample", type=positive_int, default=100, help="test images to pick the fastest L1 path")
    parser.add_argument("--l1-num-test", type=positive_int, default=10_000, help="test images for the L1 run")
    parser.add_argument("--only", nargs="+", choices=["l2", "loops", "l1"], default=["l2", "loops", "l1"])
    args = parser.parse_args(argv)
    print(blas_line())
    data = load_data(args.cifar10_dir)

    torch.set_num_threads(args.threads)
    try:
        import faiss
        import sklearn  # noqa: F401

        faiss.omp_set_num_threads(args.threads)
    except ImportError as exc:
        args.skip_peers = True
        print(f"{exc.name} not installed: peers skipped (pip install -e '.[bench]')")
    with threadpool_limits(limits=args.threads):
        for section, fn in [("l2", l2_section), ("loops", loops_section), ("l1", l1_section)]:
            if section in args.only:
                fn(args, data)
                sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
