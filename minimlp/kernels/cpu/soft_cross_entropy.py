"""Cross-entropy against sparse soft targets compiled for the CPU: per image, the softmax in three passes over
its (Q, P) logits with the pixels innermost (the vector axis), the loss from the k target classes, and a
backward that turns the kept softmax into the gradient in place."""
import numba
import numpy as np
from numba import prange

from . import pool

_jit = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False, fastmath={"reassoc"})

# exp(x) = 2^k · exp(r), k = ⌊x·log₂e + ½⌋, r = x − k·ln 2 (ln 2 in two parts, Cephes' split) ∈ [−ln2/2, ln2/2],
# exp(r) by its Taylor series to r⁷ (truncation below 6e-9 relative), 2^k built in the exponent bits
_LOG2E, _LN2_HI, _LN2_LO = np.float32(1.4426950408889634), np.float32(0.693359375), np.float32(-2.12194440e-4)
_LOWEST = np.float32(-87.0)   # 2^k stays a normal float32; exp(−87) = 1.6e-38 stands for anything below
_TAYLOR = tuple(np.float32(1.0 / c) for c in (1, 1, 2, 6, 24, 120, 720, 5040))


@_jit
def _exp_float32(x, out, bits):
    """out = exp(x) for float32 x ≤ 0 (x < −87 gives exp(−87)), in loops LLVM vectorises (NumPy's SIMD exp is
    out of Numba's reach, and a scalar exp call per logit was as slow as the formula's passes)."""
    c0, c1, c2, c3, c4, c5, c6, c7 = _TAYLOR
    for i in range(x.shape[0]):
        v = max(x[i], _LOWEST)
        k = np.floor(v * _LOG2E + np.float32(0.5))
        r = v - k * _LN2_HI - k * _LN2_LO
        out[i] = c0 + r * (c1 + r * (c2 + r * (c3 + r * (c4 + r * (c5 + r * (c6 + r * c7))))))
        bits[i] = (np.int32(k) + 127) << 23
    scale = bits.view(np.float32)
    for i in range(x.shape[0]):
        out[i] *= scale[i]


@_jit
def _forward_images(z, idx, w, s, lo, hi, single):
    """s[n] = softmax(z[n]) over the classes for images lo..hi; returns their Σ w·(log Σ exp z − z[idx]).
    ``single``: z is float32, its exponentials by ``_exp_float32``; float64 takes np.exp."""
    classes, pixels, k = z.shape[1], z.shape[2], idx.shape[2]
    top = np.empty(pixels, dtype=z.dtype)
    total = np.empty(pixels, dtype=z.dtype)
    row = np.empty(pixels, dtype=z.dtype)
    bits = np.empty(pixels, dtype=np.int32)
    loss = 0.0
    for n in range(lo, hi):
        top[:] = z[n, 0]
        for q in range(1, classes):
            for i in range(pixels):
                top[i] = max(top[i], z[n, q, i])
        total[:] = 0
        for q in range(classes):
            for i in range(pixels):
                row[i] = z[n, q, i] - top[i]
            if single:
                _exp_float32(row, s[n, q], bits)
            else:
                for i in range(pixels):
                    s[n, q, i] = np.exp(row[i])
            for i in range(pixels):
                total[i] += s[n, q, i]
        for i in range(pixels):
            log_sum = top[i] + np.log(total[i])
            for j in range(k):
                loss += np.float64(w[n, i, j]) * (log_sum - z[n, idx[n, i, j], i])
            total[i] = 1 / total[i]
        for q in range(classes):
            for i in range(pixels):
                s[n, q, i] *= total[i]
    return loss


@numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy", boundscheck=False)
def _forward_pieces(pieces, z, idx, w, s, single):
    n = z.shape[0]
    parts = np.zeros(pieces)
    for p in prange(pieces):
        parts[p] = _forward_images(z, idx, w, s, n * p // pieces, n * (p + 1) // pieces, single)
    return parts.sum()


@_jit
def _backward_images(s, idx, w, scale, lo, hi):
    """s[n] ← (s[n]·Σ_j w − Σ_j w at the target classes)·scale, in place, for images lo..hi."""
    classes, pixels, k = s.shape[1], s.shape[2], idx.shape[2]
    mass = np.empty(pixels, dtype=s.dtype)
    for n in range(lo, hi):
        for i in range(pixels):
            m = 0.0
            for j in range(k):
                m += w[n, i, j]
            mass[i] = m * scale
        for q in range(classes):
            for i in range(pixels):
                s[n, q, i] *= mass[i]
        for i in range(pixels):
            for j in range(k):
                s[n, idx[n, i, j], i] -= w[n, i, j] * scale


@numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy", boundscheck=False)
def _backward_pieces(pieces, s, idx, w, scale):
    n = s.shape[0]
    for p in prange(pieces):
        _backward_images(s, idx, w, scale, n * p // pieces, n * (p + 1) // pieces)


def soft_cross_entropy(z, idx, w):
    """The formula's (L, softmax), L a 0-d array of z's dtype summed in float64."""
    z, idx, w = np.ascontiguousarray(z), np.ascontiguousarray(idx), np.ascontiguousarray(w, dtype=z.dtype)
    s = np.empty_like(z)
    parts, single = pool.pieces(z.shape[0], 1), z.dtype == np.float32
    if parts == 1:
        loss = _forward_images(z, idx, w, s, 0, z.shape[0], single)
    else:
        loss = pool.launch(parts, _forward_pieces, parts, z, idx, w, s, single)
    return np.asarray(loss / (z.shape[0] * z.shape[2]), dtype=z.dtype), s


def soft_cross_entropy_backward(s, idx, w):
    """The formula's gradient, written over the softmax ``s``."""
    idx, w = np.ascontiguousarray(idx), np.ascontiguousarray(w, dtype=s.dtype)
    scale = s.dtype.type(1.0 / (s.shape[0] * s.shape[2]))
    parts = pool.pieces(s.shape[0], 1)
    if parts == 1:
        _backward_images(s, idx, w, scale, 0, s.shape[0])
    else:
        pool.launch(parts, _backward_pieces, parts, s, idx, w, scale)
    return s
