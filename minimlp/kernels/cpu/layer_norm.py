"""LayerNorm compiled for the CPU: each row x̂ = (x − μ)/√(σ² + ε), y = γ·x̂ + β, and the backward, one pass per row.

Rows are x viewed as (R, D), D the normalised trailing axes. Forward: μ = Σ x/D and σ² = Σ (x − μ)²/D in float64
(``row_sums``), then x̂ and y written in one loop. Backward: with Ĝ = γ·G,
∂L/∂x = (1/√(σ² + ε))·(Ĝ − Σ Ĝ/D − x̂·Σ Ĝ·x̂/D) per row; ∂L/∂γ = Σ_rows G·x̂ and ∂L/∂β = Σ_rows G are summed per
block of ``BLOCK`` rows in float64 and the blocks added in order, so the result does not depend on the number of
threads. Rows are cut into pieces of whole blocks run side by side on minimlp's pool. A missing γ or β is a scale
by ones or a shift by zeros.
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
BLOCK = 64       # rows whose ∂L/∂γ, ∂L/∂β are summed together


@_jit
def _forward(x, gamma, beta, eps, xhat, y, inv_std, lo, hi):
    d = x.shape[1]
    for r in range(lo, hi):
        row, h_row, y_row = x[r], xhat[r], y[r]
        mu = row.dtype.type(row_sums.total(row) / d)                        # μ = Σ x / D
        s2 = row.dtype.type(row_sums.squared_deviation(row, mu) / d)        # σ² = Σ (x − μ)² / D
        k = 1 / np.sqrt(s2 + eps)
        inv_std[r] = k
        for c in range(d):
            h_row[c] = (row[c] - mu) * k                                     # x̂ = (x − μ)/√(σ² + ε)
        for c in range(d):
            y_row[c] = h_row[c] * gamma[c] + beta[c]                         # y = γ x̂ + β


@_parallel
def _forward_pieces(pieces, x, gamma, beta, eps, xhat, y, inv_std):
    n = x.shape[0]
    for i in prange(pieces):
        _forward(x, gamma, beta, eps, xhat, y, inv_std, n * i // pieces, n * (i + 1) // pieces)


@_jit
def _backward(g, xhat, gamma, inv_std, dx, partial, want_dx, lo, hi):
    n, d = g.shape
    g_hat = np.empty(d, dtype=g.dtype)
    for b in range(lo, hi):
        sum_g, sum_gx = partial[b, 0], partial[b, 1]
        sum_g[:] = 0
        sum_gx[:] = 0
        for r in range(b * BLOCK, min(n, (b + 1) * BLOCK)):
            g_row, h_row = g[r], xhat[r]
            for c in range(d):
                sum_g[c] += g_row[c]                                         # ∂L/∂β = Σ G
                sum_gx[c] += g_row[c] * h_row[c]                             # ∂L/∂γ = Σ G x̂
            if want_dx:
                for c in range(d):
                    g_hat[c] = g_row[c] * gamma[c]                           # Ĝ = γ G
                a, b_ = row_sums.total_and_dot(g_hat, h_row)
                k = inv_std[r]
                mean_g, mean_gx = g.dtype.type(a / d), g.dtype.type(b_ / d)
                d_row = dx[r]
                for c in range(d):                                           # (Ĝ − mean Ĝ − x̂ mean Ĝx̂)/√(σ² + ε)
                    d_row[c] = (g_hat[c] - mean_g - h_row[c] * mean_gx) * k


@_parallel
def _backward_pieces(pieces, g, xhat, gamma, inv_std, dx, partial, want_dx):
    blocks = partial.shape[0]
    for i in prange(pieces):
        _backward(g, xhat, gamma, inv_std, dx, partial, want_dx, blocks * i // pieces, blocks * (i + 1) // pieces)


def _rows(a, ndim):
    return a.reshape(-1, int(np.prod(a.shape[a.ndim - ndim:], dtype=np.int64)))


def _launch(kernel, kernel_pieces, count, elements, *args):
    """``kernel(*args, 0, count)``, or cut into pieces of ``count`` on the pool."""
    parts = pool.pieces(count, max(1, GRAIN * count // max(1, elements)))
    if parts == 1:
        kernel(*args, 0, count)
    else:
        pool.launch(parts, kernel_pieces, parts, *args)


def layer_norm(x, weight, bias, ndim, eps):
    """(y, (x̂, 1/√(σ² + ε), ndim)), as ``formulas.norm.layer_norm``, on C-contiguous ``x``."""
    x2 = _rows(x, ndim)
    d = x2.shape[1]
    gamma = np.ones(d, dtype=x.dtype) if weight is None else weight.reshape(-1)
    beta = np.zeros(d, dtype=x.dtype) if bias is None else bias.reshape(-1)
    xhat, y = np.empty_like(x), np.empty_like(x)
    inv_std = np.empty(x2.shape[0], dtype=x.dtype)
    _launch(_forward, _forward_pieces, x2.shape[0], x2.size, x2, gamma, beta, x.dtype.type(eps), _rows(xhat, ndim),
            _rows(y, ndim), inv_std)
    return y, (xhat, inv_std.reshape(x.shape[:x.ndim - ndim] + (1,) * ndim), ndim)


def layer_norm_backward(g, saved, weight, bias, want_dx=True):
    """∂L/∂γ, ∂L/∂β added to the parameters; ∂L/∂x or None, as ``formulas.norm.layer_norm_backward``."""
    xhat, inv_std, ndim = saved
    g2, h2 = _rows(g, ndim), _rows(xhat, ndim)
    n, d = g2.shape
    gamma = np.ones(d, dtype=g.dtype) if weight is None else weight.data.reshape(-1)
    dx = np.empty(g.shape, dtype=g.dtype) if want_dx else g
    partial = np.empty((-(-n // BLOCK), 2, d))
    _launch(_backward, _backward_pieces, partial.shape[0], g2.size, g2, h2, gamma, inv_std.reshape(-1),
            _rows(dx, ndim), partial, want_dx)
    sums = partial.sum(axis=0).astype(g.dtype)
    if weight is not None:
        weight.accumulate(sums[1].reshape(weight.shape))
    if bias is not None:
        bias.accumulate(sums[0].reshape(bias.shape))
    return dx if want_dx else None
