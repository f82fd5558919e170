"""The convolutions on the GPU: the formula's products (cuBLAS), with im2col and col2im in one kernel each.

The formula gathers the columns by kh·kw strided copies and scatters them back by kh·kw additions, each a kernel
launch on the GPU (about 250 of a U-Net step's 585). Here im2col is one element-wise kernel reading the padded
input at each column's source, and col2im one kernel that gathers, for each pixel, the kh·kw column entries that
land on it, in the formula's order (so the sums round alike), writing every pixel: no zero fill, no atomics.
The maths, and the rest of the convolution, is ``minimlp.formulas.conv``'s.
"""
from functools import lru_cache

from ...backend import cupy_module
from ...formulas import conv as formula

_SIZES = "int64 n, int64 hp, int64 wp, int64 kh, int64 kw, int64 ho, int64 wo, int64 sh, int64 sw, int64 dh, int64 dw"
_IM2COL = """
ptrdiff_t w = i % wo; ptrdiff_t t = i / wo;
ptrdiff_t h = t % ho; t = t / ho;
ptrdiff_t b = t % n; t = t / n;
ptrdiff_t j = t % kw; t = t / kw;
ptrdiff_t k = t % kh; ptrdiff_t c = t / kh;
col = src[((c * n + b) * hp + h * sh + k * dh) * wp + w * sw + j * dw];
"""


@lru_cache(maxsize=None)
def _kernel(name, kh=None, kw=None):
    cp = cupy_module()
    if name == "im2col":
        return cp.ElementwiseKernel(f"raw T src, {_SIZES}", "T col", _IM2COL, "minimlp_im2col")
    if name == "col2im":   # the kernel offsets unrolled, in the formula's order
        body = ["ptrdiff_t px = i % wp; ptrdiff_t t = i / wp;", "ptrdiff_t py = t % hp; t = t / hp;",
                "ptrdiff_t b = t % n; ptrdiff_t c = t / n;", "T acc = 0; ptrdiff_t y = 0; ptrdiff_t x = 0;"]
        for k in range(kh):
            for j in range(kw):
                body += [f"y = py - {k} * dh; x = px - {j} * dw;",
                         "if (y >= 0 && x >= 0 && y % sh == 0 && x % sw == 0 && y / sh < ho && x / sw < wo) "
                         f"acc += cols[((((c * kh + {k}) * kw + {j}) * n + b) * ho + y / sh) * wo + x / sw];"]
        return cp.ElementwiseKernel(f"raw T cols, {_SIZES}", "T dst", "\n".join(body + ["dst = acc;"]),
                                    f"minimlp_col2im_{kh}x{kw}")
    raise KeyError(name)


def im2col(src, cols, stride, dilation):
    """``formulas.im2col.im2col`` in one launch."""
    c, kh, kw, n, ho, wo = cols.shape
    _kernel("im2col")(src, n, src.shape[2], src.shape[3], kh, kw, ho, wo, *stride, *dilation, cols)
    return cols


def col2im(cols, dst, stride, dilation):
    """``formulas.im2col.col2im`` in one launch (``dst`` overwritten)."""
    c, kh, kw, n, ho, wo = cols.shape
    _kernel("col2im", kh, kw)(cols, n, dst.shape[2], dst.shape[3], kh, kw, ho, wo, *stride, *dilation, dst)
    return dst


ONE_LAUNCH = formula.Columns(im2col, col2im)


def conv2d(x, weight, bias, geometry, scratch):
    return formula.conv2d(x, weight, bias, geometry, scratch, columns=ONE_LAUNCH)


def conv2d_backward(g, saved, weight, bias, geometry, scratch, want_dx=True):
    return formula.conv2d_backward(g, saved, weight, bias, geometry, scratch, want_dx, columns=ONE_LAUNCH)


def conv_transpose2d(x, weight, bias, geometry, scratch):
    return formula.conv_transpose2d(x, weight, bias, geometry, scratch, columns=ONE_LAUNCH)


def conv_transpose2d_backward(g, saved, weight, bias, geometry, scratch, want_dx=True):
    return formula.conv_transpose2d_backward(g, saved, weight, bias, geometry, scratch, want_dx, columns=ONE_LAUNCH)
