"""The measurements behind the experiments and the benchmark: single-sign gradient
fractions, and the matrix products counted for the GEMM bound."""

from __future__ import annotations

import numpy as np

from scripts.bench_env import gemm_shapes
from scripts.exp_zero_centred import sign_fractions, single_sign


def test_single_sign_ignores_zeros_and_needs_one_nonzero():
    rows = np.array([[1.0, 2.0, 0.0], [-1.0, 0.0, -3.0], [1.0, -1.0, 0.0], [0.0, 0.0, 0.0]])
    assert single_sign(rows).tolist() == [True, True, False, False]


def test_positive_inputs_give_single_signed_per_example_gradients():
    rng = np.random.default_rng(0)
    dz = rng.standard_normal((50, 8))
    positive = rng.random((50, 20))  # sigmoid-like layer inputs, all > 0
    centred = rng.standard_normal((50, 20))  # tanh-like
    per_example, per_batch = sign_fractions(positive, dz)
    assert per_example == 1.0 and 0.0 <= per_batch < 1.0
    # Every per-example outer product h[n] * dz[n, j] of centred inputs mixes signs.
    assert sign_fractions(centred, dz) == (0.0, 0.0)
    # A batch of one example is its per-example gradient.
    assert sign_fractions(positive[:1], dz[:1]) == (1.0, 1.0)


def test_gemm_shapes_count_the_two_layer_epoch_as_0_6_tflop():
    shapes = gemm_shapes([3072, 1000, 10], batch=200)
    # forward of both layers, dW of both, dh of the second (no dX of the first).
    assert len(shapes) == 5
    flops = 2.0 * sum(m * k * n for m, k, n, _ in shapes) * 245
    assert 0.60e12 < flops < 0.61e12


def test_a_divergence_the_experiment_expects_gives_no_advice_on_the_learning_rate(capsys):
    """The initialisation experiment's large scales are meant to diverge: the log says so,
    not that the learning rate is probably too large."""
    from scripts.configs import diverged
    from scratch_numpy.training import TrainingDivergedError

    error = TrainingDivergedError("training diverged at iteration 3: the loss is NaN "
                                  "(learning_rate=0.01 is probably too large); ...", 3, {"x": 1})
    assert diverged(error, "weights of scale 1 are part of the experiment") == {"x": 1}
    out = capsys.readouterr().out
    assert "as expected here: weights of scale 1" in out and "probably too large" not in out
    diverged(error)
    assert "probably too large" in capsys.readouterr().out
