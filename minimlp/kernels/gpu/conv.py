"""The convolutions on the GPU: the formula's products (cuBLAS), with im2col and col2im in one kernel each.

The formula gathers the columns by kh·kw strided copies and scatters them back by kh·kw additions, each a kernel
launch on the GPU (about 250 of a U-Net step's 585). Here im2col is one element-wise kernel reading the input at
each column's source, and col2im one kernel that gathers, for each pixel, the kh·kw column entries that land on
it, in the formula's order (so the sums round alike), writing every pixel: no zero fill, no atomics. With zero
padding (the U-Nets'), a convolution also skips the formula's copies around those: im2col reads the unpadded
input as zeros outside it (no padded copy), col2im writes ∂L/∂x straight in its (N, C, H, W) layout, cropped
(no padded buffer, no transposing copy), and the weight's and bias's gradients are written straight into their
storage (``grad_target``) instead of copied there. The maths is ``minimlp.formulas.conv``'s.
"""
from functools import lru_cache

from ...backend import cupy_module
from ...formulas import conv as formula

_IM2COL_SIZES = ("int64 n, int64 hs, int64 ws, int64 pt, int64 pl, int64 kh, int64 kw, int64 ho, int64 wo, "
                 "int64 sh, int64 sw, int64 dh, int64 dw")
_IM2COL = """
ptrdiff_t ow = i % wo; ptrdiff_t t = i / wo;
ptrdiff_t oh = t % ho; t = t / ho;
ptrdiff_t b = t % n; t = t / n;
ptrdiff_t j = t % kw; t = t / kw;
ptrdiff_t k = t % kh; ptrdiff_t c = t / kh;
ptrdiff_t y = oh * sh + k * dh - pt; ptrdiff_t x = ow * sw + j * dw - pl;
col = (y >= 0 && y < hs && x >= 0 && x < ws) ? src[((c * n + b) * hs + y) * ws + x] : (T)0;
"""
_COL2IM_SIZES = ("int64 n, int64 cd, int64 hd, int64 wd, int64 pt, int64 pl, int64 kh, int64 kw, int64 ho, "
                 "int64 wo, int64 sh, int64 sw, int64 dh, int64 dw")


@lru_cache(maxsize=None)
def _kernel(name, kh=None, kw=None):
    cp = cupy_module()
    if name == "im2col":
        return cp.ElementwiseKernel(f"raw T src, {_IM2COL_SIZES}", "T col", _IM2COL, "minimlp_im2col")
    if name == "col2im":   # the kernel offsets unrolled, in the formula's order
        body = ["ptrdiff_t px = i % wd + pl; ptrdiff_t t = i / wd;", "ptrdiff_t py = t % hd + pt; t = t / hd;",
                "ptrdiff_t c = t % cd; ptrdiff_t b = t / cd;", "T acc = 0; ptrdiff_t y = 0; ptrdiff_t x = 0;"]
        for k in range(kh):
            for j in range(kw):
                body += [f"y = py - {k} * dh; x = px - {j} * dw;",
                         "if (y >= 0 && x >= 0 && y % sh == 0 && x % sw == 0 && y / sh < ho && x / sw < wo) "
                         f"acc += cols[((((c * kh + {k}) * kw + {j}) * n + b) * ho + y / sh) * wo + x / sw];"]
        return cp.ElementwiseKernel(f"raw T cols, {_COL2IM_SIZES}", "T dst", "\n".join(body + ["dst = acc;"]),
                                    f"minimlp_col2im_{kh}x{kw}")
    raise KeyError(name)


def _im2col(src, cols, top, left, stride, dilation):
    """cols[c, i, j, n, h, w] = src[c, n, h·sh + i·dh − top, w·sw + j·dw − left], 0 outside ``src``
    (C, N, Hs, Ws), any strides."""
    c, kh, kw, n, ho, wo = cols.shape
    _kernel("im2col")(src, n, src.shape[2], src.shape[3], top, left, kh, kw, ho, wo, *stride, *dilation, cols)
    return cols


def _col2im(cols, dst, top, left, stride, dilation):
    """dst[n, c, h, w] = Σ of the column entries landing on the padded plane's pixel (h + top, w + left):
    ``formulas.im2col.col2im`` into an (N, C, H, W) array or view, cropped by (top, left), overwritten."""
    c, kh, kw, n, ho, wo = cols.shape
    _kernel("col2im", kh, kw)(cols, n, c, dst.shape[2], dst.shape[3], top, left, kh, kw, ho, wo, *stride,
                              *dilation, dst)
    return dst


def im2col(src, cols, stride, dilation):
    """``formulas.im2col.im2col`` in one launch (``src`` already padded)."""
    return _im2col(src, cols, 0, 0, stride, dilation)


def col2im(cols, dst, stride, dilation):
    """``formulas.im2col.col2im`` in one launch (``dst``, channel-major (C, N, Hp, Wp), overwritten)."""
    _col2im(cols, dst.transpose(1, 0, 2, 3), 0, 0, stride, dilation)
    return dst


ONE_LAUNCH = formula.Columns(im2col, col2im)


def conv2d(x, weight, bias, geometry, scratch):
    """``formulas.conv.conv2d``; with zero padding, im2col reads the unpadded input (no padded copy)."""
    if geometry.padding_mode != "zeros":
        return formula.conv2d(x, weight, bias, geometry, scratch, columns=ONE_LAUNCH)
    n, c, h, w = x.shape
    ho, wo = geometry.conv_output(h, w)
    kh, kw = geometry.kernel
    cols = _im2col(x.transpose(1, 0, 2, 3), scratch.get("cols", (c, kh, kw, n, ho, wo), x), geometry.pads[0],
                   geometry.pads[2], geometry.stride, geometry.dilation)
    return formula.convolve_columns(x, cols, weight, bias, geometry.groups, scratch)


def conv2d_backward(g, saved, weight, bias, geometry, scratch, want_dx=True):
    """``formulas.conv.conv2d_backward``; with zero padding the gradients go straight into their storage and
    col2im writes ∂L/∂x in place, cropped."""
    if geometry.padding_mode != "zeros":
        return formula.conv2d_backward(g, saved, weight, bias, geometry, scratch, want_dx, columns=ONE_LAUNCH)
    xp = cupy_module()
    (n, c, h, w), cols_g = saved
    o, ho, wo, groups = g.shape[1], g.shape[2], g.shape[3], geometry.groups
    g_cm = scratch.get("dout", (o, n, ho, wo), g)
    g_cm[...] = g.transpose(1, 0, 2, 3)
    g_g = g_cm.reshape(groups, o // groups, n * ho * wo)
    out, add = weight.grad_target()                     # ∂L/∂W_g = G_g X_gᵀ, into the gradient's storage
    shape = (groups, o // groups, cols_g.shape[1])
    product = formula.grouped_matmul(g_g, cols_g.transpose(0, 2, 1),
                                     scratch.get("weight_grad", shape, g) if add else out.reshape(shape))
    if add:
        out += product.reshape(out.shape)
    if bias is not None:
        out, add = bias.grad_target()                   # ∂L/∂b = Σ G
        total = g_cm.reshape(o, -1).sum(axis=1, out=None if add else out)
        if add:
            out += total
    if not want_dx:
        return None
    w_g = weight.data.reshape(groups, o // groups, -1)
    formula.grouped_matmul(w_g.transpose(0, 2, 1), g_g, cols_g)  # ∂X, into the columns' buffer
    (kh, kw), (pt, _, pl, _) = geometry.kernel, geometry.pads
    dx = xp.empty((n, c, h, w), dtype=g.dtype)
    return _col2im(cols_g.reshape(c, kh, kw, n, ho, wo), dx, pt, pl, geometry.stride, geometry.dilation)


def conv_transpose2d(x, weight, bias, geometry, scratch):
    return formula.conv_transpose2d(x, weight, bias, geometry, scratch, columns=ONE_LAUNCH)


def conv_transpose2d_backward(g, saved, weight, bias, geometry, scratch, want_dx=True):
    return formula.conv_transpose2d_backward(g, saved, weight, bias, geometry, scratch, want_dx, columns=ONE_LAUNCH)
