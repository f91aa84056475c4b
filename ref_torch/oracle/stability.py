"""Where a softmax's ``exp`` leaves the floating-point range, and what to tell the user.

``exp(s)`` overflows above ``log(max)`` (709.8 in float64, 88.7 in float32): a
softmax that does not subtract the row maximum first gets ``inf / inf = NaN``.
Subtracting it keeps every exponent <= 0, but ``exp(s - max)`` then leaves the
normal range below ``log(tiny)`` (-708.4 / -87.3): a correct class that far below
the best one gets probability ~0 and ``-log(p) = +inf``. Only log-sum-exp,
``log p_j = (s_j - max) - log(sum_k exp(s_k - max))``, stays finite at any spread.

So a case is *advisory* in a dtype when some row's spread (max - min score)
exceeds ``-log(tiny)`` there: a correct shifted ``-log(p)`` cannot survive it, and
a failure is a warning that explains itself. The *stability* cases (float64,
scores up to ~750 with spread ~650, like the notes' ``[123, 456, 789]``) sit
between the two limits: code with the max shift passes, code without it fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_SHIFT = ("subtract each row's maximum score before exp "
             "(s - s.max(axis=1, keepdims=True)): it changes no probability")
LOG_SUM_EXP = ("compute log-probabilities as (s - max) - log(sum(exp(s - max))) "
               "(log-sum-exp) instead of log(p)")


def overflow_limit(dtype) -> float:
    """Largest x with finite exp(x) in ``dtype``."""
    return float(np.log(np.finfo(dtype).max))


def underflow_limit(dtype) -> float:
    """Largest x with exp(-x) still a normal number in ``dtype``."""
    return float(-np.log(np.finfo(dtype).tiny))


@dataclass(frozen=True)
class ScoreRange:
    """Largest score, and largest per-row spread (max - min), of a case's (N, C) scores."""

    largest: float
    spread: float

    @classmethod
    def of(cls, scores: np.ndarray) -> "ScoreRange":
        return cls(float(scores.max()), float((scores.max(axis=1) - scores.min(axis=1)).max()))

    def extreme(self, dtype) -> bool:
        return self.spread > underflow_limit(dtype)


def explain(report, scores: ScoreRange, dtype) -> str:
    """One line on why a case with large scores failed, read from the non-finite values."""
    problems = " ".join(d.problem for d in (report.loss, *report.grads) if d.problem)
    name = np.dtype(dtype).name
    if "NaN" in problems and scores.largest > overflow_limit(dtype):
        return (f"exp overflowed: scores reach {scores.largest:.0f}, above "
                f"{overflow_limit(dtype):.1f} where exp is inf in {name}, and inf / inf = NaN; "
                f"{MAX_SHIFT}")
    if "+inf" in problems and scores.extreme(dtype):
        return (f"a probability underflowed to 0: the scores of a row spread over "
                f"{scores.spread:.0f}, beyond {underflow_limit(dtype):.1f} where exp(-x) leaves "
                f"{name}'s range, and -log(0) = +inf; {LOG_SUM_EXP}")
    if scores.extreme(dtype):
        return (f"the scores of a row spread over {scores.spread:.0f}, beyond what exp can "
                f"represent in {name} ({underflow_limit(dtype):.1f}); {LOG_SUM_EXP}")
    return ""
