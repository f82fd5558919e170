"""Separable linear maps of images: y = A_h x A_wᵀ per plane, with one (out, in) matrix per axis.

Adaptive average pooling and nearest or bilinear resampling are all of this form, so their backward is
∂L/∂x = A_hᵀ G A_w (each input pixel collects the gradient of every output that read it, with the same
weights). Each direction is two products: the columns as one (N·C·H, W) @ (W, W_out) product, then the
rows as a stacked product. The axis matrices are built in float64 NumPy, once per input size.
"""
import numpy as np


def separable_map(x, a_h, a_w):
    """y[n, c] = A_h x[n, c] A_wᵀ."""
    n, c, h, w = x.shape
    t = (x.reshape(n * c * h, w) @ a_w.T).reshape(n * c, h, a_w.shape[0])
    return (a_h @ t).reshape(n, c, a_h.shape[0], a_w.shape[0])


def separable_map_backward(g, a_h, a_w):
    """∂L/∂x[n, c] = A_hᵀ G[n, c] A_w."""
    n, c, ho, wo = g.shape
    t = (g.reshape(n * c * ho, wo) @ a_w).reshape(n * c, ho, a_w.shape[1])
    return (a_h.T @ t).reshape(n, c, a_h.shape[1], a_w.shape[1])


def adaptive_average(size, out):
    """A[i, h] = 1/(h₁(i) − h₀(i)) on torch's bin h₀(i) = ⌊i·size/out⌋ ≤ h < h₁(i) = ⌈(i + 1)·size/out⌉."""
    a = np.zeros((out, size))
    for i in range(out):
        lo, hi = (i * size) // out, -((-(i + 1) * size) // out)
        a[i, lo:hi] = 1.0 / (hi - lo)
    return a


def nearest(size, out, scale):
    """A[o, ⌊o·r⌋] = 1 with r = ``scale`` (1/scale_factor, or in/out), computed in float32 as torch, clamped."""
    o = np.arange(out)
    src = np.minimum(np.floor(o.astype(np.float32) * np.float32(scale)).astype(np.int64), size - 1)
    a = np.zeros((out, size))
    a[o, src] = 1.0
    return a


def bilinear(size, out, scale, align_corners):
    """Source coordinate u = (o + ½)·r − ½ clamped at 0 (r = ``scale``), or u = o·(in − 1)/(out − 1) with
    ``align_corners``; A[o, ⌊u⌋] = 1 − λ and A[o, ⌊u⌋ + 1] = λ with λ = u − ⌊u⌋ (indices clamped to in − 1)."""
    o = np.arange(out)
    if align_corners:
        u = o * ((size - 1) / (out - 1) if out > 1 else 0.0)
    else:
        u = np.maximum((o + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(u).astype(np.int64), size - 1)
    i1 = np.minimum(i0 + 1, size - 1)
    lam = u - i0
    a = np.zeros((out, size))
    np.add.at(a, (o, i0), 1.0 - lam)
    np.add.at(a, (o, i1), lam)
    return a


def upsample_size(size, scale_factor):
    """⌊size·scale_factor⌋, torch's output size for a scale factor."""
    return int(np.floor(size * scale_factor))
