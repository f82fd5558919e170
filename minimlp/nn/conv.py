"""Conv2d and ConvTranspose2d: 2-d (transposed) convolution as one matrix product over im2col columns."""
import math

import numpy as np

from .. import compiled, threads
from ..backend import get_array_module
from . import init
from .blas import gemm_address, one_blas_thread, openblas_threads
from .checks import check_grad_like, check_image
from .im2col import Scratch, col2im, im2col, output_size, pad_into, pair, unpad_gradient
from .module import Module
from .parameter import Parameter

PADDING_MODES = ("zeros", "reflect")
MAX_COLUMNS = 1 << 21  # elements of one thread's column buffer in the compiled forward pass (8 MB in float32)


def _compiled_gemm(x):
    """(gemm address, 64-bit integers?) when ``conv_kernels`` should run on ``x``, else None (the NumPy formula).

    Only training runs them: evaluation (``model.eval()``) takes the NumPy formula, as the other layers'
    evaluation does, so evaluating or colorizing never waits for Numba to compile (about 30 s, once per install).
    """
    if type(x) is not np.ndarray or x.dtype not in (np.float32, np.float64) or not compiled.use_compiled():
        return None
    return gemm_address(x.dtype)


def _run_pieces(pieces, serial, parallel, args):
    """One piece: ``serial(*args)`` with OpenBLAS on minimlp's threads; more: ``parallel`` on the pool, OpenBLAS on one."""
    if pieces == 1:
        with openblas_threads(threads.get_num_threads()):
            serial(*args)
    else:
        with one_blas_thread():
            threads.launch(pieces, parallel, pieces, *args)


def matmul(a, b, out):
    """out[g] = a[g] @ b[g] for stacked (G, ·, ·) operands: one plain 2-d BLAS product when G = 1."""
    xp = get_array_module(a)
    if a.shape[0] == 1:
        xp.matmul(a[0], b[0], out=out[0])
    else:
        xp.matmul(a, b, out=out)
    return out


class _ConvBase(Module):
    """Shared construction: torch's argument checks, weight shapes and initialisation."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, dilation, groups, bias, weight_shape, dtype):
        super().__init__()
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        name = type(self).__name__
        if self.groups < 1:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        for label, channels in (("in_channels", self.in_channels), ("out_channels", self.out_channels)):
            if channels < 1 or channels % self.groups:
                raise ValueError(f"{name}: {label}={channels} must be a positive multiple of groups={self.groups}")
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = pair(stride, "stride")
        self.dilation = pair(dilation, "dilation")
        for label, value in (("kernel_size", self.kernel_size), ("stride", self.stride), ("dilation", self.dilation)):
            if min(value) < 1:
                raise ValueError(f"{name}: {label} must be positive, got {value}")
        self.weight = Parameter(np.empty(weight_shape, dtype=dtype))
        self.bias = Parameter(np.empty(self.out_channels, dtype=dtype)) if bias else None
        # torch's _ConvNd.reset_parameters: kaiming_uniform_(a=√5), bias ~ U(±1/√fan_in)
        init.kaiming_uniform_(self.weight.data, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = init._fans(self.weight.data)[0]
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias.data, -bound, bound)
        self._scratch = Scratch()
        self._cache = None

    def _take_cache(self, dout, expected_shape):
        if self._cache is None and getattr(self, "_consumed", False):
            raise RuntimeError(f"{self!r}: backward already ran once since the last forward (its column buffer "
                               f"now holds their gradient); run forward again before another backward")
        check_grad_like(self, dout, expected_shape)
        cache, self._cache = self._cache, None  # the columns' buffer is reused for their gradient
        self._consumed = True
        return cache

    def _bias_gradient(self, dout_cm):
        """∂L/∂b = Σ_{n,h,w} G: one reduction over the channel-major gradient."""
        if self.bias is not None:
            self.bias.accumulate(dout_cm.reshape(self.out_channels, -1).sum(axis=1))

    def _weight_gradient(self, a, b_t, like):
        """∂L/∂W = a b_tᵀ per group, (G, P, L) · (G, Q, L)ᵀ, added into the weight's gradient.

        With the long axis L = N·H·W contiguous in both operands, OpenBLAS is
        fast only when the larger of P and Q is the result's row count (the
        other order measured 3x to 100x slower on this project's 2-core
        machine: 3.3 s instead of 0.03 s for P = 64, Q = 27), so the product
        is taken as (b_t aᵀ)ᵀ when Q > P.
        """
        p, q = a.shape[1], b_t.shape[1]
        if q > p:
            buf = self._scratch.get("weight_grad_t", (a.shape[0], q, p), like)
            matmul(b_t, a.transpose(0, 2, 1), buf)
            buf = buf.transpose(0, 2, 1)
        else:
            buf = self._scratch.get("weight_grad", (a.shape[0], p, q), like)
            matmul(a, b_t.transpose(0, 2, 1), buf)
        self.weight.accumulate(buf.reshape(self.weight.data.shape))

    def _forward_compiled(self, x, out_shape, geometry, found):
        """The forward pass by ``conv_kernels``: per image (or block of output rows), a gather and a gemm per group.

        ``geometry`` describes the convolution (for ConvTranspose2d, the one
        it is the adjoint of, whose input is this layer's output).
        """
        from . import conv_kernels
        transposed = isinstance(self, ConvTranspose2d)
        n, (ho, wo) = x.shape[0], geometry[4:6]
        w2 = self.weight.data.reshape(self.weight.data.shape[0], -1)
        rows = w2.shape[1] * self.groups
        blocks = 1 if transposed else min(ho, max(-(-threads.get_num_threads() // n), -(-rows * ho * wo // MAX_COLUMNS)))
        items = n * blocks
        pieces = threads.pieces(items, 1)
        cols = self._scratch.get("cols", (pieces, rows, -(-ho // blocks) * wo), x)
        y = np.empty(out_shape, dtype=x.dtype)
        bias = x[0, 0, 0, :0] if self.bias is None else self.bias.data
        args = (items, blocks, x, w2, bias, y, cols, geometry, *found, x.dtype.type(1), x.dtype.type(0), transposed)
        _run_pieces(pieces, conv_kernels.forward_serial, conv_kernels.forward_parallel, args)
        self._cache, self._consumed = ("compiled", x, tuple(out_shape), geometry), False
        return y

    def _backward_compiled(self, cache, dout, want_dx):
        """∂W, ∂b (and ∂x when ``want_dx``) by ``conv_kernels``, one image at a time per thread."""
        from . import conv_kernels
        _, x, _, geometry = cache
        transposed = isinstance(self, ConvTranspose2d)
        n, (ho, wo) = x.shape[0], geometry[4:6]
        w2 = self.weight.data.reshape(self.weight.data.shape[0], -1)
        rows = w2.shape[1] * self.groups
        pieces = threads.pieces(n, 1)
        cols = self._scratch.get("cols", (pieces, rows, ho * wo), x)
        dcols = self._scratch.get("dcols", (pieces, rows, ho * wo), x) if want_dx and not transposed else cols
        dw_parts = self._scratch.get("dw_parts", (pieces,) + w2.shape, x)
        db_parts = self._scratch.get("db_parts", (pieces, self.out_channels), x, dtype=np.float64)
        dx = np.empty(x.shape, dtype=x.dtype) if want_dx else x[:0]
        args = (x, w2, np.ascontiguousarray(dout), dx, cols, dcols, dw_parts, db_parts, want_dx, geometry,
                *_compiled_gemm(x), x.dtype.type(1), x.dtype.type(0), transposed)
        _run_pieces(pieces, conv_kernels.backward_serial, conv_kernels.backward_parallel, args)
        self.weight.accumulate((dw_parts[0] if pieces == 1 else dw_parts.sum(axis=0)).reshape(self.weight.data.shape))
        if self.bias is not None:
            self.bias.accumulate((db_parts[0] if pieces == 1 else db_parts.sum(axis=0)).astype(x.dtype))
        return dx if want_dx else None

    def _backward(self, dout, want_dx):
        """The backward of the path the last forward took: ``conv_kernels`` or the NumPy formula."""
        cache = self._take_cache(dout, None if self._cache is None else self._cache[2])
        if type(cache[0]) is str:  # ("compiled", x, output shape, geometry)
            return self._backward_compiled(cache, dout, want_dx)
        return self._backward_formula(cache, dout, want_dx)

    def backward(self, dout):
        return self._backward(dout, want_dx=True)

    def backward_parameters(self, dout):
        self._backward(dout, want_dx=False)

    def _on_moved(self):
        self._cache = None
        self._scratch.clear()

    def _describe(self, before=(), after=()):
        """torch's extra_repr: channels, kernel, stride, then each option not at its default (None: at it)."""
        options = [*before, ("dilation", None if self.dilation == (1, 1) else self.dilation),
                   ("groups", None if self.groups == 1 else self.groups),
                   ("bias", False if self.bias is None else None), *after]
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}" + \
            "".join(f", {name}={value}" for name, value in options if value is not None)

    def _shape_error(self, x, what):
        return ValueError(f"{self!r}: input of shape {tuple(x.shape)} {what}")


class Conv2d(_ConvBase):
    """y[n, o] = b[o] + Σ_{c ∈ group(o)} Σ_{i,j} W[o, c, i, j] · x̃[n, c, h·s + i·d, w·s + j·d].

    x̃ is x padded (zeros, or mirrored for ``padding_mode="reflect"``).
    Shapes: x (N, C_in, H, W) → y (N, C_out, H_out, W_out) with
    H_out = ⌊(H + 2p − d·(k − 1) − 1)/s⌋ + 1; W is (C_out, C_in/groups, kh, kw)
    and b (C_out,), as torch. ``padding`` is an int, a pair, "valid" (0) or
    "same" (stride 1 only; total d·(k − 1), the odd one extra at the bottom
    and right, as torch). Initialised as torch.nn.Conv2d (kaiming-uniform
    with a = √5, b ~ U(±1/√fan_in)).

    As matrices, per group g: with X = im2col(x̃) (C_in/G·kh·kw, N·H_out·W_out),
    Y_g = W_g X_g. Backward, for G = ∂L/∂y in the same layout:
    ∂L/∂W_g = G_g X_gᵀ (one product), ∂L/∂b = Σ_{n,h,w} G (one reduction),
    ∂L/∂x = unpad(col2im(W_gᵀ G_g)) (one product, then the adjoint of the
    im2col gather; reflect padding folds the border back onto the pixels it
    mirrors). Caches X in a buffer reused across steps, and writes ∂X into
    the same buffer, so one forward allows one backward.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", dtype=np.float32):
        kh, kw = pair(kernel_size, "kernel_size")
        super().__init__(in_channels, out_channels, kernel_size, stride, dilation, groups, bias,
                         (int(out_channels), int(in_channels) // max(int(groups), 1), kh, kw), dtype)
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"Conv2d: padding_mode must be one of {PADDING_MODES} (minimlp has no "
                             f"'replicate' or 'circular' yet), got {padding_mode!r}")
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Conv2d: padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError("Conv2d: padding='same' is not supported for strided convolutions")
            self.padding = padding
            if padding == "same":
                (th, tw) = (d * (k - 1) for d, k in zip(self.dilation, self.kernel_size))
                self._pads = (th // 2, th - th // 2, tw // 2, tw - tw // 2)
            else:
                self._pads = (0, 0, 0, 0)
        else:
            self.padding = pair(padding, "padding")
            if min(self.padding) < 0:
                raise ValueError(f"Conv2d: padding must be non-negative, got {self.padding}")
            ph, pw = self.padding
            self._pads = (ph, ph, pw, pw)

    def forward(self, x):
        W = self.weight.data
        check_image(self, x, self.in_channels, W)
        xp = get_array_module(x)
        n, c, h, w = x.shape
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        pt, pb, pl, pr = self._pads
        ho, wo = output_size(h, kh, sh, pt, pb, dh), output_size(w, kw, sw, pl, pr, dw)
        if ho < 1 or wo < 1:
            raise self._shape_error(x, f"padded by {self._pads} (top, bottom, left, right) is smaller than the "
                                       f"dilated kernel {(dh * (kh - 1) + 1, dw * (kw - 1) + 1)}: the output "
                                       f"would be {ho}x{wo}")
        if self.padding_mode == "reflect" and (max(pt, pb) >= h or max(pl, pr) >= w):
            raise self._shape_error(x, f"is too small for reflect padding {self._pads}: each padding must be "
                                       f"smaller than the input's size along its axis")
        found = _compiled_gemm(x) if self.training else None  # evaluation runs no compiled code: no compile
        if found is not None:
            geometry = (c, h, w, self.out_channels, ho, wo, kh, kw, sh, sw, dh, dw, pt, pl, self.groups,
                        self.padding_mode == "reflect")
            return self._forward_compiled(xp.ascontiguousarray(x), (n, self.out_channels, ho, wo), geometry, found)
        x_cm = x.transpose(1, 0, 2, 3)  # a view: (C, N, H, W)
        if any(self._pads):
            src = self._scratch.get("padded", (c, n, h + pt + pb, w + pl + pr), x, zero=True)
            pad_into(x_cm, src, self._pads, self.padding_mode)
        else:
            src = x_cm
        cols = im2col(src, self._scratch.get("cols", (c, kh, kw, n, ho, wo), x), self.stride, self.dilation)
        g, o = self.groups, self.out_channels
        cols_g = cols.reshape(g, -1, n * ho * wo)
        product = self._scratch.get("product", (g, o // g, n * ho * wo), x)
        matmul(W.reshape(g, o // g, -1), cols_g, product)
        y = xp.empty((n, o, ho, wo), dtype=x.dtype)
        y_cm = product.reshape(o, n, ho, wo)
        if self.bias is None:
            y[...] = y_cm.transpose(1, 0, 2, 3)
        else:
            xp.add(y_cm.transpose(1, 0, 2, 3), self.bias.data[:, None, None], out=y)
        self._cache, self._consumed = (tuple(x.shape), cols_g, (n, o, ho, wo)), False
        return y

    def _backward_formula(self, cache, dout, want_dx):
        xp = get_array_module(dout)
        (n, c, h, w), cols_g, (_, o, ho, wo) = cache
        g = self.groups
        dout_cm = self._scratch.get("dout", (o, n, ho, wo), dout)
        dout_cm[...] = dout.transpose(1, 0, 2, 3)
        d_g = dout_cm.reshape(g, o // g, n * ho * wo)
        self._weight_gradient(d_g, cols_g, dout)
        self._bias_gradient(dout_cm)
        if not want_dx:
            return None
        W_g = self.weight.data.reshape(g, o // g, -1)
        matmul(W_g.transpose(0, 2, 1), d_g, cols_g)  # ∂X, into the columns' buffer
        pt, pb, pl, pr = self._pads
        kh, kw = self.kernel_size
        dpad = self._scratch.get("dpadded", (c, n, h + pt + pb, w + pl + pr), dout)
        col2im(cols_g.reshape(c, kh, kw, n, ho, wo), dpad, self.stride, self.dilation)
        dx = xp.empty((n, c, h, w), dtype=dout.dtype)
        dx[...] = unpad_gradient(dpad, self._pads, self.padding_mode).transpose(1, 0, 2, 3)
        return dx

    def extra_repr(self):
        padding = None if self.padding in ((0, 0), "valid") else \
            repr(self.padding) if isinstance(self.padding, str) else self.padding
        return self._describe(before=[("padding", padding)],
                              after=[("padding_mode", None if self.padding_mode == "zeros" else self.padding_mode)])


class ConvTranspose2d(_ConvBase):
    """The adjoint of Conv2d in x: y = col2im(W_gᵀ x_g) cropped by ``padding``, plus b.

    y[n, o, h·s + i·d − p, w·s + j·d − p] += Σ_{c ∈ group(o)} W[c, o, i, j] · x[n, c, h, w].
    Shapes: x (N, C_in, H, W) → y (N, C_out, H_out, W_out) with
    H_out = (H − 1)·s − 2p + d·(k − 1) + output_padding + 1; W is
    (C_in, C_out/groups, kh, kw) and b (C_out,), as torch (so fan_in, for the
    default initialisation, is C_out/groups·kh·kw, as torch computes it).

    Backward, with Γ = im2col of G = ∂L/∂y zero-padded by p (exactly a
    convolution's forward gather): ∂L/∂W_g = X_g Γ_gᵀ (one product),
    ∂L/∂b = Σ_{n,h,w} G (one reduction), ∂L/∂x_g = W_g Γ_g (one product).
    Caches x (channel-major) in a buffer reused across steps.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", dtype=np.float32):
        kh, kw = pair(kernel_size, "kernel_size")
        super().__init__(in_channels, out_channels, kernel_size, stride, dilation, groups, bias,
                         (int(in_channels), int(out_channels) // max(int(groups), 1), kh, kw), dtype)
        if padding_mode != "zeros":
            raise ValueError(f"ConvTranspose2d: only padding_mode='zeros' is supported (as torch), got {padding_mode!r}")
        self.padding_mode = padding_mode
        self.padding = pair(padding, "padding")
        self.output_padding = pair(output_padding, "output_padding")
        if min(self.padding) < 0 or min(self.output_padding) < 0:
            raise ValueError(f"ConvTranspose2d: padding and output_padding must be non-negative")
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= s and op >= d:
                raise ValueError(f"ConvTranspose2d: output padding must be smaller than either stride or dilation, "
                                 f"got output_padding={self.output_padding}, stride={self.stride}, "
                                 f"dilation={self.dilation}")

    def _full_size(self, h, w):
        """The uncropped output size: (H − 1)·s + d·(k − 1) + 1 + output_padding, per axis."""
        return tuple((size - 1) * s + d * (k - 1) + 1 + op for size, s, d, k, op in
                     zip((h, w), self.stride, self.dilation, self.kernel_size, self.output_padding))

    def forward(self, x):
        W = self.weight.data
        check_image(self, x, self.in_channels, W)
        xp = get_array_module(x)
        n, c, h, w = x.shape
        (hf, wf), (ph, pw), (kh, kw) = self._full_size(h, w), self.padding, self.kernel_size
        ho, wo = hf - 2 * ph, wf - 2 * pw
        if ho < 1 or wo < 1:
            raise self._shape_error(x, f"with padding {self.padding} gives an empty output ({ho}x{wo})")
        g, o = self.groups, self.out_channels
        found = _compiled_gemm(x) if self.training else None  # evaluation runs no compiled code: no compile
        if found is not None:
            geometry = (o, ho, wo, c, h, w, kh, kw, *self.stride, *self.dilation, ph, pw, g, False)
            return self._forward_compiled(xp.ascontiguousarray(x), (n, o, ho, wo), geometry, found)
        x_cm = self._scratch.get("input", (c, n, h, w), x)
        x_cm[...] = x.transpose(1, 0, 2, 3)
        x_g = x_cm.reshape(g, c // g, n * h * w)
        cols = self._scratch.get("cols", (o, kh, kw, n, h, w), x)
        matmul(W.reshape(g, c // g, -1).transpose(0, 2, 1), x_g, cols.reshape(g, -1, n * h * w))
        full = col2im(cols, self._scratch.get("full", (o, n, hf, wf), x), self.stride, self.dilation)
        y = xp.empty((n, o, ho, wo), dtype=x.dtype)
        y_cm = full[:, :, ph:ph + ho, pw:pw + wo]
        if self.bias is None:
            y[...] = y_cm.transpose(1, 0, 2, 3)
        else:
            xp.add(y_cm.transpose(1, 0, 2, 3), self.bias.data[:, None, None], out=y)
        self._cache, self._consumed = (x_g, cols, (n, o, ho, wo)), False
        return y

    def _backward_formula(self, cache, dout, want_dx):
        xp = get_array_module(dout)
        x_g, cols, (n, o, ho, wo) = cache
        g, c = self.groups, self.in_channels
        h, w = cols.shape[4], cols.shape[5]
        (hf, wf), (ph, pw) = self._full_size(h, w), self.padding
        dfull = self._scratch.get("dfull", (o, n, hf, wf), dout, zero=True)
        dout_cm = pad_into(dout.transpose(1, 0, 2, 3), dfull, (ph, hf - ho - ph, pw, wf - wo - pw), "zeros")
        gamma = im2col(dout_cm, cols, self.stride, self.dilation).reshape(g, -1, n * h * w)
        self._weight_gradient(x_g, gamma, dout)
        if self.bias is not None:
            self.bias.accumulate(dout.sum(axis=(0, 2, 3)))
        if not want_dx:
            return None
        dx_g = self._scratch.get("dx", (g, c // g, n * h * w), dout)
        matmul(self.weight.data.reshape(g, c // g, -1), gamma, dx_g)
        dx = xp.empty((n, c, h, w), dtype=dout.dtype)
        dx[...] = dx_g.reshape(c, n, h, w).transpose(1, 0, 2, 3)
        return dx

    def extra_repr(self):
        return self._describe(before=[("padding", None if self.padding == (0, 0) else self.padding),
                                      ("output_padding", None if self.output_padding == (0, 0) else self.output_padding)])
