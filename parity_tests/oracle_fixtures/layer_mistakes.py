import numpy as np


def affine_forward(x, w, b):
    """Forgets that x may be (N, d_1, ..., d_k): works on 2-D input only."""
    out = x.dot(w) + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    return dout.dot(w.T), x.T.dot(dout), np.sum(dout, axis=0)


def flat_affine_forward(x, w, b):
    """Reshapes in the forward pass, but returns dx flattened."""
    out = x.reshape(x.shape[0], -1).dot(w) + b
    return out, (x, w, b)


def flat_affine_backward(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    return dx, dw, np.sum(dout, axis=0)
