"""Element-wise passes compiled for the CPU: ReLU, the activations' backward, a column sum, a scaled copy."""
import numba
import numpy as np
from numba import prange

from . import pool

_jit = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
_parallel = numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy", boundscheck=False)

GRAIN = 1 << 15  # elements per thread at least


@_jit
def _column_sums(g, out, lo, hi):
    o = out[lo:hi]
    o[:] = 0
    for r in range(g.shape[0]):
        row = g[r, lo:hi]
        for c in range(row.size):
            o[c] += row[c]                                      # Σₙ G, rows in order (as NumPy's sum(axis=0))


@_parallel
def _column_sums_pieces(pieces, g, out):
    c = g.shape[1]
    for i in prange(pieces):
        _column_sums(g, out, c * i // pieces, c * (i + 1) // pieces)


def column_sums(g, out):
    """``out[...] = g.sum(axis=0)`` for 2-d ``g`` (a Linear's bias gradient), columns cut over threads."""
    pool.by_columns(_column_sums, _column_sums_pieces, GRAIN, g, out)
    return out


@_jit
def _activation_backward(g, y, dx, one, tanh):
    if tanh:
        for i in range(g.size):
            dx[i] = (one - y[i] * y[i]) * g[i]                    # tanh: G (1 − y²)
    else:
        for i in range(g.size):
            dx[i] = (one - y[i]) * y[i] * g[i]                    # sigmoid: G y (1 − y)


@_parallel
def _activation_backward_pieces(pieces, g, y, dx, one, tanh):
    n = g.size
    for i in prange(pieces):
        lo, hi = n * i // pieces, n * (i + 1) // pieces
        _activation_backward(g[lo:hi], y[lo:hi], dx[lo:hi], one, tanh)


def _activation(g, y, tanh):
    """The kernel over flat views of C-contiguous ``g`` and ``y``."""
    dx = np.empty(g.shape, dtype=g.dtype)
    pool.flat(_activation_backward, _activation_backward_pieces, GRAIN, g.reshape(-1), y.reshape(-1), dx.reshape(-1),
          g.dtype.type(1), tanh)
    return dx


def sigmoid_backward(g, y):
    """G·y·(1 − y), as ``formulas.activation.sigmoid_backward``."""
    return _activation(g, y, False)


def tanh_backward(g, y):
    """G·(1 − y²), as ``formulas.activation.tanh_backward``."""
    return _activation(g, y, True)


@_jit
def _relu(x, y, zero):
    for i in range(x.size):
        v = x[i]
        y[i] = v if v > zero or v != v else zero              # max(x, 0), NaN kept


@_parallel
def _relu_pieces(pieces, x, y, zero):
    n = x.size
    for i in prange(pieces):
        lo, hi = n * i // pieces, n * (i + 1) // pieces
        _relu(x[lo:hi], y[lo:hi], zero)


def relu(x):
    """(y, y) with y = max(x, 0), as ``formulas.activation.relu``, in pieces over threads."""
    y = np.empty(x.shape, dtype=x.dtype)
    pool.flat(_relu, _relu_pieces, GRAIN, x.reshape(-1), y.reshape(-1), x.dtype.type(0))
    return y, y


@_jit
def _relu_backward(g, y, dx, zero):
    for i in range(g.size):
        dx[i] = zero if y[i] <= zero else g[i]                 # G where not y ≤ 0 (NaN passes G, as torch)


@_parallel
def _relu_backward_pieces(pieces, g, y, dx, zero):
    n = g.size
    for i in prange(pieces):
        lo, hi = n * i // pieces, n * (i + 1) // pieces
        _relu_backward(g[lo:hi], y[lo:hi], dx[lo:hi], zero)


def relu_backward(g, y):
    """G where y > 0 or y is NaN, 0 elsewhere, as ``formulas.activation.relu_backward``."""
    dx = np.empty(g.shape, dtype=g.dtype)
    pool.flat(_relu_backward, _relu_backward_pieces, GRAIN, g.reshape(-1), y.reshape(-1), dx.reshape(-1),
              g.dtype.type(0))
    return dx


@_jit
def _scaled(x, factor, out):
    for i in range(x.size):
        out[i] = x[i] * factor


@_parallel
def _scaled_pieces(pieces, x, factor, out):
    n = x.size
    for i in prange(pieces):
        lo, hi = n * i // pieces, n * (i + 1) // pieces
        _scaled(x[lo:hi], factor, out[lo:hi])


def scaled(x, factor):
    """``x * factor`` in x's dtype (the MSE gradient 2(ŷ − y)/M), pieces over threads."""
    out = np.empty_like(x)
    pool.flat(_scaled, _scaled_pieces, GRAIN, x.reshape(-1), x.dtype.type(factor), out.reshape(-1))
    return out
