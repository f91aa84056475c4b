"""Every tolerance of the project, in one place, with why and what was measured.

The constants below are what the code imports. ``TOLERANCES`` describes each
of them (value, what it applies to, why, the measured figures behind it);
``docs/tolerances.md`` is generated from it by ``tolerance_table_markdown``
(``python -m scripts.tolerance_table --write``), and
``parity_tests/test_tolerance_table.py`` fails when the two differ.

The parity error of an array is normwise and scale-free:

    err(a, b) = max_i |a_i - b_i| / max_i |b_i|

(``b`` is the torch reference), so it reads as "how many units in the last
place of the largest entry". The tests in ``parity_tests/test_parity_harness.py``
prove each bound is tight enough to fail a wrong gradient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_F64, _F32 = np.dtype(np.float64), np.dtype(np.float32)

# NumPy vs torch, same inputs, same dtype (see TOLERANCES for why and measured).
PARITY_RTOL = {_F64: 1e-12, _F32: 1e-4}

# Analytic vs centred numerical gradient (float64, h = 1e-5).
GRAD_CHECK_RTOL = 1e-7


def parity_rtol(dtype) -> float:
    """The parity tolerance for arrays of ``dtype`` (float32 or float64)."""
    try:
        return PARITY_RTOL[np.dtype(dtype)]
    except KeyError:
        raise ValueError(f"no parity tolerance for dtype {np.dtype(dtype)}; use float32 or float64") from None


# Any layer (the oracle's --kind layer): analytic vs centred numerical gradient of the
# user's own forward, float64, normwise as PARITY_RTOL.
LAYER_NUMERICAL_RTOL = 1e-6

# The gradient checker's dropout kind reads the user's mask off out / x: an entry within this
# relative distance of 0 or 1/p is read as that value; and a correct mask keeps a count within
# DROPOUT_KEPT_SIGMAS binomial standard deviations of p * size.
DROPOUT_MASK_RTOL = 1e-4
DROPOUT_KEPT_SIGMAS = 5.0

# Two-layer net, full numerical gradient check: smaller analytic entries are
# reported, not judged against GRAD_CHECK_RTOL.
TWO_LAYER_GRAD_CHECK_MIN_GRAD = 1e-3

# kNN distance matrices, NumPy vs torch float64.
KNN_DIST_RTOL = {_F64: 1e-12, _F32: 5e-5}

# Property tests: the multiple of the rounding-error bound (gamma(n) = n u / (1 - n u)
# times the |.| of each sum) that NumPy and torch may differ by, float64.
PROPERTY_BOUND_SLACK = 2.0

# NumPy SGD vs torch.optim.SGD trajectories of the SVM in float32 (a hinge kink
# can part them); float64 trajectories and softmax use PARITY_RTOL.
TRAJECTORY_RTOL_SVM_FLOAT32 = 2e-2


@dataclass(frozen=True)
class Tolerance:
    """One row of the tolerance table.

    name: the constant as code imports it; dtype: the key for per-dtype dicts
    (None for a plain number); module: where the constant is defined.
    """

    name: str
    dtype: str | None
    value: float
    applies_to: str
    why: str
    measured: tuple[str, ...]
    module: str = "ref_torch.tolerances"

    @property
    def title(self) -> str:
        return f"{self.name} ({self.dtype})" if self.dtype else self.name


TOLERANCES = (
    Tolerance(
        "PARITY_RTOL", "float64", PARITY_RTOL[_F64],
        applies_to="every NumPy-vs-torch comparison of a loss, a layer's output or a gradient in "
                   "float64 (linear losses, layers, the two-layer and fully-connected nets, every "
                   "kind of the gradient checker), and float64 training trajectories (linear "
                   "classifiers, both nets)",
        why="float64 eps is 2.2e-16; NumPy and torch sum in different orders (BLAS blocking, pairwise "
            "sums) over 3,073 features and 500 images, which costs a few digits at most. 1e-12 is "
            "\"near machine precision\" with room for other BLAS builds.",
        measured=(
            "SVM and softmax losses, the five weight/reg cases on the 500-image dev batch: "
            "loss <= 1.9e-16, dW <= 5.2e-15 (the softmax alone: dW 1.7e-15)",
            "each layer (affine, relu, sigmoid, tanh, softmax_loss, svm_loss), loss `Σ out·dout` "
            "and every gradient: <= 5.7e-15",
            "full two-layer net, loss and W1, b1, W2, b2, relu/sigmoid/tanh x reg 0/0.1: <= 2.9e-15",
            "linear SGD, 100 steps from the same W on the same minibatches, constant and step-decay "
            "rate, 12 seeds at batch 50 and 12 at batch 100: final W and losses 2.9e-16..6.5e-16",
            "two-layer net, 100 SGD + momentum steps: losses 3.7e-16, parameters 6e-16",
            "fully-connected net, 0 to 6 hidden layers x relu/sigmoid/tanh x reg 0/0.1, loss and "
            "every gradient: relu <= 2.6e-15, sigmoid <= 2.6e-15, tanh <= 8.6e-15",
            "fully-connected net (3 hidden layers), 100 SGD + momentum steps with decay and reg: "
            "relu and sigmoid <= 1.2e-15, tanh 6.2e-14 (b1; rounding differences grow along the "
            "trajectory)",
            "the gradient checker's kinds of assignments 2 and 3 on correct student code "
            "(`parity_tests/oracle_fixtures/`), output and every gradient over every case: conv "
            "3.5e-16, max_pool 0, batchnorm 4.2e-16, spatial_batchnorm 7.5e-16, layernorm "
            "1.0e-14, groupnorm 2.4e-15, dropout 0, rnn_step 1.4e-15, rnn 8.8e-16, lstm_step "
            "6.2e-16, lstm 1.1e-15, temporal_affine 3.6e-16, word_embedding 0, "
            "temporal_softmax_loss 1.7e-16",
        ),
    ),
    Tolerance(
        "PARITY_RTOL", "float32", PARITY_RTOL[_F32],
        applies_to="the same comparisons in float32 (except float32 SVM trajectories, "
                   "see TRAJECTORY_RTOL_SVM_FLOAT32)",
        why="float32 eps is 1.2e-7; the same sums over 3,073 features and 500 images lose up to "
            "~3 decimal digits.",
        measured=(
            "SVM and softmax losses, the five cases: loss <= 1.1e-7, dW <= 2.6e-6 "
            "(the softmax alone: dW 8.1e-7)",
            "each layer: <= 2.7e-6",
            "full two-layer net: <= 8.1e-7",
            "linear SGD trajectories (as above; SVM runs that did not part at a kink): "
            "1.6e-7..2.9e-7",
            "two-layer net, 100 SGD + momentum steps: losses 2e-7, parameters 2.4e-7",
            "fully-connected net, 0 to 6 hidden layers: relu <= 1.0e-6, sigmoid <= 1.1e-6, "
            "tanh <= 2.5e-6 (growing with depth)",
            "fully-connected net, 100 steps: relu 5.3e-7, sigmoid 4.7e-7; tanh 8.7e-5 (b1), too "
            "close to the bound for a test: the float32 trajectory test runs relu only",
            "the checker's kinds of assignments 2 and 3 on correct student code: conv 2.0e-7, "
            "max_pool 0, batchnorm 5.2e-7, spatial_batchnorm 2.7e-7, layernorm 1.3e-5 (dx: the "
            "rows' mean of ~12 cancels), groupnorm 1.1e-6, dropout 9.8e-8, rnn_step 9.7e-7, "
            "rnn 1.5e-6, lstm_step 2.9e-7, lstm 2.3e-7, temporal_affine 1.3e-7, word_embedding "
            "3.5e-8, temporal_softmax_loss 1.7e-7",
        ),
    ),
    Tolerance(
        "GRAD_CHECK_RTOL", None, GRAD_CHECK_RTOL,
        applies_to="analytic vs numerical gradient (`grad_check_sparse`, "
                   "`eval_numerical_gradient_array`), float64",
        why="the CS231n assignment's bar for a correct gradient: float64 centred differences with "
            "h = 1e-5, relative error `|a-n| / max(1e-8, |a|+|n|)`.",
        measured=(
            "SVM and softmax, probes on smooth pieces: ~1e-10; a dW missing the 2 of the reg "
            "gradient fails by more than 100x",
            "layers vs `eval_numerical_gradient_array` (4 dev rows x 60 features): "
            "3e-12 (relu) .. 2.9e-8 (softmax)",
            "ReLU with exact zeros and inputs within h of 0: off-kink probes 3e-12; "
            "the 8 kink probes are reported, not judged",
            "full two-layer net, 15 probes per parameter, relu/sigmoid/tanh x reg 0/0.1 "
            "(20 dev rows scaled to unit std): 6.8e-10..3.0e-8",
            "fully-connected net, 1 to 6 hidden layers of ~12 units x relu/sigmoid/tanh x "
            "reg 0/0.01, 10 probes per parameter: 1.1e-10..2.6e-8; 1 kink probe reported",
        ),
    ),
    Tolerance(
        "KINK_SLOPE_JUMP", None, 1e-4,
        module="scratch_numpy.gradient_check",
        applies_to="`grad_check_sparse`: a probe whose forward and backward one-sided slopes differ "
                   "by more than this fraction of their size is probed again at h/10",
        why="the one-sided slopes of a smooth piece differ by `|f''| h`; across a kink by the slope "
            "jump. A smooth piece with small curvature stays below it.",
        measured=(
            "a wrong gradient on a smooth piece is never flagged, even under strong curvature "
            "(`x²/2` at x = 0.01 with a gradient off by 2.5e-4)",
            "a constructed kink (an SVM margin of 1e-12) is always detected; a softmax probe "
            "is never flagged",
        ),
    ),
    Tolerance(
        "LAYER_NUMERICAL_RTOL", None, LAYER_NUMERICAL_RTOL,
        applies_to="the gradient oracle's `--kind layer`: each gradient a user's backward returns "
                   "vs the kink-aware centred difference (h = 1e-5, float64) of `Σ out·dout` "
                   "through the user's own forward, normwise like PARITY_RTOL",
        why="the centred difference carries a truncation error ~h² times the third derivative "
            "and a rounding error ~eps |L| / h ~ 1e-11 relative; 1e-6 leaves four orders of "
            "magnitude above both while a wrong term in a backward pass moves the gradient by "
            "percents.",
        measured=(
            "correct layers: naive convolution (x 2x3x5x5, w 4x3x3x3) dx 8.6e-11, dw 9.1e-11, "
            "db 9.8e-11; batch norm (8x5) dx 1.5e-10, dgamma 2.4e-11, dbeta 4.4e-11; affine on "
            "3-D x 3.0e-11..3.4e-11; relu 2.5e-11; sigmoid 1.3e-10",
            "planted mistakes fail by far: convolution db averaged over positions 9.6e-1, batch "
            "norm dx without the terms through the mean and variance 8.0e-1",
        ),
    ),
    Tolerance(
        "DROPOUT_MASK_RTOL", None, DROPOUT_MASK_RTOL,
        applies_to="the gradient checker's `dropout` kind: `out / x` of the user's train-mode "
                   "output is read as a mask where every entry is within this of 0 or 1/p "
                   "(`ref_torch/oracle/dropout.py`); the reference is then `x * mask`",
        why="a correct mask times x, divided by x, is 1/p to a few ulps of the dtype (float32: "
            "~1e-7); 1e-4 admits float32 rounding, while a mask scaled by 1/(1 - p) or left "
            "unscaled is off by at least 1e-1.",
        measured=(
            "correct dropout (seeded `rand`, seeded `binomial`, unseeded), every case and dtype: "
            "read as a mask, output error 0 in float64 and <= 9.8e-8 in float32",
            "the 2016 drop-probability convention and an unscaled mask: not read as a mask "
            "(each named by the diagnosis)",
        ),
    ),
    Tolerance(
        "DROPOUT_KEPT_SIGMAS", None, DROPOUT_KEPT_SIGMAS,
        applies_to="the `dropout` kind: a mask keeps a count of units within this many binomial "
                   "standard deviations `sqrt(n p (1 - p))` of `p n` (plus one)",
        why="a correct mask's kept count is binomial; 5 standard deviations are exceeded about "
            "once in 1.7 million cases, while keeping with probability 1 - p instead of p moves "
            "the count by `|1 - 2p| n`, dozens of deviations at the cases' sizes.",
        measured=(
            "the cases' sizes: 3,000 units at p = 0.3 (sd 25; keeping 1 - p is 48 sd away), "
            "1,200 at p = 0.75 (sd 15; 40 sd away); at p = 0.5 the two conventions coincide",
        ),
    ),
    Tolerance(
        "TWO_LAYER_GRAD_CHECK_MIN_GRAD", None, TWO_LAYER_GRAD_CHECK_MIN_GRAD,
        applies_to="the numerical checks of the full two-layer net and of the fully-connected "
                   "nets: probes whose analytic entry is below this are reported, not judged "
                   "against GRAD_CHECK_RTOL",
        why="the centred difference of a loss L ~ 3 carries a rounding error of about "
            "eps * L / h ~ 1e-11, which alone is a relative error above 1e-7 for entries "
            "below ~1e-3.",
        measured=(
            "rounding error of the difference quotient on 20 dev rows: 1e-11..1e-10",
            "a 1e-6 entry of tanh's dW2 measured 3e-5 although the gradient is right",
            "at most 2 of 15 probes per parameter fall below the threshold",
            "fully-connected nets: in the lowest layers of 5- and 6-layer sigmoid nets all 10 "
            "probes of a parameter can fall below it (the gradient vanishes there); each test "
            "still judges at least 6 probes per layer on average",
        ),
    ),
    Tolerance(
        "KNN_DIST_RTOL", "float64", KNN_DIST_RTOL[_F64],
        applies_to="kNN L2 distance matrices vs torch float64, assignment subset (500 x 5,000, "
                   "raw pixels)",
        why="float64 is near machine precision here: every squared distance is an integer "
            "below 2^53.",
        measured=(
            "NumPy no-loop / one-loop / two-loop: 1.5e-16 / 1.5e-16 / 9e-17",
        ),
    ),
    Tolerance(
        "KNN_DIST_RTOL", "float32", KNN_DIST_RTOL[_F32],
        applies_to="the same distance matrices computed in float32",
        why="the expansion `‖a‖² + ‖b‖² − 2a·b` cancels in float32 for close pairs (squared norms "
            "~1e8, nearest squared distances ~1e6). 5e-5 leaves room for other BLAS builds, yet "
            "a distance that leaves out one of the 3,072 pixels fails it.",
        measured=(
            "NumPy no-loop (OpenBLAS sgemm): 5.0e-6 on an AVX2 CPU, 1.7e-5 on an AVX-512 CPU",
            "NumPy one-loop 4.3e-6..5.1e-6, two-loop 8e-8",
            "torch (MKL): 6.8e-7",
            "a distance missing one pixel: 7.8e-4 (fails)",
            "L1, float32 vs float64: 0 (raw pixels: integer sums below 2^24)",
        ),
    ),
    Tolerance(
        "PROPERTY_BOUND_SLACK", None, PROPERTY_BOUND_SLACK,
        applies_to="the property tests (`parity_tests/test_loss_properties.py`): every loss and "
                   "layer, NumPy vs torch in float64, on random shapes with entries from 1e-30 to "
                   "1e30; the allowed difference is this multiple of the propagated rounding-error "
                   "bound, `gamma(n) = n u / (1 - n u)` (u = 2^-53) times the `|.|` of each sum",
        why="a fixed relative tolerance does not hold where sums cancel; the error bound does, for "
            "any summation order (BLAS blocking, pairwise sums, FMA). It is first order; the "
            "factor 2 covers the second-order terms and the few-ulp error of `exp`/`tanh` in "
            "libm and in torch's vectorized kernels.",
        measured=(
            "largest |numpy - torch| / bound over 1,000 examples per check: 0.47 (affine `dw`), "
            "0.33 (affine `dx`), 0.25 (two-layer net `b2`), 0.22 (SVM `dW`), 0.15 (softmax `dW`), "
            "<= 0.13 for every loss",
            "a reg gradient missing its factor 2, an SVM loss counting the correct class, a softmax "
            "`dW` scaled by 1 + 1e-9 and a sigmoid backward missing its `1 - s` each fail it",
            "examples with an SVM margin or a ReLU input within its rounding bound of the kink are "
            "left out (15-19% of the SVM examples, 9% of the net's, at 100 examples a check)",
        ),
    ),
    Tolerance(
        "TRAJECTORY_RTOL_SVM_FLOAT32", None, TRAJECTORY_RTOL_SVM_FLOAT32,
        applies_to="NumPy SGD vs `torch.optim.SGD` for the SVM in float32: final W and every "
                   "minibatch loss after 100 steps from the same W on the same minibatches",
        why="a margin within float32 rounding of 0 can be active on one side and inactive on the "
            "other (a hinge kink), and that step then differs by `lr * x_i / B`. 2e-2 admits such "
            "splits while a wrong step size (a reg gradient missing its factor 2: error ~1e-1) "
            "still fails.",
        measured=(
            "at batch 50 (the test's setting), 12 seeds x constant and step-decay rate: 1 of 24 runs "
            "parted at a kink, 6.0e-3",
            "at batch 100: 1 of 8 seeds parted, 4.2e-3, in one sweep; 0 of 24 runs in another "
            "(12 seeds x both rates)",
            "all other float32 SVM runs: as PARITY_RTOL (float32)",
        ),
    ),
)


def _number(value: float) -> str:
    """1e-12, 5e-5, 2.5e-4: the shortest scientific form."""
    mantissa, exponent = f"{value:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _anchor(title: str) -> str:
    """The anchor a Markdown renderer (GitHub's rule) gives a heading."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def tolerance_table_markdown() -> str:
    """``docs/tolerances.md``: a summary table, then why and measured for each tolerance."""
    lines = [
        "# Tolerances",
        "",
        "<!-- Generated from ref_torch/tolerances.py by `python -m scripts.tolerance_table --write`;"
        " edit that file, not this one. -->",
        "",
        "Every tolerance lives in `ref_torch/tolerances.py` (the kink threshold in "
        "`scratch_numpy/gradient_check.py`). Parity errors are normwise and scale-free: "
        "`max|numpy - torch| / max|torch|` over the array, so a value reads as "
        "\"digits lost relative to the largest entry\".",
        "",
        "Each parity tolerance is proven able to fail: `parity_tests/test_parity_harness.py` feeds "
        "the harness a gradient missing its regularization term, one with a class column "
        "sign-flipped, a bias gradient off by a factor 2, a loss missing its reg term, and a "
        "gradient scaled by `1 + 100 * tol`; each fails, and the report names the wrong array "
        "(and, for the flipped column, points into that column). A scale of `1 + tol / 100` passes. "
        "`parity_tests/test_oracle_kinds.py` does the same for every kind of assignments 2 and 3: "
        "a gradient or an output scaled by `1 + 100 * tol` fails in each dtype, `1 + tol / 100` "
        "passes.",
        "",
        "| tolerance | value | applies to |",
        "| --- | --- | --- |",
    ]
    for tol in TOLERANCES:
        lines.append(f"| [`{tol.title}`](#{_anchor(tol.title)}) | {_number(tol.value)} | {tol.applies_to} |")
    for tol in TOLERANCES:
        lines += [
            "",
            f"## {tol.title}",
            "",
            f"Value {_number(tol.value)}, in `{tol.module.replace('.', '/')}.py`.",
            "",
            f"Why: {tol.why}",
            "",
            "Measured:",
            "",
            *(f"* {figure}" for figure in tol.measured),
        ]
    return "\n".join(lines) + "\n"
