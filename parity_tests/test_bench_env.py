"""Every benchmark's first line names the BLAS kernel NumPy runs on and the two variables
that choose it, so that figures from different settings are never compared unawares."""

from __future__ import annotations

import os
import subprocess
import sys


def blas_line(**env) -> str:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OPENBLAS_")}
    result = subprocess.run([sys.executable, "-c", "from scripts.bench_env import blas_line; "
                             "print(blas_line())"], capture_output=True, text=True, timeout=60,
                            env={**environ, **env}, check=True)
    return result.stdout.strip()


def test_the_line_names_the_forced_kernel_and_the_variables():
    forced = blas_line(OPENBLAS_CORETYPE="Haswell")
    assert "kernel Haswell" in forced and "OPENBLAS_CORETYPE=Haswell" in forced, forced
    assert "OPENBLAS_L2_SIZE=(unset)" in forced
    assert "OPENBLAS_CORETYPE=(unset)" in blas_line()
