"""More of what students write, each caught by the checker with its own line (see
``parity_tests/test_oracle_assignments.py``): a ReLU whose derivative at 0 is 1, a
convolution returning dw with its axes swapped, a max pool assigning where overlapping
windows must add, layer norm over the batch axis, a dropout that drops nothing, outputs in
complex numbers or float16, a forward that prints, a cache the checker must not copy, a
layer known by an alias, and batch norm with a hard-coded eps."""
import threading

import numpy as np


def relu_forward_ge(x):
    return np.maximum(x, 0), x


def relu_backward_ge(dout, cache):
    return dout * (cache >= 0)


def conv_forward_axes(x, w, b, conv_param):
    stride, pad = conv_param['stride'], conv_param['pad']
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out, W_out = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            window = x_pad[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, b, conv_param)


def conv_backward_axes(dout, cache):
    x, w, b, conv_param = cache
    stride, pad = conv_param['stride'], conv_param['pad']
    HH, WW = w.shape[2:]
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad, dw = np.zeros_like(x_pad), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = slice(i * stride, i * stride + HH), slice(j * stride, j * stride + WW)
            dw += np.tensordot(dout[:, :, i, j], x_pad[:, :, rows, cols], axes=([0], [0]))
            dx_pad[:, :, rows, cols] += np.tensordot(dout[:, :, i, j], w, axes=([1], [0]))
    dx = dx_pad[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]
    return dx, dw.transpose(1, 0, 2, 3), dout.sum(axis=(0, 2, 3))  # dw as (C, F, HH, WW)


def max_pool_forward_assign(x, pool_param):
    ph, pw, s = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
    N, C, H, W = x.shape
    out = np.zeros((N, C, 1 + (H - ph) // s, 1 + (W - pw) // s))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, i * s:i * s + ph, j * s:j * s + pw].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_assign(dout, cache):
    x, pool_param = cache
    ph, pw, s = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
    dx = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    window = x[n, c, i * s:i * s + ph, j * s:j * s + pw]
                    a, b = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * s + a, j * s + b] = dout[n, c, i, j]  # '=': overlaps lose
    return dx


def layernorm_forward_axis0(x, gamma, beta, ln_param):
    eps = ln_param.get('eps', 1e-5)
    mu, var = x.mean(axis=0), x.var(axis=0)  # the batch axis: this is batch norm
    x_hat = (x - mu) / np.sqrt(var + eps)
    return gamma * x_hat + beta, (x_hat, gamma, np.sqrt(var + eps))


def layernorm_backward_axis0(dout, cache):
    x_hat, gamma, std = cache
    N = dout.shape[0]
    dx_hat = dout * gamma
    dx = (N * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(axis=0)) / (N * std)
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def dropout_forward_keeps_all(x, dropout_param):
    return x.copy(), dropout_param


def dropout_backward_keeps_all(dout, cache):
    return dout


def affine_forward_complex(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w + b
    return out + 0j, (x, w, b)


def affine_backward_complex(dout, cache):
    x, w, b = cache
    return (dout @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout, dout.sum(axis=0)


def affine_forward_half(x, w, b):
    return (x.reshape(x.shape[0], -1) @ w + b).astype(np.float16), (x, w, b)


def affine_backward_half(dout, cache):
    return affine_backward_complex(dout, cache)


def tanh_forward_prints(x):
    print("forward called with", x.shape)
    out = np.tanh(x)
    return out, out


def tanh_backward_prints(dout, cache):
    print("backward called")
    return dout * (1 - cache ** 2)


def sigmoid_forward_locked(x):
    out = 1 / (1 + np.exp(-x))
    return out, {'out': out, 'lock': threading.Lock()}  # a cache that cannot be copied


def sigmoid_backward_locked(dout, cache):
    with cache['lock']:
        return dout * cache['out'] * (1 - cache['out'])


def _relu_impl(x):
    return np.maximum(x, 0), x


def _relu_impl_backward(dout, cache):
    return dout * (cache > 0)


relu_forward = _relu_impl  # known by an alias: its name says relu, the function's does not
relu_backward = _relu_impl_backward


def batchnorm_forward_eps(x, gamma, beta, bn_param):
    eps = 1e-8  # hard-coded, where CS231n reads bn_param.get('eps', 1e-5)
    mu, var = x.mean(axis=0), x.var(axis=0)
    x_hat = (x - mu) / np.sqrt(var + eps)
    return gamma * x_hat + beta, (x_hat, gamma, np.sqrt(var + eps))


def batchnorm_backward_eps(dout, cache):
    return layernorm_backward_axis0(dout, cache)  # the same batch-axis gradient
