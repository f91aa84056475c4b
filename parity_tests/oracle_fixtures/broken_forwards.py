"""Forwards that fail in the student's own code, for ``--kind layer --torch``: the failure is
theirs (exit 1), never a usage error about the torch expression."""
import numpy as np


def unfinished_forward(x):
    out = None
    # TODO: Implement the forward pass.
    return out, x


def unfinished_backward(dout, cache):
    return None


def wrong_shape_forward(x):
    return x.sum(axis=1), x


def wrong_shape_backward(dout, cache):
    return np.ones_like(cache) * dout[:, None]


def no_cache_forward(x):
    return np.maximum(x, 0)


def no_cache_backward(dout, cache):
    return dout
