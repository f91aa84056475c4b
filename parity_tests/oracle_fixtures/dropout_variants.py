"""Dropout written the ways students write it (kind ``dropout``), each with its backward.

dropout_binomial: correct, the mask drawn with np.random.binomial (another stream than
np.random.rand: the checker reads the mask off the output). dropout_unseeded: correct but
ignores dropout_param['seed']. dropout_2016: p used as the probability of dropping a unit
(the 2016 assignment's convention). dropout_unscaled: kept units not divided by p.
"""
import numpy as np


def _backward(dout, cache):
    dropout_param, mask = cache
    if dropout_param['mode'] == 'train':
        return dout * mask
    return dout


def dropout_binomial_forward(x, dropout_param):
    p, mode = dropout_param['p'], dropout_param['mode']
    if 'seed' in dropout_param:
        np.random.seed(dropout_param['seed'])
    mask = None
    if mode == 'train':
        mask = np.random.binomial(1, p, size=x.shape) / p
        out = x * mask
    else:
        out = x
    return out, (dropout_param, mask)


def dropout_binomial_backward(dout, cache):
    return _backward(dout, cache)


def dropout_unseeded_forward(x, dropout_param):
    p, mode = dropout_param['p'], dropout_param['mode']
    mask = None
    if mode == 'train':
        mask = (np.random.rand(*x.shape) < p) / p
        out = x * mask
    else:
        out = x
    return out, (dropout_param, mask)


def dropout_unseeded_backward(dout, cache):
    return _backward(dout, cache)


def dropout_2016_forward(x, dropout_param):
    p, mode = dropout_param['p'], dropout_param['mode']
    if 'seed' in dropout_param:
        np.random.seed(dropout_param['seed'])
    mask = None
    if mode == 'train':
        mask = (np.random.rand(*x.shape) >= p) / (1 - p)
        out = x * mask
    else:
        out = x
    return out, (dropout_param, mask)


def dropout_2016_backward(dout, cache):
    return _backward(dout, cache)


def dropout_unscaled_forward(x, dropout_param):
    p, mode = dropout_param['p'], dropout_param['mode']
    if 'seed' in dropout_param:
        np.random.seed(dropout_param['seed'])
    mask = None
    if mode == 'train':
        mask = np.random.rand(*x.shape) < p
        out = x * mask
    else:
        out = x
    return out, (dropout_param, mask)


def dropout_unscaled_backward(dout, cache):
    return _backward(dout, cache)


def dropout_inputs():
    rng = np.random.RandomState(3)
    return dict(x=rng.randn(6, 5) + 10, dropout_param={'p': 0.5, 'mode': 'train', 'seed': 0})
