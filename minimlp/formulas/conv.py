"""Conv2d and ConvTranspose2d as one matrix product over the im2col columns of the whole batch.

Per group g, with X = im2col(x̃) the (C_in/G·kh·kw, N·H_out·W_out) columns of the padded input x̃:
Y_g = W_g X_g. Backward, for G = ∂L/∂y in the same layout: ∂L/∂W_g = G_g X_gᵀ, ∂L/∂b = Σ_{n,h,w} G,
∂L/∂x = unpad(col2im(W_gᵀ G_g)) (col2im is im2col's adjoint; reflect, replicate and circular padding fold
the border back onto the pixels it copies). The transposed convolution is the adjoint of a convolution in x:
y = col2im(W_gᵀ x_g) cropped by the padding, and its backward gathers the padded G, Γ = im2col(G̃):
∂L/∂W_g = X_g Γ_gᵀ, ∂L/∂x_g = W_g Γ_g.

The columns live in ``scratch`` (an object with ``get(name, shape, like, zero=False)``, ``minimlp.scratch``),
reused from step to step, and a convolution's backward writes ∂X into its forward's column buffer. ``columns``
is the pair of functions that gather and scatter them (``im2col``'s strided copies here; a GPU kernel does
each in one launch: ``minimlp.kernels.gpu.conv``).
"""
from ..backend import get_array_module
from .im2col import col2im, im2col, output_size, pad_into, unpad_gradient


class Columns:
    """The functions that gather a padded batch into its columns (``im2col``) and add them back (``col2im``)."""

    def __init__(self, im2col, col2im):
        self.im2col, self.col2im = im2col, col2im


STRIDED_COPIES = Columns(im2col, col2im)


class Geometry:
    """A convolution's shape settings: kernel (kh, kw), stride, dilation, pads (top, bottom, left, right),
    groups, padding mode ("zeros", "reflect", "replicate" or "circular") and, for a transposed convolution, its output padding."""

    def __init__(self, kernel, stride, dilation, pads, groups, padding_mode="zeros", output_padding=(0, 0)):
        self.kernel, self.stride, self.dilation, self.pads = tuple(kernel), tuple(stride), tuple(dilation), tuple(pads)
        self.groups, self.padding_mode, self.output_padding = groups, padding_mode, tuple(output_padding)

    def conv_output(self, h, w):
        """(H_out, W_out) = ⌊(H + pads − d·(k − 1) − 1)/s⌋ + 1 per axis."""
        (kh, kw), (sh, sw), (dh, dw), (pt, pb, pl, pr) = self.kernel, self.stride, self.dilation, self.pads
        return output_size(h, kh, sh, pt, pb, dh), output_size(w, kw, sw, pl, pr, dw)

    def transposed_full(self, h, w):
        """The transposed convolution's uncropped output: (H − 1)·s + d·(k − 1) + 1 + output_padding per axis."""
        return tuple((size - 1) * s + d * (k - 1) + 1 + op for size, s, d, k, op in
                     zip((h, w), self.stride, self.dilation, self.kernel, self.output_padding))

    def transposed_output(self, h, w):
        """(H_out, W_out) of the transposed convolution: the full size less the padding on both sides."""
        (hf, wf), (pt, _, pl, _) = self.transposed_full(h, w), self.pads
        return hf - 2 * pt, wf - 2 * pl


def grouped_matmul(a, b, out):
    """out[g] = a[g] @ b[g] for stacked (G, ·, ·) operands: one plain 2-d BLAS product when G = 1."""
    xp = get_array_module(a)
    if a.shape[0] == 1:
        xp.matmul(a[0], b[0], out=out[0])
    else:
        xp.matmul(a, b, out=out)
    return out


def weight_gradient(weight, a, b_t, scratch):
    """∂L/∂W = a b_tᵀ per group, (G, P, L) · (G, Q, L)ᵀ, added to the weight's gradient.

    With the long axis L = N·H·W contiguous in both operands, OpenBLAS is fast only when the larger of P and
    Q is the result's row count (the other order is 3x to 100x slower: 3.3 s instead of 0.03 s for P = 64,
    Q = 27), so the product is taken as (b_t aᵀ)ᵀ when Q > P.
    """
    p, q = a.shape[1], b_t.shape[1]
    if q > p:
        buf = grouped_matmul(b_t, a.transpose(0, 2, 1), scratch.get("weight_grad_t", (a.shape[0], q, p), a))
        buf = buf.transpose(0, 2, 1)
    else:
        buf = grouped_matmul(a, b_t.transpose(0, 2, 1), scratch.get("weight_grad", (a.shape[0], p, q), a))
    weight.accumulate(buf.reshape(weight.data.shape))


def conv2d(x, weight, bias, geometry, scratch, columns=STRIDED_COPIES):
    """y[n, o] = b[o] + Σ_{c ∈ group(o)} Σ_{i,j} W[o, c, i, j] · x̃[n, c, h·s + i·d, w·s + j·d]. Returns (y, saved)."""
    n, c, h, w = x.shape
    ho, wo = geometry.conv_output(h, w)
    (kh, kw), pads, g = geometry.kernel, geometry.pads, geometry.groups
    x_cm = x.transpose(1, 0, 2, 3)                       # a view: (C, N, H, W)
    if any(pads):
        src = scratch.get("padded", (c, n, h + pads[0] + pads[1], w + pads[2] + pads[3]), x, zero=True)
        pad_into(x_cm, src, pads, geometry.padding_mode)
    else:
        src = x_cm
    cols = columns.im2col(src, scratch.get("cols", (c, kh, kw, n, ho, wo), x), geometry.stride, geometry.dilation)
    return convolve_columns(x, cols, weight, bias, g, scratch)


def convolve_columns(x, cols, weight, bias, groups, scratch):
    """y = W_g X_g per group plus b, (N, O, Ho, Wo), from x's columns (C, kh, kw, N, Ho, Wo). Returns (y, saved)."""
    xp = get_array_module(x)
    n, ho, wo, o = cols.shape[3], cols.shape[4], cols.shape[5], weight.shape[0]
    cols_g = cols.reshape(groups, -1, n * ho * wo)
    product = grouped_matmul(weight.reshape(groups, o // groups, -1), cols_g,
                             scratch.get("product", (groups, o // groups, n * ho * wo), x))
    y = xp.empty((n, o, ho, wo), dtype=x.dtype)
    y_cm = product.reshape(o, n, ho, wo).transpose(1, 0, 2, 3)
    if bias is None:
        y[...] = y_cm
    else:
        xp.add(y_cm, bias[:, None, None], out=y)
    return y, (x.shape, cols_g)


def conv2d_backward(g, saved, weight, bias, geometry, scratch, want_dx=True, columns=STRIDED_COPIES):
    """∂L/∂W_g = G_g X_gᵀ, ∂L/∂b = Σ G (added to the parameters); returns ∂L/∂x = unpad(col2im(W_gᵀ G_g))."""
    xp = get_array_module(g)
    (n, c, h, w), cols_g = saved
    o, ho, wo, groups = g.shape[1], g.shape[2], g.shape[3], geometry.groups
    g_cm = scratch.get("dout", (o, n, ho, wo), g)
    g_cm[...] = g.transpose(1, 0, 2, 3)
    g_g = g_cm.reshape(groups, o // groups, n * ho * wo)
    weight_gradient(weight, g_g, cols_g, scratch)
    if bias is not None:
        bias.accumulate(g_cm.reshape(o, -1).sum(axis=1))
    if not want_dx:
        return None
    w_g = weight.data.reshape(groups, o // groups, -1)
    grouped_matmul(w_g.transpose(0, 2, 1), g_g, cols_g)  # ∂X, into the columns' buffer
    pt, pb, pl, pr = geometry.pads
    kh, kw = geometry.kernel
    dpad = scratch.get("dpadded", (c, n, h + pt + pb, w + pl + pr), g)
    columns.col2im(cols_g.reshape(c, kh, kw, n, ho, wo), dpad, geometry.stride, geometry.dilation)
    dx = xp.empty((n, c, h, w), dtype=g.dtype)
    dx[...] = unpad_gradient(dpad, geometry.pads, geometry.padding_mode).transpose(1, 0, 2, 3)
    return dx


def conv_transpose2d(x, weight, bias, geometry, scratch, columns=STRIDED_COPIES):
    """y[n, o, h·s + i·d − p, w·s + j·d − p] += Σ_{c ∈ group(o)} W[c, o, i, j]·x[n, c, h, w], plus b.

    Returns (y, saved)."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    (hf, wf), (ho, wo) = geometry.transposed_full(h, w), geometry.transposed_output(h, w)
    (kh, kw), g, ph, pw = geometry.kernel, geometry.groups, geometry.pads[0], geometry.pads[2]
    o = weight.shape[1] * g
    x_cm = scratch.get("input", (c, n, h, w), x)
    x_cm[...] = x.transpose(1, 0, 2, 3)
    x_g = x_cm.reshape(g, c // g, n * h * w)
    cols = scratch.get("cols", (o, kh, kw, n, h, w), x)
    grouped_matmul(weight.reshape(g, c // g, -1).transpose(0, 2, 1), x_g, cols.reshape(g, -1, n * h * w))
    full = columns.col2im(cols, scratch.get("full", (o, n, hf, wf), x), geometry.stride, geometry.dilation)
    y = xp.empty((n, o, ho, wo), dtype=x.dtype)
    y_cm = full[:, :, ph:ph + ho, pw:pw + wo].transpose(1, 0, 2, 3)
    if bias is None:
        y[...] = y_cm
    else:
        xp.add(y_cm, bias[:, None, None], out=y)
    return y, (x_g, cols)


def conv_transpose2d_backward(g, saved, weight, bias, geometry, scratch, want_dx=True, columns=STRIDED_COPIES):
    """Γ = im2col(G zero-padded): ∂L/∂W_g = X_g Γ_gᵀ, ∂L/∂b = Σ G (added); returns ∂L/∂x_g = W_g Γ_g."""
    xp = get_array_module(g)
    x_g, cols = saved
    n, o, ho, wo = g.shape
    groups, c = geometry.groups, x_g.shape[0] * x_g.shape[1]
    h, w = cols.shape[4], cols.shape[5]
    (hf, wf), ph, pw = geometry.transposed_full(h, w), geometry.pads[0], geometry.pads[2]
    dfull = scratch.get("dfull", (o, n, hf, wf), g, zero=True)
    g_cm = pad_into(g.transpose(1, 0, 2, 3), dfull, (ph, hf - ho - ph, pw, wf - wo - pw), "zeros")
    gamma = columns.im2col(g_cm, cols, geometry.stride, geometry.dilation).reshape(groups, -1, n * h * w)
    weight_gradient(weight, x_g, gamma, scratch)
    if bias is not None:
        bias.accumulate(g.sum(axis=(0, 2, 3)))
    if not want_dx:
        return None
    dx_g = grouped_matmul(weight.data.reshape(groups, c // groups, -1), gamma,
                          scratch.get("dx", (groups, c // groups, n * h * w), g))
    dx = xp.empty((n, c, h, w), dtype=g.dtype)
    dx[...] = dx_g.reshape(c, n, h, w).transpose(1, 0, 2, 3)
    return dx
