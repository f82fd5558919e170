"""Matrix products on the CPU: ``out (+)= a @ b (+ bias)`` as one single-threaded OpenBLAS call per thread.

The output is cut into blocks of columns (of rows for a tall product with a short inner size) starting at
multiples of ``ALIGN``; a forward's x Wᵀ of a small batch is computed as blocks of W xᵀ, transposed into place
(``WEIGHT_ROWS_BATCH``). NumPy's OpenBLAS is set to one thread for the length of each split product. Small
products (``MIN_WORK``), other dtypes or layouts, or a BLAS without ``cblas_?gemm`` take one
``numpy.matmul``. Details and measurements: docs/kernels.md.
"""
import ctypes

import numpy as np

from ... import threads
from . import pool

MIN_WORK = 1 << 18  # multiply-adds (M·N·K) below which one plain call is faster
SMALL_K = 32        # up to this inner size a tall product is cut by rows, otherwise by columns (measured)
ALIGN = 64          # pieces start at multiples of this many rows or columns
WEIGHT_ROWS_BATCH = 64   # up to this many rows, a x Wᵀ is computed as W xᵀ, block by block, and transposed (measured)
WEIGHT_ROWS_BLOCK = 512  # rows of W per block of W xᵀ (measured)
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112  # CBLAS enums
_GEMM_NAMES = (("scipy_cblas_{}gemm64_", 64), ("cblas_{}gemm64_", 64), ("scipy_cblas_{}gemm", 32),
               ("cblas_{}gemm", 32))  # (symbol, integer bits): NumPy's wheels (ILP64), scipy-openblas32, plain
_blas = {}


def _numpy_openblas():
    """threadpoolctl's controller of NumPy's own OpenBLAS, or None."""
    try:
        from threadpoolctl import ThreadpoolController
        controllers = [c for c in ThreadpoolController().select(user_api="blas").lib_controllers
                       if c.internal_api == "openblas" and "numpy" in c.filepath]
    except Exception:  # threadpoolctl missing or broken
        return None
    return controllers[0] if controllers else None


def _find_gemm(controller):
    """{dtype: (address of cblas_?gemm, 64-bit integers?)} in NumPy's OpenBLAS, or None."""
    try:
        lib = ctypes.CDLL(controller.filepath)
    except OSError:
        return None
    for name, bits in _GEMM_NAMES:
        found = [getattr(lib, name.format(letter), None) for letter in "sd"]
        if all(f is not None for f in found):
            wide = bits == 64 or b"USE64BITINT" in _config(lib)  # an unsuffixed build may still be ILP64
            return {np.dtype(dt): (ctypes.cast(f, ctypes.c_void_p).value, wide)
                    for dt, f in zip((np.float32, np.float64), found)}
    return None


def _config(lib):
    """OpenBLAS's build configuration string (``openblas_get_config``), or b'' where it has none."""
    get = getattr(lib, "openblas_get_config", None)
    if get is None:
        return b""
    get.restype = ctypes.c_char_p
    return get() or b""


def _gemms():
    if "gemm" not in _blas:
        controller = _numpy_openblas()
        _blas["controller"] = controller
        _blas["gemm"] = None if controller is None else _find_gemm(controller)
    return _blas["gemm"]


def gemm_address(dtype):
    """(address, 64-bit integers?) of NumPy's OpenBLAS ``cblas_?gemm`` for ``dtype``; None where there is none."""
    found = _gemms()
    return None if found is None else found.get(np.dtype(dtype))


class openblas_threads:
    """Context: NumPy's OpenBLAS on ``n`` threads inside, then as it was (no-op where NumPy has no OpenBLAS)."""

    __slots__ = ("n", "previous")

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        _gemms()  # finds the controller once
        controller = _blas["controller"]
        self.previous = None if controller is None else controller.get_num_threads()
        if self.previous not in (None, self.n):
            controller.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        if self.previous not in (None, self.n):
            _blas["controller"].set_num_threads(self.previous)


def one_blas_thread():
    """Context: NumPy's OpenBLAS on one thread (the split calls run on minimlp's pool), then as it was."""
    return openblas_threads(1)


def plain_matmul(a, b, bias=None):
    """``a @ b`` (+ ``bias`` on every row) in one call of NumPy's BLAS on minimlp's number of threads.

    Nothing compiled: what evaluation uses. The thread count is minimlp's
    (``threads.get_num_threads()``), not OpenBLAS's own setting, so an
    evaluation gives the same bits wherever minimlp is set to the same
    number of threads (a local worker, a Ray task).
    """
    with openblas_threads(threads.get_num_threads()):
        out = a @ b
    if bias is not None:
        out += bias
    return out


def row_major(array):
    """Leading dimension of a 2-d array whose rows are contiguous (C order, or a row slice of one), else None."""
    s0, s1 = array.strides
    item = array.itemsize
    if s1 == item and s0 % item == 0 and s0 // item >= array.shape[1]:
        return s0 // item
    return None


def _operand(array):
    """(the array as stored, its leading dimension, the CBLAS transpose flag) or None."""
    lead = row_major(array)
    if lead is not None:
        return array, lead, NO_TRANS
    lead = row_major(array.T)  # an F-ordered operand is a transposed C-ordered one
    return None if lead is None else (array.T, lead, TRANS)


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
    found = _split_for(a, b, out, m * n * k)
    if found is None or (bias is not None and (type(bias) is not np.ndarray or bias.dtype != out.dtype
                                               or bias.shape != (n,))):
        if accumulate:
            out += a @ b
        else:
            np.matmul(a, b, out=out)
        if bias is not None:
            out += bias
        return out
    (a_store, lda, ta), (b_store, ldb, tb), ldc = _operand(a), _operand(b), row_major(out)
    if ta == NO_TRANS and tb == TRANS and not accumulate and m <= WEIGHT_ROWS_BATCH:
        return _by_weight_rows(a, b_store, ldb, out, bias, found)
    by_rows = m > n and k <= SMALL_K
    parts = pool.pieces(m if by_rows else n, ALIGN)
    one = out.dtype.type(1)
    from . import gemm
    kernel = gemm.split_serial if parts == 1 else gemm.split_parallel
    with one_blas_thread():
        pool.launch(parts, kernel, parts, ALIGN, *found, ta, tb, m, n, k, one, a_store.ctypes.data, lda,
                       b_store.ctypes.data, ldb, one if accumulate else out.dtype.type(0), out, ldc, by_rows,
                       out.itemsize, out[0, :0] if bias is None else bias)
    return out


def _by_weight_rows(a, b_store, ldb, out, bias, found):
    """``out = a b_storeᵀ (+ bias)`` as blocks of b_store's rows times ``aᵀ``, each block transposed into ``out``."""
    m, k = a.shape
    n = b_store.shape[0]
    a_t = np.ascontiguousarray(a.T)
    parts = pool.pieces(n, ALIGN)
    block = np.empty((parts, WEIGHT_ROWS_BLOCK, m), dtype=out.dtype)
    from . import gemm
    kernel = gemm.by_weight_rows_serial if parts == 1 else gemm.by_weight_rows_parallel
    with one_blas_thread():
        pool.launch(parts, kernel, parts, ALIGN, *found, m, n, k, out.dtype.type(1), a_t, b_store.ctypes.data, ldb,
                    out, out.itemsize, out[0, :0] if bias is None else bias, block)
    return out


def _split_for(a, b, out, work):
    """(gemm address, 64-bit integers?) for the split product of these arrays, or None: ``numpy.matmul`` runs."""
    if (type(a) is not np.ndarray or type(b) is not np.ndarray or type(out) is not np.ndarray
            or work < MIN_WORK):
        return None
    if not (a.dtype == b.dtype == out.dtype) or out.dtype not in (np.float32, np.float64) or 0 in a.shape + b.shape:
        return None
    if _operand(a) is None or _operand(b) is None or row_major(out) is None:
        return None
    return gemm_address(out.dtype)
