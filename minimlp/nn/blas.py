"""The layers' matrix products on the CPU: NumPy's BLAS, one single-threaded call per thread of minimlp's pool.

``matmul(a, b, out, accumulate)`` computes ``out = a @ b`` (``out += a @ b``
with ``accumulate``), where ``a`` and ``b`` may be transposed views, for the
three products of ``Linear``: x Wᵀ, Gᵀ x and G W. The output is cut into one
block of columns per thread (of rows, for a tall output with a short inner
dimension, as the weight gradient at a small batch: measured faster on
OpenBLAS 0.3.31), and each block is one ``cblas_?gemm`` call into the BLAS
NumPy itself uses, made from inside a Numba ``parallel=True`` loop: the
products then share minimlp's thread pool with the other kernels instead of
bringing BLAS's own (``minimlp.threads`` says why). Blocks start at multiples
of ``ALIGN`` (64) rows or columns, where one whole call's blocking puts them
too, so each output element is the same dot product, in the same order, as in
one call: the result does not depend on the number of threads, and equals
``numpy.matmul``'s, which makes that same call, except where NumPy hands a
single row or column to ``gemv`` instead (equal to rounding there;
tests/test_fused_nn.py; without the alignment, edge columns came out in
another order).

The readable version is ``numpy.matmul``; it is what runs on CuPy, for other
dtypes or layouts, for small products, under ``MINIMLP_CPU_KERNELS=numpy``, or
when NumPy's BLAS is not an OpenBLAS whose ``cblas_sgemm``/``cblas_dgemm``
can be found (threadpoolctl finds the library; NumPy ≥ 2 wheels name the
symbols ``scipy_cblas_sgemm64_``).
"""
import ctypes

import numpy as np

from .. import compiled, threads

MIN_WORK = 1 << 18  # multiply-adds (M·N·K) below which one plain call is faster
SMALL_K = 32        # up to this inner size, a tall product is cut by rows, otherwise always by columns (measured)
ALIGN = 64          # pieces start at multiples of this many rows or columns
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_blas = {}


def _find_gemm():
    """(sgemm, dgemm) ctypes functions of NumPy's OpenBLAS, and its threadpoolctl controller; or None."""
    try:
        from threadpoolctl import ThreadpoolController
        controllers = [c for c in ThreadpoolController().select(user_api="blas").lib_controllers
                       if c.internal_api == "openblas" and "numpy" in c.filepath]
        if not controllers:
            return None
        lib = ctypes.CDLL(controllers[0].filepath)
    except Exception:  # threadpoolctl missing or the library not loadable: plain numpy.matmul
        return None
    found = []
    for letter, real in (("s", ctypes.c_float), ("d", ctypes.c_double)):
        for name, integer in ((f"scipy_cblas_{letter}gemm64_", ctypes.c_int64),
                              (f"cblas_{letter}gemm64_", ctypes.c_int64),
                              (f"cblas_{letter}gemm", ctypes.c_int)):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = None
                fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, integer, integer, integer, real,
                               ctypes.c_void_p, integer, ctypes.c_void_p, integer, real, ctypes.c_void_p, integer]
                found.append(fn)
                break
        else:
            return None
    return found[0], found[1], controllers[0]


def _make_split(gemm):
    """(serial, parallel): the product in one BLAS call, or cut into ``pieces`` calls run side by side."""
    import numba
    from numba import prange
    threads.prefer_openmp_layer()

    @numba.njit(nogil=True)
    def bounds(p, pieces, size):
        # piece p's share of range(size), cut at multiples of ALIGN: BLAS's blocks then fall where one whole
        # call puts them, so the bits do not depend on the number of pieces
        lo = (size * p // pieces) // ALIGN * ALIGN
        hi = size if p == pieces - 1 else (size * (p + 1) // pieces) // ALIGN * ALIGN
        return lo, hi

    @numba.njit(nogil=True)
    def piece(p, pieces, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, out, ldc, by_rows, itemsize, bias):
        # C (m x n) = alpha op(A) op(B) + beta C (+ bias on every row), row-major; piece p takes rows (or
        # columns) lo..hi of C and adds the bias to its block while the block is in cache
        c = out.ctypes.data
        if by_rows:
            lo, hi = bounds(p, pieces, m)
            if hi <= lo:
                return
            a_off = lo if ta == _TRANS else lo * lda
            gemm(_ROW_MAJOR, ta, tb, hi - lo, n, k, alpha, a + a_off * itemsize, lda, b, ldb, beta,
                 c + lo * ldc * itemsize, ldc)
            if bias.size:
                for r in range(lo, hi):
                    out[r] += bias
        else:
            lo, hi = bounds(p, pieces, n)
            if hi <= lo:
                return
            b_off = lo * ldb if tb == _TRANS else lo
            gemm(_ROW_MAJOR, ta, tb, m, hi - lo, k, alpha, a, lda, b + b_off * itemsize, ldb, beta,
                 c + lo * itemsize, ldc)
            if bias.size:
                part = bias[lo:hi]
                for r in range(m):
                    row = out[r, lo:hi]
                    for j in range(row.size):
                        row[j] += part[j]

    @numba.njit(nogil=True)
    def serial(pieces, *args):
        for p in range(pieces):
            piece(p, pieces, *args)

    @numba.njit(parallel=True, nogil=True)
    def parallel(pieces, *args):
        for p in prange(pieces):
            piece(p, pieces, *args)
    return serial, parallel


def _kernels():
    if "split" not in _blas:
        _blas["split"] = None
        found = _find_gemm()
        if found is not None:
            sgemm, dgemm, controller = found
            _blas["split"] = {np.dtype(np.float32): _make_split(sgemm), np.dtype(np.float64): _make_split(dgemm)}
            _blas["controller"] = controller
            _blas["gemm"] = (sgemm, dgemm)
    return _blas["split"]


def _row_major(array):
    """Leading dimension of a 2-d array whose rows are contiguous (C order, or a row slice of one), else None."""
    s0, s1 = array.strides
    item = array.itemsize
    if s1 == item and s0 % item == 0 and s0 // item >= array.shape[1]:
        return s0 // item
    return None


def _operand(array):
    """(the array as stored, its leading dimension, the CBLAS transpose flag) or None."""
    lead = _row_major(array)
    if lead is not None:
        return array, lead, _NO_TRANS
    lead = _row_major(array.T)  # an F-ordered operand is a transposed C-ordered one
    return None if lead is None else (array.T, lead, _TRANS)


def matmul(a, b, out=None, accumulate=False, bias=None):
    """``out = a @ b`` (``out += a @ b`` with ``accumulate``), plus ``bias`` on every row when given.

    ``a`` and ``b`` may be transposed views; ``out`` must have contiguous rows
    for the split path (else ``numpy.matmul`` runs).
    """
    m, k = a.shape
    n = b.shape[1]
    if out is None:
        out = np.empty((m, n), dtype=np.result_type(a, b))
        accumulate = False
    split = _split_for(a, b, out, m * n * k)
    if split is None or (bias is not None and (type(bias) is not np.ndarray or bias.dtype != out.dtype
                                               or bias.shape != (n,))):
        if accumulate:
            out += a @ b
        else:
            np.matmul(a, b, out=out)
        if bias is not None:
            out += bias
        return out
    (a_store, lda, ta), (b_store, ldb, tb), ldc = _operand(a), _operand(b), _row_major(out)
    use_one_blas_thread()
    by_rows = m > n and k <= SMALL_K
    parts = threads.pieces(m if by_rows else n, ALIGN)
    one = out.dtype.type(1)
    serial, parallel = split
    (serial if parts == 1 else parallel)(
        parts, ta, tb, m, n, k, one, a_store.ctypes.data, lda, b_store.ctypes.data, ldb,
        one if accumulate else out.dtype.type(0), out, ldc, by_rows, out.itemsize,
        out[0, :0] if bias is None else bias)
    return out


def use_one_blas_thread():
    """NumPy's BLAS on one thread: from now on it runs inside minimlp's pool (``minimlp.threads``)."""
    controller = _blas.get("controller")
    if controller is not None and controller.get_num_threads() != 1:
        controller.set_num_threads(1)


def _split_for(a, b, out, work):
    """The compiled split product for these arrays, or None where ``numpy.matmul`` should run."""
    if (type(a) is not np.ndarray or type(b) is not np.ndarray or type(out) is not np.ndarray
            or work < MIN_WORK or not compiled.use_compiled()):
        return None
    if not (a.dtype == b.dtype == out.dtype) or out.dtype not in (np.float32, np.float64) or 0 in a.shape + b.shape:
        return None
    if _operand(a) is None or _operand(b) is None or _row_major(out) is None:
        return None
    kernels = _kernels()
    return None if kernels is None else kernels[out.dtype]
