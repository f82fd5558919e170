"""Linear's backward with the weight's Adam step inside it, chunk by chunk, while the chunk is in cache.

Selected inside ``Optimizer.step_in_backward()`` for a weight offered an Adam or AdamW update
(``kernels.in_backward``), at batches up to ``MAX_BATCH``; ∂L/∂x is summed over chunks of rows, so the step is
backward-then-``step()``'s to rounding. Why and what it pays: docs/kernels.md.
"""
import numba
import numpy as np
from numba import prange

from ... import threads
from .. import in_backward
from . import blas, pool
from .gemm import NO_TRANS, TRANS, gemm
from .linear import bias_gradient
from .optimizers import _adam, adam_scalars

# Numba caches the kernels below keyed on this file's contents alone, but compiles ``_adam`` and ``gemm`` from the
# files named here into them. Their digest (the first 16 hex digits of the SHA-256 of the files, in this order) is
# written here so that changing either changes this file and the cache is rebuilt; a test checks it is current.
COMPILED_IN = ("kernels/cpu/optimizers.py", "kernels/cpu/gemm.py")
COMPILED_IN_SHA256 = "099c831988b55d86"
MAX_BATCH = 256    # batches up to this size take this kernel (measured: docs/kernels.md)
CHUNK_ROWS = 256   # rows of W per unit of work at most: a BLAS call each way, then their update


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _chunk(c, chunk_rows, address, wide, batch, one, zero, itemsize, g_ptr, ldg, x_ptr, ldx, w, grad, m, v, vmax, s,
           dx_parts, want_dx):
    """Rows r..r2 of W, chunk ``c`` of ``chunk_rows``: ∂L/∂x's share (with the weights before the update), the
    gradient, the update (``s``: ``adam_scalars``; AMSGrad where ``vmax`` is not empty)."""
    amsgrad = vmax.size > 0
    cols = w.shape[1]
    r, r2 = c * chunk_rows, min((c + 1) * chunk_rows, w.shape[0])
    g_block = g_ptr + r * itemsize
    if want_dx:  # dx_parts[c] = G[:, r:r2] W[r:r2], before W[r:r2] changes
        gemm(address, wide, NO_TRANS, NO_TRANS, batch, cols, r2 - r, one, g_block, ldg, w[r:].ctypes.data, cols,
             zero, dx_parts[c].ctypes.data, cols)
    # grad[r:r2] = G[:, r:r2]ᵀ x  (row-major; G is stored batch x rows, so its block is transposed)
    gemm(address, wide, TRANS, NO_TRANS, r2 - r, cols, batch, one, g_block, ldg, x_ptr, ldx, zero,
         grad[r:].ctypes.data, cols)
    _adam(w[r:r2].reshape(-1), grad[r:r2].reshape(-1), m[r:r2].reshape(-1), v[r:r2].reshape(-1),
          vmax[r:r2].reshape(-1) if amsgrad else vmax.reshape(-1), amsgrad, s[0], s[1], s[2], s[3], s[4], s[5],
          s[6], s[7], s[8])


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _chunks_serial(chunks, *args):
    for c in range(chunks):
        _chunk(c, *args)


@numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def _chunks_parallel(chunks, *args):
    for c in prange(chunks):
        _chunk(c, *args)


def fits(g, x, weight):
    """True where this kernel can take the call: a batch of at most ``MAX_BATCH`` NumPy rows, the weight one
    contiguous block with no gradient yet (an accumulated one takes the plain path), NumPy's OpenBLAS gemm found."""
    w = weight.data
    return (g.shape[0] <= MAX_BATCH and not weight.has_grad and type(x) is np.ndarray and type(w) is np.ndarray
            and w.dtype == g.dtype == x.dtype and w.flags.c_contiguous and weight.grad_buffer().flags.c_contiguous
            and blas.row_major(g) is not None and blas.row_major(x) is not None
            and blas.gemm_address(w.dtype) is not None)


def backward(g, x, weight, bias, want_dx=True):
    """``formulas.linear.backward``, and the update offered for the weight applied to it."""
    w = weight.data
    update = in_backward.pending(weight)
    (m, v, vmax), hyper = update.arguments()
    grad, _ = weight.grad_target()
    chunk_rows = min(CHUNK_ROWS, -(-w.shape[0] // threads.get_num_threads()))  # a chunk for every thread
    chunks = -(-w.shape[0] // chunk_rows)
    dx_parts = np.empty((chunks if want_dx else 0, g.shape[0], w.shape[1]), dtype=w.dtype)
    t = w.dtype.type
    args = (chunk_rows, *blas.gemm_address(w.dtype), g.shape[0], t(1), t(0), w.itemsize, g.ctypes.data,
            blas.row_major(g), x.ctypes.data, blas.row_major(x), w, grad, m, v, w[:0] if vmax is None else vmax,
            np.array(adam_scalars(w.dtype, **hyper)), dx_parts, want_dx)
    with blas.one_blas_thread():
        parts = pool.pieces(chunks, 1)
        pool.launch(parts, _chunks_serial if parts == 1 else _chunks_parallel, chunks, *args)
    update.done = True
    if bias is not None:
        bias_gradient(g, bias)
    return np.add.reduce(dx_parts, axis=0) if want_dx else None
