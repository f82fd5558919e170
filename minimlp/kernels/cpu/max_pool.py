"""MaxPool2d on the CPU in training: each plane's window maxima and where they are, then the gradient routed
to those positions; planes (n, c) in pieces over threads. The same answers as ``formulas.pooling`` (the first
maximum in row-major kernel order on ties), and a NaN in a window is its maximum, as torch has it.
"""
import numba
import numpy as np
from numba import prange

from . import pool

_jit = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
_parallel = numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy", boundscheck=False)

GRAIN = 1 << 14  # input elements per thread at least


@_jit
def _forward_plane(x, y, at, geometry):
    # y[i, j] = the window's maximum, at[i, j] its flat position in the plane
    H, W, Ho, Wo, kh, kw, sh, sw, dh, dw, ph, pw = geometry
    for i in range(Ho):
        for j in range(Wo):
            best = x[0, 0]
            where = -1
            for p in range(kh):
                r = i * sh + p * dh - ph
                if r < 0 or r >= H:
                    continue
                for q in range(kw):
                    c = j * sw + q * dw - pw
                    if c < 0 or c >= W:
                        continue
                    v = x[r, c]
                    if where < 0 or v > best or (v != v and best == best):
                        best = v
                        where = r * W + c
            y[i, j] = best
            at[i, j] = where


@_parallel
def _forward(pieces, x, y, at, geometry):
    planes = x.shape[0]
    for p in prange(pieces):
        for k in range(planes * p // pieces, planes * (p + 1) // pieces):
            _forward_plane(x[k], y[k], at[k], geometry)


@_parallel
def _backward(pieces, g, at, dx):
    planes = g.shape[0]
    for p in prange(pieces):
        for k in range(planes * p // pieces, planes * (p + 1) // pieces):
            plane = dx[k].reshape(-1)
            plane[:] = 0
            gk, ak = g[k].reshape(-1), at[k].reshape(-1)
            for i in range(gk.size):
                plane[ak[i]] += gk[i]


def _layout(x, geometry):
    ho, wo = geometry.conv_output(x.shape[2], x.shape[3])
    return (x.shape[2], x.shape[3], ho, wo, *geometry.kernel, *geometry.stride, *geometry.dilation,
            geometry.pads[0], geometry.pads[2])


def max_pool2d(x, geometry, scratch):
    layout = _layout(x, geometry)
    n, c, h, w = x.shape
    y = np.empty((n, c, layout[2], layout[3]), dtype=x.dtype)
    at = np.empty(y.shape, dtype=np.int32)
    planes = n * c
    pieces = pool.pieces(planes, max(1, GRAIN // max(1, h * w)))
    pool.launch(pieces, _forward, pieces, x.reshape(planes, h, w), y.reshape(planes, *y.shape[2:]),
                at.reshape(planes, *y.shape[2:]), layout)
    return y, (x.shape, at)


def max_pool2d_backward(g, saved, geometry, scratch):
    shape, at = saved
    n, c, h, w = shape
    g = np.ascontiguousarray(g)
    dx = np.empty(shape, dtype=g.dtype)
    planes = n * c
    pieces = pool.pieces(planes, max(1, GRAIN // max(1, h * w)))
    pool.launch(pieces, _backward, pieces, g.reshape(planes, -1), at.reshape(planes, -1), dx.reshape(planes, -1))
    return dx
