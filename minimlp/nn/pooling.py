"""Pooling: MaxPool2d, AvgPool2d (kernel-offset loops) and AdaptiveAvgPool2d (a separable linear map)."""
import numpy as np

from ..backend import get_array_module
from .checks import check_grad_like, check_image
from .im2col import Scratch, output_size, pair, window
from .module import Module
from .separable import SeparableMap


class _Pool2d(Module):
    """Shared arguments and output-size checks (torch's defaults: stride = kernel_size)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None or stride == [] else pair(stride, "stride")
        self.padding = pair(padding, "padding")
        self.dilation = pair(dilation, "dilation")
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.dilation) < 1:
            raise ValueError(f"{name}: kernel_size, stride and dilation must be positive")
        for p, k, d in zip(self.padding, self.kernel_size, self.dilation):
            if p < 0 or p > (d * (k - 1) + 1) // 2:
                raise ValueError(f"{name}: pad should be at most half of effective kernel size, but got "
                                 f"pad={self.padding}, kernel_size={self.kernel_size}")
        if ceil_mode:
            raise ValueError(f"{name}: ceil_mode=True is not supported by minimlp yet")
        self.ceil_mode = False
        self._scratch = Scratch()
        self._cache = None

    def _geometry(self, x):
        check_image(self, x, None, None)
        n, c, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        ho, wo = output_size(h, kh, sh, ph, ph, dh), output_size(w, kw, sw, pw, pw, dw)
        if ho < 1 or wo < 1:
            raise ValueError(f"{self!r}: input of shape {tuple(x.shape)} is smaller than the kernel: the output "
                             f"would be {ho}x{wo}")
        return n, c, h, w, ho, wo

    def _windows(self, ho, wo):
        """(offset number, row slice, column slice) for each kernel offset, over the padded input."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        return [(i * kw + j, window(i, dh, sh, ho), window(j, dw, sw, wo)) for i in range(kh) for j in range(kw)]

    def _padded(self, x, fill):
        ph, pw = self.padding
        if ph == 0 and pw == 0:
            return x
        n, c, h, w = x.shape
        buf = self._scratch.get("padded", (n, c, h + 2 * ph, w + 2 * pw), x, fill=fill)
        buf[:, :, ph:ph + h, pw:pw + w] = x
        return buf

    def _scatter(self, dout, parts, like_shape):
        """∂L/∂x from per-offset contributions: Σ over offsets of each part added at its window, cropped."""
        xp = get_array_module(dout)
        n, c, h, w = like_shape
        ph, pw = self.padding
        dpad = self._scratch.get("dpadded", (n, c, h + 2 * ph, w + 2 * pw), dout)
        dpad.fill(0)
        for k, rows, cols in self._windows(dout.shape[2], dout.shape[3]):
            dpad[:, :, rows, cols] += parts(k)
        dx = xp.empty(like_shape, dtype=dout.dtype)
        dx[...] = dpad[:, :, ph:ph + h, pw:pw + w]
        return dx

    def backward_parameters(self, dout):
        """No parameters: only checks ``dout``."""
        check_grad_like(self, dout, None if self._cache is None else self._cache[0])

    def _on_moved(self):
        self._cache = None
        self._scratch.clear()

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """y[n, c, h, w] = max_{i,j} x̃[n, c, h·s + i·d, w·s + j·d], x̃ padded with −∞.

    Backward: ∂L/∂x routes each G[n, c, h, w] to the position of its window's
    maximum (the first one in row-major kernel order on ties, as torch's CPU
    kernel); windows that overlap add up. Forward is a chain of element-wise
    maxima over the kh·kw offsets; backward finds, offset by offset, the
    first position equal to the maximum. Caches the (padded) input and y.
    NaN inputs are not propagated as torch does.
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)
        if return_indices:
            raise ValueError("MaxPool2d: return_indices=True is not supported by minimlp")
        self.return_indices = False

    def forward(self, x):
        n, c, h, w, ho, wo = self._geometry(x)
        xp = get_array_module(x)
        src = self._padded(x, -np.inf)
        best = None
        for k, rows, cols in self._windows(ho, wo):
            if best is None:
                best = xp.array(src[:, :, rows, cols])
            else:
                xp.maximum(best, src[:, :, rows, cols], out=best)
        self._cache = ((n, c, ho, wo), (n, c, h, w), src, best)
        return best

    def backward(self, dout):
        check_grad_like(self, dout, None if self._cache is None else self._cache[0])
        xp = get_array_module(dout)
        out_shape, in_shape, src, best = self._cache
        hit = self._scratch.get("hit", out_shape, dout, dtype=np.bool_)
        free = self._scratch.get("free", out_shape, dout, dtype=np.bool_)  # windows whose maximum is not yet found
        part = self._scratch.get("part", out_shape, dout)
        free.fill(True)
        windows = {k: (rows, cols) for k, rows, cols in self._windows(out_shape[2], out_shape[3])}

        def routed(k):
            rows, cols = windows[k]
            xp.equal(src[:, :, rows, cols], best, out=hit)
            xp.logical_and(hit, free, out=hit)
            xp.logical_xor(free, hit, out=free)
            return xp.multiply(dout, hit, out=part)
        return self._scatter(dout, routed, in_shape)

    def extra_repr(self):
        s = super().extra_repr()
        return s + (f", dilation={self.dilation}" if self.dilation != (1, 1) else "")


class AvgPool2d(_Pool2d):
    """y[n, c, h, w] = (1/D) Σ_{i,j} x̃[n, c, h·s + i, w·s + j], x̃ zero-padded.

    D = kh·kw (``count_include_pad=True``, torch's default), the number of
    non-padding pixels in the window (``count_include_pad=False``), or
    ``divisor_override``. Backward: ∂L/∂x[window] += G/D for every window.
    Caches nothing but shapes (and D when it varies per position).
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        if divisor_override is not None and int(divisor_override) == 0:
            raise ValueError("AvgPool2d: divisor_override must not be zero")
        self.divisor_override = divisor_override

    def _inverse_divisor(self, x, h, w, ho, wo):
        """1/D: a number, or an (Ho, Wo) array for count_include_pad=False (counts are separable per axis)."""
        if self.divisor_override is not None:
            return 1.0 / int(self.divisor_override)
        kh, kw = self.kernel_size
        if self.count_include_pad or self.padding == (0, 0):
            return 1.0 / (kh * kw)
        xp = get_array_module(x)

        def counts(size, k, s, p, out):
            start = np.arange(out) * s - p
            return np.minimum(start + k, size) - np.maximum(start, 0)
        inv = 1.0 / np.outer(counts(h, kh, self.stride[0], self.padding[0], ho),
                             counts(w, kw, self.stride[1], self.padding[1], wo))
        return xp.asarray(inv.astype(x.dtype))

    def forward(self, x):
        n, c, h, w, ho, wo = self._geometry(x)
        xp = get_array_module(x)
        src = self._padded(x, 0)
        y = xp.zeros((n, c, ho, wo), dtype=x.dtype)
        for _, rows, cols in self._windows(ho, wo):
            y += src[:, :, rows, cols]
        inv = self._inverse_divisor(x, h, w, ho, wo)
        y *= inv
        self._cache = ((n, c, ho, wo), (n, c, h, w), inv)
        return y

    def backward(self, dout):
        check_grad_like(self, dout, None if self._cache is None else self._cache[0])
        _, in_shape, inv = self._cache
        share = dout * inv
        return self._scatter(dout, lambda k: share, in_shape)


class AdaptiveAvgPool2d(SeparableMap):
    """y[n, c, i, j] = mean of x[n, c, h₀(i):h₁(i), w₀(j):w₁(j)], with h₀(i) = ⌊i·H/H_out⌋, h₁(i) = ⌈(i+1)·H/H_out⌉.

    The mean over a rectangle is separable: y = A_h x A_wᵀ with
    A_h[i, h] = 1/(h₁(i) − h₀(i)) on the bin, so backward is ∂L/∂x = A_hᵀ G A_w.
    ``output_size``: an int, a pair, or None in a pair to keep that size.
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def _out_size(self, h, w):
        size = self.output_size if isinstance(self.output_size, (tuple, list)) else (self.output_size,) * 2
        return tuple(int(s) if s is not None else d for s, d in zip(size, (h, w)))

    def _axis_matrix(self, size, out, axis):
        a = np.zeros((out, size))
        for i in range(out):
            lo, hi = (i * size) // out, -((-(i + 1) * size) // out)
            a[i, lo:hi] = 1.0 / (hi - lo)
        return a

    def extra_repr(self):
        return f"output_size={self.output_size}"
