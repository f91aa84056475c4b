import numpy as np


def affine_forward(x, w, b):
    """out = x.reshape(N, D) @ w + b for x of shape (N, d_1, ..., d_k)."""
    out = x.reshape(x.shape[0], -1).dot(w) + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def relu_forward(x):
    out = np.maximum(0, x)
    return out, out  # caches the output, not the input


def relu_backward(dout, cache):
    out = cache
    return dout * (out > 0)  # the mask from the output: the same as x > 0
