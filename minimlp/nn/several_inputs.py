"""What the losses of several differentiable inputs share: their checks, the reduction, and a backward that returns
one gradient per differentiable input."""
import math

import numpy as np

from ..backend import device_of, get_array_module
from .checks import InputError, check_floating
from .loss_value import reduced_loss
from .reduction import reduction_argument


class _LossOfSeveral:
    """ℓ from several inputs, then L = mean ℓ ("mean", the default), Σ ℓ ("sum"), both a Python float (a
    FloatingPointError where it is NaN or infinite, NaN for "mean" over no elements; on the GPU a 0-d device
    array: ``nn.loss_value``), or the array ℓ ("none").
    ``backward(grad_output=None)`` returns a tuple of gradients, one per differentiable input of ``forward`` in
    its order, each of its input's shape and dtype; ``grad_output`` is a number for "mean"/"sum" (default 1) or
    an array of ℓ's shape for "none" (required). Targets (labels) get no gradient, as in the other losses."""

    _op = None

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        self.reduction = reduction_argument(type(self).__name__, size_average, reduce, reduction)
        self._cache = None

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _floating(self, arrays):
        """Check the named arrays ({name: array}) are floating and on one device; their common dtype (torch
        promotes float32 with float64 to float64)."""
        for name, x in arrays.items():
            check_floating(self, x, name)
        devices = {device_of(x) for x in arrays.values()}
        if len(devices) > 1:
            raise TypeError(f"{self!r}: the inputs are on different devices ({', '.join(sorted(devices))})")
        xs = list(arrays.values())
        return get_array_module(*xs).result_type(*xs)

    def _labels(self, target, dtype):
        """A target of labels (integer or floating) in the loss's dtype."""
        if getattr(getattr(target, "dtype", None), "kind", None) not in ("i", "u", "b"):
            check_floating(self, target, "target")
        return target.astype(dtype, copy=False)

    def _broadcast(self, *shapes):
        """The shape that ``shapes`` broadcast to; InputError (torch's RuntimeError) where they do not."""
        shapes = [tuple(s) for s in shapes]
        try:
            return tuple(np.broadcast_shapes(*shapes))
        except ValueError:
            raise InputError(f"{self!r}: shapes {', '.join(map(str, shapes))} do not broadcast") from None

    def _reduce(self, loss, saved, dtypes):
        """Keep what backward needs; return ℓ reduced."""
        self._cache = (saved, tuple(loss.shape), loss.dtype, dtypes, get_array_module(loss))
        if self.reduction == "none":
            return loss
        if loss.size == 0:
            return reduced_loss(loss.sum(), 1, lambda value: None) if self.reduction == "sum" else math.nan

        def check(value):
            if not math.isfinite(value):
                xp = get_array_module(loss)
                raise FloatingPointError(f"{type(self).__name__} is {value}: "
                                         f"{int(xp.count_nonzero(~xp.isfinite(loss)))} of its {loss.size} terms are "
                                         f"not finite (training diverged, or the data holds NaN/Inf)")
        return reduced_loss(loss.sum(), 1 if self.reduction == "sum" else loss.size, check)

    def backward(self, grad_output=None):
        """A tuple of gradients, one per differentiable input of the last ``forward`` in its order (each of that
        input's shape and dtype; targets and labels get none); ``grad_output`` a number for "mean"/"sum"
        (default 1), an array of the loss's shape for "none" (required)."""
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        saved, shape, dtype, dtypes, xp = self._cache
        if self.reduction == "none":
            if grad_output is None or tuple(getattr(grad_output, "shape", (None,))) != shape:
                raise ValueError(f"{self!r}: backward needs grad_output of the loss's shape {shape}, got "
                                 f"{None if grad_output is None else tuple(getattr(grad_output, 'shape', ()))}")
            g = xp.asarray(grad_output).astype(dtype, copy=False)
        else:
            n = math.prod(shape)
            scale = 1.0 if grad_output is None else float(grad_output)
            g = xp.full(shape, scale if self.reduction == "sum" else scale / n if n else math.nan, dtype=dtype)
        grads = self._gradients(g, saved)
        return tuple(None if d is None else d.astype(t, copy=False) for d, t in zip(grads, dtypes))

    def _gradients(self, g, saved):
        return self._op.run("backward", g, saved)

    def __repr__(self):
        return f"{type(self).__name__}()"  # torch's: a loss's repr names no argument
