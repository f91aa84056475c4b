"""The two regularization conventions of CS231n code, and telling which one a target uses.

* ``full``: ``loss + reg * sum(W**2)``, gradient ``2 * reg * W`` (the seed notes, this
  project);
* ``half``: ``loss + 0.5 * reg * sum(W**2)``, gradient ``reg * W`` (the 2016 solutions,
  assignment 2's ``fc_net.py``).

The torch reference takes a convention as a factor on reg (``reg * scale``). From
the references of both conventions on one case, :func:`fit_reg` reads the user's
reg term: with ``S = reg * sum(W**2)`` and ``D`` the data loss,

    loss_user = D + m * S,    grad_user = data grad + k * reg * W,

where ``full - half`` gives ``S / 2`` and ``reg * W``. A consistent target has
``k = 2 m``; :func:`reg_mismatch` says in one line what else it found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REG_SCALE = {"full": 1.0, "half": 0.5}
DESCRIPTION = {
    "full": "reg * sum(W**2) in the loss, 2 * reg * W in the gradient",
    "half": "0.5 * reg * sum(W**2) in the loss, reg * W in the gradient",
}
# A fitted coefficient this close to a simple value is read as that value.
COEF_SNAP = 1e-3


@dataclass(frozen=True)
class RegFit:
    """The user's reg coefficients on one case: ``m`` in the loss, ``k`` per weight."""

    loss_coef: float
    grad_coefs: dict


def _snap(value: float) -> float:
    nearest = round(value * 2) / 2
    return nearest if abs(value - nearest) <= COEF_SNAP * max(1.0, abs(nearest)) else value


def fit_reg(user_loss, user_grads: dict, refs: dict, reg_params: tuple[str, ...]) -> RegFit:
    """Coefficients of the user's reg term, from the references of both conventions."""
    (full_loss, full_grads), (half_loss, half_grads) = refs["full"], refs["half"]
    reg_sum = 2 * (full_loss - half_loss)
    loss_coef = (user_loss - (full_loss - reg_sum)) / reg_sum if reg_sum else float("nan")
    grad_coefs = {}
    for name in reg_params:
        if name not in user_grads or np.shape(user_grads[name]) != full_grads[name].shape:
            continue
        reg_w = (full_grads[name] - half_grads[name]).ravel()
        extra = (np.asarray(user_grads[name], dtype=np.float64) - full_grads[name]).ravel()
        denom = reg_w @ reg_w
        grad_coefs[name] = 2 + (extra @ reg_w) / denom if denom else float("nan")
    return RegFit(_snap(loss_coef), {k: _snap(v) for k, v in grad_coefs.items()})


def _loss_term(m: float) -> str:
    return {1.0: "reg * sum(W**2)", 0.5: "0.5 * reg * sum(W**2)", 0.0: "no reg term"}.get(
        m, f"{m:.4g} * reg * sum(W**2)")


def _grad_term(k: float, name: str = "W") -> str:
    none = "no reg term" if name == "W" else f"no reg term on {name}"
    return {2.0: f"2 * reg * {name}", 1.0: f"reg * {name}", 0.0: none}.get(
        k, f"{k:.4g} * reg * {name}")


def reg_mismatch(fit: RegFit) -> str:
    """One line on an inconsistent reg term ("" when the loss and gradient agree)."""
    m, ks = fit.loss_coef, fit.grad_coefs
    bad = {name: k for name, k in ks.items() if not (m in (0.5, 1.0) and k == 2 * m)}
    if not bad:
        return ""
    grads = ", ".join(_grad_term(k, name) for name, k in bad.items())
    line = f"the loss adds {_loss_term(m)} but the gradient adds {grads}"
    if m in (0.5, 1.0):
        return f"{line}: the gradient of {_loss_term(m)} is {_grad_term(2 * m)}"
    k = next(iter(bad.values()))
    if k in (1.0, 2.0):
        return f"{line}: a gradient of {_grad_term(k)} belongs to a loss with {_loss_term(k / 2)}"
    return f"{line}: use {DESCRIPTION['full']}"
