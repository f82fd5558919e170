"""BatchNorm's training passes compiled for the CPU: the formula's sums and maps in two or three passes.

Every channel's sums stay on one thread (float64, as the formula's), so the result does not depend on the
number of threads. Sequences and images (N, C, L) and (N, C, H, W) take loops of their own over each channel's
rows. A missing β (``bias=False``) is a shift by zeros. With ``relu`` the same passes give BatchNorm then ReLU
(``formulas.batch_norm.forward_train_relu``): the forward writes max(γ x̂ + β, 0) and the backward masks G where
γ x̂ + β ≤ 0, found again from x̂, so the ReLU costs no pass of its own.
"""
import numba
import numpy as np
from numba import prange

from ...formulas.batch_norm import shifted, update_running_stats
from . import pool, row_sums

# ``row_sums`` is compiled into these loops: its digest is kept here so that the cache follows it (see conv_loops)
COMPILED_IN = ("kernels/cpu/row_sums.py",)
COMPILED_IN_SHA256 = "d1686e88f6e9ae2e"

_jit = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
_parallel = numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy", boundscheck=False)
_row_sums = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False, fastmath={"reassoc"})

GRAIN = 1 << 15  # elements per thread at least


@_jit
def _batchnorm_forward(x, gamma, beta, eps, inv_n, xhat, y, mean, var, inv_std, relu, lo, hi):
    # Inner loops run over 1-d row slices: Numba vectorises those, not 2-d indexing.
    n = x.shape[0]
    mu, s2, k = mean[lo:hi], var[lo:hi], inv_std[lo:hi]
    ga, be = gamma[lo:hi], beta[lo:hi]
    zero = x.dtype.type(0)
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
        if relu:
            for c in range(row.size):
                p = h_row[c] * ga[c] + be[c]
                y_row[c] = zero if p <= zero else p            # y = max(γ x̂ + β, 0), NaN kept
        else:
            for c in range(row.size):
                y_row[c] = h_row[c] * ga[c] + be[c]             # y = γ x̂ + β


@_jit
def _batchnorm_backward(g, xhat, gamma, beta, inv_std, inv_n, dx, sum_g, sum_gx, want_dx, relu, lo, hi):
    n = g.shape[0]
    sg, sgx, ga, be, k = sum_g[lo:hi], sum_gx[lo:hi], gamma[lo:hi], beta[lo:hi], inv_std[lo:hi]
    zero = g.dtype.type(0)
    acc_g = np.zeros(hi - lo, dtype=np.float64)                # sums in float64, as torch's CPU kernels
    acc_gx = np.zeros(hi - lo, dtype=np.float64)
    for r in range(n):
        g_row, h_row = g[r, lo:hi], xhat[r, lo:hi]
        if relu:
            for c in range(g_row.size):
                p = h_row[c] * ga[c] + be[c]
                gm = zero if p <= zero else g_row[c]           # the ReLU's gradient: 0 where γ x̂ + β ≤ 0
                acc_g[c] += gm
                acc_gx[c] += gm * h_row[c]
        else:
            for c in range(g_row.size):
                acc_g[c] += g_row[c]                            # ∂L/∂β = Σₙ G
                acc_gx[c] += g_row[c] * h_row[c]                # ∂L/∂γ = Σₙ G x̂
    for c in range(sg.size):
        sg[c] = acc_g[c]
        sgx[c] = acc_gx[c]
    if want_dx:
        a, b, scale = sgx * inv_n, sg * inv_n, ga * k           # per column: Σₙ G x̂/N, Σₙ G/N, γ/√(σ²+ε)
        for r in range(n):
            g_row, h_row, d_row = g[r, lo:hi], xhat[r, lo:hi], dx[r, lo:hi]
            if relu:
                for c in range(g_row.size):
                    p = h_row[c] * ga[c] + be[c]
                    gm = zero if p <= zero else g_row[c]
                    d_row[c] = (gm - (h_row[c] * a[c] + b[c])) * scale[c]
            else:
                for c in range(g_row.size):                     # γ/√(σ²+ε) (G − Σₙ G/N − x̂ Σₙ G x̂/N)
                    d_row[c] = (g_row[c] - (h_row[c] * a[c] + b[c])) * scale[c]


@_parallel
def _batchnorm_forward_pieces(pieces, x, gamma, beta, eps, inv_n, xhat, y, mean, var, inv_std, relu):
    c = x.shape[1]
    for i in prange(pieces):
        _batchnorm_forward(x, gamma, beta, eps, inv_n, xhat, y, mean, var, inv_std, relu, c * i // pieces,
                           c * (i + 1) // pieces)


@_parallel
def _batchnorm_backward_pieces(pieces, g, xhat, gamma, beta, inv_std, inv_n, dx, sum_g, sum_gx, want_dx, relu):
    c = g.shape[1]
    for i in prange(pieces):
        _batchnorm_backward(g, xhat, gamma, beta, inv_std, inv_n, dx, sum_g, sum_gx, want_dx, relu, c * i // pieces,
                            c * (i + 1) // pieces)


def forward_train(x, weight, bias, eps, running=None, shift=None):
    """``formulas.batch_norm.forward_train`` with γ (not None): returns (y, (x̂, 1/√(σ² + ε)), μ, σ²); the
    running statistics move by the formula's ``update_running_stats``, and a ``shift`` is added first."""
    return _tracked(_forward(shifted(x, shift), weight, bias, eps, False), running)


def forward_train_relu(x, weight, bias, eps, running=None, shift=None):
    """``formulas.batch_norm.forward_train_relu``: ``forward_train`` with y = max(γ x̂ + β, 0)."""
    return _tracked(_forward(shifted(x, shift), weight, bias, eps, True), running)


def _tracked(forward, running):
    y, saved, mean, var = forward
    update_running_stats(running, mean, var, y.size // mean.size)
    return forward


def backward_train(g, saved, weight, bias, want_dx=True):
    """``formulas.batch_norm.backward_train``: ∂L/∂γ, ∂L/∂β added to the parameters; returns ∂L/∂x or None."""
    return _backward(g, saved, weight, bias, want_dx, False)


def backward_train_relu(g, saved, weight, bias, want_dx=True):
    """``formulas.batch_norm.backward_train_relu``: ``backward_train`` of G·[γ x̂ + β > 0]."""
    return _backward(g, saved, weight, bias, want_dx, True)


def _forward(x, weight, bias, eps, relu):
    if bias is None:
        bias = np.zeros_like(weight)
    if x.ndim != 2:
        return _forward_images(x, weight, bias, eps, relu)
    gamma, beta = weight, bias
    n, c = x.shape
    t = x.dtype.type
    xhat, y = np.empty_like(x), np.empty_like(x)
    mean, var, inv_std = (np.empty(c, dtype=x.dtype) for _ in range(3))
    pool.by_columns(_batchnorm_forward, _batchnorm_forward_pieces, GRAIN, x, gamma, beta, t(eps), t(1.0 / n), xhat, y,
                    mean, var, inv_std, relu)
    return y, (xhat, inv_std), mean, var


def _backward(g, saved, weight, bias, want_dx, relu):
    beta = np.zeros_like(weight.data) if bias is None else bias.data
    if g.ndim != 2:
        return _backward_images(g, saved, weight, bias, beta, want_dx, relu)
    xhat, inv_std = saved
    gamma = weight.data
    n, c = g.shape
    dx = np.empty_like(g) if want_dx else g[:0]
    sum_g, sum_gx = np.empty(c, dtype=g.dtype), np.empty(c, dtype=g.dtype)
    pool.by_columns(_batchnorm_backward, _batchnorm_backward_pieces, GRAIN, g, xhat, gamma, beta, inv_std,
                    g.dtype.type(1.0 / n), dx, sum_g, sum_gx, want_dx, relu)
    weight.accumulate(sum_gx)
    if bias is not None:
        bias.accumulate(sum_g)
    return dx if want_dx else None


@numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False, inline="never")
def _normalize_row(row, h_row, y_row, mu, k_c, ga, be):
    # one pass, both outputs (a loop of its own, so that LLVM checks only these three arrays' overlap), all in
    # the array's dtype
    for k in range(row.size):
        h = (row[k] - mu) * k_c                                 # x̂ = (x − μ)/√(σ² + ε)
        h_row[k] = h
        y_row[k] = h * ga + be                                  # y = γ x̂ + β


@numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False, inline="never")
def _normalize_relu_row(row, h_row, y_row, mu, k_c, ga, be):
    zero = row.dtype.type(0)
    for k in range(row.size):
        h = (row[k] - mu) * k_c
        h_row[k] = h
        p = h * ga + be
        y_row[k] = zero if p <= zero else p                    # y = max(γ x̂ + β, 0), NaN kept


@_row_sums
def _masked_total_and_dot(g, h, ga, be):
    """(Σₖ G·m, Σₖ G·m·x̂) with m = [γ x̂ + β > 0] (a NaN passes G): the sums of the ReLU's gradient."""
    zero = g.dtype.type(0)
    acc_g = 0.0
    acc_gh = 0.0
    for k in range(g.size):
        p = h[k] * ga + be
        gm = zero if p <= zero else g[k]
        acc_g += gm
        acc_gh += gm * h[k]
    return acc_g, acc_gh


@_jit
def _batchnorm2d_forward(x, gamma, beta, eps, inv_n, xhat, y, mean, var, inv_std, relu, lo, hi):
    # channel c's values are the N rows x[n, c] of H·W contiguous values: the same sums as the (N·H·W, C) form
    for c in range(lo, hi):
        acc = 0.0                                               # in float64, as torch's CPU kernels
        for n in range(x.shape[0]):
            acc += row_sums.total(x[n, c])
        mu = x.dtype.type(acc * inv_n)                          # μ = Σ x / M, M = N·H·W
        mean[c] = mu
        acc = 0.0
        for n in range(x.shape[0]):
            acc += row_sums.squared_deviation(x[n, c], mu)
        s2 = x.dtype.type(acc * inv_n)                          # σ² = Σ (x − μ)² / M
        var[c] = s2
        k_c = x.dtype.type(1 / np.sqrt(s2 + eps))              # in x's dtype, as stored and as the formula
        inv_std[c] = k_c
        ga, be = gamma[c], beta[c]
        for n in range(x.shape[0]):
            if relu:
                _normalize_relu_row(x[n, c], xhat[n, c], y[n, c], mu, k_c, ga, be)
            else:
                _normalize_row(x[n, c], xhat[n, c], y[n, c], mu, k_c, ga, be)


@_jit
def _batchnorm2d_backward(g, xhat, gamma, beta, inv_std, inv_n, dx, sum_g, sum_gx, want_dx, relu, lo, hi):
    zero = g.dtype.type(0)
    for c in range(lo, hi):
        acc_g = 0.0
        acc_gx = 0.0
        ga, be = gamma[c], beta[c]
        for n in range(g.shape[0]):
            if relu:
                row_g, row_gx = _masked_total_and_dot(g[n, c], xhat[n, c], ga, be)
            else:
                row_g, row_gx = row_sums.total_and_dot(g[n, c], xhat[n, c])
            acc_g += row_g                                      # ∂L/∂β = Σ G
            acc_gx += row_gx                                    # ∂L/∂γ = Σ G x̂
        sum_g[c] = acc_g
        sum_gx[c] = acc_gx
        if want_dx:
            t = g.dtype.type                                    # a and b in G's dtype, as the formula's
            a, b, scale = t(sum_gx[c] * inv_n), t(sum_g[c] * inv_n), ga * inv_std[c]
            for n in range(g.shape[0]):
                g_row, h_row, d_row = g[n, c], xhat[n, c], dx[n, c]
                if relu:
                    for k in range(g_row.size):                 # G masked as in _masked_total_and_dot
                        p = h_row[k] * ga + be
                        gm = zero if p <= zero else g_row[k]
                        d_row[k] = (gm - (h_row[k] * a + b)) * scale
                else:
                    for k in range(g_row.size):                 # γ/√(σ²+ε) (G − Σ G/M − x̂ Σ G x̂/M)
                        d_row[k] = (g_row[k] - (h_row[k] * a + b)) * scale


@_parallel
def _batchnorm2d_forward_pieces(pieces, x, gamma, beta, eps, inv_n, xhat, y, mean, var, inv_std, relu):
    c = x.shape[1]
    for i in prange(pieces):
        _batchnorm2d_forward(x, gamma, beta, eps, inv_n, xhat, y, mean, var, inv_std, relu, c * i // pieces,
                             c * (i + 1) // pieces)


@_parallel
def _batchnorm2d_backward_pieces(pieces, g, xhat, gamma, beta, inv_std, inv_n, dx, sum_g, sum_gx, want_dx, relu):
    c = g.shape[1]
    for i in prange(pieces):
        _batchnorm2d_backward(g, xhat, gamma, beta, inv_std, inv_n, dx, sum_g, sum_gx, want_dx, relu,
                              c * i // pieces, c * (i + 1) // pieces)


def _forward_images(x, weight, bias, eps, relu):
    """``forward_train`` on (N, C, L) or (N, C, H, W), channel by channel over N rows of L or H·W contiguous values."""
    x, gamma, beta = np.ascontiguousarray(x), weight, bias
    n, c = x.shape[:2]
    t = x.dtype.type
    xhat, y = np.empty_like(x), np.empty_like(x)
    mean, var, inv_std = (np.empty(c, dtype=x.dtype) for _ in range(3))
    x3 = x.reshape(n, c, -1)
    pool.by_columns(_batchnorm2d_forward, _batchnorm2d_forward_pieces, GRAIN, x3, gamma, beta, t(eps),
                    c / x.size, xhat.reshape(x3.shape), y.reshape(x3.shape), mean, var, inv_std, relu)
    return y, (xhat, inv_std), mean, var


def _backward_images(g, saved, weight, bias, beta, want_dx, relu):
    """``backward_train`` on (N, C, L) or (N, C, H, W)."""
    (xhat, inv_std), gamma, g = saved, weight.data, np.ascontiguousarray(g)
    n, c = g.shape[:2]
    dx = np.empty_like(g) if want_dx else g
    sum_g, sum_gx = np.empty(c, dtype=g.dtype), np.empty(c, dtype=g.dtype)
    g3 = g.reshape(n, c, -1)
    pool.by_columns(_batchnorm2d_backward, _batchnorm2d_backward_pieces, GRAIN, g3, xhat.reshape(g3.shape), gamma,
                    beta, inv_std, g.dtype.type(c / g.size), dx.reshape(g3.shape), sum_g, sum_gx, want_dx, relu)
    weight.accumulate(sum_gx)
    if bias is not None:
        bias.accumulate(sum_g)
    return dx if want_dx else None
