"""Softmax's backward along the last axis compiled for the CPU: ∂L/∂x = y·(G − Σ G·y), each row in two passes.

Per row of C values, Σ G·y in float64 (``row_sums``), then one loop writes ∂L/∂x: the formula takes four passes and
two temporaries. Rows are cut into pieces run side by side on minimlp's pool. The forwards and log-softmax's backward
stay the formula's: they call exp per element, which NumPy's SIMD ufunc does faster than the scalar libm call a
compiled loop makes (docs/kernels.md). Other axes stay the formula's too (``ops``: the kernel needs the last).
"""
import numba
import numpy as np
from numba import prange

from . import pool, row_sums

COMPILED_IN = ("kernels/cpu/row_sums.py",)
COMPILED_IN_SHA256 = "d1686e88f6e9ae2e"

_jit = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
_parallel = numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy", boundscheck=False)

GRAIN = 1 << 15  # elements per thread at least


@_jit
def _backward(g, y, dx, lo, hi):
    for r in range(lo, hi):
        g_row, y_row, d_row = g[r], y[r], dx[r]
        total = g.dtype.type(row_sums.dot(g_row, y_row))                    # Σ G y
        for c in range(g_row.size):
            d_row[c] = y_row[c] * (g_row[c] - total)                         # y (G − Σ G y)


@_parallel
def _backward_pieces(pieces, g, y, dx):
    n = g.shape[0]
    for i in prange(pieces):
        _backward(g, y, dx, n * i // pieces, n * (i + 1) // pieces)


def softmax_backward(g, y, dim):
    """y·(G − Σ G·y), as ``formulas.softmax.softmax_backward`` along the last axis of C-contiguous ``g`` and ``y``."""
    c = g.shape[-1]
    g2, y2, dx = g.reshape(-1, c), y.reshape(-1, c), np.empty_like(g)
    n = g2.shape[0]
    parts = pool.pieces(n, max(1, GRAIN // max(1, c)))
    if parts == 1:
        _backward(g2, y2, dx.reshape(-1, c), 0, n)
    else:
        pool.launch(parts, _backward_pieces, parts, g2, y2, dx.reshape(-1, c))
    return dx
