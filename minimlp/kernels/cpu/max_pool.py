"""MaxPool2d in training on the CPU: each gradient routed to its window's maximum in one compiled pass over the
planes (n, c), in pieces over threads. The backward finds in each window the first position, in row-major
kernel order, that holds the maximum (ties as the formula; a NaN maximum routes to the last NaN, as torch).

The forward is the formula's (a chain of element-wise maxima, one vectorised pass per kernel offset), but for
2x2 windows at stride 2 tiling an even-sized image (the U-Net's poolings): there a row pair is read once, its
even and odd columns de-interleaved by shuffles, and the backward writes each window's four gradients in the
same way, with no zeroing pass.
"""
import numba
import numpy as np
from numba import prange

from ...formulas import pooling as formula
from . import pool

_parallel = numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy", boundscheck=False)

GRAIN = 1 << 14  # input elements per thread at least


@numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
def _route_plane(src, best, g, dx, geometry):
    # dx (zeroed here) += each g[i, j] at the first input position of its window (src is padded) equal to best[i, j]
    H, W, kh, kw, sh, sw, dh, dw, ph, pw = geometry
    dx[:] = 0
    for i in range(best.shape[0]):
        for j in range(best.shape[1]):
            b = best[i, j]
            at_r, at_c = -1, -1
            for p in range(kh):
                r = i * sh + p * dh
                if r < ph or r >= H + ph:      # the padding is never the maximum's position (as torch)
                    continue
                for q in range(kw):
                    c = j * sw + q * dw
                    if c < pw or c >= W + pw:
                        continue
                    v = src[r, c]
                    if b != b:                 # a NaN maximum: the last NaN, as torch
                        if v != v:
                            at_r, at_c = r, c
                    elif v == b:
                        at_r, at_c = r, c
                        break
                if at_r >= 0 and b == b:
                    break
            if at_r >= 0:
                dx[at_r - ph, at_c - pw] += g[i, j]


@numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False, inline="never")
def _max_pairs(y, x, rows, wo):
    # y[r, j] = max(x[2r, 2j], x[2r, 2j + 1], x[2r + 1, 2j], x[2r + 1, 2j + 1]) over flat rows r of all planes,
    # each maximum NaN if one of the four is (as np.maximum in the formula's order)
    w = 2 * wo
    for r in range(rows):
        top = 2 * r * w
        for j in range(wo):
            best = x[top + 2 * j]
            for v in (x[top + 2 * j + 1], x[top + w + 2 * j], x[top + w + 2 * j + 1]):
                best = best if (best != best) | (best >= v) else v
            y[r * wo + j] = best


@numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False, inline="never")
def _route_pairs(dx, x, best, g, rows, wo):
    # dx's four values under each window: g at the first of them equal to the maximum, in row-major order (at the
    # last NaN where the maximum is NaN), zeros elsewhere; written, not added
    w = 2 * wo
    zero = dx.dtype.type(0)
    for r in range(rows):
        top = 2 * r * w
        for j in range(wo):
            k = r * wo + j
            b, gk = best[k], g[k]
            a0, a1, a2, a3 = x[top + 2 * j], x[top + 2 * j + 1], x[top + w + 2 * j], x[top + w + 2 * j + 1]
            nan = b != b      # hits: the values equal to the maximum, or the NaNs where it is NaN
            h0 = (a0 == b) | (nan & (a0 != a0))
            h1 = (a1 == b) | (nan & (a1 != a1))
            h2 = (a2 == b) | (nan & (a2 != a2))
            h3 = (a3 == b) | (nan & (a3 != a3))
            first = not nan   # the first hit, or the last where the maximum is NaN (no branch: LLVM vectorises)
            t0 = (first & h0) | (nan & (not (h1 | h2 | h3)))
            t1 = (first & h1 & (not h0)) | (nan & h1 & (not (h2 | h3)))
            t2 = (first & h2 & (not (h0 | h1))) | (nan & h2 & (not h3))
            t3 = (first & (not (h0 | h1 | h2))) | (nan & h3)
            dx[top + 2 * j] = gk if t0 else zero
            dx[top + 2 * j + 1] = gk if t1 else zero
            dx[top + w + 2 * j] = gk if t2 else zero
            dx[top + w + 2 * j + 1] = gk if t3 else zero


@_parallel
def _pairs_forward(pieces, y, x, rows, wo):
    for p in prange(pieces):
        lo, hi = rows * p // pieces, rows * (p + 1) // pieces
        _max_pairs(y[lo * wo:hi * wo], x[lo * 4 * wo:hi * 4 * wo], hi - lo, wo)


@_parallel
def _pairs_backward(pieces, dx, x, best, g, rows, wo):
    for p in prange(pieces):
        lo, hi = rows * p // pieces, rows * (p + 1) // pieces
        _route_pairs(dx[lo * 4 * wo:hi * 4 * wo], x[lo * 4 * wo:hi * 4 * wo], best[lo * wo:hi * wo],
                     g[lo * wo:hi * wo], hi - lo, wo)


def _tiled_pairs(shape, geometry):
    """2x2 windows at stride 2, no padding or dilation, over an even (non-zero) height and width: each value in
    one window."""
    return (geometry.kernel == (2, 2) and geometry.stride == (2, 2) and geometry.dilation == (1, 1)
            and not any(geometry.pads) and shape[2] % 2 == 0 and shape[3] % 2 == 0 and shape[2] * shape[3] > 0)


@_parallel
def _route(pieces, src, best, g, dx, geometry):
    planes = g.shape[0]
    for p in prange(pieces):
        for k in range(planes * p // pieces, planes * (p + 1) // pieces):
            _route_plane(src[k], best[k], g[k], dx[k], geometry)


def max_pool2d(x, geometry, scratch):
    """The formula's forward, or for 2x2 windows tiling the image the compiled one; both keep (the input's shape,
    the padded input, the maxima) for the backward."""
    if not _tiled_pairs(x.shape, geometry):
        return formula.max_pool2d(x, geometry, scratch)
    n, c, h, w = x.shape
    y = np.empty((n, c, h // 2, w // 2), dtype=x.dtype)
    rows = n * c * (h // 2)
    pieces = pool.pieces(rows, max(1, GRAIN // (2 * w)))
    pool.launch(pieces, _pairs_forward, pieces, y.reshape(-1), x.reshape(-1), rows, w // 2)
    return y, (tuple(x.shape), x, y)


def max_pool2d_backward(g, saved, geometry, scratch):
    in_shape, src, best = saved
    n, c, h, w = in_shape
    g = np.ascontiguousarray(g)
    dx = np.empty(in_shape, dtype=g.dtype)
    if _tiled_pairs(in_shape, geometry) and src.flags.c_contiguous and best.flags.c_contiguous:
        rows = n * c * (h // 2)
        pieces = pool.pieces(rows, max(1, GRAIN // (2 * w)))
        pool.launch(pieces, _pairs_backward, pieces, dx.reshape(-1), src.reshape(-1), best.reshape(-1),
                    g.reshape(-1), rows, w // 2)
        return dx
    planes = n * c
    layout = (h, w, *geometry.kernel, *geometry.stride, *geometry.dilation, geometry.pads[0], geometry.pads[2])
    pieces = pool.pieces(planes, max(1, GRAIN // max(1, h * w)))
    pool.launch(pieces, _route, pieces, src.reshape(planes, *src.shape[2:]), best.reshape(planes, *best.shape[2:]),
                g.reshape(planes, *g.shape[2:]), dx.reshape(planes, h, w), layout)
    return dx
