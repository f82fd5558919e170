"""The optimizer step inside backward: a Linear weight updated block by block, right after its gradient.

``Optimizer.step_in_backward()`` hands each parameter an ``InBackwardUpdate``
for the length of the block; ``Linear`` then calls
``update.linear_weight(dout, x, want_dx)`` instead of computing ∂L/∂x = G W
and ∂L/∂W = Gᵀ x and leaving the update to ``step()``. Here the weight is
walked once, ``BLOCK_ROWS`` rows at a time (each step one single-threaded
BLAS call, as in ``minimlp.nn.blas``): the block's share of ∂L/∂x with the
weights as they were, the block's gradient, and at once the optimizer's
compiled update of the block (``fused_numba``) while it is in the core's
cache. Threads take fixed chunks of ``CHUNK_ROWS`` rows; ∂L/∂x is the sum of
the chunks' shares, in chunk order, so it does not depend on the number of
threads, but it is summed in another order than one BLAS call would use: the
step is backward-then-``step()``'s to rounding (tests check it, and check
the bits when the first layer only needs its weight's gradient). The gradient
still lands in ``p.grad``.

It pays where the update is bound by memory traffic: at a batch of 16 the
3072 x 512 weight's ∂L/∂x, gradient and Adam update took 1.45-1.7 ms done apart
and 1.34-1.4 ms together (benchmarks/README.md); in the whole step this path
is about 12% faster (measured on a 2-core Xeon). Beyond a batch of ``MAX_BATCH`` the products dominate and cutting
them into blocks costs more than it saves (measured at 64 and 256), so there
the plain path runs.

Implemented for Adam and AdamW (with or without AMSGrad) on NumPy float32 and
float64 when NumPy's OpenBLAS can be called from compiled code
(``minimlp.nn.blas``); elsewhere ``linear_weight`` returns ``(False, None)``
and backward goes the plain way.
"""
import numba
import numpy as np
from numba import prange

from .. import compiled, threads
from ..nn import blas, gemm_kernels
from ..nn.blas import NO_TRANS, TRANS
from .fused_numba import _adam

# Numba caches the kernels below keyed on this file's contents alone, but compiles ``_adam`` and ``gemm`` from the
# two files named here into them. Their digest (the first 16 hex digits of the SHA-256 of the files, in this order)
# is written here so that changing either changes this file and the cache is rebuilt; a test checks it is current.
KERNEL_SOURCES = ("optim/fused_numba.py", "nn/gemm_kernels.py")
KERNEL_SOURCES_SHA256 = "7bc3df502bbc7f0a"
MAX_BATCH = 32
BLOCK_ROWS = 64    # rows of W per BLAS call and update: measured best at 32-64 for the paper's weights
CHUNK_ROWS = 128   # rows per unit of work for a thread; ∂L/∂x is summed over these chunks in order


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _chunk(c, address, wide, batch, g_ptr, ldg, x_ptr, ldx, w, grad, m, v, vmax, amsgrad, one_minus_beta1, beta2,
           one_minus_beta2, eps, wd, decay, neg_step_size, bias_correction2_sqrt, one, zero, itemsize, dx_parts,
           want_dx):
    """Chunk ``c`` of ``CHUNK_ROWS`` rows of W, block by block: ∂L/∂x's share (with the weights before the
    update), the gradient, the update."""
    cols = w.shape[1]
    lo, hi = c * CHUNK_ROWS, min((c + 1) * CHUNK_ROWS, w.shape[0])
    for r in range(lo, hi, BLOCK_ROWS):
        r2 = min(r + BLOCK_ROWS, hi)
        g_block = g_ptr + r * itemsize
        if want_dx:  # dx_parts[c] (+)= G[:, r:r2] W[r:r2], before W[r:r2] changes
            gemm_kernels.gemm(address, wide, NO_TRANS, NO_TRANS, batch, cols, r2 - r, one, g_block, ldg,
                              w[r:].ctypes.data, cols, zero if r == lo else one, dx_parts[c].ctypes.data, cols)
        # grad[r:r2] = G[:, r:r2]ᵀ x  (row-major; G is stored batch x rows, so its block is transposed)
        gemm_kernels.gemm(address, wide, TRANS, NO_TRANS, r2 - r, cols, batch, one, g_block, ldg, x_ptr, ldx, zero,
                          grad[r:].ctypes.data, cols)
        _adam(w[r:r2].reshape(-1), grad[r:r2].reshape(-1), m[r:r2].reshape(-1), v[r:r2].reshape(-1),
              vmax[r:r2].reshape(-1) if amsgrad else vmax.reshape(-1), amsgrad, one_minus_beta1, beta2,
              one_minus_beta2, eps, wd, decay, neg_step_size, bias_correction2_sqrt)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _chunks_serial(chunks, *args):
    for c in range(chunks):
        _chunk(c, *args)


@numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def _chunks_parallel(chunks, *args):
    for c in prange(chunks):
        _chunk(c, *args)


class InBackwardUpdate:
    """One parameter's pending update, applied by the layer that computes its gradient (see the module doc)."""

    __slots__ = ("optimizer", "index", "done")

    def __init__(self, optimizer, index):
        self.optimizer = optimizer
        self.index = index
        self.done = False

    def linear_weight(self, dout, x, want_dx=False):
        """∂L/∂W = doutᵀ x into the gradient and W updated; returns ``(done, ∂L/∂x or None)``.

        ``done`` is False (nothing computed) where this path is not supported.
        With ``want_dx`` the input's gradient dout W is computed in the same
        pass, from the weights before their update, summed over fixed chunks
        of rows (the same order whatever the number of threads).
        """
        p = self.optimizer._params[self.index]
        w = p.data
        if (self.done or p.has_grad or type(w) is not np.ndarray or type(dout) is not np.ndarray
                or type(x) is not np.ndarray or not compiled.use_compiled() or dout.shape[0] > MAX_BATCH
                or not (w.dtype == dout.dtype == x.dtype)
                or blas._row_major(dout) is None or blas._row_major(x) is None or not w.flags.c_contiguous):
            return False, None
        found = blas.gemm_address(w.dtype)
        grad = p.grad_buffer()
        if found is None or not grad.flags.c_contiguous:
            return False, None
        spec = self.optimizer._in_backward_arguments(self.index)
        if spec is None:
            return False, None
        chunks = -(-w.shape[0] // CHUNK_ROWS)
        dx_parts = np.empty((chunks if want_dx else 0, dout.shape[0], w.shape[1]), dtype=w.dtype)
        t = w.dtype.type
        args = (*found, dout.shape[0], dout.ctypes.data, blas._row_major(dout), x.ctypes.data, blas._row_major(x),
                w, grad, *spec, t(1), t(0), w.itemsize, dx_parts, want_dx)
        with blas.one_blas_thread():
            parts = threads.pieces(chunks, 1)
            threads.launch(parts, _chunks_serial if parts == 1 else _chunks_parallel, chunks, *args)
        p.has_grad = True
        self.done = True
        return True, (np.add.reduce(dx_parts, axis=0) if want_dx else None)
