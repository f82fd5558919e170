"""The exact GELU compiled for the CPU: y = x·Φ(x) = ½x(1 + erf(x/√2)) and ∂L/∂x = G·(Φ(x) + x·φ(x)), one pass each.

The formula (``formulas.gelu``) evaluates erf as 15-term polynomials gathered per element (about ten passes over
memory); here each element calls the C library's erf (and exp) once, in float64, and the result is rounded to the
array's dtype. Flat arrays are cut into pieces run side by side on minimlp's pool. The tanh form stays the formula:
NumPy's SIMD tanh is faster than the scalar libm call made here (docs/kernels.md).
"""
import math

import numba
import numpy as np
from numba import prange

from . import pool

_jit = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
_parallel = numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy", boundscheck=False)

GRAIN = 1 << 15  # elements per thread at least
SQRT_HALF = math.sqrt(0.5)
PDF_SCALE = 1 / math.sqrt(2 * math.pi)       # φ(x) = e^{−x²/2}/√(2π)


@_jit
def _forward(x, y):
    for i in range(x.size):
        v = np.float64(x[i])
        y[i] = 0.5 * v * (1.0 + math.erf(v * SQRT_HALF))                      # ½x(1 + erf(x/√2))


@_jit
def _backward(g, x, dx):
    for i in range(x.size):
        v = np.float64(x[i])
        d = 0.5 * (1.0 + math.erf(v * SQRT_HALF)) + v * PDF_SCALE * math.exp(-0.5 * v * v)   # Φ(x) + x·φ(x)
        dx[i] = g[i] * d


@_parallel
def _forward_pieces(pieces, x, y):
    n = x.size
    for i in prange(pieces):
        lo, hi = n * i // pieces, n * (i + 1) // pieces
        _forward(x[lo:hi], y[lo:hi])


@_parallel
def _backward_pieces(pieces, g, x, dx):
    n = g.size
    for i in prange(pieces):
        lo, hi = n * i // pieces, n * (i + 1) // pieces
        _backward(g[lo:hi], x[lo:hi], dx[lo:hi])


def gelu(x, approximate):
    """(y, x), as ``formulas.gelu.gelu`` with ``approximate="none"``, on C-contiguous ``x``."""
    y = np.empty(x.shape, dtype=x.dtype)
    pool.flat(_forward, _forward_pieces, GRAIN, x.reshape(-1), y.reshape(-1))
    return y, x


def gelu_backward(g, x, approximate):
    """G·(Φ(x) + x·φ(x)), as ``formulas.gelu.gelu_backward`` with ``approximate="none"``, on C-contiguous ``g``, ``x``."""
    dx = np.empty(g.shape, dtype=g.dtype)
    pool.flat(_backward, _backward_pieces, GRAIN, g.reshape(-1), x.reshape(-1), dx.reshape(-1))
    return dx
