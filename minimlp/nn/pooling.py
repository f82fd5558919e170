"""Pooling: MaxPool2d, AvgPool2d (kernel-offset loops), MaxUnpool2d and AdaptiveAvgPool2d (a separable linear map)."""
import math

from ..formulas.pooling import pool_geometry
from ..kernels import ops
from ..scratch import Scratch
from .checks import InputError, check_floating, check_grad_like, check_image, pair, whole, with_batch_axis
from .module import Module
from .separable import SeparableMap


class _Pool2d(Module):
    """Shared arguments (kept as given, as torch: ``MaxPool2d(2).stride == 2``), output sizes (torch's,
    ``ceil_mode`` too; defaults: stride = kernel_size) and the unbatched input (C, H, W), which runs as a batch
    of one."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__()
        # the attributes as given (an int stays an int), as torch keeps them; _pairs() reads them at every call
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.ceil_mode = bool(ceil_mode)
        self._pairs()
        self._geometries = {}
        self._scratch = Scratch()
        self._cache = None

    def _pairs(self):
        """(kernel, stride, padding, dilation) as pairs, from the attributes as they are now (torch reads them at
        every call, so a stride set after construction counts), checked as torch checks them."""
        name = type(self).__name__
        kernel, stride, padding, dilation = self._as_pairs()
        if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1:
            raise InputError(f"{name}: kernel_size, stride and dilation must be positive")
        for p, k, d in zip(padding, kernel, dilation):
            if p < 0 or p > (d * (k - 1) + 1) // 2:
                raise InputError(f"{name}: pad should be at most half of effective kernel size, but got "
                                 f"pad={self.padding}, kernel_size={self.kernel_size} and dilation={self.dilation}")
        return kernel, stride, padding, dilation

    def _as_pairs(self):
        """(kernel, stride, padding, dilation) as pairs from the attributes (stride None or []: the kernel's)."""
        kernel = pair(self.kernel_size, "kernel_size")
        stride = kernel if self.stride is None or self.stride == [] else pair(self.stride, "stride")
        return kernel, stride, pair(self.padding, "padding"), pair(self.dilation, "dilation")

    def _geometry(self, h, w):
        key = (h, w, self._pairs(), self.ceil_mode)
        if key not in self._geometries:
            self._geometries[key] = pool_geometry(h, w, *key[2], self.ceil_mode)
        return self._geometries[key]

    def forward(self, x):
        check_image(self, x, None, None, unbatched=True)
        geometry = self._geometry(*x.shape[-2:])
        ho, wo = geometry.conv_output(*x.shape[-2:])
        if ho < 1 or wo < 1:
            raise InputError(f"{self!r}: input of shape {tuple(x.shape)} is smaller than the kernel: the output "
                             f"would be {ho}x{wo}")
        x4, unbatched = with_batch_axis(x, 4)
        impl = self._op.pick("forward", x4, geometry, training=self.training)
        y, saved = impl.forward(x4, geometry, *self._arguments(x4, geometry), self._scratch)
        self._cache = (impl, saved, geometry, unbatched)
        self._out_shape = y.shape[1:] if unbatched else y.shape
        return y[0] if unbatched else y

    def _arguments(self, x, geometry):
        """The op's arguments between the geometry and the scratch buffers."""
        return ()

    def _expected(self):
        return None if self._cache is None else self._out_shape

    def backward(self, dout):
        check_grad_like(self, dout, self._expected())
        impl, saved, geometry, unbatched = self._cache
        dx = impl.backward(dout[None] if unbatched else dout, saved, geometry, self._scratch)
        return dx[0] if unbatched else dx

    def backward_parameters(self, dout):
        """No parameters: only checks ``dout``."""
        check_grad_like(self, dout, self._expected())

    def _on_moved(self):
        self._cache = None
        self._scratch.clear()

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """y[n, c, h, w] = max_{i,j} x̃[n, c, h·s + i·d, w·s + j·d], x̃ padded with −∞.

    Backward: ∂L/∂x routes each G[n, c, h, w] to the position of its window's maximum (the first one in
    row-major kernel order on ties, as torch's CPU kernel); windows that overlap add up. Keeps the
    (padded) input and y. ``return_indices=True`` returns (y, indices), indices[n, c, h, w] = h'·W + w' of
    the maximum in the input plane (int64, torch's, for ``MaxUnpool2d``). ``ceil_mode``: torch's output size
    rounded up (the last window may reach past the input; it must start inside it or its left padding).
    Shapes (N, C, H, W) or (C, H, W). A NaN in a window is its maximum and takes its gradient, as in torch. The maths is
    ``minimlp.formulas.pooling``.
    """

    _op = ops.max_pool2d

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)
        self.return_indices = bool(return_indices)

    def forward(self, x):
        y = super().forward(x)
        if not self.return_indices:
            return y
        impl, saved, geometry, unbatched = self._cache
        indices = ops.max_pool2d.run_on_saved(impl, "indices", saved, geometry)
        return y, (indices[0] if unbatched else indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(_Pool2d):
    """y[n, c, h, w] = (1/D) Σ_{i,j} x̃[n, c, h·s + i, w·s + j], x̃ zero-padded.

    D = the window's size within the padded input (``count_include_pad=True``, torch's default: kh·kw except
    where a ``ceil_mode`` window reaches past it), the number of input pixels in the window
    (``count_include_pad=False``), or ``divisor_override``. Backward: ∂L/∂x[window] += G/D for every window.
    Shapes (N, C, H, W) or (C, H, W). Keeps nothing but shapes (and D when it varies per position).
    """

    _op = ops.avg_pool2d

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        if divisor_override is not None and int(divisor_override) == 0:
            raise InputError("AvgPool2d: divisor_override must not be zero")
        self.divisor_override = divisor_override

    def _arguments(self, x, geometry):
        return (ops.avg_pool2d.run("inverse_divisor", x, geometry, self.count_include_pad, self.divisor_override),)


class MaxUnpool2d(Module):
    """The partial inverse of MaxPool2d: y = zeros with y[n, c].flat[indices[n, c, h, w]] = x[n, c, h, w].

    ``forward(x, indices, output_size=None)`` takes MaxPool2d's output and indices (``return_indices=True``);
    the output is (N, C, H_out, W_out) with H_out = (H − 1)·s − 2p + k (torch's default) or ``output_size``
    ((H_out, W_out), or a full shape). Backward: ∂L/∂x[n, c, h, w] = G[n, c].flat[indices[n, c, h, w]]
    (the indices get no gradient). Shapes (N, C, H, W) or (C, H, W). The maths is
    ``minimlp.formulas.pooling``. MaxUnpool1d and MaxUnpool3d are this module over 1 or 3 spatial axes
    (``_rank``, ``_check``, ``_unpool``).
    """

    _rank = 2

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else pair(stride, "stride")
        self.padding = pair(padding, "padding")
        self._cache = None

    def _check(self, x):
        check_image(self, x, None, None, unbatched=True)

    def _unpool(self, role, *args):
        return ops.max_unpool2d.run(role, *args)

    def _unpool_pairs(self):
        """(kernel, stride, padding), one entry per spatial axis."""
        return self.kernel_size, self.stride, self.padding

    def _out_size(self, x, output_size):
        rank = self._rank
        kernel, strides, padding = self._unpool_pairs()
        default = tuple((size - 1) * s - 2 * p + k
                        for size, s, p, k in zip(x.shape[-rank:], strides, padding, kernel))
        if output_size is None:
            return default
        size = tuple(int(s) for s in output_size)[-rank:]
        if len(tuple(output_size)) not in (rank, x.ndim):
            raise ValueError(f"{self!r}: output_size must have {rank} or {x.ndim} elements, got {tuple(output_size)}")
        for got, d, s in zip(size, default, strides):
            if not d - s < got < d + s:
                raise ValueError(f"{self!r}: invalid output_size {tuple(output_size)} (the spatial sizes must "
                                 f"lie strictly between {tuple(v - s for v, s in zip(default, strides))} and "
                                 f"{tuple(v + s for v, s in zip(default, strides))})")
        return size

    def forward(self, x, indices, output_size=None):
        self._check(x)
        if getattr(getattr(indices, "dtype", None), "kind", None) not in ("i", "u") or indices.shape != x.shape:
            raise ValueError(f"{self!r}: expected integer indices of the input's shape {tuple(x.shape)} "
                             f"(the max pool's with return_indices=True), got "
                             f"{getattr(indices, 'dtype', type(indices).__name__)} of shape "
                             f"{tuple(getattr(indices, 'shape', ()))}")
        out = self._out_size(x, output_size)
        if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= math.prod(out)):
            raise InputError(f"{self!r}: found an invalid max index {int(indices.max())} (or a negative one) for "
                             f"an output of {'x'.join(map(str, out))}")
        batched, unbatched = with_batch_axis(x, self._rank + 2)
        batched_indices = indices[None] if unbatched else indices
        y = self._unpool("forward", batched, batched_indices, out)
        self._cache = (batched_indices, unbatched, y.shape[1:] if unbatched else y.shape)
        return y[0] if unbatched else y

    def backward(self, dout):
        check_grad_like(self, dout, None if self._cache is None else self._cache[2])
        check_floating(self, dout)
        indices, unbatched, _ = self._cache
        dx = self._unpool("backward", dout[None] if unbatched else dout, indices)
        return dx[0] if unbatched else dx

    def backward_parameters(self, dout):
        """No parameters: only checks ``dout``."""
        check_grad_like(self, dout, None if self._cache is None else self._cache[2])

    def _on_moved(self):
        self._cache = None

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(SeparableMap):
    """y[n, c, i, j] = mean of x[n, c, h₀(i):h₁(i), w₀(j):w₁(j)], with h₀(i) = ⌊i·H/H_out⌋, h₁(i) = ⌈(i+1)·H/H_out⌉.

    The mean over a rectangle is separable: y = A_h x A_wᵀ with A_h[i, h] = 1/(h₁(i) − h₀(i)) on the bin,
    so backward is ∂L/∂x = A_hᵀ G A_w. ``output_size``: an int, a pair, or None in a pair to keep that size.
    Takes (N, C, H, W) or one image (C, H, W).
    """

    _unbatched = True

    def __init__(self, output_size):
        super().__init__()
        sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
        if len(sizes) != 2:
            raise ValueError(f"AdaptiveAvgPool2d: output_size must be an int or a pair, got {output_size!r}")
        self._sizes = tuple(None if s is None else whole(s, "output_size") for s in sizes)
        self.output_size = output_size

    def _out_size(self, h, w):
        return tuple(s if s is not None else d for s, d in zip(self._sizes, (h, w)))

    def _axis_taps(self, size, out, axis):
        return ops.separable_map.run("adaptive_average", size, out)

    def extra_repr(self):
        return f"output_size={self.output_size}"
