"""Batch normalisation of (N, C, H, W) images per channel: ``batch_norm`` on the (N·H·W, C) rows.

Training moves the batch to channels-last rows and back (one copy each way, in forward and backward):
μ and σ² per channel over the M = N·H·W values, and ∂L/∂x = γ/(M·√(σ² + ε))·(M·G − Σ G − x̂·Σ(G·x̂)).
Evaluation works on (N, C, H, W) directly.
"""
import numpy as np

from ..backend import get_array_module
from . import batch_norm


def forward_train(x, weight, bias, eps):
    """``batch_norm.forward_train`` on the (N·H·W, C) rows of x. Returns (y, saved, μ, σ²)."""
    n, c, h, w = x.shape
    y, saved, mean, var = batch_norm.forward_train(_rows(x), weight, bias, eps)
    return _images(y, x.shape), saved, mean, var


def backward_train(g, saved, weight, bias, want_dx=True):
    dx = batch_norm.backward_train(_rows(g), saved, weight, bias, want_dx)
    return None if dx is None else _images(dx, g.shape)


def forward_eval(x, running_mean, running_var, weight, bias, eps):
    """x̂ = (x − running_mean)/√(running_var + ε) per channel, y = γ x̂ + β. Returns (y, (x̂, 1/√(·)))."""
    inv_std = 1.0 / get_array_module(x).sqrt(running_var + eps)
    xhat = x - running_mean[:, None, None]
    xhat *= inv_std[:, None, None]
    if weight is None:
        return xhat, (xhat, inv_std)
    y = xhat * weight[:, None, None]
    y += bias[:, None, None]
    return y, (xhat, inv_std)


def backward_eval(g, saved, weight, bias, want_dx=True):
    """∂L/∂γ = Σ G·x̂, ∂L/∂β = Σ G over (N, H, W);  ∂L/∂x = γ·G/√(running_var + ε)."""
    xhat, inv_std = saved
    xp = get_array_module(g)
    gamma = xp.ones_like(inv_std)
    if weight is not None:
        weight.accumulate(xp.einsum("nchw,nchw->c", g, xhat, dtype=np.float64).astype(g.dtype))
        bias.accumulate(g.sum(axis=(0, 2, 3), dtype=np.float64).astype(g.dtype))
        gamma = weight.data
    return g * (gamma * inv_std)[:, None, None] if want_dx else None


def _rows(images):
    """(N, C, H, W) → a C-contiguous (N·H·W, C) copy, channels last."""
    n, c, h, w = images.shape
    return get_array_module(images).ascontiguousarray(images.transpose(0, 2, 3, 1)).reshape(n * h * w, c)


def _images(rows, shape):
    """(N·H·W, C) → a C-contiguous (N, C, H, W) array."""
    n, c, h, w = shape
    return get_array_module(rows).ascontiguousarray(rows.reshape(n, h, w, c).transpose(0, 3, 1, 2))
