"""MaxPool3d, AvgPool3d and MaxUnpool3d: every window of the volume gathered at once and reduced
(``minimlp.formulas.pooling3d``)."""
import numpy as np

from ..backend import get_array_module
from ..kernels import ops
from .checks import InputError, check_floating, check_grad_like, whole, with_batch_axis
from .module import Module
from .pooling import MaxUnpool2d


def triple(value, name="value"):
    """An int or a 3-tuple of ints as a tuple (d, h, w), as torch's ``_triple``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 3:
            raise ValueError(f"{name} must be an int or a 3-tuple of ints, got {value!r}")
        return tuple(whole(v, name) for v in value)
    return (whole(value, name),) * 3


def check_volume(module, x):
    """x must be a floating (N, C, D, H, W) or (C, D, H, W) array, non-empty but for N, as torch."""
    check_floating(module, x)
    if x.ndim not in (4, 5) or 0 in x.shape[-4:]:
        raise InputError(f"{module!r}: non-empty 4D or 5D (batch mode) tensor expected for input, got shape "
                         f"{tuple(x.shape)}")


class _Windows3d(Module):
    """A reduction over windows of the volume: the windows (``_axes``: one axis's (index, valid, count) each) kept
    per input size and device; the unbatched input (C, D, H, W) runs as a batch of one. Subclasses give
    ``_axes(shape)``, ``_reduce(x5, flat, valid, inverse)`` → (y, saved) and ``_back(g, saved, in_shape)``."""

    _divisor_override = None

    def __init__(self):
        super().__init__()
        self._volumes = {}
        self._cache = None

    def _volume(self, x):
        """(flat, valid, 1/D) of x's windows on its device (``formulas.pooling3d``)."""
        key = (tuple(x.shape[-3:]), self._key(), x.dtype, type(x))
        if key not in self._volumes:
            axes = self._axes(tuple(x.shape[-3:]))
            out = tuple(len(a[2]) for a in axes)
            if min(out) < 1:
                raise InputError(f"{self!r}: Given input size: ({'x'.join(map(str, x.shape[-4:]))}). Calculated "
                                 f"output size: ({'x'.join(map(str, (x.shape[-4],) + out))}). Output size is too "
                                 f"small")
            xp = get_array_module(x)
            flat, valid = ops.pool3d.run("volume_windows", axes, tuple(x.shape[-3:]))
            inverse = ops.pool3d.run("inverse_divisor", axes, self._divisor_override, x.dtype)
            self._volumes = {key: (xp.asarray(flat), xp.asarray(valid),
                                   inverse if np.isscalar(inverse) else xp.asarray(inverse))}
        return self._volumes[key]

    def _key(self):
        return None

    def forward(self, x):
        check_volume(self, x)
        flat, valid, inverse = self._volume(x)
        x5, unbatched = with_batch_axis(x, 5)
        y, saved = self._reduce(x5, flat, valid, inverse)
        self._cache = (saved, tuple(x5.shape), unbatched, tuple(y.shape[1:] if unbatched else y.shape))
        return self._output(y[0] if unbatched else y, saved, unbatched)

    def _output(self, y, saved, unbatched):
        return y

    def _expected(self):
        return None if self._cache is None else self._cache[3]

    def backward(self, dout):
        check_grad_like(self, dout, self._expected())
        saved, in_shape, unbatched, _ = self._cache
        dx = self._back(dout[None] if unbatched else dout, saved, in_shape)
        return dx[0] if unbatched else dx

    def backward_parameters(self, dout):
        """No parameters: only checks ``dout``."""
        check_grad_like(self, dout, self._expected())

    def _on_moved(self):
        self._volumes, self._cache = {}, None


class _Pool3d(_Windows3d):
    """The arguments as given (as torch: ``MaxPool3d(2).stride == 2``; stride None: the kernel's), read again at
    every call; output sizes torch's, ``ceil_mode`` too."""

    _count_include_pad = True

    def __init__(self, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.ceil_mode = bool(ceil_mode)

    def _padding(self):
        return self.padding

    def _dilation(self):
        return 1

    def _key(self):
        """(kernel, stride, padding, dilation, ceil_mode, count_include_pad), checked as torch checks them."""
        name = type(self).__name__
        kernel = triple(self.kernel_size, "kernel_size")
        stride = kernel if self.stride is None or self.stride == [] else triple(self.stride, "stride")
        padding, dilation = triple(self._padding(), "padding"), triple(self._dilation(), "dilation")
        if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1:
            raise InputError(f"{name}: kernel_size, stride and dilation must be positive")
        for p, k, d in zip(padding, kernel, dilation):
            if p < 0 or p > (d * (k - 1) + 1) // 2:
                raise InputError(f"{name}: pad should be at most half of effective kernel size, but got pad="
                                 f"{self._padding()}, kernel_size={self.kernel_size} and dilation={self._dilation()}")
        return kernel, stride, padding, dilation, self.ceil_mode, self._count_include_pad

    def _axes(self, shape):
        kernel, stride, padding, dilation, ceil_mode, include = self._key()[:6]
        return tuple(ops.pool3d.run("pooling_windows", *args, ceil_mode, include)
                     for args in zip(shape, kernel, stride, padding, dilation))

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _MaxOfWindows:
    """The maximum of each window (the 3-d max pools'): torch's first maximum in kernel order or the last NaN; its
    position in the input volume is kept for backward and given as the index with ``return_indices``."""

    def _reduce(self, x, flat, valid, inverse):
        return ops.pool3d.run("max_forward", x, flat, valid)

    def _output(self, y, positions, unbatched):
        if not self.return_indices:
            return y
        return y, (positions[0] if unbatched else positions)

    def _back(self, g, positions, in_shape):
        return ops.pool3d.run("max_backward", g, positions, in_shape)


class MaxPool3d(_MaxOfWindows, _Pool3d):
    """y[n, c, d, h, w] = max_{i,j,k} x̃[n, c, d·s_D + i·δ_D, h·s_H + j·δ_H, w·s_W + k·δ_W], x̃ padded with −∞.

    Backward: ∂L/∂x routes each G[n, c, d, h, w] to its window's maximum (the first in (i, j, k) row-major order
    on ties, the last NaN where one is in the window, as torch's CPU kernel); windows that overlap add up.
    ``return_indices=True`` returns (y, indices), indices = d'·H·W + h'·W + w' of each maximum in its input volume
    (int64, torch's, for ``MaxUnpool3d``). Shapes (N, C, D, H, W) or (C, D, H, W). Keeps the maxima's positions.
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__(kernel_size, stride, ceil_mode)
        self.padding, self.dilation = padding, dilation
        self.return_indices = bool(return_indices)
        self._key()

    def _dilation(self):
        return self.dilation

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool3d(_Pool3d):
    """y[n, c, d, h, w] = (1/D) Σ_{i,j,k} x̃[n, c, d·s_D + i, h·s_H + j, w·s_W + k], x̃ zero-padded.

    D = the window's size within the padded input (``count_include_pad=True``, torch's default; a ``ceil_mode``
    window is cut at the padded input's end), the number of input voxels in it (``count_include_pad=False``), or
    ``divisor_override``. Backward: ∂L/∂x[window] += G/D for every window. Shapes (N, C, D, H, W) or
    (C, D, H, W). Keeps the windows and 1/D (per input size).
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__(kernel_size, stride, ceil_mode)
        self.padding = padding
        self.count_include_pad = bool(count_include_pad)
        if divisor_override is not None and int(divisor_override) == 0:
            raise InputError("AvgPool3d: divisor must be not zero")
        self.divisor_override = divisor_override
        self._key()

    @property
    def _count_include_pad(self):
        return self.count_include_pad

    @property
    def _divisor_override(self):
        return self.divisor_override

    def _key(self):
        return super()._key() + (self.divisor_override,)

    def _reduce(self, x, flat, valid, inverse):
        return ops.pool3d.run("avg_forward", x, flat, valid, inverse), (flat, valid, inverse)

    def _back(self, g, saved, in_shape):
        return ops.pool3d.run("avg_backward", g, *saved, in_shape)


class MaxUnpool3d(MaxUnpool2d):
    """The partial inverse of MaxPool3d: y = zeros with y[n, c].flat[indices[n, c, d, h, w]] = x[n, c, d, h, w].

    ``forward(x, indices, output_size=None)`` takes MaxPool3d's output and indices (``return_indices=True``); the
    output is (N, C, D_out, H_out, W_out) with D_out = (D − 1)·s − 2p + k (torch's default) or ``output_size``
    (three sizes, or a full shape). Backward: ∂L/∂x[n, c, d, h, w] = G[n, c].flat[indices[n, c, d, h, w]] (the
    indices get no gradient). Shapes (N, C, D, H, W) or (C, D, H, W). Keeps the indices.
    """

    _rank = 3

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__(1, 1, 0)
        self.kernel_size = triple(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else triple(stride, "stride")
        self.padding = triple(padding, "padding")

    def _check(self, x):
        check_volume(self, x)

    def _unpool(self, role, *args):
        return ops.pool3d.run("unpool_" + role, *args)
