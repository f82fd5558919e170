"""Fractional max pooling (Graham 2014), as torch's CPU kernel: along a spatial axis of n inputs pooled to `out`
windows of k, window i starts at

    start(i) = ⌊(i + u)·α⌋ − ⌊u·α⌋ for i < out − 1,  start(out − 1) = n − k,  α = (n − k)/(out − 1),

with u ∈ [0, 1) one sample per (batch, channel, axis), all in the input's dtype (float32 rounds as torch's
kernel does). Each output is the maximum of its window (k inputs per axis from the starts): the first in
row-major order, or the last NaN where the window holds one (torch takes each NaN it meets as the new maximum);
its position in the input plane (h·W + w, or (t·H + h)·W + w) is torch's index. Backward scatters each
gradient to its maximum's position with one ``bincount`` (``pooling3d.max_pool_backward``: windows may overlap).
"""
import numpy as np

from ..backend import get_array_module
from .pooling3d import max_pool_backward


def starts(u, size, out, kernel):
    """The (…, out) int64 window starts along an axis of ``size`` for the samples u (…): ⌊(i + u)·α⌋ − ⌊u·α⌋
    (truncation, as torch's cast; u ≥ 0), the last n − k. α and the products are in u's dtype."""
    xp = get_array_module(u)
    result = xp.full(tuple(u.shape) + (out,), size - kernel, dtype=np.int64)
    if out > 1:
        real = u.dtype.type
        alpha = real(size - kernel) / real(out - 1)
        i = xp.arange(out - 1, dtype=u.dtype)
        offset = (u * alpha).astype(np.int64)
        result[..., :-1] = ((i + u[..., None]) * alpha).astype(np.int64) - offset[..., None]
    return result


def window_positions(axis_starts, kernel, shape):
    """(N, C, out₁, …, out_d, K) positions in the flattened input volume of ``shape`` (the spatial sizes) of
    each window's K = k₁·…·k_d taps, in row-major kernel order; ``axis_starts`` the (N, C, out_a) starts."""
    xp = get_array_module(axis_starts[0])
    d = len(shape)
    flat = 0
    for a, (s, k, size) in enumerate(zip(axis_starts, kernel, shape)):
        index = s[..., :, None] + xp.arange(k)                       # (N, C, out_a, k_a)
        view = [index.shape[0], index.shape[1]] + [1] * (2 * d)
        view[2 + a], view[2 + d + a] = index.shape[2], k
        flat = flat * size + index.reshape(view)
    out = flat.shape[2:2 + d]
    return flat.reshape(flat.shape[:2] + out + (int(np.prod(kernel)),))


def forward(x, samples, kernel, out_size):
    """y[n, c, o] = max over window o of plane (n, c), and its position (int64): x (N, C, *spatial), samples
    (N, C, d) in torch's layout (``samples_per_axis``), ``kernel`` and ``out_size`` d-tuples of the spatial axes.
    Returns (y, positions)."""
    xp = get_array_module(x)
    n, c = x.shape[:2]
    shape = tuple(x.shape[2:])
    per_axis = samples_per_axis(samples)
    axis_starts = [starts(per_axis[:, :, a], size, out, k)
                   for a, (size, out, k) in enumerate(zip(shape, out_size, kernel))]
    flat = window_positions(axis_starts, kernel, shape)
    planes = x.reshape(n * c, int(np.prod(shape)))
    rows = xp.arange(n * c)[:, None]
    windows = planes[rows, flat.reshape(n * c, flat.size // max(n * c, 1))].reshape(flat.shape)
    k = xp.argmax(windows, axis=-1)
    nan = xp.isnan(windows)
    last_nan = windows.shape[-1] - 1 - xp.argmax(nan[..., ::-1], axis=-1)
    k = xp.where(nan.any(axis=-1), last_nan, k)[..., None]
    y = xp.take_along_axis(windows, k, axis=-1)[..., 0]
    positions = xp.take_along_axis(flat, k, axis=-1)[..., 0]
    return y, positions


def samples_per_axis(samples):
    """torch's samples (N, C, d) reordered to one per spatial axis in axis order: the 2-d kernel reads u[…, 0]
    for the width and u[…, 1] for the height, the 3-d kernel u[…, 0], u[…, 1], u[…, 2] for T, H, W."""
    return samples[:, :, ::-1] if samples.shape[2] == 2 else samples


def backward(g, positions, in_shape):
    """∂L/∂x[n, c, p] = Σ G[n, c, o] over the outputs o whose maximum sat at position p."""
    return max_pool_backward(g, positions, in_shape)
