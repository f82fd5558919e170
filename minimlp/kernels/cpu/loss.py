"""The squared-error loss compiled for the CPU: the difference and its sum of squares (float64) in one pass."""
import numba
import numpy as np
from numba import prange

from . import pool
from .elementwise import GRAIN, scaled

_jit = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
_parallel = numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy", boundscheck=False)

LOSS_ROWS = 64  # rows per chunk of the loss sum; the chunks' sums are added in order


@_jit
def _difference_squares(p, t, diff, partial, c):
    acc = np.zeros(p.shape[1], dtype=np.float64)                # one running sum per column: a loop that vectorises
    for r in range(c * LOSS_ROWS, min((c + 1) * LOSS_ROWS, p.shape[0])):
        p_row, t_row, d_row = p[r], t[r], diff[r]
        for j in range(p_row.size):
            d_row[j] = p_row[j] - t_row[j]                      # ŷ − y, kept for the gradient
        for j in range(p_row.size):
            d = np.float64(d_row[j])
            acc[j] += d * d                                     # Σ (ŷ − y)², in float64
    partial[c] = acc.sum()


@_jit
def _difference_squares_serial(p, t, diff, partial):
    for c in range(partial.size):
        _difference_squares(p, t, diff, partial, c)


@_parallel
def _difference_squares_parallel(p, t, diff, partial):
    for c in prange(partial.size):
        _difference_squares(p, t, diff, partial, c)


def squared_error(prediction, target, scale=1.0):
    """(ŷ − y, scale·Σ (ŷ − y)²) for 2-d arrays, in one pass; the sum accumulated in float64.

    Rows are taken in fixed chunks of ``LOSS_ROWS`` whose sums are added in
    order, so the value does not depend on the number of threads.
    """
    diff = np.empty_like(prediction)
    chunks = -(-prediction.shape[0] // LOSS_ROWS)
    partial = np.zeros(chunks, dtype=np.float64)
    parts = min(pool.pieces(prediction.size, GRAIN), chunks)
    if parts == 1:
        _difference_squares_serial(prediction, target, diff, partial)
    else:
        pool.launch(parts, _difference_squares_parallel, prediction, target, diff, partial)
    return diff, float(partial.sum()) * scale


def squared_error_backward(diff, scale):
    """2(ŷ − y)·scale, as ``formulas.loss.squared_error_backward``."""
    return scaled(diff, 2.0 * scale)
