"""Sums over one contiguous row, in float64, compiled into the row-wise kernels (LayerNorm, GroupNorm, softmax).

``fastmath={"reassoc"}`` on these loops only lets LLVM keep several partial sums in SIMD lanes: with one
dependent float64 addition per element a row's sum waits 4 cycles per value (see ``batch_norm``'s note).
"""
import numba

_row_sums = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False, fastmath={"reassoc"})


@_row_sums
def total(row):
    """Σₖ row[k]."""
    acc = 0.0
    for k in range(row.size):
        acc += row[k]
    return acc


@_row_sums
def squared_deviation(row, mu):
    """Σₖ (row[k] − μ)²."""
    acc = 0.0
    for k in range(row.size):
        d = row[k] - mu
        acc += d * d
    return acc


@_row_sums
def total_and_dot(a, b):
    """(Σₖ a[k], Σₖ a[k]·b[k])."""
    acc_a = 0.0
    acc_ab = 0.0
    for k in range(a.size):
        acc_a += a[k]
        acc_ab += a[k] * b[k]
    return acc_a, acc_ab


@_row_sums
def dot(a, b):
    """Σₖ a[k]·b[k]."""
    acc = 0.0
    for k in range(a.size):
        acc += a[k] * b[k]
    return acc
