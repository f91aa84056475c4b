"""What every benchmark prints first: the BLAS library and kernel NumPy runs on.

OpenBLAS picks its kernels from the CPU unless ``OPENBLAS_CORETYPE`` forces one
(``Haswell``: AVX2, about half the float32 GEMM speed of the AVX-512 kernel), so
a figure means little without this line. Run a benchmark twice to compare:

    python -m scripts.bench_...                                           # as set
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m scripts.bench_...   # CPU's own
"""

from __future__ import annotations

import os

import numpy  # noqa: F401  (loads its BLAS, which threadpoolctl then finds)
from threadpoolctl import threadpool_info


def blas_line() -> str:
    """One line: each BLAS library (API, version, kernel, threads) and the two variables."""
    libs = [f"{i['internal_api']} {i.get('version')} kernel {i.get('architecture')}, "
            f"{i['num_threads']} threads" for i in threadpool_info() if i["user_api"] == "blas"]
    env = ", ".join(f"{k}={os.environ.get(k, '(unset)')}"
                    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"))
    return f"BLAS: {'; '.join(libs) or 'none found'}; {env}"


def gemm_shapes(sizes: list[int], batch: int) -> list[tuple[int, int, int, bool]]:
    """(m, k, n, transposed_a) of every matrix product of one training step of a net with
    layer sizes ``sizes`` = [D, H_1, ..., C]: forward (B, H_{l-1}) @ (H_{l-1}, H_l);
    dW = h.T @ dz; dh = dz @ W.T for every layer but the first."""
    shapes = []
    for l, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes.append((batch, fan_in, fan_out, False))
        shapes.append((fan_in, batch, fan_out, True))
        if l > 0:
            shapes.append((batch, fan_out, fan_in, False))
    return shapes
