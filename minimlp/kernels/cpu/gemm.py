"""The compiled half of ``blas``: a BLAS gemm called by its address, and a product cut into pieces."""
import numba
from llvmlite import ir
from numba import prange, types
from numba.extending import intrinsic

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112  # CBLAS enums (cblas.h), as in blas.py; compiled in as constants


def _gemm_caller(int_bits):
    """An intrinsic calling the ``cblas_?gemm`` at an address, with ``int_bits``-wide integer arguments."""
    @intrinsic
    def call(typingctx, address, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        if not isinstance(alpha, types.Float) or beta != alpha:
            return None  # alpha and beta must be the gemm's own float (float32 for sgemm): a typing error
        sig = types.void(address, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

        def codegen(context, builder, signature, args):
            enum, blasint, ptr = ir.IntType(32), ir.IntType(int_bits), ir.IntType(8).as_pointer()
            real = context.get_value_type(signature.args[6])
            fnty = ir.FunctionType(ir.VoidType(), [enum, enum, enum, blasint, blasint, blasint, real, ptr,
                                                   blasint, ptr, blasint, real, ptr, blasint])
            (address, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) = args

            def as_int(value, to):
                if to.width < value.type.width:
                    return builder.trunc(value, to)
                return builder.sext(value, to) if to.width > value.type.width else value
            call_args = [ir.Constant(enum, ROW_MAJOR), as_int(ta, enum), as_int(tb, enum)]
            call_args += [as_int(v, blasint) for v in (m, n, k)] + [alpha]
            call_args += [builder.inttoptr(a, ptr), as_int(lda, blasint), builder.inttoptr(b, ptr),
                          as_int(ldb, blasint), beta, builder.inttoptr(c, ptr), as_int(ldc, blasint)]
            builder.call(builder.inttoptr(address, fnty.as_pointer()), call_args)
            return context.get_dummy_value()
        return sig, codegen
    return call


_call_gemm32 = _gemm_caller(32)
_call_gemm64 = _gemm_caller(64)
_jit = numba.njit(nogil=True, cache=True)


@_jit
def gemm(address, wide, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """C (m x n) = alpha op(A) op(B) + beta C, row-major, by the cblas_?gemm at ``address``; A, B, C addresses."""
    if wide:
        _call_gemm64(address, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    else:
        _call_gemm32(address, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)


@_jit
def bounds(p, pieces, size, align):
    # piece p's share of range(size), cut at multiples of align, where BLAS's own blocks fall too
    lo = (size * p // pieces) // align * align
    hi = size if p == pieces - 1 else (size * (p + 1) // pieces) // align * align
    return lo, hi


@_jit
def piece(p, pieces, align, address, wide, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, out, ldc, by_rows,
          itemsize, bias):
    # piece p takes rows (or columns) lo..hi of C and adds the bias to its block while the block is in cache
    c = out.ctypes.data
    if by_rows:
        lo, hi = bounds(p, pieces, m, align)
        if hi <= lo:
            return
        a_off = lo if ta == TRANS else lo * lda
        gemm(address, wide, ta, tb, hi - lo, n, k, alpha, a + a_off * itemsize, lda, b, ldb, beta,
             c + lo * ldc * itemsize, ldc)
        if bias.size:
            for r in range(lo, hi):
                out[r] += bias
    else:
        lo, hi = bounds(p, pieces, n, align)
        if hi <= lo:
            return
        b_off = lo * ldb if tb == TRANS else lo
        gemm(address, wide, ta, tb, m, hi - lo, k, alpha, a, lda, b + b_off * itemsize, ldb, beta,
             c + lo * itemsize, ldc)
        if bias.size:
            part = bias[lo:hi]
            for r in range(m):
                row = out[r, lo:hi]
                for j in range(row.size):
                    row[j] += part[j]


@_jit
def piece_by_weight_rows(p, pieces, align, address, wide, m, n, k, alpha, a_t, b, ldb, out, itemsize, bias, block):
    # piece p takes columns lo..hi of out = a bᵀ, b stored (n x k) row-major and a_t = aᵀ (k x m) contiguous:
    # block by block of b's rows, block (rows x m) = b[rows] a_t (a product OpenBLAS runs faster than a bᵀ),
    # then out[:, rows] = blockᵀ + bias[rows] while the block is in cache
    lo, hi = bounds(p, pieces, n, align)
    rows = block.shape[1]
    t = block[p]
    zero = alpha - alpha
    for r in range(lo, hi, rows):
        r2 = min(r + rows, hi)
        gemm(address, wide, NO_TRANS, NO_TRANS, r2 - r, m, k, alpha, b + r * ldb * itemsize, ldb, a_t.ctypes.data,
             m, zero, t.ctypes.data, m)
        for i in range(m):
            row = out[i, r:r2]
            for j in range(r2 - r):
                row[j] = t[j, i]
            if bias.size:
                part = bias[r:r2]
                for j in range(r2 - r):
                    row[j] += part[j]


@_jit
def by_weight_rows_serial(pieces, *args):
    for p in range(pieces):
        piece_by_weight_rows(p, pieces, *args)


@numba.njit(parallel=True, nogil=True, cache=True)
def by_weight_rows_parallel(pieces, *args):
    for p in prange(pieces):
        piece_by_weight_rows(p, pieces, *args)


@_jit
def split_serial(pieces, *args):
    for p in range(pieces):
        piece(p, pieces, *args)


@numba.njit(parallel=True, nogil=True, cache=True)
def split_parallel(pieces, *args):
    for p in prange(pieces):
        piece(p, pieces, *args)
