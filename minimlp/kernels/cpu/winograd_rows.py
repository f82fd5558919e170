"""The four tile transforms of ``winograd_loops`` for the U-Net's convolutions (3x3, padded by one on every side,
even height and width, 8 tiles or more per row), written as passes over whole rows that LLVM vectorises.

The per-tile loops of ``winograd_loops`` read a tile's 16 values at stride 2 and write 16 planes: LLVM keeps them
scalar. Here each transform is split by axis (``formulas.winograd``: Bᵀ d B is Bᵀ on the tile's rows, then B on
its columns; the others alike), every pass reads and writes whole rows at unit stride, and the stride-2 columns of
a tile are de-interleaved once (``_split``) or interleaved once (``_merge``), which LLVM does with shuffles. Each
leaf writes at most two arrays: LLVM versions a loop on the arrays' overlap only for a few pairs of them.

Padding: x̃'s row −1 and row H, and its columns −1 and W, are zeros; a pass reads the next row's first value or
the last row's in their place, and the rows' first or last outputs are then set again without it.
"""
import numba
import numpy as np

MIN_TILES_PER_ROW = 8   # shorter rows: the vector loops barely run, and the per-tile loops are faster
_jit = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
# a leaf is never inlined: LLVM then sees only its own arrays, and checks their overlap once per call
_leaf = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False, inline="never")
SPREAD = 80     # elements between a scratch's rows, so that rows of 2^k elements do not share L1 sets


@_jit
def takes(geometry):
    """Whether these passes compute the transforms of ``geometry``: 3x3 with padding 1 all round (output size =
    input size), even height and width, at least ``MIN_TILES_PER_ROW`` tiles per row."""
    C, H, W, O, Ho, Wo, th, tw, pt, pl = geometry
    return pt == 1 and pl == 1 and Ho == H and Wo == W and H % 2 == 0 and W % 2 == 0 and tw >= MIN_TILES_PER_ROW


@_leaf
def _split(even, odd, pairs):
    # even[u] = pairs[2u], odd[u] = pairs[2u + 1]
    for u in range(even.size):
        even[u] = pairs[2 * u]
        odd[u] = pairs[2 * u + 1]


@_leaf
def _merge(pairs, even, odd):
    # the adjoint of _split: pairs[2u] = even[u], pairs[2u + 1] = odd[u]
    for u in range(even.size):
        pairs[2 * u] = even[u]
        pairs[2 * u + 1] = odd[u]


@_leaf
def _sub(out, a, b):
    for t in range(out.size):
        out[t] = a[t] - b[t]


@_leaf
def _add(out, a, b):
    for t in range(out.size):
        out[t] = a[t] + b[t]


# ------------------------------------------------------------------------------------------ forward: V = Bᵀ d B
@_leaf
def _rows_outer(d0, d3, plane, th, W):
    # Bᵀ's rows 0 and 3 on the tile rows R_i = x̃[2ty + i] = x[2ty + i − 1]: d0 = R0 − R2, d3 = R1 − R3
    for ty in range(th):
        o = ty * W
        r = 2 * ty * W
        if ty == 0:
            for w in range(W):
                d0[o + w] = -plane[r + W + w]
        else:
            for w in range(W):
                d0[o + w] = plane[r - W + w] - plane[r + W + w]
        if ty == th - 1:
            for w in range(W):
                d3[o + w] = plane[r + w]
        else:
            for w in range(W):
                d3[o + w] = plane[r + w] - plane[r + 2 * W + w]


@_leaf
def _rows_inner(d1, d2, plane, th, W):
    # Bᵀ's rows 1 and 2: d1 = R1 + R2, d2 = R2 − R1
    for ty in range(th):
        o = ty * W
        r = 2 * ty * W
        for w in range(W):
            a, b = plane[r + w], plane[r + W + w]
            d1[o + w] = a + b
            d2[o + w] = b - a


@_leaf
def _columns_outer(v0, v3, de, do):
    # B's columns 0 and 3: x̃ column 2tx minus 2tx + 2 (do[t] − do[t + 1]), 2tx + 1 minus 2tx + 3 (de[t] − de[t + 1])
    for t in range(v0.size):
        v0[t] = do[t] - do[t + 1]
        v3[t] = de[t] - de[t + 1]


@_leaf
def _columns_inner(v1, v2, de, do):
    # B's columns 1 and 2: x̃ column 2tx + 1 plus 2tx + 2, and 2tx + 2 minus 2tx + 1
    for t in range(v1.size):
        a, b = de[t], do[t + 1]
        v1[t] = a + b
        v2[t] = b - a


@_jit
def input_transform(x, v, n0, n1, geometry):
    """``winograd_loops.input_transform`` (v[4a + b, c, t] = (Bᵀ d B)[a, b]) by whole rows."""
    C, H, W, O, Ho, Wo, th, tw, pt, pl = geometry
    T = th * tw
    size = th * W
    d = np.empty((4, size + SPREAD), dtype=x.dtype)
    cols = np.zeros(2 * T + 2 * SPREAD, dtype=x.dtype)
    de = cols[:T + 1]                       # de[t]: x̃ column 2tx + 1 (x's column 2tx) of the tile row
    do = cols[T + SPREAD:2 * T + SPREAD + 1]   # do[t + 1]: x̃ column 2tx + 2; do[0] stands for column 0
    for n in range(n0, n1):
        for c in range(C):
            plane = x[n, c].reshape(H * W)
            _rows_outer(d[0, :size], d[3, :size], plane, th, W)
            _rows_inner(d[1, :size], d[2, :size], plane, th, W)
            t0 = (n - n0) * T
            for a in range(4):
                _split(de[:T], do[1:], d[a, :size])
                _columns_outer(v[4 * a, c, t0:t0 + T], v[4 * a + 3, c, t0:t0 + T], de, do)
                _columns_inner(v[4 * a + 1, c, t0:t0 + T], v[4 * a + 2, c, t0:t0 + T], de, do)
                for ty in range(th):   # x̃'s columns 0 and W + 1 are zeros
                    s = ty * tw
                    v[4 * a, c, t0 + s] = -do[1 + s]
                    v[4 * a + 3, c, t0 + s + tw - 1] = de[s + tw - 1]


# ----------------------------------------------------------------------------------------- forward: y = Aᵀ m A
@_leaf
def _sum3(out, a, b, c):
    for t in range(out.size):
        out[t] = a[t] + b[t] + c[t]


@_leaf
def _diff3(out, a, b, c):
    for t in range(out.size):
        out[t] = a[t] - b[t] - c[t]


@_leaf
def _columns_out(plane, s0, s1, s2, s3, bias, i, th, tw, W):
    # A on the columns of Aᵀ's row i: y[2ty + i, 2tx] = s0 + s1 + s2 + b, y[2ty + i, 2tx + 1] = s1 − s2 − s3 + b
    for ty in range(th):
        r = (2 * ty + i) * W
        o = ty * tw
        for tx in range(tw):
            t = o + tx
            plane[r + 2 * tx] = s0[t] + s1[t] + s2[t] + bias
            plane[r + 2 * tx + 1] = s1[t] - s2[t] - s3[t] + bias


@_jit
def output_transform(m, y, bias, n0, n1, geometry):
    """``winograd_loops.output_transform`` (y = Aᵀ m A + b) by whole rows."""
    C, H, W, O, Ho, Wo, th, tw, pt, pl = geometry
    T = th * tw
    s = np.empty((8, T + SPREAD), dtype=y.dtype)
    for n in range(n0, n1):
        t0 = (n - n0) * T
        for o in range(O):
            b = bias[o] if bias.size else y.dtype.type(0)
            for k in range(4):   # Aᵀ on the rows: row 0 sums positions 0, 1, 2; row 1 is 1 − 2 − 3
                _sum3(s[k, :T], m[k, o, t0:t0 + T], m[4 + k, o, t0:t0 + T], m[8 + k, o, t0:t0 + T])
                _diff3(s[4 + k, :T], m[4 + k, o, t0:t0 + T], m[8 + k, o, t0:t0 + T], m[12 + k, o, t0:t0 + T])
            plane = y[n, o].reshape(H * W)
            _columns_out(plane, s[0, :T], s[1, :T], s[2, :T], s[3, :T], b, 0, th, tw, W)
            _columns_out(plane, s[4, :T], s[5, :T], s[6, :T], s[7, :T], b, 1, th, tw, W)


# ------------------------------------------------------------------------------------- backward: Γ = A ∂y Aᵀ
@_leaf
def _gamma_outer(g0, g12, src, sign, th, tw):
    # Γ's rows 0 and 3 (A's rows (1, 0) and (0, −1) across the block's two rows): u and −w
    for ty in range(th):
        r = 2 * ty * tw
        o = ty * tw
        for tx in range(tw):
            g0[o + tx] = sign * src[r + tx]
            g12[o + tx] = -(sign * src[r + tw + tx])


@_leaf
def _gamma_inner(g4, g8, src, sign, th, tw):
    # Γ's rows 1 and 2: u + w and u − w
    for ty in range(th):
        r = 2 * ty * tw
        o = ty * tw
        for tx in range(tw):
            u = sign * src[r + tx]
            w = sign * src[r + tw + tx]
            g4[o + tx] = u + w
            g8[o + tx] = u - w


@_jit
def gradient_transform(g, gamma, n0, n1, geometry):
    """``winograd_loops.gradient_transform`` (Γ = A ∂y Aᵀ) by whole rows: each row's pairs split into its even
    and odd columns a, b; A on them gives a, a + b, a − b, −b; A across the block's two rows gives the rest."""
    C, H, W, O, Ho, Wo, th, tw, pt, pl = geometry
    T = th * tw
    P = H * tw
    cols = np.empty((4, P + SPREAD), dtype=g.dtype)   # a, b, a + b, a − b of every row
    one = g.dtype.type(1)
    for n in range(n0, n1):
        t0 = (n - n0) * T
        for o in range(O):
            _split(cols[0, :P], cols[1, :P], g[n, o].reshape(H * W))
            _add(cols[2, :P], cols[0, :P], cols[1, :P])
            _sub(cols[3, :P], cols[0, :P], cols[1, :P])
            for k in range(4):   # A's column k on the pair: a, a + b, a − b, −b
                src = cols[(0, 2, 3, 1)[k], :P]
                sign = -one if k == 3 else one
                _gamma_outer(gamma[k, o, t0:t0 + T], gamma[12 + k, o, t0:t0 + T], src, sign, th, tw)
                _gamma_inner(gamma[4 + k, o, t0:t0 + T], gamma[8 + k, o, t0:t0 + T], src, sign, th, tw)


# ----------------------------------------------------------------------------- backward: ∂x = Σ B z Bᵀ (scatter)
@_leaf
def _columns_even(out, z1, z2, z3):
    # ∂ of x̃ column 2tx + 1 (de): z1 − z2 + z3 of tile tx, and −z3 of tile tx − 1 (its column 2(tx − 1) + 3);
    # a row's first tile has no left neighbour: ``scatter_transform`` sets it again
    out[0] = z1[0] - z2[0] + z3[0]
    for t in range(1, out.size):
        out[t] = z1[t] - z2[t] + z3[t] - z3[t - 1]


@_leaf
def _columns_odd(out, z0, z1, z2):
    # ∂ of x̃ column 2tx + 2 (do): −z0 + z1 + z2 of tile tx, and z0 of tile tx + 1 (its column 2(tx + 1));
    # a row's last tile has no right neighbour: set again by the caller
    last = out.size - 1
    for t in range(last):
        out[t] = z1[t] + z2[t] - z0[t] + z0[t + 1]
    out[last] = z1[last] + z2[last] - z0[last]


@_leaf
def _rows_even(dx, d1, d2, d3, th, W):
    # ∂x[2k] (x̃ row 2k + 1: row 1 of tile row k, row 3 of tile row k − 1): d1 − d2 + d3 of k, −d3 of k − 1
    for k in range(th):
        r = 2 * k * W
        o = k * W
        if k == 0:
            for w in range(W):
                dx[r + w] = d1[o + w] - d2[o + w] + d3[o + w]
        else:
            for w in range(W):
                dx[r + w] = d1[o + w] - d2[o + w] + d3[o + w] - d3[o - W + w]


@_leaf
def _rows_odd(dx, d0, d1, d2, th, W):
    # ∂x[2k + 1] (row 2 of tile row k, row 0 of tile row k + 1): −d0 + d1 + d2 of k, d0 of k + 1
    for k in range(th):
        r = (2 * k + 1) * W
        o = k * W
        if k == th - 1:
            for w in range(W):
                dx[r + w] = d1[o + w] + d2[o + w] - d0[o + w]
        else:
            for w in range(W):
                dx[r + w] = d1[o + w] + d2[o + w] - d0[o + w] + d0[o + W + w]


@_jit
def scatter_transform(z, dx, n0, n1, geometry):
    """``winograd_loops.scatter_transform`` (∂x = Σ_tiles B z Bᵀ) by whole rows, the adjoint of
    ``input_transform`` pass by pass: B's columns, then the pairs merged, then Bᵀ's rows. Writes ∂x (no add)."""
    C, H, W, O, Ho, Wo, th, tw, pt, pl = geometry
    T = th * tw
    size = th * W
    d = np.empty((4, size + SPREAD), dtype=dx.dtype)
    cols = np.empty((2, T + SPREAD), dtype=dx.dtype)
    for n in range(n0, n1):
        t0 = (n - n0) * T
        for c in range(C):
            for a in range(4):
                z0, z1 = z[4 * a, c, t0:t0 + T], z[4 * a + 1, c, t0:t0 + T]
                z2, z3 = z[4 * a + 2, c, t0:t0 + T], z[4 * a + 3, c, t0:t0 + T]
                _columns_even(cols[0, :T], z1, z2, z3)
                _columns_odd(cols[1, :T], z0, z1, z2)
                for ty in range(1, th):   # the rows' first and last tiles: no neighbour across the row's end
                    t = ty * tw
                    cols[0, t] = z1[t] - z2[t] + z3[t]
                    cols[1, t - 1] = z1[t - 1] + z2[t - 1] - z0[t - 1]
                _merge(d[a, :size], cols[0, :T], cols[1, :T])
            plane = dx[n, c].reshape(H * W)
            _rows_even(plane, d[1, :size], d[2, :size], d[3, :size], th, W)
            _rows_odd(plane, d[0, :size], d[1, :size], d[2, :size], th, W)
