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


def parity_rtol(dtype) -> float:
    """The parity tolerance for arrays of ``dtype`` (float32 or float64)."""
    try:
        return PARITY_RTOL[np.dtype(dtype)]
    except KeyError:
        raise ValueError(f"no parity tolerance for dtype {np.dtype(dtype)}; use float32 or float64") from None

# Two-layer net, full numerical gradient check (float64, h = 1e-5): probes whose
# analytic gradient is smaller than this are reported but not judged against
# GRAD_CHECK_RTOL. Why: the centred difference of a loss L ~ 3 carries a
# rounding error of about eps * L / h ~ 1e-11 (measured 1e-11..1e-10 on 20 dev
# rows), which alone is a relative error above 1e-7 for entries below ~1e-3;
# measured: entries >= 1e-3 agree to 1e-10..8e-8, a 1e-6 entry of tanh's dW2
# to 3e-5 although the gradient is right.
TWO_LAYER_GRAD_CHECK_MIN_GRAD = 1e-3

# kNN distance matrices, numpy vs torch (normwise error as above, reference =
# torch float64). float64: all three NumPy variants and torch agree to ~1.5e-16
# on the assignment subset (raw pixels, 500 x 5000), so 1e-12 is near machine
# precision. float32: the expansion ||a||^2 + ||b||^2 - 2a.b cancels for close
# pairs (norms ~1e8 vs nearest squared distances ~1e6); measured worst errors
# on that subset: NumPy no-loop 5.0e-6 (OpenBLAS sgemm), one-loop 5.1e-6,
# torch 6.8e-7 (MKL). 5e-5 leaves 10x for other BLAS builds, yet dropping a
# single pixel from the distance gives ~1e-3 and fails it.
KNN_DIST_RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 5e-5}

# NumPy SGD vs torch.optim.SGD, same initial W and minibatches, 100 steps on the
# dev batch (parity_tests/test_linear_classifier.py), normwise error of the final W.
# Measured over 8 seeds: float64 3.5e-16..5.3e-16 (both losses), float32
# 1.9e-7..3.0e-7, so the per-array PARITY_RTOL bounds apply unchanged. The
# exception is the SVM in float32: a margin within float32 rounding of 0 can be
# active on one side and inactive on the other (a hinge kink), and that step then
# differs by lr * x_i / B. Measured 4.2e-3 in 1 of 8 seeds (the rest ~2.5e-7);
# 2e-2 admits such flips while a reg gradient missing its factor 2 (error ~1e-1)
# still fails.
TRAJECTORY_RTOL_SVM_FLOAT32 = 2e-2
