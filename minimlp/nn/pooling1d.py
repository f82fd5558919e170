"""MaxPool1d, AvgPool1d, AdaptiveAvgPool1d, AdaptiveMaxPool1d and MaxUnpool1d: the 2-d poolings run on signals
one pixel high."""
from .adaptive_max_pool import AdaptiveMaxPool2d
from .checks import InputError, check_floating, single
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d, MaxUnpool2d


class _Along1d:
    """A 2-d pooling of (N, C, 1, L) for an input (N, C, L) or (C, L): its windows (1, k), strides (1, s),
    paddings (0, p) and dilations (1, d); its output and gradient without the height axis."""

    def _as_pairs(self):
        kernel = single(self.kernel_size, "kernel_size")
        stride = kernel if self.stride is None or self.stride == [] else single(self.stride, "stride")
        return (1,) + kernel, (1,) + stride, (0,) + single(self.padding, "padding"), \
            (1,) + single(self.dilation, "dilation")

    def forward(self, x):
        check_floating(self, x)
        if x.ndim not in (2, 3):
            raise InputError(f"{self!r}: Expected 2D or 3D (batch mode) tensor for input, but got: "
                             f"{list(x.shape)}")
        y = super().forward(x[..., None, :])
        if isinstance(y, tuple):
            return y[0][..., 0, :], y[1][..., 0, :]
        return y[..., 0, :]

    def backward(self, dout):
        return super().backward(dout[..., None, :])[..., 0, :]

    def backward_parameters(self, dout):
        super().backward_parameters(dout[..., None, :])


class MaxPool1d(_Along1d, MaxPool2d):
    """y[n, c, l] = max_k x̃[n, c, l·s + k·d], x̃ padded with −∞ (MaxPool2d's formula, rule for ties and NaN,
    ``ceil_mode`` and ``return_indices``, the indices along L)."""


class AvgPool1d(_Along1d, AvgPool2d):
    """y[n, c, l] = (1/D) Σ_k x̃[n, c, l·s + k], x̃ zero-padded (AvgPool2d's divisors D, ``count_include_pad``
    and ``ceil_mode``). Keeps its sizes as 1-tuples, as torch's."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        kernel = single(kernel_size, "kernel_size")
        super().__init__(kernel, kernel if stride is None else single(stride, "stride"),
                         single(padding, "padding"), ceil_mode, count_include_pad)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool1d(_Along1d, AdaptiveAvgPool2d):
    """y[n, c, i] = mean of x[n, c, ⌊i·L/L_out⌋ : ⌈(i+1)·L/L_out⌉] (AdaptiveAvgPool2d's bins, along L)."""

    def __init__(self, output_size):
        size = output_size[0] if isinstance(output_size, (tuple, list)) and len(output_size) == 1 else output_size
        super().__init__((1, size))
        self.output_size = output_size


class AdaptiveMaxPool1d(_Along1d, AdaptiveMaxPool2d):
    """y[n, c, i] = max of x[n, c, ⌊i·L/L_out⌋ : ⌈(i+1)·L/L_out⌉] (AdaptiveMaxPool2d's bins, rule for ties and
    NaN, and ``return_indices``, the indices along L)."""

    def __init__(self, output_size, return_indices=False):
        size = output_size[0] if isinstance(output_size, (tuple, list)) and len(output_size) == 1 else output_size
        super().__init__((1, size), return_indices)
        self.output_size = output_size


class MaxUnpool1d(MaxUnpool2d):
    """The partial inverse of MaxPool1d: y = zeros with y[n, c, indices[n, c, l]] = x[n, c, l], of length
    (L − 1)·s − 2p + k or ``output_size`` (MaxUnpool2d on signals one pixel high); ∂L/∂x = G at the indices.
    Takes (N, C, L) or (C, L) and MaxPool1d's indices."""

    def __init__(self, kernel_size, stride=None, padding=0):
        kernel = single(kernel_size, "kernel_size")
        stride = kernel if stride is None else single(stride, "stride")
        super().__init__((1,) + kernel, (1,) + stride, (0,) + single(padding, "padding"))
        self.kernel_size, self.stride, self.padding = kernel, stride, single(padding, "padding")

    def _unpool_pairs(self):
        return (1,) + self.kernel_size, (1,) + self.stride, (0,) + self.padding

    def forward(self, x, indices, output_size=None):
        check_floating(self, x)
        if x.ndim not in (2, 3):
            raise InputError(f"{self!r}: Expected 2D or 3D (batch mode) tensor for input, but got: "
                             f"{list(x.shape)}")
        size = None if output_size is None else (1, list(output_size)[-1])
        return super().forward(x[..., None, :], indices[..., None, :], size)[..., 0, :]

    def backward(self, dout):
        return super().backward(dout[..., None, :])[..., 0, :]

    def backward_parameters(self, dout):
        super().backward_parameters(dout[..., None, :])
