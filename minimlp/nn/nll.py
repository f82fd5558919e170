"""NLLLoss: the negative log-likelihood of class indices, from log-probabilities (``minimlp.formulas.nll``), and
NLLLoss2d, its deprecated name."""
import math
import warnings

from ..backend import device_of, get_array_module
from ..kernels import ops
from .checks import InputError, InputTypeError, TargetIndexError, check_array, check_floating
from .loss_value import reduced_loss
from .reduction import reduction_argument


class NLLLoss:
    """ℓₙ = −w_{yₙ}·x[n, yₙ] for log-probabilities x (N, C, d₁, …) or (C,) and class indices y (N, d₁, …) or
    0-d; rows with yₙ = ``ignore_index`` give 0. L = Σₙ ℓₙ / Σₙ w_{yₙ} over the rows not ignored ("mean",
    NaN where every row is ignored, as torch), Σₙ ℓₙ ("sum") or ℓ ("none"); a non-finite "mean" or "sum"
    otherwise raises FloatingPointError, as CrossEntropyLoss. Backward:
    ∂L/∂x[n, c] = −gₙ·w_{yₙ} at c = yₙ and 0 elsewhere, gₙ = 1/D, 1 or ``grad_output`` (required for "none").
    LogSoftmax then NLLLoss is CrossEntropyLoss.
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
        reduction = reduction_argument(type(self).__name__, size_average, reduce, reduction)
        self.weight, self.ignore_index, self.reduction = weight, int(ignore_index), reduction
        self._cache = None

    def __call__(self, input, target):
        return self.forward(input, target)

    def _check(self, x, target):
        check_floating(self, x)
        check_array(self, target, "target")
        kind = getattr(getattr(target, "dtype", None), "kind", None)
        shape, tshape = tuple(x.shape), tuple(getattr(target, "shape", ()))
        expected = () if x.ndim == 1 else (shape[0],) + shape[2:]
        if x.ndim < 1 or kind not in ("i", "u") or tshape != expected:
            raise InputError(f"{self!r}: input of shape {shape} needs integer class indices of shape {expected}, "
                             f"got {kind and target.dtype} targets of shape {tshape}")
        if device_of(x) != device_of(target):
            raise InputTypeError(f"{self!r}: input is on the {device_of(x)}, target on the {device_of(target)}")
        c = shape[0] if x.ndim == 1 else shape[1]
        if self.weight is not None and (tuple(self.weight.shape) != (c,) or self.weight.dtype != x.dtype):
            raise InputError(f"{self!r}: weight must be a {x.dtype} array of shape ({c},), got "
                             f"{self.weight.dtype} of shape {tuple(self.weight.shape)}")
        y = target.reshape(-1)
        bad = (y != self.ignore_index) & ((y < 0) | (y >= c))
        if bool(get_array_module(y).any(bad)):
            raise TargetIndexError(f"{self!r}: target {int(y[bad][0])} is out of bounds for {c} classes")

    def forward(self, input, target):
        self._check(input, target)
        unbatched = input.ndim == 1
        x, y = (input[None], target[None]) if unbatched else (input, target)
        loss, saved, divisor = ops.nll.run("forward", x, y, self.weight, self.ignore_index)
        self._cache = (saved, unbatched, divisor)
        if self.reduction == "none":
            return loss[0] if unbatched else loss
        def check(value):
            if not math.isfinite(value) and divisor:
                raise FloatingPointError(f"NLLLoss is {value}: the input holds NaN or Inf (training diverged)")
        return reduced_loss(loss.sum(), 1 if self.reduction == "sum" else (divisor or math.nan), check)

    def backward(self, grad_output=None):
        """∂L/∂input for the last forward call (see the class docstring for ``grad_output``)."""
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        saved, unbatched, divisor = self._cache
        if self.reduction == "none":
            shape = tuple(saved[0].shape[1:]) if unbatched else tuple(saved[0].shape)
            if grad_output is None or tuple(getattr(grad_output, "shape", (None,))) != shape:
                raise ValueError(f"{self!r}: backward needs grad_output of the loss's shape {shape}, got "
                                 f"{None if grad_output is None else tuple(getattr(grad_output, 'shape', ()))}")
            g = grad_output[None] if unbatched else grad_output
        else:
            g = 1.0 if grad_output is None else float(grad_output)
            if self.reduction == "mean":
                g = g / divisor if divisor else 0.0       # all rows ignored: a NaN loss, a zero gradient (torch)
        grad = ops.nll.run("backward", g, saved)
        return grad[0] if unbatched else grad

    def __repr__(self):
        return f"{type(self).__name__}()"  # torch's: a loss's repr names no argument


class NLLLoss2d(NLLLoss):
    """``NLLLoss`` under its deprecated name (torch's, which warns so): the same loss, for (N, C, H, W) as for any
    shape NLLLoss takes."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
        warnings.warn("`NLLLoss2d` has been deprecated. Please use `NLLLoss` instead as a drop-in replacement",
                      FutureWarning, stacklevel=2)
        super().__init__(weight, size_average, ignore_index, reduce, reduction)
