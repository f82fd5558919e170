"""Pooling: MaxPool2d, AvgPool2d (kernel-offset loops) and AdaptiveAvgPool2d (a separable linear map)."""
from ..formulas.conv import Geometry
from ..kernels import ops
from ..scratch import Scratch
from .checks import check_grad_like, check_image, pair
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
        ph, pw = self.padding
        self._geometry = Geometry(self.kernel_size, self.stride, self.dilation, (ph, ph, pw, pw), 1)
        self._scratch = Scratch()
        self._cache = None

    def _check(self, x):
        check_image(self, x, None, None)
        ho, wo = self._geometry.conv_output(x.shape[2], x.shape[3])
        if ho < 1 or wo < 1:
            raise ValueError(f"{self!r}: input of shape {tuple(x.shape)} is smaller than the kernel: the output "
                             f"would be {ho}x{wo}")
        return x.shape[0], x.shape[1], ho, wo

    def forward(self, x):
        out_shape = self._check(x)
        impl = self._op.pick("forward", x, training=self.training)
        y, saved = impl.forward(x, self._geometry, *self._arguments(x), self._scratch)
        self._cache = (impl, saved, out_shape)
        return y

    def _arguments(self, x):
        """The op's arguments between the geometry and the scratch buffers."""
        return ()

    def backward(self, dout):
        check_grad_like(self, dout, None if self._cache is None else self._cache[2])
        impl, saved, _ = self._cache
        return impl.backward(dout, saved, self._geometry, self._scratch)

    def backward_parameters(self, dout):
        """No parameters: only checks ``dout``."""
        check_grad_like(self, dout, None if self._cache is None else self._cache[2])

    def _on_moved(self):
        self._cache = None
        self._scratch.clear()

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """y[n, c, h, w] = max_{i,j} x̃[n, c, h·s + i·d, w·s + j·d], x̃ padded with −∞.

    Backward: ∂L/∂x routes each G[n, c, h, w] to the position of its window's maximum (the first one in
    row-major kernel order on ties, as torch's CPU kernel); windows that overlap add up. Keeps the
    (padded) input and y. A NaN in a window is its maximum and takes its gradient, as in torch. The maths is
    ``minimlp.formulas.pooling``.
    """

    _op = ops.max_pool2d

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)
        if return_indices:
            raise ValueError("MaxPool2d: return_indices=True is not supported by minimlp")
        self.return_indices = False

    def extra_repr(self):
        s = super().extra_repr()
        return s + (f", dilation={self.dilation}" if self.dilation != (1, 1) else "")


class AvgPool2d(_Pool2d):
    """y[n, c, h, w] = (1/D) Σ_{i,j} x̃[n, c, h·s + i, w·s + j], x̃ zero-padded.

    D = kh·kw (``count_include_pad=True``, torch's default), the number of non-padding pixels in the
    window (``count_include_pad=False``), or ``divisor_override``. Backward: ∂L/∂x[window] += G/D for
    every window. Keeps nothing but shapes (and D when it varies per position).
    """

    _op = ops.avg_pool2d

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        if divisor_override is not None and int(divisor_override) == 0:
            raise ValueError("AvgPool2d: divisor_override must not be zero")
        self.divisor_override = divisor_override

    def _arguments(self, x):
        return (ops.avg_pool2d.run("inverse_divisor", x, self._geometry, self.count_include_pad,
                                   self.divisor_override),)


class AdaptiveAvgPool2d(SeparableMap):
    """y[n, c, i, j] = mean of x[n, c, h₀(i):h₁(i), w₀(j):w₁(j)], with h₀(i) = ⌊i·H/H_out⌋, h₁(i) = ⌈(i+1)·H/H_out⌉.

    The mean over a rectangle is separable: y = A_h x A_wᵀ with A_h[i, h] = 1/(h₁(i) − h₀(i)) on the bin,
    so backward is ∂L/∂x = A_hᵀ G A_w. ``output_size``: an int, a pair, or None in a pair to keep that size.
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def _out_size(self, h, w):
        size = self.output_size if isinstance(self.output_size, (tuple, list)) else (self.output_size,) * 2
        return tuple(int(s) if s is not None else d for s, d in zip(size, (h, w)))

    def _axis_matrix(self, size, out, axis):
        return ops.separable_map.run("adaptive_average", size, out)

    def extra_repr(self):
        return f"output_size={self.output_size}"
