"""ZeroPad1d, ConstantPad1d, ReflectionPad1d, ReplicationPad1d and CircularPad1d: the 2-d padding layers on
signals one pixel high (``padding``)."""
import math

from .checks import UnsupportedModeError, check_floating, check_grad_like, whole
from .padding import CircularPad2d, ConstantPad2d, ReflectionPad2d, ReplicationPad2d, ZeroPad2d


def _two(padding):
    """(left, right) from an int or a 2-tuple, as torch."""
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise ValueError(f"padding must be an int or a 2-tuple (left, right), got {padding!r}")
        return tuple(whole(p, "padding") for p in padding)
    p = whole(padding, "padding")
    return (p, p)


class _Along1d:
    """The 2-d padding of (M, 1, 1, L) for an input (…, L) flattened to M signals, padded (left, right) along L
    only; ``padding`` is kept as torch keeps it, the 2-tuple (left, right). The constant pads take any number of
    leading axes, the others (C, L) or (N, C, L), as torch's."""

    _any_rank = False

    def _sides(self):
        return self.padding + (0, 0)

    def forward(self, x):
        check_floating(self, x)
        if x.ndim < 1 or (not self._any_rank and x.ndim not in (2, 3)):
            raise UnsupportedModeError(f"{self!r}: expected a 2D (C, L) or 3D (N, C, L) input, got shape "
                                       f"{tuple(x.shape)}")
        self._leading = tuple(x.shape[:-1])
        y = super().forward(x.reshape(math.prod(self._leading), 1, 1, x.shape[-1]))
        return y.reshape(self._leading + (y.shape[-1],))

    def _as_planes(self, dout):
        expected = None if self._cache is None else self._leading + (self._cache[1][-1],)
        check_grad_like(self, dout, expected)
        return dout.reshape(math.prod(dout.shape[:-1]), 1, 1, dout.shape[-1])

    def backward(self, dout):
        dx = super().backward(self._as_planes(dout))
        return dx.reshape(dout.shape[:-1] + (dx.shape[-1],))

    def backward_parameters(self, dout):
        super().backward_parameters(self._as_planes(dout))


class ConstantPad1d(_Along1d, ConstantPad2d):
    """y = x inside, ``value`` in the padding along L;  ∂L/∂x = G inside (a negative padding crops)."""

    _any_rank = True

    def __init__(self, padding, value):
        super().__init__(0, value)
        self.padding = _two(padding)


class ZeroPad1d(_Along1d, ZeroPad2d):
    """Zeros either side of the signal (``ConstantPad1d`` with value 0)."""

    _any_rank = True

    def __init__(self, padding):
        super().__init__(0)
        self.padding = _two(padding)


class ReflectionPad1d(_Along1d, ReflectionPad2d):
    """The signal mirrored about its end samples (not repeated); each padding under the signal's length."""

    def __init__(self, padding):
        super().__init__(0)
        self.padding = _two(padding)


class ReplicationPad1d(_Along1d, ReplicationPad2d):
    """The end samples repeated outwards."""

    def __init__(self, padding):
        super().__init__(0)
        self.padding = _two(padding)


class CircularPad1d(_Along1d, CircularPad2d):
    """The signal wrapped around (the other end's samples); each padding at most the signal's length."""

    def __init__(self, padding):
        super().__init__(0)
        self.padding = _two(padding)
