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
