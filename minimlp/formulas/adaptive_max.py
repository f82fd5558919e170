"""Adaptive max pooling: output (i, j) is the maximum of torch's bin of rows h₀(i) ≤ h < h₁(i) and columns
w₀(j) ≤ w < w₁(j), h₀(i) = ⌊i·H/H_out⌋, h₁(i) = ⌈(i + 1)·H/H_out⌉ (the bins of ``resample.adaptive_average``)."""
import numpy as np

from ..backend import get_array_module


def bins(size, out):
    """(out, K) indices of each output's bin along an axis of ``size``, short bins padded with their last index
    (a repeat changes neither the maximum nor which position comes first)."""
    i = np.arange(out)
    lo, hi = (i * size) // out, -((-(i + 1) * size) // out)
    return np.minimum(lo[:, None] + np.arange(int((hi - lo).max())), hi[:, None] - 1)


def forward(x, rows, cols):
    """y[n, c, i, j] = max over the bin, and the position h·W + w of that maximum: the first in row-major order,
    or the last NaN where the bin holds one (torch's CPU kernel takes each NaN it meets as the new maximum).
    ``rows`` (H_out, K_h) and ``cols`` (W_out, K_w) from ``bins``, on x's device. Returns (y, positions)."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    grid_h, grid_w = rows[:, None, :, None], cols[None, :, None, :]
    windows = x[:, :, grid_h, grid_w]
    windows = windows.reshape(windows.shape[:4] + (rows.shape[1] * cols.shape[1],))
    k = xp.argmax(windows, axis=-1)
    if windows.dtype.kind == "f":
        nan = xp.isnan(windows)
        last_nan = windows.shape[-1] - 1 - xp.argmax(nan[..., ::-1], axis=-1)
        k = xp.where(nan.any(axis=-1), last_nan, k)
    flat = xp.broadcast_to(grid_h * w + grid_w, windows.shape[2:4] + (rows.shape[1], cols.shape[1]))
    flat = flat.reshape(windows.shape[2:])
    positions = xp.take_along_axis(xp.broadcast_to(flat, windows.shape), k[..., None], axis=-1)[..., 0]
    y = xp.take_along_axis(windows, k[..., None], axis=-1)[..., 0]
    return y, positions


def backward(g, positions, in_hw):
    """∂L/∂x[n, c, p] = Σ G[n, c, i, j] over the outputs whose maximum sat at position p (bins may overlap)."""
    xp = get_array_module(g)
    n, c = g.shape[:2]
    plane = in_hw[0] * in_hw[1]
    where = (positions.reshape(n * c, g.shape[2] * g.shape[3]) + xp.arange(n * c)[:, None] * plane).ravel()
    dx = xp.bincount(where, weights=g.reshape(-1), minlength=n * c * plane)[:n * c * plane]
    return dx.astype(g.dtype, copy=False).reshape(n, c, *in_hw)
