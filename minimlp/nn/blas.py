"""The layers' matrix products on the CPU: one single-threaded BLAS call per thread of minimlp's pool.

``matmul(a, b, out, accumulate)`` computes ``out = a @ b`` (``out += a @ b``
with ``accumulate``), where ``a`` and ``b`` may be transposed views, for the
three products of ``Linear``: x Wᵀ, Gᵀ x and G W. The output is cut into one
block of columns per thread (of rows, for a tall output, as a weight gradient:
on OpenBLAS 0.3.31 only where the inner dimension, the batch, is short; the
cuts measured fastest for each library), and each block is one ``cblas_?gemm``
call made from inside a Numba ``parallel=True`` loop: the products then share
minimlp's thread pool with the other kernels instead of bringing BLAS's own
(``minimlp.threads`` says why). Blocks start at multiples of ``ALIGN`` (64)
rows or columns, where one whole call's blocking puts them too, so each output
element is the same dot product, in the same order, as in one call: the
result does not depend on the number of threads (tests/test_fused_nn.py, at
the network's shapes and others, float32 and float64, on both libraries;
without the alignment, edge columns came out in another order). Not
guaranteed for every shape: at a batch of 1-3, OpenBLAS was seen to differ in
the last bit between 1 and 2 threads.

Which BLAS (``MINIMLP_BLAS``, read once, at the first product):

- ``mkl``: Intel MKL's, from the ``mkl`` wheel (``pip install minimlp[mkl]``),
  on its sequential layer. On this project's 2-core Xeon its single-threaded
  ``sgemm`` is about 25% faster than OpenBLAS's at the paper network's shapes
  (benchmarks/README.md), which is most of a batch-256 step;
- ``openblas``: the OpenBLAS NumPy itself uses (threadpoolctl finds the
  library; NumPy ≥ 2 wheels name the symbols ``scipy_cblas_sgemm64_``); the
  result then equals ``numpy.matmul``'s bit for bit, which makes that same
  call, except where NumPy hands a single row or column to ``gemv`` (equal to
  rounding there);
- ``auto`` (default): MKL where the ``mkl`` package is installed, else OpenBLAS.

The readable version is ``numpy.matmul``; it is what runs on CuPy, for other
dtypes or layouts, for small products, under ``MINIMLP_CPU_KERNELS=numpy``, or
where neither BLAS can be called.
"""
import ctypes
import os

import numpy as np

from .. import compiled, threads

MIN_WORK = 1 << 18  # multiply-adds (M·N·K) below which one plain call is faster
SMALL_K = 32        # OpenBLAS: up to this inner size a tall product is cut by rows, otherwise by columns (measured);
                    # MKL: a tall product always by rows (the weight gradient at batch 256: 6% faster)
ALIGN = 64          # pieces start at multiples of this many rows or columns
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
MKL_THREADING_SEQUENTIAL, MKL_INTERFACE_LP64 = 1, 0
MKL_CBWR_AUTO, MKL_CBWR_STRICT = 2, 0x10000  # mkl_cbwr.h
_blas = {}


def blas_choice():
    """``MINIMLP_BLAS``: 'auto' (default: MKL where the ``mkl`` package is installed, else NumPy's OpenBLAS),
    'mkl' or 'openblas'."""
    value = os.environ.get("MINIMLP_BLAS", "auto")
    if value not in ("auto", "mkl", "openblas"):
        raise ValueError(f"MINIMLP_BLAS must be 'auto', 'mkl' or 'openblas', got {value!r}")
    return value


def _numpy_openblas():
    """threadpoolctl's controller of NumPy's own OpenBLAS, or None."""
    try:
        from threadpoolctl import ThreadpoolController
        controllers = [c for c in ThreadpoolController().select(user_api="blas").lib_controllers
                       if c.internal_api == "openblas" and "numpy" in c.filepath]
    except Exception:  # threadpoolctl missing or broken
        return None
    return controllers[0] if controllers else None


def _gemm_functions(lib, names):
    """(sgemm, dgemm) ctypes functions of ``lib``: the first of ``names`` (templates on the letter) it has."""
    found = []
    for letter, real in (("s", ctypes.c_float), ("d", ctypes.c_double)):
        for name, integer in names:
            fn = getattr(lib, name.format(letter), None)
            if fn is not None:
                fn.restype = None
                fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, integer, integer, integer, real,
                               ctypes.c_void_p, integer, ctypes.c_void_p, integer, real, ctypes.c_void_p, integer]
                found.append(fn)
                break
        else:
            return None
    return tuple(found)


def _openblas_gemm(controller):
    try:
        lib = ctypes.CDLL(controller.filepath)
    except OSError:
        return None
    return _gemm_functions(lib, (("scipy_cblas_{}gemm64_", ctypes.c_int64), ("cblas_{}gemm64_", ctypes.c_int64),
                                 ("cblas_{}gemm", ctypes.c_int)))


def _mkl_gemm():
    """MKL's ``cblas_?gemm`` from the ``mkl`` wheel, on its sequential layer (one thread per call); or None.

    Set to its 32-bit integer interface (the ``c_int`` arguments below) and,
    unless ``MKL_CBWR`` says otherwise, to strict conditional reproducibility:
    without it a float64 product's edge columns could be summed in another
    order when cut into pieces, so results depended on the number of threads
    (float32 products measured as fast either way). None where MKL was already
    started on another threading or interface layer in this process (by
    another library), which then cannot be changed.
    """
    from importlib import metadata
    try:
        files = metadata.distribution("mkl").files or []
    except metadata.PackageNotFoundError:
        return None
    for path in (f.locate() for f in files if "mkl_rt" in f.name and not f.name.endswith((".h", ".lib"))):
        try:
            lib = ctypes.CDLL(str(path))
            set_layer = lib.MKL_Set_Threading_Layer
        except (OSError, AttributeError):
            continue
        set_interface = lib.MKL_Set_Interface_Layer
        for fn in (set_layer, set_interface, lib.MKL_CBWR_Set):
            fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
        if (set_layer(MKL_THREADING_SEQUENTIAL) != MKL_THREADING_SEQUENTIAL
                or set_interface(MKL_INTERFACE_LP64) != MKL_INTERFACE_LP64):
            return None
        if "MKL_CBWR" not in os.environ:  # else the user's choice stands
            lib.MKL_CBWR_Set(MKL_CBWR_AUTO | MKL_CBWR_STRICT)
        return _gemm_functions(lib, (("cblas_{}gemm", ctypes.c_int),))
    return None


def _find_gemm():
    """(name, (sgemm, dgemm)) of the BLAS the split products call, as ``MINIMLP_BLAS`` asks; or (None, None)."""
    choice = blas_choice()
    if choice in ("auto", "mkl"):
        gemm = _mkl_gemm()
        if gemm is not None:
            return "mkl", gemm
        if choice == "mkl":
            raise RuntimeError("MINIMLP_BLAS=mkl, but MKL could not be loaded (not installed, or already "
                               "started on another threading layer in this process): install it with "
                               "`pip install minimlp[mkl]` (or `pip install mkl`), or unset MINIMLP_BLAS")
    controller = _blas["controller"]
    gemm = None if controller is None else _openblas_gemm(controller)
    return (None, None) if gemm is None else ("openblas", gemm)


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
        _blas["controller"] = _numpy_openblas()
        name, gemm = _find_gemm()  # may raise (a bad MINIMLP_BLAS, MKL asked for and missing): again at each call
        _blas["split"] = None
        if gemm is not None:
            _blas.update(name=name, gemm=gemm, split={np.dtype(np.float32): _make_split(gemm[0]),
                                                      np.dtype(np.float64): _make_split(gemm[1])})
    return _blas["split"]


def provider():
    """'mkl' or 'openblas': the BLAS whose ``gemm`` the split products call; None where ``numpy.matmul`` runs."""
    _kernels()
    return _blas.get("name")


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
    by_rows = m > n and (k <= SMALL_K or _blas.get("name") == "mkl")
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
