"""Torch references of the layers of CS231n assignments 2 and 3 that this project does not train.

Each function takes the case's inputs as a dict of tensors (``t["x"]``, ``t["conv_param"]``)
and returns the forward output, or a tuple of outputs, built from torch operations only:
autograd gives the gradients a user's backward pass must return. The arguments follow
CS231n's signatures (``ref_torch/oracle/kinds.py`` lists them):

* ``conv``: ``F.conv2d`` with ``conv_param = {"stride", "pad"}`` (zero padding);
* ``max_pool``: ``F.max_pool2d`` with ``pool_param = {"pool_height", "pool_width", "stride"}``;
* ``batchnorm``, ``spatial_batchnorm``: train-mode ``F.batch_norm`` (biased variance, the
  ``eps`` of ``bn_param``, 1e-5 by default); ``layernorm``: ``F.layer_norm`` over the last
  axis; ``groupnorm``: ``F.group_norm`` with ``gamma``, ``beta`` of shape ``(1, C, 1, 1)``;
* ``dropout``: ``x * mask``, the mask given as an input (the oracle reads the mask a user's
  forward drew from its output; see ``ref_torch/oracle/layer_cases.py``);
* ``rnn_step``, ``rnn``, ``lstm_step``, ``lstm``: the recurrences of assignment 3 (the LSTM's
  ``4H`` activations ordered input, forget, output gate, then the block input ``g``);
* ``temporal_affine``, ``word_embedding`` (``W[x]``: repeated words add up their gradients),
  ``temporal_softmax_loss`` (``-sum(mask * log p[y]) / N``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-5  # CS231n's default eps of batch, layer and group normalization


def conv(t):
    """``x (N, C, H, W)``, ``w (F, C, HH, WW)``, ``b (F,)`` -> ``(N, F, H', W')``."""
    p = t["conv_param"]
    return F.conv2d(t["x"], t["w"], t["b"], stride=p["stride"], padding=p["pad"])


def max_pool(t):
    """``x (N, C, H, W)`` -> ``(N, C, H', W')``, windows ``pool_height x pool_width``."""
    p = t["pool_param"]
    return F.max_pool2d(t["x"], (p["pool_height"], p["pool_width"]), stride=p["stride"])


def batchnorm(t):
    """Train mode: ``gamma * (x - mean) / sqrt(var + eps) + beta``, statistics over the batch
    (``x (N, D)``) or over N, H, W (``x (N, C, H, W)``, spatial batch norm)."""
    eps = t["bn_param"].get("eps", EPS)
    return F.batch_norm(t["x"], None, None, t["gamma"], t["beta"], training=True, eps=eps)


def layernorm(t):
    """Each row of ``x (N, D)`` normalized over its D features."""
    eps = t["ln_param"].get("eps", EPS)
    return F.layer_norm(t["x"], t["x"].shape[-1:], t["gamma"], t["beta"], eps=eps)


def groupnorm(t):
    """``x (N, C, H, W)`` normalized over each of G groups of C / G channels (and H, W);
    ``gamma``, ``beta`` of shape ``(1, C, 1, 1)``."""
    channels = t["x"].shape[1]
    eps = t["gn_param"].get("eps", EPS)
    return F.group_norm(t["x"], t["G"], t["gamma"].reshape(channels),
                        t["beta"].reshape(channels), eps=eps)


def dropout(t):
    """Inverted dropout with a known mask (0 or 1 / p; ones in test mode)."""
    return t["x"] * t["mask"]


def rnn_step(t, x=None, prev_h=None):
    """``next_h = tanh(x Wx + prev_h Wh + b)``."""
    x = t["x"] if x is None else x
    prev_h = t["prev_h"] if prev_h is None else prev_h
    return torch.tanh(x @ t["Wx"] + prev_h @ t["Wh"] + t["b"])


def rnn(t):
    """``x (N, T, D)``, ``h0 (N, H)`` -> every hidden state ``h (N, T, H)``."""
    h, states = t["h0"], []
    for step in range(t["x"].shape[1]):
        h = rnn_step(t, t["x"][:, step], h)
        states.append(h)
    return torch.stack(states, dim=1)


def lstm_step(t, x=None, prev_h=None, prev_c=None):
    """``(next_h, next_c)``: gates ``i, f, o = sigmoid``, ``g = tanh`` of the four H-wide
    blocks of ``x Wx + prev_h Wh + b``; ``next_c = f * prev_c + i * g``,
    ``next_h = o * tanh(next_c)``."""
    x = t["x"] if x is None else x
    prev_h = t["prev_h"] if prev_h is None else prev_h
    prev_c = t["prev_c"] if prev_c is None else prev_c
    a = x @ t["Wx"] + prev_h @ t["Wh"] + t["b"]
    i, f, o, g = a.chunk(4, dim=1)
    next_c = torch.sigmoid(f) * prev_c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(next_c), next_c


def lstm(t):
    """``x (N, T, D)``, ``h0 (N, H)``, cell state starting at 0 -> ``h (N, T, H)``."""
    h = t["h0"]
    c = torch.zeros_like(h)
    states = []
    for step in range(t["x"].shape[1]):
        h, c = lstm_step(t, t["x"][:, step], h, c)
        states.append(h)
    return torch.stack(states, dim=1)


def temporal_affine(t):
    """``x (N, T, D) @ w (D, M) + b`` at every time step."""
    return t["x"] @ t["w"] + t["b"]


def word_embedding(t):
    """``W[x]``: the rows of ``W (V, D)`` of the word indices ``x (N, T)``."""
    return t["W"][t["x"].long()]


def temporal_softmax_loss(t):
    """``-sum_{n,t} mask[n,t] log softmax(x[n,t])[y[n,t]] / N`` for scores ``x (N, T, V)``."""
    x = t["x"]
    log_p = torch.log_softmax(x, dim=2).gather(2, t["y"].long().unsqueeze(2)).squeeze(2)
    return -(log_p * t["mask"].to(x.dtype)).sum() / x.shape[0]


def layer_loss(torch_forward, dout_names):
    """``t -> (L, out)`` for a forward ``torch_forward(t) -> out or (out_1, ..., out_K)``:
    ``L = sum_k sum(out_k * t[dout_k])``, whose gradients are what the user's backward
    returns, and the outputs stacked as the user's are (``adapters.stack_outputs``)."""
    def loss(t):
        outs = torch_forward(t)
        outs = tuple(outs) if isinstance(outs, (tuple, list)) else (outs,)
        return (sum((o * t[d]).sum() for o, d in zip(outs, dout_names)),
                outs[0] if len(outs) == 1 else torch.stack(outs))
    return loss
