"""GroupNorm compiled for the CPU: per sample and group of C/G channels, x̂ = (x − μ)/√(σ² + ε), y = γ_c·x̂ + β_c.

x (N, C, …) is viewed as (N, G, M), M = C/G·S with S the positions: a group's values are one contiguous row.
Forward: μ = Σ x/M and σ² = Σ (x − μ)²/M in float64 (``row_sums``), then x̂ and y written. Backward: with Ĝ = γ_c·G,
∂L/∂x = (1/√(σ² + ε))·(Ĝ − Σ Ĝ/M − x̂·Σ Ĝ·x̂/M) per group, where Σ Ĝ = Σ_c γ_c Σ G and Σ Ĝ·x̂ = Σ_c γ_c Σ G·x̂ come
from each channel's two sums; ∂L/∂γ_c = Σ G·x̂ and ∂L/∂β_c = Σ G are kept per sample in float64 and added over the
samples in order, so the result does not depend on the number of threads. Samples are cut into pieces run side by
side on minimlp's pool. A missing γ or β is a scale by ones or a shift by zeros.
"""
import math

import numba
import numpy as np
from numba import prange

from . import pool, row_sums

COMPILED_IN = ("kernels/cpu/row_sums.py",)
COMPILED_IN_SHA256 = "d1686e88f6e9ae2e"

_jit = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
_parallel = numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy", boundscheck=False)

GRAIN = 1 << 16  # elements per thread at least


@_jit
def _forward(x, gamma, beta, eps, xhat, y, mean, var, inv_std, lo, hi):
    groups, m = x.shape[1], x.shape[2]
    per = gamma.size // groups
    s = m // per
    for n in range(lo, hi):
        for grp in range(groups):
            row, h_row, y_row = x[n, grp], xhat[n, grp], y[n, grp]
            mu = x.dtype.type(row_sums.total(row) / m)                      # μ = Σ x / M
            s2 = x.dtype.type(row_sums.squared_deviation(row, mu) / m)      # σ² = Σ (x − μ)² / M
            k = x.dtype.type(1.0 / math.sqrt(s2 + eps))
            mean[n, grp], var[n, grp], inv_std[n, grp] = mu, s2, k
            for j in range(m):
                h_row[j] = (row[j] - mu) * k                                 # x̂ = (x − μ)/√(σ² + ε)
            for c in range(per):
                ga, be = gamma[grp * per + c], beta[grp * per + c]
                for j in range(c * s, (c + 1) * s):
                    y_row[j] = h_row[j] * ga + be                            # y = γ_c x̂ + β_c


@_parallel
def _forward_pieces(pieces, x, gamma, beta, eps, xhat, y, mean, var, inv_std):
    n = x.shape[0]
    for i in prange(pieces):
        _forward(x, gamma, beta, eps, xhat, y, mean, var, inv_std, n * i // pieces, n * (i + 1) // pieces)


@_jit
def _backward(g, xhat, gamma, inv_std, dx, partial, want_dx, lo, hi):
    groups, m = g.shape[1], g.shape[2]
    per = gamma.size // groups
    s = m // per
    for n in range(lo, hi):
        for grp in range(groups):
            g_row, h_row, d_row = g[n, grp], xhat[n, grp], dx[n, grp]
            acc_g = 0.0
            acc_gx = 0.0
            for c in range(per):
                ch = grp * per + c
                sg, sgx = row_sums.total_and_dot(g_row[c * s:(c + 1) * s], h_row[c * s:(c + 1) * s])
                partial[n, 0, ch] = sg                                       # Σ G per channel
                partial[n, 1, ch] = sgx                                      # Σ G x̂ per channel
                acc_g += gamma[ch] * sg                                      # Σ Ĝ
                acc_gx += gamma[ch] * sgx                                    # Σ Ĝ x̂
            if want_dx:
                k = inv_std[n, grp]
                mean_g, mean_gx = g.dtype.type(acc_g / m), g.dtype.type(acc_gx / m)
                for c in range(per):
                    ga = gamma[grp * per + c]
                    for j in range(c * s, (c + 1) * s):                      # (Ĝ − mean Ĝ − x̂ mean Ĝx̂)/√(σ² + ε)
                        d_row[j] = (g_row[j] * ga - mean_g - h_row[j] * mean_gx) * k


@_parallel
def _backward_pieces(pieces, g, xhat, gamma, inv_std, dx, partial, want_dx):
    n = g.shape[0]
    for i in prange(pieces):
        _backward(g, xhat, gamma, inv_std, dx, partial, want_dx, n * i // pieces, n * (i + 1) // pieces)


def _launch(kernel, kernel_pieces, a, *args):
    """``kernel(a, *args, 0, N)``, or cut into pieces of samples on the pool."""
    n = a.shape[0]
    parts = pool.pieces(n, max(1, GRAIN // max(1, a.size // max(1, n))))
    if parts == 1:
        kernel(a, *args, 0, n)
    else:
        pool.launch(parts, kernel_pieces, parts, a, *args)


def group_norm(x, weight, bias, groups, eps):
    """(y, (x̂, 1/√(σ² + ε), G), μ, σ²), as ``formulas.norm.group_norm``, on C-contiguous ``x``."""
    n, c = x.shape[:2]
    gamma = np.ones(c, dtype=x.dtype) if weight is None else weight
    beta = np.zeros(c, dtype=x.dtype) if bias is None else bias
    xhat, y = np.empty_like(x), np.empty_like(x)
    mean, var, inv_std = (np.empty((n, groups), dtype=x.dtype) for _ in range(3))
    shape = (n, groups, -1)
    _launch(_forward, _forward_pieces, x.reshape(shape), gamma, beta, x.dtype.type(eps), xhat.reshape(shape),
            y.reshape(shape), mean, var, inv_std)
    return y, (xhat, inv_std[..., None], groups), mean, var


def group_norm_backward(g, saved, weight, bias, want_dx=True):
    """∂L/∂γ, ∂L/∂β added to the parameters; ∂L/∂x or None, as ``formulas.norm.group_norm_backward``."""
    xhat, inv_std, groups = saved
    n, c = g.shape[:2]
    gamma = np.ones(c, dtype=g.dtype) if weight is None else weight.data
    # C-ordered, not like G: InstanceNorm picks this backward at its forward, and G may come as a strided view
    dx = np.empty(g.shape, dtype=g.dtype) if want_dx else g
    partial = np.empty((n, 2, c))
    shape = (n, groups, -1)
    _launch(_backward, _backward_pieces, g.reshape(shape), xhat.reshape(shape), gamma,
            np.ascontiguousarray(inv_std.reshape(n, groups)), dx.reshape(shape), partial, want_dx)
    sums = partial.sum(axis=0).astype(g.dtype)
    if weight is not None:
        weight.accumulate(sums[1])
    if bias is not None:
        bias.accumulate(sums[0])
    return dx if want_dx else None
