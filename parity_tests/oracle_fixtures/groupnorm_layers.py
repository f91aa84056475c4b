"""Spatial group normalization as a 2019+ student writes it (gamma, beta of shape (1, C, 1, 1)):
correct, and under the other name some solutions use."""
import numpy as np


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    eps = gn_param.get('eps', 1e-5)
    N, C, H, W = x.shape
    xg = x.reshape(N, G, C // G, H, W)
    mean = xg.mean(axis=(2, 3, 4), keepdims=True)
    var = xg.var(axis=(2, 3, 4), keepdims=True)
    std = np.sqrt(var + eps)
    x_hat = ((xg - mean) / std).reshape(N, C, H, W)
    out = gamma * x_hat + beta
    cache = (x_hat, gamma, std, G)
    return out, cache


def spatial_groupnorm_backward(dout, cache):
    x_hat, gamma, std, G = cache
    N, C, H, W = dout.shape
    dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)
    dgamma = (dout * x_hat).sum(axis=(0, 2, 3), keepdims=True)
    dx_hat = (dout * gamma).reshape(N, G, -1)
    x_hat_g = x_hat.reshape(N, G, -1)
    M = x_hat_g.shape[2]
    dx = (dx_hat - dx_hat.mean(axis=2, keepdims=True)
          - x_hat_g * (dx_hat * x_hat_g).mean(axis=2, keepdims=True)) / std.reshape(N, G, 1)
    assert M == C // G * H * W
    return dx.reshape(N, C, H, W), dgamma, dbeta


def groupnorm_forward(x, gamma, beta, G, gn_param):
    return spatial_groupnorm_forward(x, gamma, beta, G, gn_param)


def groupnorm_backward(dout, cache):
    return spatial_groupnorm_backward(dout, cache)
