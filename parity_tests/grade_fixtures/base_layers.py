"""The honest part of every hostile fixture: affine and ReLU layers, correct.

Each hostile student's ``cs231n/layers.py`` is this file with one hostile act added
(``scripts/grade/demo_class.py`` puts them together): the act must end in its verdict
while these two layers are still graded like anyone's.
"""

import numpy as np


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    return dx, dw, dout.sum(axis=0)


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)
