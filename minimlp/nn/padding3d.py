"""ZeroPad3d, ConstantPad3d, ReflectionPad3d, ReplicationPad3d and CircularPad3d: one index map per axis
(``minimlp.formulas.resample.pad``), the volume gathered along D, H and W in turn (``minimlp.formulas.axis_map``)."""
from ..backend import get_array_module
from ..formulas import resample
from ..kernels import ops
from .checks import InputError, UnsupportedModeError, check_floating, check_grad_like, whole
from .module import Module


def _six(padding):
    """(left, right, top, bottom, front, back) from an int or a 6-tuple, as torch."""
    if isinstance(padding, (tuple, list)):
        if len(padding) != 6:
            raise ValueError(f"padding must be an int or a 6-tuple (left, right, top, bottom, front, back), got "
                             f"{padding!r}")
        return tuple(whole(p, "padding") for p in padding)
    p = whole(padding, "padding")
    return (p,) * 6


class _Pad3d(Module):
    """y[…, d, h, w] = x[…, i_D(d − front), i_H(h − top), i_W(w − left)], each i the mode's index map of its axis
    (``formulas.resample.pad``); a negative padding crops. Backward: each input voxel collects the gradient of
    every output that read it (the adjoint of the three gathers, ``formulas.axis_map``). Takes (N, C, D, H, W) or
    (C, D, H, W). Keeps the three (out, in) matrices per input size, and the output's shape."""

    _mode = None
    _any_rank = False
    _fill = 0.0

    def __init__(self, padding):
        super().__init__()
        self.padding = _six(padding)
        self._maps = {}
        self._cache = None

    def _taps(self, x):
        """(gather maps, backward matrices) for x's size, dtype and device."""
        key = (tuple(x.shape[-3:]), x.dtype, type(x))
        if key not in self._maps:
            xp = get_array_module(x)
            left, right, top, bottom, front, back = self.padding
            gathers, matrices = [], []
            for axis, (before, after) in ((-1, (left, right)), (-2, (top, bottom)), (-3, (front, back))):  # W first
                size = x.shape[axis]
                if self._mode == "reflect" and max(before, after) >= size:
                    raise InputError(f"{self!r}: Padding size should be less than the corresponding input "
                                     f"dimension, but got: padding ({before}, {after}) at dimension "
                                     f"{x.ndim + axis} of input {list(x.shape)}")
                if self._mode == "circular" and max(before, after) > size:
                    raise InputError(f"{self!r}: Padding value causes wrapping around more than once.")
                if before + size + after < 1:
                    raise InputError(f"{self!r}: input of shape {tuple(x.shape)} gives an empty output along "
                                     f"dimension {x.ndim + axis} ({before + size + after})")
                taps = ops.separable_map.run("pad", size, before, after, self._mode)
                used = None if taps.used.all() else xp.asarray(taps.used[:, 0])
                gathers.append((axis, xp.asarray(taps.index[:, 0]), used))
                matrices.append((axis, xp.asarray(resample.matrix(taps).astype(x.dtype))))
            self._maps = {key: (tuple(gathers), tuple(matrices))}
        return self._maps[key]

    def forward(self, x):
        check_floating(self, x)
        if x.ndim < 3 or (not self._any_rank and x.ndim not in (4, 5)):
            raise UnsupportedModeError(f"{self!r}: Padding size 6 is not supported for {x.ndim}D input tensor "
                                       f"(a 4-D (C, D, H, W) or 5-D (N, C, D, H, W) input)")
        gathers, matrices = self._taps(x)
        y = ops.axis_map.run("forward", x, gathers, self._fill)
        self._cache = (matrices, tuple(y.shape))
        return y

    def backward(self, dout):
        check_grad_like(self, dout, None if self._cache is None else self._cache[1])
        return ops.axis_map.run("backward", dout, self._cache[0])

    def backward_parameters(self, dout):
        """No parameters: only checks ``dout``."""
        check_grad_like(self, dout, None if self._cache is None else self._cache[1])

    def _on_moved(self):
        self._maps, self._cache = {}, None

    def extra_repr(self):
        return f"{self.padding}"


class ConstantPad3d(_Pad3d):
    """``value`` around the volume: y = x inside, ``value`` in the padding; ∂L/∂x = G inside. Takes any input of
    at least 3 axes, padding the last three, as torch."""

    _mode = "constant"
    _any_rank = True

    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    @property
    def _fill(self):
        return self.value

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ZeroPad3d(ConstantPad3d):
    """Zeros around the volume (``ConstantPad3d`` with value 0)."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ReflectionPad3d(_Pad3d):
    """The volume mirrored about its edge planes (the edge not repeated); each padding under its axis's size."""

    _mode = "reflect"


class ReplicationPad3d(_Pad3d):
    """The edge planes repeated outwards."""

    _mode = "replicate"


class CircularPad3d(_Pad3d):
    """The volume wrapped around (the other side's planes); each padding at most its axis's size."""

    _mode = "circular"
