"""3-d pooling as one gather: every window of the volume read at once, then reduced.

Along each axis, output o reads the inputs index[o, j] for its taps j where valid[o, j]: for a pooling window
index = o·s + j·d − p (valid inside the input; the padding is read as nothing), for an adaptive bin torch's
⌊o·size/out⌋ ≤ i < ⌈(o + 1)·size/out⌉ (``resample.adaptive_average``). The volume's windows are their product:
flat[d, h, w, k] = (i_D·H + i_H)·W + i_W, the position in the input volume of tap k = (j_D·k_H + j_H)·k_W + j_W
(row-major kernel order), and x's (N, C, D_out, H_out, W_out, K) windows are one gather of the flattened volume.
The maximum is the first in kernel order (or the last NaN: torch's CPU kernel takes every NaN it meets as the new
maximum), and its position is torch's index. Backward scatters with one ``bincount``: ∂L/∂x[p] = Σ G over the
outputs whose maximum sat at p, or Σ G/D over the windows that hold p (the mean). The windows are built in NumPy,
once per input size.
"""
import numpy as np

from ..backend import get_array_module
from .resample import adaptive_average


def pooling_windows(size, kernel, stride, padding, dilation, ceil_mode, count_include_pad=True):
    """One axis of a pooling window: (index, valid, count), index and valid (out, k), count (out,) the divisor's
    factor (torch's: the window cut at size + p with ``count_include_pad``, else its inputs). out =
    ⌊(size + 2p − d(k − 1) − 1)/s⌋ + 1, or with ``ceil_mode`` ⌈·⌉ + 1, less one if the last window would start
    past the input and its left padding (out < 1: the input is too small)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    start = np.arange(max(out, 0)) * stride - padding
    index = start[:, None] + np.arange(kernel) * dilation
    valid = (index >= 0) & (index < size)
    end = np.minimum(start + kernel, size + padding)
    count = end - start if count_include_pad else np.minimum(end, size) - np.maximum(start, 0)
    return np.clip(index, 0, size - 1), valid, count


def adaptive_windows(size, out):
    """One axis of torch's adaptive bins: (index, valid, count), count the bin's length."""
    taps = adaptive_average(size, out)
    return taps.index, taps.used, taps.used.sum(axis=1)


def volume_windows(axes, shape):
    """(flat, valid): (D_out, H_out, W_out, K) positions (i_D·H + i_H)·W + i_W in the input volume of each
    window's taps and whether each is inside; ``axes`` the three axes' (index, valid, count), ``shape`` (D, H, W)."""
    (i_d, v_d, _), (i_h, v_h, _), (i_w, v_w, _) = axes
    _, h, w = shape
    flat = (i_d[:, None, None, :, None, None] * h + i_h[None, :, None, None, :, None]) * w \
        + i_w[None, None, :, None, None, :]
    valid = v_d[:, None, None, :, None, None] & v_h[None, :, None, None, :, None] & v_w[None, None, :, None, None, :]
    out = flat.shape[:3]
    return flat.reshape(out + (-1,)), valid.reshape(out + (-1,))


def inverse_divisor(axes, divisor_override, dtype):
    """1/D per output (D_out, H_out, W_out): D = c_D ⊗ c_H ⊗ c_W, the axes' counts, or ``divisor_override``
    (then a number)."""
    if divisor_override is not None:
        return 1.0 / int(divisor_override)
    c_d, c_h, c_w = (a[2] for a in axes)
    count = c_d[:, None, None] * c_h[None, :, None] * c_w[None, None, :]
    return (1.0 / count).astype(dtype)


def _per(a):
    """The size of one (n, c) slice of a (N, C, …) array (N may be 0)."""
    return int(np.prod(a.shape[2:]))


def _windows(x, flat):
    """x's windows (N, C, D_out, H_out, W_out, K): one gather of each flattened (N, C) volume."""
    n, c, d, h, w = x.shape
    return x.reshape(n, c, d * h * w)[:, :, flat]


def max_pool(x, flat, valid):
    """y = the maximum over each window's inside taps and its position (int64, torch's index): the first in kernel
    order, or the last NaN where the window holds one. Returns (y, positions)."""
    xp = get_array_module(x)
    windows = _windows(x, flat)
    every = bool(valid.all())
    key = windows if every else xp.where(valid, windows, xp.asarray(-np.inf, dtype=x.dtype))
    k = xp.argmax(key, axis=-1)
    if not every:   # a window whose inside is all −∞ (or whose first taps are padding): its first inside tap
        inside = xp.take_along_axis(xp.broadcast_to(valid, key.shape), k[..., None], axis=-1)[..., 0]
        k = xp.where(inside, k, xp.argmax(valid, axis=-1))
    if x.dtype.kind == "f":
        nan = xp.isnan(key)
        last_nan = key.shape[-1] - 1 - xp.argmax(nan[..., ::-1], axis=-1)
        k = xp.where(nan.any(axis=-1), last_nan, k)
    y = xp.take_along_axis(windows, k[..., None], axis=-1)[..., 0]
    positions = xp.take_along_axis(xp.broadcast_to(flat, windows.shape), k[..., None], axis=-1)[..., 0]
    return y, positions.astype(np.int64, copy=False)


def max_pool_backward(g, positions, in_shape):
    """∂L/∂x[n, c, p] = Σ G[n, c, o] over the outputs o whose maximum sat at position p (windows may overlap)."""
    xp = get_array_module(g)
    n, c = g.shape[:2]
    volume = int(np.prod(in_shape[2:]))
    where = (positions.reshape(n * c, _per(positions)) + xp.arange(n * c)[:, None] * volume).ravel()
    dx = xp.bincount(where, weights=g.reshape(-1), minlength=n * c * volume)[:n * c * volume]
    return dx.astype(g.dtype, copy=False).reshape(in_shape)


def avg_pool(x, flat, valid, inverse_divisor):
    """y = (1/D)·Σ over each window's inside taps."""
    xp = get_array_module(x)
    windows = _windows(x, flat)
    if not bool(valid.all()):
        windows = xp.where(valid, windows, xp.asarray(0, dtype=x.dtype))
    return windows.sum(axis=-1) * inverse_divisor


def avg_pool_backward(g, flat, valid, inverse_divisor, in_shape):
    """∂L/∂x[n, c, p] = Σ G[n, c, o]/D[o] over the windows o that hold p inside."""
    xp = get_array_module(g)
    n, c = g.shape[:2]
    volume = int(np.prod(in_shape[2:]))
    out, taps = xp.nonzero(valid.reshape(-1, valid.shape[-1]))   # every (window, inside tap) pair
    targets = flat.reshape(-1, flat.shape[-1])[out, taps]
    share = (g * inverse_divisor).reshape(n * c, _per(g))[:, out]
    where = (targets[None, :] + xp.arange(n * c)[:, None] * volume).ravel()
    dx = xp.bincount(where, weights=share.reshape(-1), minlength=n * c * volume)[:n * c * volume]
    return dx.astype(g.dtype, copy=False).reshape(in_shape)


def max_unpool(x, indices, out_size):
    """y = zeros (N, C) + ``out_size`` with y[n, c].flat[indices[n, c, …]] = x[n, c, …] (MaxPool3d's inverse on
    its maxima)."""
    xp = get_array_module(x)
    n, c = x.shape[:2]
    volume = int(np.prod(out_size))
    y = xp.zeros((n * c, volume), dtype=x.dtype)
    per = _per(x)
    y[xp.arange(n * c)[:, None], indices.reshape(n * c, per)] = x.reshape(n * c, per)
    return y.reshape((n, c) + tuple(out_size))


def max_unpool_backward(g, indices):
    """∂L/∂x[n, c, …] = G[n, c].flat[indices[n, c, …]]."""
    xp = get_array_module(g)
    n, c = g.shape[:2]
    rows = g.reshape(n * c, _per(g))
    return rows[xp.arange(n * c)[:, None], indices.reshape(n * c, _per(indices))].reshape(indices.shape)
