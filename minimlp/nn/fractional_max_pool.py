"""FractionalMaxPool2d and FractionalMaxPool3d: max pooling over pseudo-random overlapping windows (Graham 2014),
torch's regions (``minimlp.formulas.fractional_max_pool``)."""
import numbers

from ..backend import device_of, get_array_module
from ..kernels import ops
from ..random import rng_for
from .checks import InputError, InputTypeError, check_floating, check_grad_like, whole
from .module import Module


class _AxesError(InputError, IndexError):
    """An input of too few axes: torch's IndexError (its functional reads ``input.size(-3)`` first) or, given
    ``_random_samples``, its RuntimeError."""


class _FractionalMaxPool(Module):
    """What the 2-d and 3-d fractional max pools share; ``_dims`` spatial axes."""

    _dims = 2
    _axis_names = ("height", "width")
    _op_name = "fractional_max_pool2d()"

    def __init__(self, kernel_size, output_size=None, output_ratio=None, return_indices=False, _random_samples=None):
        super().__init__()
        name = type(self).__name__
        if output_size is None and output_ratio is None:
            raise ValueError(f"{name} requires specifying either an output size, or a pooling ratio")
        if output_size is not None and output_ratio is not None:
            raise ValueError("only one of output_size and output_ratio may be specified")
        self.kernel_size = self._tuple(kernel_size, "kernel_size", whole)
        if any(k <= 0 for k in self.kernel_size):   # torch's 3-d module; its 2-d one pools nothing into −inf
            raise ValueError(f"kernel_size must be greater than 0, but got {kernel_size}")
        self.output_size = None if output_size is None else self._tuple(output_size, "output_size", whole)
        self.output_ratio = None if output_ratio is None else self._tuple(output_ratio, "output_ratio", float)
        if self.output_ratio is not None and not all(0 < r < 1 for r in self.output_ratio):
            raise ValueError(f"output_ratio must be between 0 and 1 (got {output_ratio})")
        self.return_indices = bool(return_indices)
        self.register_buffer("_random_samples", _random_samples)
        self._cache = None

    def _tuple(self, value, what, cast):
        """An int (or ratio) for every spatial axis, or a tuple of one per axis, as torch's ``_pair``/``_triple``."""
        values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * self._dims
        if len(values) != self._dims:
            raise InputError(f"fractional_max_pool{self._dims}d: {what} must either be a single Int or tuple of Ints")
        if cast is float and not all(isinstance(v, numbers.Real) for v in values):
            raise TypeError(f"{what} must be numbers, got {value!r}")
        return tuple(cast(v) for v in values)

    def _out_size(self, spatial):
        """output_size, or ⌊size·ratio⌋ per axis (torch's ``int(size * ratio)``)."""
        if self.output_size is not None:
            return self.output_size
        return tuple(int(s * r) for s, r in zip(spatial, self.output_ratio))

    def _check(self, x):
        """The batched x, whether it was unbatched, and the output size; torch's errors otherwise."""
        check_floating(self, x)
        d = self._dims
        if x.ndim not in (d + 1, d + 2):
            if x.ndim < d + 1:   # torch's functional reads input.size(-d - 1) first
                raise _AxesError(f"Dimension out of range (expected to be in range of [{-max(x.ndim, 1)}, "
                                 f"{max(x.ndim, 1) - 1}], but got {-d - 1}): {self._op_name} expects a "
                                 f"{d + 1}D or {d + 2}D tensor, got shape {list(x.shape)}")
            raise InputError(f"{self._op_name}: Expected {d + 1}D or {d + 2}D tensor, but got: {list(x.shape)}")
        for axis in range(x.ndim - d - 1, x.ndim):
            if x.shape[axis] == 0:
                raise InputError(f"{self._op_name}: Expected input to have non-zero size for non-batch dimensions, "
                                 f"but got{list(x.shape)} with dimension {axis} being empty.")
        unbatched = x.ndim == d + 1
        x = x[None] if unbatched else x
        spatial = tuple(x.shape[2:])
        out = self._out_size(spatial)
        strict = d == 3   # torch's 3-d kernel wants out + k − 1 < size, its 2-d one ≤
        for axis, (size, o, k) in enumerate(zip(spatial, out, self.kernel_size)):
            if o + k - 1 > size - strict:
                what = self._axis_names[axis]
                raise InputError(f"{self._op_name}: pool {what} {k} too large relative to input {what} {size}")
        return x, unbatched, out

    def _samples(self, x):
        """``_random_samples`` (checked as torch does), or u ~ U[0, 1) drawn for each (sample, channel, axis) from
        minimlp's generator on x's device, in x's dtype (in training and evaluation, as torch)."""
        n, c = x.shape[:2]
        samples = self._random_samples
        if samples is None:
            return rng_for(get_array_module(x)).random((n, c, self._dims), dtype=x.dtype)
        if samples.ndim != 3:
            raise InputError(f"Expect _random_samples to have 3 dimensions, got {samples.ndim}")
        if samples.shape[0] < n:
            raise InputError("Expect _random_samples.size(0) no less then input batch size.")
        if samples.shape[1] != c:
            raise InputError("Expect _random_samples.size(1) equals to input channel size.")
        if samples.shape[2] != self._dims:
            raise InputError(f"Expect _random_samples.size(2) equals to {self._dims}; got {samples.shape[2]}.")
        if samples.dtype != x.dtype or device_of(samples) != device_of(x):
            raise InputTypeError("Expect _random_samples to have the same dtype as input" if samples.dtype != x.dtype
                                 else f"Expect _random_samples on the input's device ({device_of(x)})")
        samples = samples[:n]
        if n and not bool(((samples >= 0) & (samples < 1)).all()):   # torch reads outside the input for these
            raise InputError(f"{self!r}: _random_samples must lie in [0, 1)")
        return samples

    def forward(self, x):
        x, unbatched, out = self._check(x)
        y, positions = ops.fractional_max_pool.run("forward", x, self._samples(x), self.kernel_size, out)
        self._cache = (positions, tuple(x.shape), unbatched, tuple(y.shape[1:] if unbatched else y.shape))
        if unbatched:
            y, positions = y[0], positions[0]
        return (y, positions) if self.return_indices else y

    def backward(self, dout):
        check_grad_like(self, dout, None if self._cache is None else self._cache[3])
        positions, in_shape, unbatched, _ = self._cache
        dx = ops.fractional_max_pool.run("backward", dout[None] if unbatched else dout, positions, in_shape)
        return dx[0] if unbatched else dx

    def backward_parameters(self, dout):
        """No parameters: only checks ``dout``."""
        check_grad_like(self, dout, None if self._cache is None else self._cache[3])

    def _on_moved(self):
        self._cache = None


class FractionalMaxPool2d(_FractionalMaxPool):
    """y[n, c, i, j] = max of x[n, c, h₀(i):h₀(i) + k_h, w₀(j):w₀(j) + k_w] over pseudo-random windows, as torch's:
    along an axis of n inputs and `out` outputs, start(i) = ⌊(i + u)·α⌋ − ⌊u·α⌋ with α = (n − k)/(out − 1) for
    i < out − 1 and start(out − 1) = n − k; u ∈ [0, 1) one sample per (sample, channel, axis) (torch's
    ``_random_samples[n, c]`` holds (u_w, u_h)), in the input's dtype.

    ``output_size`` (an int or a pair) or ``output_ratio`` (in (0, 1): out = ⌊size·ratio⌋), one of them; out + k − 1
    ≤ size. Without ``_random_samples`` (N, C, 2), each forward draws u ~ U[0, 1) from minimlp's generator
    (``minimlp.manual_seed``), in training and evaluation, as torch. The maximum is the first in row-major order,
    or the last NaN; ``return_indices=True`` returns (y, indices), indices = h·W + w (int64, as torch's).
    Backward: each G[n, c, i, j] goes to its window's maximum (windows may overlap). Takes (N, C, H, W) or
    (C, H, W). Keeps the positions of the maxima.
    """


class FractionalMaxPool3d(_FractionalMaxPool):
    """FractionalMaxPool2d's windows along the three axes of (N, C, T, H, W) or (C, T, H, W): y[n, c, t, i, j] =
    max over x[n, c, t₀(t):t₀(t) + k_t, h₀(i):h₀(i) + k_h, w₀(j):w₀(j) + k_w], start(i) = ⌊(i + u)·α⌋ − ⌊u·α⌋,
    α = (n − k)/(out − 1), the last n − k, with ``_random_samples[n, c]`` = (u_t, u_h, u_w).

    torch's 3-d kernel asks out + k − 1 < size (strictly). Indices (t·H + h)·W + w. Backward as the 2-d one.
    """

    _dims = 3
    _axis_names = ("time", "height", "width")
    _op_name = "fractional_max_pool3d_out()"
