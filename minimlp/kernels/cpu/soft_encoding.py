"""Soft encoding compiled for the CPU: each point's k nearest centres in one pass over the centres."""
import numba
import numpy as np
from numba import prange

from . import pool

_jit = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)


@_jit
def _nearest(points, centres, k, inv_two_sigma2, idx, weights, lo, hi):
    best_d = np.empty(k, dtype=np.float64)
    best_i = np.empty(k, dtype=np.int64)
    for m in range(lo, hi):
        u, v = np.float64(points[m, 0]), np.float64(points[m, 1])
        best_d[:] = np.inf
        best_i[:] = -1
        for q in range(centres.shape[0]):
            du, dv = u - centres[q, 0], v - centres[q, 1]
            d = du * du + dv * dv
            if d < best_d[k - 1]:
                j = k - 1
                while j > 0 and best_d[j - 1] > d:
                    best_d[j] = best_d[j - 1]
                    best_i[j] = best_i[j - 1]
                    j -= 1
                best_d[j] = d
                best_i[j] = q
        total = 0.0
        for j in range(k):
            total += np.exp((best_d[0] - best_d[j]) * inv_two_sigma2)
        for j in range(k):
            idx[m, j] = best_i[j]
            weights[m, j] = np.exp((best_d[0] - best_d[j]) * inv_two_sigma2) / total


@numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy", boundscheck=False)
def _nearest_pieces(pieces, points, centres, k, inv_two_sigma2, idx, weights):
    m = points.shape[0]
    for p in prange(pieces):
        _nearest(points, centres, k, inv_two_sigma2, idx, weights, m * p // pieces, m * (p + 1) // pieces)


def soft_encode(points, centres, k, sigma):
    """(indices (M, k), weights (M, k) in points' dtype) for (M, 2) ``points`` and (Q, 2) ``centres``."""
    points, centres = np.ascontiguousarray(points), np.asarray(centres, dtype=np.float64)
    idx = np.empty((len(points), k), dtype=np.int64)
    weights = np.empty((len(points), k), dtype=points.dtype)
    c = 0.5 / sigma ** 2
    parts = pool.pieces(len(points), 4096)
    if parts == 1:
        _nearest(points, centres, k, c, idx, weights, 0, len(points))
    else:
        pool.launch(parts, _nearest_pieces, parts, points, centres, k, c, idx, weights)
    return idx, weights
