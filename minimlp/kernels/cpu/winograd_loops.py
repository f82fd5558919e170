"""The compiled loops of ``winograd``: the tile transforms of ``formulas.winograd`` (Bᵀ d B, Aᵀ m A, A ∂y Aᵀ and
B z Bᵀ added back), and the forward and backward of a run of whole images with 16 gemms between them.

geometry = (C, H, W, O, Ho, Wo, th, tw, pt, pl); tile t of a run is (image n0 + t // (th·tw), row, column).
"""
import numba
import numpy as np
from numba import prange

from . import winograd_rows as rows
from .conv_loops import channel_sums
from .gemm import NO_TRANS, TRANS, gemm

# ``gemm``, ``channel_sums`` and the row-wise transforms are compiled into these loops: their files' digest is
# kept here so that the cache follows them (see conv_loops)
COMPILED_IN = ("kernels/cpu/gemm.py", "kernels/cpu/conv_loops.py", "kernels/cpu/winograd_rows.py")
COMPILED_IN_SHA256 = "a62e48ce2b9defdf"
_jit = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
_parallel = numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy", boundscheck=False)


WEIGHT_CHUNK = 16   # input channels whose 16 transformed values are made in a local block, then stored by plane


@_jit
def weight_transform(w, u, lo, hi):
    """u[4a + b, o, c] = (G w[o, c] Gᵀ)[a, b] (formulas.winograd.transformed_weight), for lo ≤ o < hi.

    The values of ``WEIGHT_CHUNK`` channels go to a local block first and then to the 16 planes of u a
    cache line at a time: stored one by one, the 16 planes (O·C values apart, a multiple of 4 KiB for the
    U-Net's widths) evict each other's lines from L1 at every value (45 ns per (o, c) on Zen 4)."""
    half = w.dtype.type(0.5)
    block = np.empty((16, WEIGHT_CHUNK), dtype=u.dtype)
    for o in range(lo, hi):
        for c0 in range(0, w.shape[1], WEIGHT_CHUNK):
            n = min(WEIGHT_CHUNK, w.shape[1] - c0)
            for i in range(n):
                k = w[o, c0 + i]
                for j in range(3):   # G across the rows: (w0j, (w0j + w1j + w2j)/2, (w0j − w1j + w2j)/2, w2j)
                    a, b, d = k[0, j], k[1, j], k[2, j]
                    if j == 0:
                        e00, e10, e20, e30 = a, (a + b + d) * half, (a - b + d) * half, d
                    elif j == 1:
                        e01, e11, e21, e31 = a, (a + b + d) * half, (a - b + d) * half, d
                    else:
                        e02, e12, e22, e32 = a, (a + b + d) * half, (a - b + d) * half, d
                block[0, i], block[1, i], block[2, i], block[3, i] = (
                    e00, (e00 + e01 + e02) * half, (e00 - e01 + e02) * half, e02)
                block[4, i], block[5, i], block[6, i], block[7, i] = (
                    e10, (e10 + e11 + e12) * half, (e10 - e11 + e12) * half, e12)
                block[8, i], block[9, i], block[10, i], block[11, i] = (
                    e20, (e20 + e21 + e22) * half, (e20 - e21 + e22) * half, e22)
                block[12, i], block[13, i], block[14, i], block[15, i] = (
                    e30, (e30 + e31 + e32) * half, (e30 - e31 + e32) * half, e32)
            for xi in range(16):
                u[xi, o, c0:c0 + n] = block[xi, :n]


@_jit
def weight_gradient_transform(du, dw, lo, hi):
    """dw[o, c] = Gᵀ ∂U[:, o, c] G, ∂U read as 4x4 (formulas.winograd.weight_gradient), for lo ≤ o < hi; the 16
    planes are read ``WEIGHT_CHUNK`` values at a time into a local block (as ``weight_transform`` writes them)."""
    half = dw.dtype.type(0.5)
    block = np.empty((16, WEIGHT_CHUNK), dtype=du.dtype)
    for o in range(lo, hi):
        for c0 in range(0, dw.shape[1], WEIGHT_CHUNK):
            n = min(WEIGHT_CHUNK, dw.shape[1] - c0)
            for xi in range(16):
                block[xi, :n] = du[xi, o, c0:c0 + n]
            for i in range(n):
                k = dw[o, c0 + i]
                for b in range(4):   # Gᵀ across the rows: (z0 + (z1 + z2)/2, (z1 − z2)/2, (z1 + z2)/2 + z3)
                    z0, z1, z2, z3 = block[b, i], block[4 + b, i], block[8 + b, i], block[12 + b, i]
                    r0, r1, r2 = z0 + (z1 + z2) * half, (z1 - z2) * half, (z1 + z2) * half + z3
                    if b == 0:
                        f00, f10, f20 = r0, r1, r2
                    elif b == 1:
                        f01, f11, f21 = r0, r1, r2
                    elif b == 2:
                        f02, f12, f22 = r0, r1, r2
                    else:
                        f03, f13, f23 = r0, r1, r2
                k[0, 0], k[0, 1], k[0, 2] = f00 + (f01 + f02) * half, (f01 - f02) * half, (f01 + f02) * half + f03
                k[1, 0], k[1, 1], k[1, 2] = f10 + (f11 + f12) * half, (f11 - f12) * half, (f11 + f12) * half + f13
                k[2, 0], k[2, 1], k[2, 2] = f20 + (f21 + f22) * half, (f21 - f22) * half, (f21 + f22) * half + f23


@_parallel
def weight_transform_pieces(pieces, w, u):
    """``weight_transform`` of all O outputs, cut into ``pieces`` ranges of o side by side."""
    for p in prange(pieces):
        weight_transform(w, u, w.shape[0] * p // pieces, w.shape[0] * (p + 1) // pieces)


@_parallel
def weight_gradient_transform_pieces(pieces, du, dw):
    """``weight_gradient_transform`` of all O outputs, cut into ``pieces`` ranges of o side by side."""
    for p in prange(pieces):
        weight_gradient_transform(du, dw, dw.shape[0] * p // pieces, dw.shape[0] * (p + 1) // pieces)


@_jit
def _padded_rows(plane, rows, r0, q0):
    # rows[i, q] = plane[r0 + i, q0 + q], zero outside the plane
    H, W = plane.shape
    rows[:] = 0
    lo, hi = max(0, -q0), min(rows.shape[1], W - q0)
    for i in range(rows.shape[0]):
        r = r0 + i
        if 0 <= r < H and hi > lo:
            rows[i, lo:hi] = plane[r, q0 + lo:q0 + hi]


@_jit
def input_transform(x, v, n0, n1, geometry):
    """v[4a + b, c, t] = (Bᵀ d B)[a, b] for the 4x4 tile d of x̃ (zero outside x) under each tile t of images n0..n1."""
    C, H, W, O, Ho, Wo, th, tw, pt, pl = geometry
    rows = np.empty((4, 2 * tw + 2), dtype=x.dtype)
    for n in range(n0, n1):
        for c in range(C):
            for ty in range(th):
                _padded_rows(x[n, c], rows, 2 * ty - pt, -pl)
                t0 = ((n - n0) * th + ty) * tw
                for tx in range(tw):   # d B on each row i of the tile, then Bᵀ across the rows
                    q = 2 * tx
                    a0, a1, a2, a3 = rows[0, q], rows[0, q + 1], rows[0, q + 2], rows[0, q + 3]
                    e00, e01, e02, e03 = a0 - a2, a1 + a2, a2 - a1, a1 - a3
                    a0, a1, a2, a3 = rows[1, q], rows[1, q + 1], rows[1, q + 2], rows[1, q + 3]
                    e10, e11, e12, e13 = a0 - a2, a1 + a2, a2 - a1, a1 - a3
                    a0, a1, a2, a3 = rows[2, q], rows[2, q + 1], rows[2, q + 2], rows[2, q + 3]
                    e20, e21, e22, e23 = a0 - a2, a1 + a2, a2 - a1, a1 - a3
                    a0, a1, a2, a3 = rows[3, q], rows[3, q + 1], rows[3, q + 2], rows[3, q + 3]
                    e30, e31, e32, e33 = a0 - a2, a1 + a2, a2 - a1, a1 - a3
                    t = t0 + tx
                    v[0, c, t], v[1, c, t], v[2, c, t], v[3, c, t] = e00 - e20, e01 - e21, e02 - e22, e03 - e23
                    v[4, c, t], v[5, c, t], v[6, c, t], v[7, c, t] = e10 + e20, e11 + e21, e12 + e22, e13 + e23
                    v[8, c, t], v[9, c, t], v[10, c, t], v[11, c, t] = e20 - e10, e21 - e11, e22 - e12, e23 - e13
                    v[12, c, t], v[13, c, t], v[14, c, t], v[15, c, t] = e10 - e30, e11 - e31, e12 - e32, e13 - e33


@_jit
def output_transform(m, y, bias, n0, n1, geometry):
    """y[n, o, 2ty + i, 2tx + j] = (Aᵀ m A)[i, j] + b_o for each tile t of images n0..n1, cropped to (Ho, Wo)."""
    C, H, W, O, Ho, Wo, th, tw, pt, pl = geometry
    rows = np.empty((2, 2 * tw), dtype=y.dtype)
    for n in range(n0, n1):
        for o in range(O):
            b = bias[o] if bias.size else y.dtype.type(0)
            plane = y[n, o]
            for ty in range(th):
                t0 = ((n - n0) * th + ty) * tw
                for tx in range(tw):   # Aᵀ across the rows of m, then A on each of the two rows
                    t = t0 + tx
                    s0 = m[0, o, t] + m[4, o, t] + m[8, o, t]
                    s1 = m[1, o, t] + m[5, o, t] + m[9, o, t]
                    s2 = m[2, o, t] + m[6, o, t] + m[10, o, t]
                    s3 = m[3, o, t] + m[7, o, t] + m[11, o, t]
                    r0 = m[4, o, t] - m[8, o, t] - m[12, o, t]
                    r1 = m[5, o, t] - m[9, o, t] - m[13, o, t]
                    r2 = m[6, o, t] - m[10, o, t] - m[14, o, t]
                    r3 = m[7, o, t] - m[11, o, t] - m[15, o, t]
                    rows[0, 2 * tx] = s0 + s1 + s2 + b
                    rows[0, 2 * tx + 1] = s1 - s2 - s3 + b
                    rows[1, 2 * tx] = r0 + r1 + r2 + b
                    rows[1, 2 * tx + 1] = r1 - r2 - r3 + b
                for i in range(min(2, Ho - 2 * ty)):
                    plane[2 * ty + i, :] = rows[i, :Wo]


@_jit
def gradient_transform(g, gamma, n0, n1, geometry):
    """gamma[4a + b, o, t] = (A ∂y Aᵀ)[a, b] for the 2x2 block ∂y of g (zero past (Ho, Wo)) under each tile t."""
    C, H, W, O, Ho, Wo, th, tw, pt, pl = geometry
    rows = np.empty((2, 2 * tw), dtype=g.dtype)
    for n in range(n0, n1):
        for o in range(O):
            for ty in range(th):
                _padded_rows(g[n, o], rows, 2 * ty, 0)
                t0 = ((n - n0) * th + ty) * tw
                for tx in range(tw):   # A on the block's columns (rows of four), then A across them
                    q = 2 * tx
                    a, b = rows[0, q], rows[0, q + 1]
                    u0, u1, u2, u3 = a, a + b, a - b, -b
                    a, b = rows[1, q], rows[1, q + 1]
                    w0, w1, w2, w3 = a, a + b, a - b, -b
                    t = t0 + tx
                    gamma[0, o, t], gamma[1, o, t], gamma[2, o, t], gamma[3, o, t] = u0, u1, u2, u3
                    gamma[4, o, t], gamma[5, o, t], gamma[6, o, t], gamma[7, o, t] = u0 + w0, u1 + w1, u2 + w2, u3 + w3
                    gamma[8, o, t], gamma[9, o, t], gamma[10, o, t], gamma[11, o, t] = u0 - w0, u1 - w1, u2 - w2, u3 - w3
                    gamma[12, o, t], gamma[13, o, t], gamma[14, o, t], gamma[15, o, t] = -w0, -w1, -w2, -w3


@_jit
def scatter_transform(z, dx, n0, n1, geometry):
    """dx[n, c, 2ty − pt + i, 2tx − pl + j] += (B z Bᵀ)[i, j] over every tile t of images n0..n1 (inside x only).

    Neighbouring tiles overlap by two columns: a tile's columns j = 0, 1 and its left neighbour's j = 2, 3 are
    summed in ``rows`` (even and odd padded columns) before the row is added to dx."""
    C, H, W, O, Ho, Wo, th, tw, pt, pl = geometry
    left = np.zeros((4, 2, tw + 1), dtype=dx.dtype)    # columns j = 0, 1 of tile u at [.., u]
    right = np.zeros((4, 2, tw + 1), dtype=dx.dtype)   # columns j = 2, 3 of tile u at [.., u + 1]
    rows = np.empty(2 * tw + 2, dtype=dx.dtype)
    lo, hi = max(0, pl), min(2 * tw + 2, W + pl)
    for n in range(n0, n1):
        for c in range(C):
            plane = dx[n, c]
            for ty in range(th):
                t0 = ((n - n0) * th + ty) * tw
                for tx in range(tw):   # B across the rows of z, then Bᵀ on each of the four rows
                    t = t0 + tx
                    for b in range(4):
                        z0, z1, z2, z3 = z[b, c, t], z[4 + b, c, t], z[8 + b, c, t], z[12 + b, c, t]
                        e0, e1, e2, e3 = z0, z1 - z2 + z3, z1 + z2 - z0, -z3
                        if b == 0:
                            f00, f10, f20, f30 = e0, e1, e2, e3
                        elif b == 1:
                            f01, f11, f21, f31 = e0, e1, e2, e3
                        elif b == 2:
                            f02, f12, f22, f32 = e0, e1, e2, e3
                        else:
                            f03, f13, f23, f33 = e0, e1, e2, e3
                    left[0, 0, tx], left[0, 1, tx] = f00, f01 - f02 + f03
                    right[0, 0, tx + 1], right[0, 1, tx + 1] = f01 + f02 - f00, -f03
                    left[1, 0, tx], left[1, 1, tx] = f10, f11 - f12 + f13
                    right[1, 0, tx + 1], right[1, 1, tx + 1] = f11 + f12 - f10, -f13
                    left[2, 0, tx], left[2, 1, tx] = f20, f21 - f22 + f23
                    right[2, 0, tx + 1], right[2, 1, tx + 1] = f21 + f22 - f20, -f23
                    left[3, 0, tx], left[3, 1, tx] = f30, f31 - f32 + f33
                    right[3, 0, tx + 1], right[3, 1, tx + 1] = f31 + f32 - f30, -f33
                for i in range(4):
                    r = 2 * ty - pt + i
                    if r < 0 or r >= H or hi <= lo:
                        continue
                    for u in range(tw + 1):
                        rows[2 * u] = left[i, 0, u] + right[i, 0, u]
                        rows[2 * u + 1] = left[i, 1, u] + right[i, 1, u]
                    target = plane[r]
                    for q in range(lo, hi):
                        target[q - pl] += rows[q]


@_jit
def _products(count, u, v, m, transposes, rows, cols, inner, address, wide, alpha, beta):
    # m[k] (rows × cols) = alpha op(u[k]) op(v[k]) + beta m[k] for the 16 positions, ``cols`` ≤ the buffers' width
    item = m.itemsize
    ta, tb = transposes
    lda = u.shape[2]
    ldb = v.shape[2]
    ldc = m.shape[2]
    for k in range(count):
        gemm(address, wide, ta, tb, rows, cols, inner, alpha, u.ctypes.data + k * u.shape[1] * lda * item, lda,
             v.ctypes.data + k * v.shape[1] * ldb * item, ldb, beta, m.ctypes.data + k * m.shape[1] * ldc * item, ldc)


@_jit
def _forward_run(n0, n1, x, u, bias, y, v, m, geometry, address, wide, one, zero):
    C, H, W, O, Ho, Wo, th, tw, pt, pl = geometry
    by_rows = rows.takes(geometry)
    if by_rows:
        rows.input_transform(x, v, n0, n1, geometry)
    else:
        input_transform(x, v, n0, n1, geometry)
    _products(16, u, v, m, (NO_TRANS, NO_TRANS), O, (n1 - n0) * th * tw, C, address, wide, one, zero)
    if by_rows:
        rows.output_transform(m, y, bias, n0, n1, geometry)
    else:
        output_transform(m, y, bias, n0, n1, geometry)


@_jit
def _backward_run(n0, n1, x, u, g, dx, v, gamma, du, db, want_dx, geometry, address, wide, one, zero):
    C, H, W, O, Ho, Wo, th, tw, pt, pl = geometry
    width = (n1 - n0) * th * tw
    for n in range(n0, n1):
        channel_sums(g[n].reshape(O, Ho * Wo), db)
    by_rows = rows.takes(geometry)   # the row-wise transforms (``winograd_rows``) where they apply
    if by_rows:
        rows.gradient_transform(g, gamma, n0, n1, geometry)
        rows.input_transform(x, v, n0, n1, geometry)
    else:
        gradient_transform(g, gamma, n0, n1, geometry)
        input_transform(x, v, n0, n1, geometry)
    if C > O:   # the longer side as the product's rows: OpenBLAS is 10-20% faster so (du is then ∂Uᵀ, (16, C, O))
        _products(16, v, gamma, du, (NO_TRANS, TRANS), C, O, width, address, wide, one, one)   # ∂Uᵀ += V Γᵀ
    else:
        _products(16, gamma, v, du, (NO_TRANS, TRANS), O, C, width, address, wide, one, one)   # ∂U += Γ Vᵀ
    if want_dx:
        _products(16, u, gamma, v, (TRANS, NO_TRANS), C, width, O, address, wide, one, zero)  # Z = Uᵀ Γ
        if by_rows:
            rows.scatter_transform(v, dx, n0, n1, geometry)   # writes every value of dx[n0:n1]
        else:
            dx[n0:n1] = 0
            scatter_transform(v, dx, n0, n1, geometry)


@_parallel
def forward(pieces, runs, per_run, x, u, bias, y, v, m, geometry, address, wide, one, zero):
    """Runs of ``per_run`` images cut into ``pieces`` parts side by side, part p with its buffers v[p], m[p]."""
    images = x.shape[0]
    for p in prange(pieces):
        for r in range(runs * p // pieces, runs * (p + 1) // pieces):
            _forward_run(r * per_run, min(images, (r + 1) * per_run), x, u, bias, y, v[p], m[p], geometry, address,
                         wide, one, zero)


@_parallel
def backward(pieces, runs, per_run, x, u, g, dx, v, gamma, du_parts, db_parts, want_dx, geometry, address, wide,
             one, zero):
    """As ``forward``; part p sums its ∂U (∂Uᵀ where C > O) and ∂b into du_parts[p] and db_parts[p] (float64)."""
    images = x.shape[0]
    for p in prange(pieces):
        du_parts[p] = 0
        db_parts[p] = 0
        for r in range(runs * p // pieces, runs * (p + 1) // pieces):
            _backward_run(r * per_run, min(images, (r + 1) * per_run), x, u, g, dx, v[p], gamma[p], du_parts[p],
                          db_parts[p], want_dx, geometry, address, wide, one, zero)
