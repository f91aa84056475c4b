"""Numerical gradients, CS231n-compatible names.

The centred difference  f'(x) ~ (f(x + h) - f(x - h)) / 2h  has error O(h^2);
the forward difference  (f(x + h) - f(x)) / h  (the seed's first formula) has
error O(h). Both are evaluated in the dtype of ``x``: pass float64 arrays.

Every probe writes ``x[ix] = old + h`` etc. and then assigns the saved ``old``
back, so ``x`` is restored bit for bit.

Kinks. For a loss built from ``max(0, z)`` the centred difference is wrong
wherever ``z`` changes sign inside ``[x - h, x + h]``. :func:`grad_check_sparse`
detects those probes instead of hiding them behind a loose tolerance. When the
forward and backward one-sided slopes differ noticeably it probes again with
the step h/10 and compares the two slope gaps:

* on a smooth piece the gap is f''(x) h, so it shrinks ten-fold: curvature,
  judged with the centred difference at h (error O(h^2));
* when a kink lies between h/10 and h from x the gap vanishes at h/10: the
  probe is judged with the centred difference at h/10, which no longer
  straddles it;
* when a kink lies within h/10 the gap stays (more than half of it): a kink.
  If the analytic value equals one of the one-sided slopes (a subgradient
  takes the slope of its own side) the probe is reported as a kink and left
  out of the judged error; otherwise it is judged, and fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# A probe is re-examined when its one-sided slopes differ by more than this
# fraction of their magnitude (a smooth piece with small curvature stays below).
KINK_SLOPE_JUMP = 1e-4
# Slope gap at h/10 over the gap at h: ~0.1 on a smooth piece, ~0 when the kink
# lies beyond h/10, > 0.5 when it lies within h/20.
KINK_GAP_KEPT = 0.5
SMOOTH_GAP_RATIO_MIN = 0.05


def rel_error(x, y) -> float:
    """Max elementwise ``|x - y| / max(1e-8, |x| + |y|)``; 0 where both are 0."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error: shapes differ, {x.shape} vs {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("rel_error: inputs contain NaN or infinite values")
    if x.size == 0:
        return 0.0
    # |x| + |y| (and x - y with it) overflows for finite pairs above ~9e307: inf / inf is
    # NaN, and a finite difference over inf is a wrong 0. Halving such a pair (and the floor)
    # leaves the ratio unchanged and keeps both finite; other pairs keep every bit.
    with np.errstate(over="ignore"):
        scale = np.where(np.isinf(np.abs(x) + np.abs(y)), 0.5, 1.0)
    x, y = x * scale, y * scale
    return float(np.max(np.abs(x - y) / np.maximum(1e-8 * scale, np.abs(x) + np.abs(y))))


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
        """Largest relative error of the judged probes; NaN when none was judged,
        so that ``check.max_rel_error < tol`` cannot pass on kinks alone."""
        smooth = [p.rel_error for p in self.probes if not p.kink]
        return max(smooth) if smooth else float("nan")

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


def _slopes(f, x, ix, old, fx, h):
    """Forward, backward and centred difference quotients at ``x[ix]`` with step h."""
    x[ix] = old + h
    fxph = float(f(x))
    x[ix] = old - h
    fxmh = float(f(x))
    x[ix] = old
    return (fxph - fx) / h, (fx - fxmh) / h, (fxph - fxmh) / (2 * h)


def _probe(f, x, ix, fx, analytic, h) -> tuple[float, bool]:
    """(numerical estimate to judge, is_kink) for one coordinate; see the module docstring."""
    old = x[ix]
    forward, backward, centred = _slopes(f, x, ix, old, fx, h)
    gap = abs(forward - backward)
    if gap <= KINK_SLOPE_JUMP * max(abs(forward), abs(backward), 1e-12):
        return centred, False
    forward2, backward2, centred2 = _slopes(f, x, ix, old, fx, h / 10)
    gap2 = abs(forward2 - backward2)
    if gap2 > KINK_GAP_KEPT * gap:
        on_a_side = min(abs(analytic - forward2), abs(analytic - backward2)) <= 0.25 * gap2
        return centred, on_a_side
    if gap2 < SMOOTH_GAP_RATIO_MIN * gap:
        return centred2, False
    return centred, False


def numerical_gradient_at(f, x, analytic_grad, indices, h=1e-5):
    """Kink-aware centred differences of a scalar ``f`` at the coordinates ``indices`` of ``x``.

    analytic_grad: same shape as ``x`` (a kink is told from curvature by comparing
    it with the one-sided slopes; see the module docstring). Returns
    ``(numerical, kink)``, two arrays of ``len(indices)``: the estimate to judge
    each coordinate by, and whether its probe straddles a kink (not to be judged).
    """
    _check_probe_target(x, h)
    fx = float(f(x))
    numerical = np.empty(len(indices))
    kink = np.zeros(len(indices), dtype=bool)
    for i, ix in enumerate(indices):
        numerical[i], kink[i] = _probe(f, x, ix, fx, float(analytic_grad[ix]), h)
    return numerical, kink


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
        analytic = float(analytic_grad[ix])
        numerical, kink = _probe(f, x, ix, fx, analytic, h)
        probe = Probe(ix, numerical, analytic, rel_error(numerical, analytic), kink)
        result.probes.append(probe)
        if verbose:
            print(f"numerical: {numerical:f} analytic: {analytic:f}, "
                  f"relative error: {probe.rel_error:e}" + (" [kink]" if kink else ""))
    return result
