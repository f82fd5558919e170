"""Max and average pooling over kh x kw windows, as loops over the kernel offsets (one strided pass each).

Windows: y[n, c, h, w] reads x̃[n, c, h·s + i·d, w·s + j·d] for the kernel offsets (i, j), x̃ being x
padded (with −∞ for the maximum, zeros for the mean). Backward adds each output's share of G back at
the window positions it came from, then crops the padding. ``geometry`` is a ``conv.Geometry`` (kernel,
stride, dilation, pads (top, bottom, left, right)); with ``ceil_mode`` the bottom and right pads hold the
extra rows and columns the last windows reach past the input. ``scratch`` keeps the padded buffers from step
to step. Max unpooling puts values back at the positions ``max_pool2d_indices`` names.
"""
import numpy as np

from ..backend import get_array_module
from .conv import Geometry
from .im2col import window


def _windows(geometry, ho, wo):
    """(offset number, row slice, column slice) for each kernel offset, over the padded input."""
    (kh, kw), (sh, sw), (dh, dw) = geometry.kernel, geometry.stride, geometry.dilation
    return [(i * kw + j, window(i, dh, sh, ho), window(j, dw, sw, wo)) for i in range(kh) for j in range(kw)]


def _padded(x, geometry, fill, scratch):
    pt, pb, pl, pr = geometry.pads
    if not any(geometry.pads):
        return x
    n, c, h, w = x.shape
    buf = scratch.get("padded", (n, c, h + pt + pb, w + pl + pr), x, fill=fill)
    buf[:, :, pt:pt + h, pl:pl + w] = x
    return buf


def _scatter(g, parts, in_shape, geometry, scratch):
    """∂L/∂x from per-offset contributions: Σ over offsets of ``parts(k)`` added at its window, cropped."""
    xp = get_array_module(g)
    n, c, h, w = in_shape
    pt, pb, pl, pr = geometry.pads
    dpad = scratch.get("dpadded", (n, c, h + pt + pb, w + pl + pr), g)
    dpad.fill(0)
    for k, rows, cols in _windows(geometry, g.shape[2], g.shape[3]):
        dpad[:, :, rows, cols] += parts(k)
    dx = xp.empty(in_shape, dtype=g.dtype)
    dx[...] = dpad[:, :, pt:pt + h, pl:pl + w]
    return dx


def pool_geometry(h, w, kernel, stride, padding, dilation, ceil_mode):
    """The ``Geometry`` of a pooling of an H x W input, as torch sizes it: H_out = ⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1,
    or with ``ceil_mode`` ⌈·⌉ + 1 less one when the last window would start past the input and its left padding;
    the rows and columns the last windows then reach past H + 2p are added to the bottom and right pads."""
    pads = []
    for size, k, s, p, d in zip((h, w), kernel, stride, padding, dilation):
        span = size + 2 * p - d * (k - 1) - 1
        out = (span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (out - 1) * s >= size + p:
            out -= 1
        pads += [p, p + max(0, (out - 1) * s - span)]
    return Geometry(kernel, stride, dilation, pads, 1)


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
    hits = _routes(src, best, in_shape, geometry, scratch.get("hit", g.shape, g, dtype=np.bool_),
                   scratch.get("free", g.shape, g, dtype=np.bool_))
    part = scratch.get("part", g.shape, g)

    def routed(k):
        _, hit = next(hits)                    # offsets come in the scatter's order
        return xp.multiply(g, hit, out=part)
    return _scatter(g, routed, in_shape, geometry, scratch)


def _routes(src, best, in_shape, geometry, hit, free):
    """For each kernel offset k in row-major order, (k, where the window's maximum is routed to offset k): the
    first offset holding the maximum, the last NaN where the maximum is NaN, never the padding (torch's CPU
    kernel). ``hit`` and ``free`` are boolean buffers of the output's shape, ``hit`` yielded (valid until the
    next offset)."""
    xp = get_array_module(best)
    windows = {k: (rows, cols) for k, rows, cols in _windows(geometry, best.shape[2], best.shape[3])}
    last_nan = _last_nan(src, best, windows)
    inside = _inside(in_shape, geometry, xp) if any(geometry.pads) else None
    free.fill(True)                                 # windows whose maximum is not yet found
    for k, (rows, cols) in windows.items():
        xp.equal(src[:, :, rows, cols], best, out=hit)
        if last_nan is not None:
            xp.logical_or(hit, last_nan == k, out=hit)
        if inside is not None:                 # the padding is never the maximum's position (as torch: −∞ inputs)
            xp.logical_and(hit, inside[rows, cols], out=hit)
        xp.logical_and(hit, free, out=hit)
        xp.logical_xor(free, hit, out=free)
        yield k, hit


def _inside(in_shape, geometry, xp):
    """The padded plane's positions that hold input (True) rather than padding."""
    pt, pb, pl, pr = geometry.pads
    h, w = in_shape[2:]
    inside = xp.zeros((h + pt + pb, w + pl + pr), dtype=bool)
    inside[pt:pt + h, pl:pl + w] = True
    return inside


def _last_nan(src, best, windows):
    """Where a window's maximum is NaN, the offset of its last NaN (torch's CPU kernel takes every NaN it meets
    as the new maximum); −1 elsewhere. None where no maximum can be NaN: an integer dtype, or NumPy data without a
    NaN (asking is free on the host; on a GPU the offsets are always computed, as asking would wait for it)."""
    xp = get_array_module(best)
    if best.dtype.kind != "f" or (xp is np and not np.isnan(best).any()):
        return None
    last = xp.full(best.shape, -1, dtype=np.int32)
    for k, (rows, cols) in windows.items():
        xp.copyto(last, k, where=xp.isnan(src[:, :, rows, cols]))
    return last


def avg_pool_inverse_divisor(x, geometry, count_include_pad, divisor_override):
    """1/D per output, as torch: D = ``divisor_override``, or the window's size within the padded input (padding
    counted: the window cut at H + p, so ``ceil_mode``'s extra rows do not count), or the number of input pixels
    in it (padding not counted). A number, or an (H_out, W_out) array (the counts are separable per axis)."""
    if divisor_override is not None:
        return 1.0 / int(divisor_override)
    (kh, kw), (sh, sw), (pt, _, pl, _) = geometry.kernel, geometry.stride, geometry.pads
    h, w = x.shape[2], x.shape[3]
    ho, wo = geometry.conv_output(h, w)

    def counts(size, k, s, p, out):
        start = np.arange(out) * s - p
        end = np.minimum(start + k, size + p)
        return end - start if count_include_pad else np.minimum(end, size) - np.maximum(start, 0)
    count = np.outer(counts(h, kh, sh, pt, ho), counts(w, kw, sw, pl, wo))
    if np.all(count == kh * kw):
        return 1.0 / (kh * kw)
    return get_array_module(x).asarray((1.0 / count).astype(x.dtype))


def max_pool2d_indices(saved, geometry):
    """torch's ``return_indices``: for each output, h·W + w of the input position its maximum came from (the
    position the backward routes to: the first in row-major kernel order on ties, the last NaN where the maximum
    is NaN), in the unpadded input's plane; int64."""
    xp = get_array_module(saved[1])
    in_shape, src, best = saved
    w = in_shape[3]
    ho, wo = best.shape[2], best.shape[3]
    (_, kw), (sh, sw), (dh, dw), (pt, _, pl, _) = geometry.kernel, geometry.stride, geometry.dilation, geometry.pads
    indices = xp.zeros(best.shape, dtype=np.int64)
    hits = _routes(src, best, in_shape, geometry, xp.empty(best.shape, np.bool_), xp.empty(best.shape, np.bool_))
    for k, hit in hits:
        i, j = divmod(k, kw)
        plane = (xp.arange(ho) * sh + i * dh - pt)[:, None] * w + (xp.arange(wo) * sw + j * dw - pl)[None, :]
        xp.copyto(indices, plane, where=hit)
    return indices


def max_unpool2d(x, indices, out_hw):
    """y = zeros (N, C, H_out, W_out) with y[n, c].flat[indices[n, c, h, w]] = x[n, c, h, w] (MaxPool2d's inverse
    on its maxima)."""
    xp = get_array_module(x)
    n, c = x.shape[:2]
    y = xp.zeros((n * c, out_hw[0] * out_hw[1]), dtype=x.dtype)
    y[xp.arange(n * c)[:, None], indices.reshape(n * c, -1)] = x.reshape(n * c, -1)
    return y.reshape((n, c) + tuple(out_hw))


def max_unpool2d_backward(g, indices):
    """∂L/∂x[n, c, h, w] = G[n, c].flat[indices[n, c, h, w]]."""
    xp = get_array_module(g)
    n, c = g.shape[:2]
    return g.reshape(n * c, -1)[xp.arange(n * c)[:, None], indices.reshape(n * c, -1)].reshape(indices.shape)


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
