"""The compiled loops of ``conv``: the im2col gather of one image (or block of output rows), padding applied
in the gather, its adjoint, and the per-image forward and backward.

geometry = (C, H, W, O, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl, groups, reflect).
"""
import numba
from numba import prange

from . import row_sums
from .gemm import NO_TRANS, TRANS, gemm

# Numba caches these loops keyed on this file's contents alone, but compiles ``gemm`` and ``row_sums`` from the files here
# into them: its digest (the first 16 hex digits of its SHA-256) is written here so that changing it changes this
# file and the cache is rebuilt; a test checks it is current.
COMPILED_IN = ("kernels/cpu/gemm.py", "kernels/cpu/row_sums.py")
COMPILED_IN_SHA256 = "56243c26dcc273ca"
_jit = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
_parallel = numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy", boundscheck=False)


@_jit
def _source(pos, size, reflect):
    # the input index read at padded position ``pos`` (−1: a zero from the padding)
    if pos < 0:
        return -pos if reflect else -1
    if pos >= size:
        return 2 * size - 2 - pos if reflect else -1
    return pos


@_jit
def _valid(q0, stride, size, count):
    # the outputs w with 0 <= w·stride + q0 < size: range(lo, hi)
    lo = 0 if q0 >= 0 else (-q0 + stride - 1) // stride
    hi = 0 if q0 >= size else min(count, (size - 1 - q0) // stride + 1)
    return lo, max(lo, hi)


@numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False, inline="never")
def _copy(dst, src):
    # a separate function: LLVM then knows the two arrays do not overlap and vectorises the loop (measured 4x)
    for k in range(dst.size):
        dst[k] = src[k]


@numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False, inline="never")
def _add(dst, src):
    for k in range(dst.size):
        dst[k] += src[k]


@_jit
def _partition(geometry):
    # kernel = stride, no dilation or padding, and the image exactly covered: the windows tile it, each input
    # value in one window (the U-Net's 2x2 stride-2 transposed convolutions)
    C, H, W, O, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl, groups, reflect = geometry
    return (kh == sh and kw == sw and dh == 1 and dw == 1 and pt == 0 and pl == 0 and H == Ho * sh
            and W == Wo * sw and not reflect)


@numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False, inline="never")
def _split_rows(even, odd, src, rows, width, stride):
    # even[r·width + w] = src[r·stride + 2w], odd[...] = src[r·stride + 2w + 1]: one row of 2x2 windows
    # de-interleaved (LLVM uses shuffles)
    for r in range(rows):
        for w in range(width):
            even[r * width + w] = src[r * stride + 2 * w]
            odd[r * width + w] = src[r * stride + 2 * w + 1]


@numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False, inline="never")
def _merge_rows(dst, even, odd, bias, rows, width, stride):
    # the adjoint of _split_rows, writing: dst[r·stride + 2w] = even[r·width + w] + bias, odd at 2w + 1
    for r in range(rows):
        for w in range(width):
            dst[r * stride + 2 * w] = even[r * width + w] + bias
            dst[r * stride + 2 * w + 1] = odd[r * width + w] + bias


@_jit
def _gather_partition(flat, cols, geometry, r0, r1):
    # ``gather`` when the windows tile the image: every value copied once, a row of windows at a time
    C, H, W, O, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl, groups, reflect = geometry
    for c in range(C):
        for i in range(kh):
            start = (c * H + r0 * sh + i) * W
            src = flat[start:start + max(0, (r1 - r0 - 1) * sh * W + W)]
            if kw == 2:
                k = (c * kh + i) * 2
                _split_rows(cols[k], cols[k + 1], src, r1 - r0, Wo, sh * W)
                continue
            for j in range(kw):
                row = cols[(c * kh + i) * kw + j]
                for r in range(r1 - r0):
                    for w in range(Wo):
                        row[r * Wo + w] = src[r * sh * W + w * kw + j]


@_jit
def _place_partition(cols, img, bias, geometry):
    # the adjoint of _gather_partition, writing (no add), each channel's bias added: a transposed
    # convolution's output whose windows tile it
    C, H, W, O, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl, groups, reflect = geometry
    flat = img.reshape(C * H * W)
    for c in range(C):
        b = bias[c] if bias.size else img.dtype.type(0)
        for i in range(kh):
            start = (c * H + i) * W
            dst = flat[start:start + (Ho - 1) * sh * W + W]
            if kw == 2:
                k = (c * kh + i) * 2
                _merge_rows(dst, cols[k], cols[k + 1], b, Ho, Wo, sh * W)
                continue
            for j in range(kw):
                row = cols[(c * kh + i) * kw + j]
                for r in range(Ho):
                    for w in range(Wo):
                        dst[r * sh * W + w * kw + j] = row[r * Wo + w] + b


@_jit
def _rows(i, geometry, r0, r1):
    # the output rows r0 <= r < r1 whose source row r + i·dh − pt lies inside the image (stride 1): range(lo, hi)
    H, dh, pt = geometry[1], geometry[10], geometry[12]
    lo = min(max(r0, pt - i * dh), r1)
    hi = max(min(r1, H + pt - i * dh), lo)
    return lo, hi


@_jit
def _gather_shifted(flat, cols, geometry, r0, r1):
    # stride 1 and Wo = W: rows lo..hi of one (c, i, j) plane of columns are the input plane shifted by
    # (i·dh − pt)·W + j·dw − pl elements, copied in one run; the columns that fell off the left or right
    # edge (and rows above or below the image) are then set to the padding's zero
    C, H, W, O, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl, groups, reflect = geometry
    size = C * H * W
    for c in range(C):
        for i in range(kh):
            lo_r, hi_r = _rows(i, geometry, r0, r1)
            for j in range(kw):
                row = cols[(c * kh + i) * kw + j]
                q0 = j * dw - pl
                lo, hi = _valid(q0, 1, W, Wo)
                for k in range(0, (lo_r - r0) * Wo):
                    row[k] = 0
                for k in range((hi_r - r0) * Wo, (r1 - r0) * Wo):
                    row[k] = 0
                shift = (c * H + i * dh - pt) * W + q0
                first = max((lo_r - r0) * Wo, -(shift + r0 * Wo))
                last = min((hi_r - r0) * Wo, size - (shift + r0 * Wo))
                start = shift + r0 * Wo
                if last > first:
                    _copy(row[first:last], flat[start + first:start + last])
                for r in range(lo_r - r0, hi_r - r0):
                    for w in range(lo):
                        row[r * Wo + w] = 0
                    for w in range(hi, Wo):
                        row[r * Wo + w] = 0


@_jit
def _scatter_shifted(cols, flat, geometry, r0, r1):
    # the adjoint of _gather_shifted: edge columns zeroed in ``cols`` (a scratch buffer), then one run of adds
    C, H, W, O, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl, groups, reflect = geometry
    size = C * H * W
    for c in range(C):
        for i in range(kh):
            lo_r, hi_r = _rows(i, geometry, r0, r1)
            for j in range(kw):
                row = cols[(c * kh + i) * kw + j]
                q0 = j * dw - pl
                lo, hi = _valid(q0, 1, W, Wo)
                for r in range(lo_r - r0, hi_r - r0):
                    for w in range(lo):
                        row[r * Wo + w] = 0
                    for w in range(hi, Wo):
                        row[r * Wo + w] = 0
                shift = (c * H + i * dh - pt) * W + q0
                start = shift + r0 * Wo
                first = max((lo_r - r0) * Wo, -start)
                last = min((hi_r - r0) * Wo, size - start)
                if last > first:
                    _add(flat[start + first:start + last], row[first:last])


@_jit
def gather(img, cols, geometry, r0, r1):
    """cols[(c·kh + i)·kw + j, (r − r0)·Wo + w] = x̃[c, r·sh + i·dh − pt, w·sw + j·dw − pl] for rows r0 ≤ r < r1."""
    C, H, W, O, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl, groups, reflect = geometry
    flat = img.reshape(C * H * W)
    if sw == 1 and sh == 1 and Wo == W and not reflect:
        _gather_shifted(flat, cols, geometry, r0, r1)
        return
    if _partition(geometry):
        _gather_partition(flat, cols, geometry, r0, r1)
        return
    for c in range(C):
        for i in range(kh):
            for j in range(kw):
                row = cols[(c * kh + i) * kw + j]
                q0 = j * dw - pl
                lo, hi = _valid(q0, sw, W, Wo)
                for r in range(r0, r1):
                    o = (r - r0) * Wo
                    src = _source(r * sh + i * dh - pt, H, reflect)
                    if src < 0:
                        for w in range(Wo):
                            row[o + w] = 0
                        continue
                    base = (c * H + src) * W
                    if reflect:
                        for w in range(Wo):
                            row[o + w] = flat[base + _source(w * sw + q0, W, True)]
                        continue
                    for w in range(lo):
                        row[o + w] = 0
                    if sw == 1:
                        _copy(row[o + lo:o + hi], flat[base + q0 + lo:base + q0 + hi])
                    else:
                        for w in range(lo, hi):
                            row[o + w] = flat[base + w * sw + q0]
                    for w in range(hi, Wo):
                        row[o + w] = 0


@_jit
def scatter(cols, img, geometry, r0, r1):
    """The adjoint of ``gather`` for output rows r0 ≤ r < r1: img[c, source(r, i), source(w, j)] +=
    cols[(c, i, j), (r − r0, w)] (added to what ``img`` holds)."""
    C, H, W, O, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl, groups, reflect = geometry
    flat = img.reshape(C * H * W)
    if sw == 1 and sh == 1 and Wo == W and not reflect:
        _scatter_shifted(cols, flat, geometry, r0, r1)
        return
    for c in range(C):
        for i in range(kh):
            for j in range(kw):
                row = cols[(c * kh + i) * kw + j]
                q0 = j * dw - pl
                lo, hi = _valid(q0, sw, W, Wo)
                for r in range(r0, r1):
                    src = _source(r * sh + i * dh - pt, H, reflect)
                    if src < 0:
                        continue
                    base = (c * H + src) * W
                    o = (r - r0) * Wo
                    if reflect:
                        for w in range(Wo):
                            flat[base + _source(w * sw + q0, W, True)] += row[o + w]
                    elif sw == 1:
                        _add(flat[base + q0 + lo:base + q0 + hi], row[o + lo:o + hi])
                    else:
                        for w in range(lo, hi):
                            flat[base + w * sw + q0] += row[o + w]


@_jit
def _forward_item(item, blocks, x, w2, bias, y, cols, geometry, address, wide, one, zero):
    C, H, W, O, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl, groups, reflect = geometry
    n = item // blocks
    b = item % blocks
    r0 = Ho * b // blocks
    r1 = Ho * (b + 1) // blocks
    width = (r1 - r0) * Wo
    if width == 0:
        return
    gather(x[n], cols, geometry, r0, r1)
    og, kg, ld = O // groups, w2.shape[1], cols.shape[1]
    item_size = y.itemsize
    out = y[n].ctypes.data + r0 * Wo * item_size
    for g in range(groups):
        gemm(address, wide, NO_TRANS, NO_TRANS, og, width, kg, one, w2.ctypes.data + g * og * kg * item_size, kg,
             cols.ctypes.data + g * kg * ld * item_size, ld, zero, out + g * og * Ho * Wo * item_size, Ho * Wo)
    if bias.size:
        yn = y[n].reshape(O, Ho * Wo)
        for o in range(O):
            part = yn[o, r0 * Wo:r1 * Wo]
            for k in range(width):
                part[k] += bias[o]


@_jit
def _backward_item(n, blocks, x, w2, dout, dx, cols, dcols, dw_part, db_part, want_dx, geometry, address, wide,
                   one, zero):
    # image n in ``blocks`` blocks of output rows, each gathered, multiplied and scattered while it is in cache
    C, H, W, O, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl, groups, reflect = geometry
    L = Ho * Wo
    og, kg, ld = O // groups, w2.shape[1], cols.shape[1]
    item_size = dout.itemsize
    channel_sums(dout[n].reshape(O, L), db_part)
    if want_dx:
        dx[n] = 0
    for b in range(blocks):
        r0, r1 = Ho * b // blocks, Ho * (b + 1) // blocks
        width = (r1 - r0) * Wo
        if width == 0:
            continue
        gather(x[n], cols, geometry, r0, r1)
        g_n = dout[n].ctypes.data + r0 * Wo * item_size
        for g in range(groups):   # the longer side of ∂W_g as the result's rows: OpenBLAS is much faster so
            if kg > og:           # ∂Wᵀ_g (kg × og) += cols_g G_gᵀ
                gemm(address, wide, NO_TRANS, TRANS, kg, og, width, one, cols.ctypes.data + g * kg * ld * item_size,
                     ld, g_n + g * og * L * item_size, L, one, dw_part.ctypes.data + g * og * kg * item_size, og)
            else:                 # ∂W_g (og × kg) += G_g cols_gᵀ
                gemm(address, wide, NO_TRANS, TRANS, og, kg, width, one, g_n + g * og * L * item_size, L,
                     cols.ctypes.data + g * kg * ld * item_size, ld, one, dw_part.ctypes.data + g * og * kg * item_size,
                     kg)
        if want_dx:
            for g in range(groups):
                gemm(address, wide, TRANS, NO_TRANS, kg, width, og, one, w2.ctypes.data + g * og * kg * item_size,
                     kg, g_n + g * og * L * item_size, L, zero, dcols.ctypes.data + g * kg * ld * item_size, ld)
            scatter(dcols, dx[n], geometry, r0, r1)


@_jit
def channel_sums(a, sums):
    # sums[o] += Σ a[o, :] in float64: the bias gradient's share of one image
    for o in range(a.shape[0]):
        sums[o] += row_sums.total(a[o])


@_jit
def _transposed_forward_item(n, x, w2, bias, y, cols, geometry, address, wide, one, zero):
    # ConvTranspose2d, the adjoint of the convolution ``geometry`` describes (its input is y, its output x):
    # cols = W_gᵀ x[n]_g per group, then scattered (the gather's adjoint) into y[n], plus the bias
    C, H, W, O, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl, groups, reflect = geometry
    L = Ho * Wo
    cg, kg = O // groups, w2.shape[1]
    item_size = y.itemsize
    x_n = x[n].ctypes.data
    for g in range(groups):
        gemm(address, wide, TRANS, NO_TRANS, kg, L, cg, one, w2.ctypes.data + g * cg * kg * item_size, kg,
             x_n + g * cg * L * item_size, L, zero, cols.ctypes.data + g * kg * L * item_size, L)
    if _partition(geometry):
        _place_partition(cols, y[n], bias, geometry)
        return
    y[n] = 0
    scatter(cols, y[n], geometry, 0, Ho)
    if bias.size:
        yn = y[n].reshape(C, H * W)
        for c in range(C):
            row = yn[c]
            for k in range(row.size):
                row[k] += bias[c]


@_jit
def _transposed_backward_item(n, x, w2, dout, dx, cols, dw_part, db_part, want_dx, geometry, address, wide, one,
                              zero):
    # Γ = gather(G[n]); ∂W_g += x[n]_g Γ_gᵀ; ∂b += Σ G[n]; ∂x[n]_g = W_g Γ_g
    C, H, W, O, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl, groups, reflect = geometry
    L = Ho * Wo
    gather(dout[n], cols, geometry, 0, Ho)
    cg, kg = O // groups, w2.shape[1]
    item_size = dout.itemsize
    x_n = x[n].ctypes.data
    for g in range(groups):
        gemm(address, wide, NO_TRANS, TRANS, cg, kg, L, one, x_n + g * cg * L * item_size, L,
             cols.ctypes.data + g * kg * L * item_size, L, one, dw_part.ctypes.data + g * cg * kg * item_size, kg)
    channel_sums(dout[n].reshape(C, H * W), db_part)
    if want_dx:
        dx_n = dx[n].ctypes.data
        for g in range(groups):
            gemm(address, wide, NO_TRANS, NO_TRANS, cg, L, kg, one, w2.ctypes.data + g * cg * kg * item_size, kg,
                 cols.ctypes.data + g * kg * L * item_size, L, zero, dx_n + g * cg * L * item_size, L)


@_jit
def _forward(item, blocks, x, w2, bias, y, cols, geometry, address, wide, one, zero, transposed):
    if transposed:
        _transposed_forward_item(item, x, w2, bias, y, cols, geometry, address, wide, one, zero)
    else:
        _forward_item(item, blocks, x, w2, bias, y, cols, geometry, address, wide, one, zero)


@_jit
def _backward(n, blocks, x, w2, dout, dx, cols, dcols, dw_part, db_part, want_dx, geometry, address, wide, one,
              zero, transposed):
    if transposed:
        _transposed_backward_item(n, x, w2, dout, dx, cols, dw_part, db_part, want_dx, geometry, address, wide,
                                  one, zero)
    else:
        _backward_item(n, blocks, x, w2, dout, dx, cols, dcols, dw_part, db_part, want_dx, geometry, address, wide,
                       one, zero)


@_jit
def forward_serial(items, blocks, x, w2, bias, y, cols, geometry, address, wide, one, zero, transposed):
    """Every item (image, or block of output rows) on the calling thread."""
    for item in range(items):
        _forward(item, blocks, x, w2, bias, y, cols[0], geometry, address, wide, one, zero, transposed)


@_parallel
def forward_parallel(pieces, items, blocks, x, w2, bias, y, cols, geometry, address, wide, one, zero, transposed):
    """The items cut into ``pieces`` runs, side by side, each with its own column buffer cols[p]."""
    for p in prange(pieces):
        for item in range(items * p // pieces, items * (p + 1) // pieces):
            _forward(item, blocks, x, w2, bias, y, cols[p], geometry, address, wide, one, zero, transposed)


@_jit
def backward_serial(blocks, x, w2, dout, dx, cols, dcols, dw_parts, db_parts, want_dx, geometry, address, wide, one,
                    zero, transposed):
    """Every image on the calling thread; ∂W and ∂b into dw_parts[0] and db_parts[0]."""
    dw_parts[0] = 0
    db_parts[0] = 0
    for n in range(x.shape[0]):
        _backward(n, blocks, x, w2, dout, dx, cols[0], dcols[0], dw_parts[0], db_parts[0], want_dx, geometry, address, wide,
                  one, zero, transposed)


@_parallel
def backward_parallel(pieces, blocks, x, w2, dout, dx, cols, dcols, dw_parts, db_parts, want_dx, geometry, address,
                      wide, one, zero, transposed):
    """The images cut into ``pieces`` runs; run p sums its ∂W and ∂b into dw_parts[p] and db_parts[p]."""
    images = x.shape[0]
    for p in prange(pieces):
        dw_parts[p] = 0
        db_parts[p] = 0
        for n in range(images * p // pieces, images * (p + 1) // pieces):
            _backward(n, blocks, x, w2, dout, dx, cols[p], dcols[p], dw_parts[p], db_parts[p], want_dx, geometry, address,
                      wide, one, zero, transposed)
