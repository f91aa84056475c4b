"""Numerical gradients, CS231n-compatible names.

The centred difference  f'(x) ~ (f(x + h) - f(x - h)) / 2h  has error O(h^2);
the forward difference  (f(x + h) - f(x)) / h  (the seed's first formula) has
error O(h). Both are evaluated in the dtype of ``x``: pass float64 arrays.

Every probe writes ``x[ix] = old + h`` etc. and then assigns the saved ``old``
back, so ``x`` is restored bit for bit.

Kinks. For a loss built from ``max(0, z)`` the centred difference is wrong
wherever ``z`` changes sign inside ``[x - h, x + h]``. :func:`grad_check_sparse`
detects those probes instead of hiding them behind a loose tolerance: the
forward and backward one-sided slopes then differ by the slope jump, and a
correct subgradient equals the slope on its own side. Such probes are reported as kinks and
left out of the error that is judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# A probe is a kink candidate when its one-sided slopes differ by more than this
# fraction of their magnitude. Smooth pieces differ by |f''| h, far below it.
KINK_SLOPE_JUMP = 1e-4


def rel_error(x, y) -> float:
    """Max elementwise ``|x - y| / max(1e-8, |x| + |y|)``; 0 where both are 0."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error: shapes differ, {x.shape} vs {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("rel_error: inputs contain NaN or infinite values")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _check_probe_target(x, h):
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise ValueError("x must be a floating-point NumPy array (it is perturbed in place)")
    if not h > 0:
        raise ValueError(f"step h must be > 0, got {h}")


def eval_numerical_gradient(f, x, verbose=False, h=1e-5, method="centered"):
    """Numerical gradient of a scalar function ``f`` at ``x``.

    f: callable taking ``x`` (perturbed in place) and returning a scalar.
    x: float array of any shape. method: ``"centered"`` or ``"forward"``.
    Returns grad, same shape as ``x``.
    """
    _check_probe_target(x, h)
    if method not in ("centered", "forward"):
        raise ValueError(f"method must be 'centered' or 'forward', got {method!r}")
    fx = f(x) if method == "forward" else None
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        fxph = f(x)
        if method == "centered":
            x[ix] = old - h
            grad[ix] = (fxph - f(x)) / (2 * h)
        else:
            grad[ix] = (fxph - fx) / h
        x[ix] = old
        if verbose:
            print(ix, grad[ix])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numerical gradient of ``sum(f(x) * df)`` for an array-valued ``f``.

    This is the backward pass of a layer: ``df`` is the upstream gradient
    (same shape as ``f(x)``); returns dx, same shape as ``x``.
    """
    _check_probe_target(x, h)
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        pos = np.array(f(x), copy=True)
        x[ix] = old - h
        neg = np.array(f(x), copy=True)
        x[ix] = old
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
    return grad


@dataclass(frozen=True)
class Probe:
    """One coordinate checked by :func:`grad_check_sparse`."""

    index: tuple
    numerical: float
    analytic: float
    rel_error: float
    kink: bool  # the probe interval straddles a non-differentiable point


@dataclass
class SparseCheck:
    """Result of :func:`grad_check_sparse`. ``max_rel_error`` ignores kink probes."""

    probes: list[Probe] = field(default_factory=list)

    @property
    def kinks(self) -> list[Probe]:
        return [p for p in self.probes if p.kink]

    @property
    def max_rel_error(self) -> float:
        smooth = [p.rel_error for p in self.probes if not p.kink]
        return max(smooth, default=0.0)

    def __str__(self) -> str:
        lines = [
            f"numerical: {p.numerical: .6e} analytic: {p.analytic: .6e}, "
            f"relative error: {p.rel_error:.3e}" + ("  [straddles a kink]" if p.kink else "")
            for p in self.probes
        ]
        lines.append(
            f"max relative error {self.max_rel_error:.3e} over "
            f"{len(self.probes) - len(self.kinks)} smooth probes; {len(self.kinks)} kink probe(s)"
        )
        return "\n".join(lines)


def _straddles_kink(forward, backward, analytic) -> bool:
    """True when the one-sided slopes jump and ``analytic`` sits on one of them.

    On a smooth piece forward - backward = f''(x) h and a correct gradient sits
    at their midpoint. Across a kink the slopes differ by the slope jump and a
    correct subgradient equals the slope on its own side, so it lies near one
    end of the interval, not the middle.
    """
    jump = abs(forward - backward)
    if jump <= KINK_SLOPE_JUMP * max(abs(forward), abs(backward), 1e-12):
        return False
    near_an_end = min(abs(analytic - forward), abs(analytic - backward)) <= 0.25 * jump
    return near_an_end


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, seed=None, verbose=False):
    """Compare ``analytic_grad`` with centred differences at random coordinates.

    f: scalar function of ``x``; x: float array (restored after each probe);
    analytic_grad: same shape as ``x``. Returns a :class:`SparseCheck`; probes
    that straddle a kink are flagged (see the module docstring), not hidden.
    """
    _check_probe_target(x, h)
    analytic_grad = np.asarray(analytic_grad)
    if analytic_grad.shape != x.shape:
        raise ValueError(f"analytic_grad has shape {analytic_grad.shape}, x has {x.shape}")
    rng = np.random.default_rng(seed)
    fx = float(f(x))
    result = SparseCheck()
    for _ in range(num_checks):
        ix = tuple(int(rng.integers(n)) for n in x.shape)
        old = x[ix]
        x[ix] = old + h
        fxph = float(f(x))
        x[ix] = old - h
        fxmh = float(f(x))
        x[ix] = old
        numerical = (fxph - fxmh) / (2 * h)
        analytic = float(analytic_grad[ix])
        kink = _straddles_kink((fxph - fx) / h, (fx - fxmh) / h, analytic)
        probe = Probe(ix, numerical, analytic, rel_error(numerical, analytic), kink)
        result.probes.append(probe)
        if verbose:
            print(f"numerical: {numerical:f} analytic: {analytic:f}, "
                  f"relative error: {probe.rel_error:e}" + (" [kink]" if kink else ""))
    return result
