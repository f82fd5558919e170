"""Padding layers: ZeroPad2d, ConstantPad2d, ReflectionPad2d, ReplicationPad2d and CircularPad2d, each a
separable index map of the image's rows and columns (``minimlp.formulas.resample.pad``)."""
from ..backend import get_array_module
from ..kernels import ops
from .checks import InputError, whole
from .separable import SeparableMap


def _four(padding):
    """(left, right, top, bottom) from an int or a 4-tuple, as torch."""
    if isinstance(padding, (tuple, list)):
        if len(padding) != 4:
            raise ValueError(f"padding must be an int or a 4-tuple (left, right, top, bottom), got {padding!r}")
        return tuple(whole(p, "padding") for p in padding)
    p = whole(padding, "padding")
    return (p, p, p, p)


class _Pad2d(SeparableMap):
    """y[…, h, w] = x[…, r(h − top), c(w − left)] for the padding (left, right, top, bottom), with r and c the
    mode's index maps (``formulas.resample.pad``); backward: each input pixel collects the gradient of every
    output that read it. Takes (N, C, H, W) or (C, H, W)."""

    _unbatched = True
    _mode = None

    def __init__(self, padding):
        super().__init__()
        self.padding = _four(padding)

    def _sides(self):
        """(left, right, top, bottom)."""
        return self.padding

    def _out_size(self, h, w):
        left, right, top, bottom = self._sides()
        return h + top + bottom, w + left + right

    def _axis_taps(self, size, out, axis):
        left, right, top, bottom = self._sides()
        before, after = (top, bottom) if axis == 0 else (left, right)
        if size == 0 and self._mode != "constant":
            raise InputError(f"{self!r}: {self._mode} padding needs a non-empty input along each padded axis, as "
                             f"torch's")
        if self._mode == "reflect" and max(before, after) >= size:
            raise InputError(f"{self!r}: Padding size should be less than the corresponding input dimension, but "
                             f"got: padding ({before}, {after}) at an axis of size {size}")
        if self._mode == "circular" and max(before, after) > size:
            raise InputError(f"{self!r}: Padding value causes wrapping around more than once.")
        return ops.separable_map.run("pad", size, before, after, self._mode)

    def extra_repr(self):
        return f"{self.padding}"


class ConstantPad2d(_Pad2d):
    """``value`` around the image: y = x inside, ``value`` in the padding; ∂L/∂x = G inside (a negative
    padding crops). Also takes a 2-D (H, W) input, as torch."""

    _mode = "constant"

    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value
        self._plane = False

    def forward(self, x):
        plane = getattr(x, "ndim", None) == 2
        y = self._padded(x[None] if plane else x)
        self._plane = plane
        return y[0] if plane else y

    def _padded(self, x):
        y = super().forward(x)
        if self.value:
            xp = get_array_module(y)
            (taps_h, taps_w), _ = self._maps(x)
            inside = _inside(taps_h, y.shape[-2], xp)[:, None] & _inside(taps_w, y.shape[-1], xp)[None, :]
            y = xp.where(inside, y, xp.asarray(self.value, dtype=y.dtype))
        return y

    def backward(self, dout):
        if self._plane:
            return super().backward(dout[None])[0]
        return super().backward(dout)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ZeroPad2d(ConstantPad2d):
    """Zeros around the image (``ConstantPad2d`` with value 0)."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ReflectionPad2d(_Pad2d):
    """The image mirrored about its edge rows and columns (the edge not repeated); each padding under the
    image's size along its axis."""

    _mode = "reflect"


class ReplicationPad2d(_Pad2d):
    """The edge rows and columns repeated outwards."""

    _mode = "replicate"


class CircularPad2d(_Pad2d):
    """The image wrapped around (the other side's rows and columns); each padding at most the image's size."""

    _mode = "circular"


def _inside(taps, out, xp):
    """Which outputs of an axis read the input (a tap in use), on the array's device."""
    used = taps[2]
    return xp.ones(out, dtype=bool) if used is None else used[:, 0]
