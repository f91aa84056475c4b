"""Property test of ``rel_error``: for any finite inputs, the value of
``max |x - y| / max(1e-8, |x| + |y|)`` computed exactly (in rationals), to a few ulps."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from scratch_numpy.gradient_check import rel_error

finite = st.floats(allow_nan=False, allow_infinity=False)  # subnormals and +-1.8e308 included


def exact_rel_error(x: np.ndarray, y: np.ndarray) -> float:
    ratios = [abs(Fraction(a) - Fraction(b)) / max(Fraction(1e-8), abs(Fraction(a)) + abs(Fraction(b)))
              for a, b in zip(x.ravel().tolist(), y.ravel().tolist())]
    return float(max(ratios, default=Fraction(0)))


@given(pair=hnp.array_shapes(max_dims=2, max_side=4).flatmap(
    lambda shape: st.tuples(hnp.arrays(np.float64, shape, elements=finite),
                            hnp.arrays(np.float64, shape, elements=finite))))
@example(pair=(np.array([1e308, 0.0]), np.array([-1e308, 5e-324])))  # x - y overflows
@example(pair=(np.array([1.7e308]), np.array([1.6e308])))            # only |x| + |y| does
def test_rel_error_is_the_exact_value_to_a_few_ulps(pair):
    x, y = pair
    value = rel_error(x, y)
    assert np.isfinite(value) and 0.0 <= value <= 1.0
    assert value == rel_error(y, x)
    expected = exact_rel_error(x, y)
    # Three roundings (difference, sum, quotient); below the normal range a halving or a
    # subnormal difference may lose the last bits of numbers that are ~1e-300 anyway.
    assert abs(value - expected) <= 4 * np.spacing(expected) + 1e-300, (value, expected)
