"""MaxPool2d's backward on the CPU: each gradient routed to its window's maximum in one compiled pass over the
planes (n, c), in pieces over threads. The forward is the formula's (a chain of element-wise maxima, already
one vectorised pass per kernel offset); the backward finds in each window the first position, in row-major
kernel order, that holds the maximum (ties as the formula; a NaN maximum routes to the last NaN, as torch).
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


@_parallel
def _route(pieces, src, best, g, dx, geometry):
    planes = g.shape[0]
    for p in prange(pieces):
        for k in range(planes * p // pieces, planes * (p + 1) // pieces):
            _route_plane(src[k], best[k], g[k], dx[k], geometry)


def max_pool2d(x, geometry, scratch):
    """The formula's forward (it keeps the padded input and the maxima this backward reads)."""
    return formula.max_pool2d(x, geometry, scratch)


def max_pool2d_backward(g, saved, geometry, scratch):
    in_shape, src, best = saved
    n, c, h, w = in_shape
    g = np.ascontiguousarray(g)
    dx = np.empty(in_shape, dtype=g.dtype)
    planes = n * c
    layout = (h, w, *geometry.kernel, *geometry.stride, *geometry.dilation, geometry.pads[0], geometry.pads[2])
    pieces = pool.pieces(planes, max(1, GRAIN // max(1, h * w)))
    pool.launch(pieces, _route, pieces, src.reshape(planes, *src.shape[2:]), best.reshape(planes, *best.shape[2:]),
                g.reshape(planes, *g.shape[2:]), dx.reshape(planes, h, w), layout)
    return dx
