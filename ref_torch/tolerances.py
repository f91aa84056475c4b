"""Every tolerance of the project, in one place. The README explains each one.

The parity error of an array is normwise and scale-free:

    err(a, b) = max_i |a_i - b_i| / max_i |b_i|

(``b`` is the torch reference), so it reads as "how many units in the last
place of the largest entry". The tests in ``parity_tests/test_parity_harness.py``
prove each bound is tight enough to fail a wrong gradient.
"""

import numpy as np

# NumPy vs torch, same inputs, same dtype. The two sides sum in different
# orders (BLAS blocking, pairwise sums); on a 500-image CIFAR-10 dev batch the
# measured float64 error is around 1e-15, so 1e-12 is "near machine precision"
# with room for other BLAS builds. float32 has eps = 1.2e-7; sums over 3073
# features and 500 images lose up to ~3 decimal digits.
PARITY_RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-4}

# Analytic vs centred numerical gradient (float64, h = 1e-5): the relative
# error of the CS231n assignment's bar for a correct gradient.
GRAD_CHECK_RTOL = 1e-7
# Looser bar for losses whose numerical gradient loses digits to cancellation
# (a loss value of order 1 probed with h = 1e-5 keeps ~11 digits).
GRAD_CHECK_RTOL_LOOSE = 1e-5


def parity_rtol(dtype) -> float:
    """The parity tolerance for arrays of ``dtype`` (float32 or float64)."""
    try:
        return PARITY_RTOL[np.dtype(dtype)]
    except KeyError:
        raise ValueError(f"no parity tolerance for dtype {np.dtype(dtype)}; use float32 or float64") from None
