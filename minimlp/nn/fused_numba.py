"""Compiled CPU kernels for the layers' element-wise work, each the twin of a NumPy formula in its module.

NumPy spends one pass over memory per operation: BatchNorm's forward is a
mean, a variance, a subtraction, a scaling and an affine map, each a pass over
the (N, C) batch plus a temporary. Each kernel here is that formula written
out element by element and compiled by Numba, so the batch is read two or
three times instead of eight, with no temporaries. The modules keep their
readable NumPy code, which runs for CuPy arrays, under
``MINIMLP_CPU_KERNELS=numpy`` and where Numba is missing; tests check that
the two agree.

Arithmetic is in the arrays' dtype, in the same order as the NumPy code
(sums run over the rows in order), without fast-math, except that BatchNorm's
per-feature sums and the loss's sum accumulate in float64, as in the modules'
NumPy code (and torch's CPU kernels). Large batches are cut
into pieces (BatchNorm by columns, so that every column's sums stay on one
thread; the rest by rows) run side by side on minimlp's thread pool
(``minimlp.threads``).
Transcendental functions (tanh) stay NumPy ufuncs: NumPy's SIMD versions are
much faster than the scalar libm calls Numba makes.
"""
import numba
import numpy as np
from numba import prange

from .. import threads

_jit = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
_parallel = numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy", boundscheck=False)

GRAIN = 1 << 15  # elements per thread at least


# ------------------------------------------------------------------ BatchNorm
@_jit
def _batchnorm_forward(x, gamma, beta, eps, inv_n, xhat, y, mean, var, inv_std, lo, hi):
    # Inner loops run over 1-d row slices: Numba vectorises those, not 2-d indexing.
    n = x.shape[0]
    mu, s2, k = mean[lo:hi], var[lo:hi], inv_std[lo:hi]
    ga, be = gamma[lo:hi], beta[lo:hi]
    acc = np.zeros(hi - lo, dtype=np.float64)                  # sums in float64, as torch's CPU kernels
    for r in range(n):
        row = x[r, lo:hi]
        for c in range(row.size):
            acc[c] += row[c]
    for c in range(mu.size):
        mu[c] = acc[c] / n                                      # μ = Σₙ x / N
        acc[c] = 0
    for r in range(n):
        row = x[r, lo:hi]
        for c in range(row.size):
            d = row[c] - mu[c]
            acc[c] += d * d
    for c in range(mu.size):
        s2[c] = acc[c] * inv_n                                  # σ² = Σₙ (x − μ)² / N
        k[c] = 1 / np.sqrt(s2[c] + eps)
    for r in range(n):
        row, h_row, y_row = x[r, lo:hi], xhat[r, lo:hi], y[r, lo:hi]
        for c in range(row.size):
            h_row[c] = (row[c] - mu[c]) * k[c]                  # x̂ = (x − μ)/√(σ² + ε)
        for c in range(row.size):
            y_row[c] = h_row[c] * ga[c] + be[c]                 # y = γ x̂ + β


@_jit
def _batchnorm_backward(g, xhat, gamma, inv_std, inv_n, dx, sum_g, sum_gx, want_dx, lo, hi):
    n = g.shape[0]
    sg, sgx, ga, k = sum_g[lo:hi], sum_gx[lo:hi], gamma[lo:hi], inv_std[lo:hi]
    acc_g = np.zeros(hi - lo, dtype=np.float64)                # sums in float64, as torch's CPU kernels
    acc_gx = np.zeros(hi - lo, dtype=np.float64)
    for r in range(n):
        g_row, h_row = g[r, lo:hi], xhat[r, lo:hi]
        for c in range(g_row.size):
            acc_g[c] += g_row[c]                                # ∂L/∂β = Σₙ G
            acc_gx[c] += g_row[c] * h_row[c]                    # ∂L/∂γ = Σₙ G x̂
    for c in range(sg.size):
        sg[c] = acc_g[c]
        sgx[c] = acc_gx[c]
    if want_dx:
        a, b, scale = sgx * inv_n, sg * inv_n, ga * k           # per column: Σₙ G x̂/N, Σₙ G/N, γ/√(σ²+ε)
        for r in range(n):
            g_row, h_row, d_row = g[r, lo:hi], xhat[r, lo:hi], dx[r, lo:hi]
            for c in range(g_row.size):                         # γ/√(σ²+ε) (G − Σₙ G/N − x̂ Σₙ G x̂/N)
                d_row[c] = (g_row[c] - (h_row[c] * a[c] + b[c])) * scale[c]


@_parallel
def _batchnorm_forward_pieces(pieces, x, gamma, beta, eps, inv_n, xhat, y, mean, var, inv_std):
    c = x.shape[1]
    for i in prange(pieces):
        _batchnorm_forward(x, gamma, beta, eps, inv_n, xhat, y, mean, var, inv_std, c * i // pieces,
                           c * (i + 1) // pieces)


@_parallel
def _batchnorm_backward_pieces(pieces, g, xhat, gamma, inv_std, inv_n, dx, sum_g, sum_gx, want_dx):
    c = g.shape[1]
    for i in prange(pieces):
        _batchnorm_backward(g, xhat, gamma, inv_std, inv_n, dx, sum_g, sum_gx, want_dx, c * i // pieces,
                            c * (i + 1) // pieces)


def _by_columns(kernel, kernel_pieces, x, *args):
    """``kernel(x, *args, lo, hi)`` over all of x's columns, in one call or cut into pieces on the thread pool."""
    n_rows, n_cols = x.shape
    parts = threads.pieces(n_cols, max(1, GRAIN // max(1, n_rows)))
    if parts == 1:
        kernel(x, *args, 0, n_cols)
    else:
        threads.launch(parts, kernel_pieces, parts, x, *args)


def _flat(kernel, kernel_pieces, *args):
    """``kernel(*args)`` over flat arrays (the first sets the size), in one call or in pieces on the pool."""
    parts = threads.pieces(args[0].size, GRAIN)
    if parts == 1:
        kernel(*args)
    else:
        threads.launch(parts, kernel_pieces, parts, *args)


def batchnorm_forward(x, gamma, beta, eps):
    """Training-mode BatchNorm1d on (N, C) ``x``: returns (y, x̂, μ, σ², 1/√(σ² + ε))."""
    n, c = x.shape
    t = x.dtype.type
    xhat, y = np.empty_like(x), np.empty_like(x)
    mean, var, inv_std = (np.empty(c, dtype=x.dtype) for _ in range(3))
    _by_columns(_batchnorm_forward, _batchnorm_forward_pieces, x, gamma, beta, t(eps), t(1.0 / n), xhat, y, mean,
                var, inv_std)
    return y, xhat, mean, var, inv_std


def batchnorm_backward(g, xhat, gamma, inv_std, want_dx=True):
    """Training-mode BatchNorm1d backward: returns (∂L/∂x or None, Σₙ G, Σₙ G·x̂)."""
    n, c = g.shape
    dx = np.empty_like(g) if want_dx else g[:0]
    sum_g, sum_gx = np.empty(c, dtype=g.dtype), np.empty(c, dtype=g.dtype)
    _by_columns(_batchnorm_backward, _batchnorm_backward_pieces, g, xhat, gamma, inv_std, g.dtype.type(1.0 / n), dx,
                sum_g, sum_gx, want_dx)
    return (dx if want_dx else None), sum_g, sum_gx


# --------------------------------------------------- BatchNorm2d, (N, C, H·W)
@_jit
def _batchnorm2d_forward(x, gamma, beta, eps, inv_n, xhat, y, mean, var, inv_std, lo, hi):
    # channel c's values are the N rows x[n, c] of H·W contiguous values: the same sums as the (N·H·W, C) form
    for c in range(lo, hi):
        acc = 0.0                                               # in float64, as torch's CPU kernels
        for n in range(x.shape[0]):
            row = x[n, c]
            for k in range(row.size):
                acc += row[k]
        mu = x.dtype.type(acc * inv_n)                          # μ = Σ x / M, M = N·H·W
        mean[c] = mu
        acc = 0.0
        for n in range(x.shape[0]):
            row = x[n, c]
            for k in range(row.size):
                d = row[k] - mu
                acc += d * d
        s2 = x.dtype.type(acc * inv_n)                          # σ² = Σ (x − μ)² / M
        var[c] = s2
        k_c = 1 / np.sqrt(s2 + eps)
        inv_std[c] = k_c
        ga, be = gamma[c], beta[c]
        for n in range(x.shape[0]):
            row, h_row, y_row = x[n, c], xhat[n, c], y[n, c]
            for k in range(row.size):
                h_row[k] = (row[k] - mu) * k_c                  # x̂ = (x − μ)/√(σ² + ε)
            for k in range(row.size):
                y_row[k] = h_row[k] * ga + be                   # y = γ x̂ + β


@_jit
def _batchnorm2d_backward(g, xhat, gamma, inv_std, inv_n, dx, sum_g, sum_gx, want_dx, lo, hi):
    for c in range(lo, hi):
        acc_g = 0.0
        acc_gx = 0.0
        for n in range(g.shape[0]):
            g_row, h_row = g[n, c], xhat[n, c]
            for k in range(g_row.size):
                acc_g += g_row[k]                               # ∂L/∂β = Σ G
                acc_gx += g_row[k] * h_row[k]                   # ∂L/∂γ = Σ G x̂
        sum_g[c] = acc_g
        sum_gx[c] = acc_gx
        if want_dx:
            a, b, scale = sum_gx[c] * inv_n, sum_g[c] * inv_n, gamma[c] * inv_std[c]
            for n in range(g.shape[0]):
                g_row, h_row, d_row = g[n, c], xhat[n, c], dx[n, c]
                for k in range(g_row.size):                     # γ/√(σ²+ε) (G − Σ G/M − x̂ Σ G x̂/M)
                    d_row[k] = (g_row[k] - (h_row[k] * a + b)) * scale


@_parallel
def _batchnorm2d_forward_pieces(pieces, x, gamma, beta, eps, inv_n, xhat, y, mean, var, inv_std):
    c = x.shape[1]
    for i in prange(pieces):
        _batchnorm2d_forward(x, gamma, beta, eps, inv_n, xhat, y, mean, var, inv_std, c * i // pieces,
                             c * (i + 1) // pieces)


@_parallel
def _batchnorm2d_backward_pieces(pieces, g, xhat, gamma, inv_std, inv_n, dx, sum_g, sum_gx, want_dx):
    c = g.shape[1]
    for i in prange(pieces):
        _batchnorm2d_backward(g, xhat, gamma, inv_std, inv_n, dx, sum_g, sum_gx, want_dx, c * i // pieces,
                              c * (i + 1) // pieces)


def _by_channels(kernel, kernel_pieces, x3, *args):
    """``kernel(x3, *args, lo, hi)`` over the channels of (N, C, H·W) ``x3``, in one call or in pieces."""
    parts = threads.pieces(x3.shape[1], max(1, GRAIN // max(1, x3.shape[0] * x3.shape[2])))
    if parts == 1:
        kernel(x3, *args, 0, x3.shape[1])
    else:
        threads.launch(parts, kernel_pieces, parts, x3, *args)


def batchnorm2d_forward(x, gamma, beta, eps):
    """Training-mode BatchNorm2d on C-contiguous (N, C, H, W) ``x``: returns (y, x̂, μ, σ², 1/√(σ² + ε))."""
    n, c, h, w = x.shape
    t = x.dtype.type
    xhat, y = np.empty_like(x), np.empty_like(x)
    mean, var, inv_std = (np.empty(c, dtype=x.dtype) for _ in range(3))
    x3 = x.reshape(n, c, h * w)
    _by_channels(_batchnorm2d_forward, _batchnorm2d_forward_pieces, x3, gamma, beta, t(eps), 1.0 / (n * h * w),
                 xhat.reshape(x3.shape), y.reshape(x3.shape), mean, var, inv_std)
    return y, xhat, mean, var, inv_std


def batchnorm2d_backward(g, xhat, gamma, inv_std, want_dx=True):
    """Training-mode BatchNorm2d backward on C-contiguous (N, C, H, W): returns (∂L/∂x or None, Σ G, Σ G·x̂)."""
    n, c, h, w = g.shape
    dx = np.empty_like(g) if want_dx else g
    sum_g, sum_gx = np.empty(c, dtype=g.dtype), np.empty(c, dtype=g.dtype)
    g3 = g.reshape(n, c, h * w)
    _by_channels(_batchnorm2d_backward, _batchnorm2d_backward_pieces, g3, xhat.reshape(g3.shape), gamma, inv_std,
                 g.dtype.type(1.0 / (n * h * w)), dx.reshape(g3.shape), sum_g, sum_gx, want_dx)
    return (dx if want_dx else None), sum_g, sum_gx


# ------------------------------------------------------------- column sums
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
    _by_columns(_column_sums, _column_sums_pieces, g, out)
    return out


# ---------------------------------------------------------------- activations
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
    """The kernel over flat views: ``g`` and ``y`` must be C-contiguous (callers check, ``contiguous``)."""
    dx = np.empty(g.shape, dtype=g.dtype)
    _flat(_activation_backward, _activation_backward_pieces, g.reshape(-1), y.reshape(-1), dx.reshape(-1),
          g.dtype.type(1), tanh)
    return dx


def contiguous(*arrays):
    """True when every array is C-contiguous (the element-wise kernels work on flat views)."""
    return all(a.flags.c_contiguous for a in arrays)


def sigmoid_backward(g, y):
    """G·y·(1 − y), the twin of ``Sigmoid._backward``."""
    return _activation(g, y, False)


def tanh_backward(g, y):
    """G·(1 − y²), the twin of ``Tanh._backward``."""
    return _activation(g, y, True)


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
    _flat(_scaled, _scaled_pieces, x.reshape(-1), x.dtype.type(factor), out.reshape(-1))
    return out


# ----------------------------------------------------------------------- loss
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


def difference_and_sum_of_squares(prediction, target):
    """(ŷ − y, Σ (ŷ − y)²) for 2-d arrays, in one pass; the sum accumulated in float64.

    Rows are taken in fixed chunks of ``LOSS_ROWS`` whose sums are added in
    order, so the value does not depend on the number of threads.
    """
    diff = np.empty_like(prediction)
    chunks = -(-prediction.shape[0] // LOSS_ROWS)
    partial = np.zeros(chunks, dtype=np.float64)
    parts = min(threads.pieces(prediction.size, GRAIN), chunks)
    if parts == 1:
        _difference_squares_serial(prediction, target, diff, partial)
    else:
        threads.launch(parts, _difference_squares_parallel, prediction, target, diff, partial)
    return diff, float(partial.sum())
