"""Max and average pooling over kh x kw windows, as loops over the kernel offsets (one strided pass each).

Windows: y[n, c, h, w] reads x̃[n, c, h·s + i·d, w·s + j·d] for the kernel offsets (i, j), x̃ being x
padded (with −∞ for the maximum, zeros for the mean). Backward adds each output's share of G back at
the window positions it came from, then crops the padding. ``geometry`` is a ``conv.Geometry`` (kernel,
stride, dilation, pads); ``scratch`` keeps the padded buffers from step to step.
"""
import numpy as np

from ..backend import get_array_module
from .im2col import window


def _windows(geometry, ho, wo):
    """(offset number, row slice, column slice) for each kernel offset, over the padded input."""
    (kh, kw), (sh, sw), (dh, dw) = geometry.kernel, geometry.stride, geometry.dilation
    return [(i * kw + j, window(i, dh, sh, ho), window(j, dw, sw, wo)) for i in range(kh) for j in range(kw)]


def _padded(x, geometry, fill, scratch):
    ph, pw = geometry.pads[0], geometry.pads[2]
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    buf = scratch.get("padded", (n, c, h + 2 * ph, w + 2 * pw), x, fill=fill)
    buf[:, :, ph:ph + h, pw:pw + w] = x
    return buf


def _scatter(g, parts, in_shape, geometry, scratch):
    """∂L/∂x from per-offset contributions: Σ over offsets of ``parts(k)`` added at its window, cropped."""
    xp = get_array_module(g)
    n, c, h, w = in_shape
    ph, pw = geometry.pads[0], geometry.pads[2]
    dpad = scratch.get("dpadded", (n, c, h + 2 * ph, w + 2 * pw), g)
    dpad.fill(0)
    for k, rows, cols in _windows(geometry, g.shape[2], g.shape[3]):
        dpad[:, :, rows, cols] += parts(k)
    dx = xp.empty(in_shape, dtype=g.dtype)
    dx[...] = dpad[:, :, ph:ph + h, pw:pw + w]
    return dx


def max_pool2d(x, geometry, scratch):
    """y = max over each window of x̃ (padded with −∞), as a chain of element-wise maxima. Returns (y, saved)."""
    xp = get_array_module(x)
    ho, wo = geometry.conv_output(x.shape[2], x.shape[3])
    src = _padded(x, geometry, -np.inf, scratch)
    best = None
    for _, rows, cols in _windows(geometry, ho, wo):
        if best is None:
            best = xp.array(src[:, :, rows, cols])
        else:
            xp.maximum(best, src[:, :, rows, cols], out=best)
    return best, (tuple(x.shape), src, best)


def max_pool2d_backward(g, saved, geometry, scratch):
    """∂L/∂x: each G[n, c, h, w] routed to its window's maximum, the first in row-major kernel order on ties
    (as torch's CPU kernel), the last NaN where the maximum is NaN (as torch again); windows that overlap add up."""
    xp = get_array_module(g)
    in_shape, src, best = saved
    hit = scratch.get("hit", g.shape, g, dtype=np.bool_)
    free = scratch.get("free", g.shape, g, dtype=np.bool_)  # windows whose maximum is not yet found
    part = scratch.get("part", g.shape, g)
    free.fill(True)
    windows = {k: (rows, cols) for k, rows, cols in _windows(geometry, g.shape[2], g.shape[3])}

    last_nan = _last_nan(src, best, windows)

    def routed(k):
        rows, cols = windows[k]
        xp.equal(src[:, :, rows, cols], best, out=hit)
        if last_nan is not None:
            xp.logical_or(hit, last_nan == k, out=hit)
        xp.logical_and(hit, free, out=hit)
        xp.logical_xor(free, hit, out=free)
        return xp.multiply(g, hit, out=part)
    return _scatter(g, routed, in_shape, geometry, scratch)


def _last_nan(src, best, windows):
    """Where a window's maximum is NaN, the offset of its last NaN (torch's CPU kernel takes every NaN it meets
    as the new maximum); −1 elsewhere. None when no maximum is NaN."""
    xp = get_array_module(best)
    if best.dtype.kind != "f" or not xp.isnan(best).any():
        return None
    last = xp.full(best.shape, -1, dtype=np.int32)
    for k, (rows, cols) in windows.items():
        last[xp.isnan(src[:, :, rows, cols])] = k
    return last


def avg_pool_inverse_divisor(x, geometry, count_include_pad, divisor_override):
    """1/D per output: D = kh·kw (padding counted), the number of input pixels in the window (not counted),
    or ``divisor_override``. A number, or an (H_out, W_out) array (the counts are separable per axis)."""
    if divisor_override is not None:
        return 1.0 / int(divisor_override)
    (kh, kw), (sh, sw), ph, pw = geometry.kernel, geometry.stride, geometry.pads[0], geometry.pads[2]
    if count_include_pad or (ph, pw) == (0, 0):
        return 1.0 / (kh * kw)
    h, w = x.shape[2], x.shape[3]
    ho, wo = geometry.conv_output(h, w)

    def counts(size, k, s, p, out):
        start = np.arange(out) * s - p
        return np.minimum(start + k, size) - np.maximum(start, 0)
    inv = 1.0 / np.outer(counts(h, kh, sh, ph, ho), counts(w, kw, sw, pw, wo))
    return get_array_module(x).asarray(inv.astype(x.dtype))


def avg_pool2d(x, geometry, inverse_divisor, scratch):
    """y = (1/D)·Σ over each window of x̃ (zero-padded). Returns (y, saved)."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    ho, wo = geometry.conv_output(h, w)
    src = _padded(x, geometry, 0, scratch)
    y = xp.zeros((n, c, ho, wo), dtype=x.dtype)
    for _, rows, cols in _windows(geometry, ho, wo):
        y += src[:, :, rows, cols]
    y *= inverse_divisor
    return y, (tuple(x.shape), inverse_divisor)


def avg_pool2d_backward(g, saved, geometry, scratch):
    """∂L/∂x[window] += G/D for every window."""
    in_shape, inverse_divisor = saved
    share = g * inverse_divisor
    return _scatter(g, lambda k: share, in_shape, geometry, scratch)
