"""Layers of CS231n assignment 2 that this project does not implement, for --kind layer:
a naive convolution and batch normalization (train mode), correct and with planted mistakes,
their example inputs and torch forwards.

Planted mistakes: conv_pad_backward returns dx with the padding still on;
conv_db_mean_backward averages db over positions instead of summing; batchnorm_no_mean_backward
leaves out the terms that flow through the batch mean and variance.
"""
import numpy as np
import torch.nn.functional as F


def conv_forward_naive(x, w, b, conv_param):
    """x (N, C, H, W), w (F, C, HH, WW), b (F,), conv_param {'stride', 'pad'} -> out, cache."""
    stride, pad = conv_param['stride'], conv_param['pad']
    N, C, H, W = x.shape
    F_, _, HH, WW = w.shape
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode='constant')
    out = np.zeros((N, F_, H_out, W_out))
    for n in range(N):
        for f in range(F_):
            for i in range(H_out):
                for j in range(W_out):
                    window = x_pad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, (x, w, b, conv_param)


def _conv_backward(dout, cache, unpad=True, db_mean=False):
    x, w, b, conv_param = cache
    stride, pad = conv_param['stride'], conv_param['pad']
    N, F_, H_out, W_out = dout.shape
    _, _, HH, WW = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode='constant')
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    for n in range(N):
        for f in range(F_):
            for i in range(H_out):
                for j in range(W_out):
                    rows = slice(i * stride, i * stride + HH)
                    cols = slice(j * stride, j * stride + WW)
                    dw[f] += dout[n, f, i, j] * x_pad[n, :, rows, cols]
                    dx_pad[n, :, rows, cols] += dout[n, f, i, j] * w[f]
    db = dout.mean(axis=(2, 3)).sum(axis=0) if db_mean else dout.sum(axis=(0, 2, 3))
    dx = dx_pad[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]] if unpad else dx_pad
    return dx, dw, db


def conv_backward_naive(dout, cache):
    """Returns dx, dw, db."""
    return _conv_backward(dout, cache)


def conv_pad_forward(x, w, b, conv_param):
    return conv_forward_naive(x, w, b, conv_param)


def conv_pad_backward(dout, cache):
    return _conv_backward(dout, cache, unpad=False)


def conv_db_mean_forward(x, w, b, conv_param):
    return conv_forward_naive(x, w, b, conv_param)


def conv_db_mean_backward(dout, cache):
    return _conv_backward(dout, cache, db_mean=True)


def conv_inputs():
    rng = np.random.RandomState(0)
    return dict(x=rng.randn(2, 3, 5, 5), w=rng.randn(4, 3, 3, 3), b=rng.randn(4),
                conv_param={'stride': 1, 'pad': 1})


def conv_torch(x, w, b, conv_param):
    return F.conv2d(x, w, b, stride=conv_param['stride'], padding=conv_param['pad'])


def batchnorm_forward(x, gamma, beta, bn_param):
    """Train-mode batch normalization of x (N, D): out = gamma * x_hat + beta."""
    eps = bn_param.get('eps', 1e-5)
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    x_hat = (x - mu) / np.sqrt(var + eps)
    return gamma * x_hat + beta, (x_hat, gamma, np.sqrt(var + eps))


def _batchnorm_backward(dout, cache, through_stats=True):
    x_hat, gamma, std = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    dx_hat = dout * gamma
    if not through_stats:
        return dx_hat / std, dgamma, dbeta
    dx = (N * dx_hat - dx_hat.sum(axis=0) - x_hat * np.sum(dx_hat * x_hat, axis=0)) / (N * std)
    return dx, dgamma, dbeta


def batchnorm_backward(dout, cache):
    """Returns dx, dgamma, dbeta."""
    return _batchnorm_backward(dout, cache)


def batchnorm_no_mean_forward(x, gamma, beta, bn_param):
    return batchnorm_forward(x, gamma, beta, bn_param)


def batchnorm_no_mean_backward(dout, cache):
    return _batchnorm_backward(dout, cache, through_stats=False)


def batchnorm_inputs():
    rng = np.random.RandomState(1)
    return dict(x=3 * rng.randn(8, 5) + 2, gamma=rng.randn(5), beta=rng.randn(5),
                bn_param={'mode': 'train'})


def batchnorm_torch(x, gamma, beta, bn_param):
    return F.batch_norm(x, None, None, gamma, beta, training=True, eps=bn_param.get('eps', 1e-5))
