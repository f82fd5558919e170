"""Distances between two batches of vectors, broadcast against each other as torch broadcasts them: the p-norm of
their difference along the last axis, and the cosine of their angle along any axis. Each backward returns the
gradient of both inputs, summed back to each input's own shape."""
import math

import numpy as np

from ..backend import get_array_module


def sum_to(grad, shape):
    """``grad`` summed over the axes that broadcasting added or stretched, so that it has ``shape``."""
    shape = tuple(shape)
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=stretched, keepdims=True) if stretched else grad


def pairwise_distance(x1, x2, p, eps, keepdim):
    """(‖x1 − x2 + ε‖_p along the last axis, saved), torch's ``pairwise_distance``: d = x1 − x2 + ε (ε added to
    every element, not to the norm), ‖d‖_p = (Σ |dᵢ|^p)^{1/p}, the count of dᵢ ≠ 0 for p = 0, max |dᵢ| for p = ∞
    and min |dᵢ| for p = −∞. Two 0-d inputs give a 0-d distance."""
    xp = get_array_module(x1, x2)
    d = x1 - x2 + eps
    scalar = d.ndim == 0
    d = d.reshape(1) if scalar else d
    a = xp.abs(d)
    if p == 0:
        norm = (d != 0).sum(axis=-1, keepdims=True).astype(d.dtype)
    elif p == math.inf:
        norm = a.max(axis=-1, keepdims=True)
    elif p == -math.inf:
        norm = a.min(axis=-1, keepdims=True)
    elif p == 1:
        norm = a.sum(axis=-1, keepdims=True)
    elif p == 2:
        norm = xp.sqrt((d * d).sum(axis=-1, keepdims=True))
    else:
        with np.errstate(divide="ignore"):   # |0|^p = ∞ for p < 0 (its norm 0), as torch
            norm = (a ** p).sum(axis=-1, keepdims=True) ** (1.0 / p)
    out = norm.reshape(()) if scalar else norm if keepdim else norm[..., 0]
    return out, (d, norm, p, scalar, keepdim, x1.shape, x2.shape)


def pairwise_distance_backward(g, saved):
    """(∂L/∂x1, ∂L/∂x2) = (v, −v) summed to each input's shape, with torch's norm gradient v = G·∂‖d‖_p/∂d:
    G·d/‖d‖ (p = 2), G·sign(d) (p = 1), G·sign(d)·|d|^{p−1}/‖d‖^{p−1} (p ≥ 2 as d·|d|^{p−2}; 0 where ‖d‖ = 0),
    G·sign(d)·|d|^{p−1}·‖d‖^{1−p} for p < 1 (0 where dᵢ = 0), G·sign(d)/k at the k elements that reach max |d|
    (min for −∞), and 0 for p = 0."""
    d, norm, p, scalar, keepdim, shape1, shape2 = saved
    xp = get_array_module(d)
    g = g.reshape(1, 1) if scalar else g if keepdim else g[..., None]
    a = xp.abs(d)
    if p == 0:
        v = xp.zeros_like(d)
    elif p == 1:
        v = xp.sign(d) * g
    elif p == 2:
        v = g * xp.where(norm == 0, 0, d / xp.where(norm == 0, 1, norm))
    elif math.isinf(p):
        mask = (a == norm) | xp.isnan(a)
        v = xp.sign(d) * (g / mask.sum(axis=-1, keepdims=True).astype(d.dtype) * mask)
    elif p < 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = xp.sign(d) * xp.where(d == 0, 0, a ** (p - 1))
        v = scaled * g * norm ** (1 - p)
    else:
        scaled = xp.sign(d) * a ** (p - 1) if p < 2 else d * a ** (p - 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = xp.where(norm == 0, 0, g / norm ** (p - 1))
        v = scaled * scale
    v = v.reshape(()) if scalar else v
    return sum_to(v, shape1), -sum_to(v, shape2)


def cosine_similarity(x1, x2, dim, eps):
    """(Σ_dim (x1/max(‖x1‖, ε))·(x2/max(‖x2‖, ε)), saved), torch's ``cosine_similarity`` since 1.12: each input
    divided by its own norm along ``dim`` (an axis of the broadcast shape), each norm clamped at ε, so |y| ≤ 1."""
    xp = get_array_module(x1, x2)
    a, b = xp.broadcast_arrays(x1, x2)
    scalar = a.ndim == 0
    if scalar:
        a, b = a.reshape(1), b.reshape(1)
    n1 = xp.sqrt((a * a).sum(axis=dim, keepdims=True))
    n2 = xp.sqrt((b * b).sum(axis=dim, keepdims=True))
    c1, c2 = xp.maximum(n1, eps), xp.maximum(n2, eps)
    u, w = a / c1, b / c2
    y = (u * w).sum(axis=dim)
    return (y.reshape(()) if scalar else y), (a, b, n1, n2, c1, c2, y, dim, scalar, x1.shape, x2.shape)


def cosine_similarity_backward(g, saved):
    """(∂L/∂x1, ∂L/∂x2), torch's: the clamp at ε passes the gradient through (torch clamps under no_grad), so
    ∂L/∂x1 = G·(x2/(c1·c2) − (y/c1)·x1/‖x1‖) with cᵢ = max(‖xᵢ‖, ε) (x1/‖x1‖ read as 0 where ‖x1‖ = 0), and
    alike for x2; each summed back to its input's shape."""
    a, b, n1, n2, c1, c2, y, dim, scalar, shape1, shape2 = saved
    xp = get_array_module(a)
    g = xp.expand_dims(g.reshape(1) if scalar else g, dim)
    y = xp.expand_dims(y.reshape(1) if scalar else y, dim)

    def unit(x, n):
        return xp.where(n == 0, 0, x / xp.where(n == 0, 1, n))

    d1 = g * (b / c2 / c1 - (y / c1) * unit(a, n1))
    d2 = g * (a / c1 / c2 - (y / c2) * unit(b, n2))
    if scalar:
        d1, d2 = d1.reshape(()), d2.reshape(())
    return sum_to(d1, shape1), sum_to(d2, shape2)
