"""Losses: a value from (prediction, target), and its gradient with respect to the prediction."""
import math

from ..backend import device_of, get_array_module
from ..kernels import ops
from .checks import check_floating


class _Loss:
    """Shared checks and the reduction; subclasses name the op giving the total and the gradient."""

    _op = None

    def __init__(self, reduction="mean"):
        if reduction not in ("mean", "sum"):
            raise ValueError(f"{type(self).__name__}: reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction
        self._diff = None

    def __call__(self, prediction, target):
        return self.forward(prediction, target)

    def _check(self, prediction, target):
        check_floating(self, prediction)
        check_floating(self, target)
        if tuple(prediction.shape) != tuple(target.shape):
            raise ValueError(f"{self!r}: prediction shape {tuple(prediction.shape)} and target shape "
                             f"{tuple(target.shape)} differ (minimlp does not broadcast losses)")
        if prediction.dtype != target.dtype:
            raise TypeError(f"{self!r}: prediction dtype {prediction.dtype} and target dtype {target.dtype} differ")
        if device_of(prediction) != device_of(target):
            raise TypeError(f"{self!r}: prediction is on the {device_of(prediction)}, "
                            f"target on the {device_of(target)}")

    def forward(self, prediction, target):
        self._check(prediction, target)
        diff, total = self._op.run("forward", prediction, target)
        self._diff = diff
        value = float(total)
        if self.reduction == "mean":
            value /= diff.size
        if not math.isfinite(value):
            xp = get_array_module(diff)
            bad_pred = int(xp.count_nonzero(~xp.isfinite(prediction)))
            bad_target = int(xp.count_nonzero(~xp.isfinite(target)))
            raise FloatingPointError(
                f"{type(self).__name__} is {value}: the prediction has {bad_pred} non-finite values and the "
                f"target {bad_target} (training diverged, or the data holds NaN/Inf)")
        return value

    def backward(self):
        """∂L/∂prediction for the last forward call."""
        if self._diff is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        scale = 1.0 / self._diff.size if self.reduction == "mean" else 1.0
        return self._op.run("backward", self._diff, scale)

    def __repr__(self):
        return f"{type(self).__name__}(reduction={self.reduction!r})"


class MSELoss(_Loss):
    """L = (1/M) Σ (ŷ − y)² over all M elements ('mean', torch's default) or Σ (ŷ − y)² ('sum').

    ∂L/∂ŷ = 2(ŷ − y)/M (or 2(ŷ − y)). Returns a Python float; raises FloatingPointError when the loss is
    NaN or infinite. The maths is ``minimlp.formulas.loss.squared_error``.
    """

    _op = ops.squared_error


class L1Loss(_Loss):
    """L = (1/M) Σ |ŷ − y| ('mean') or Σ |ŷ − y| ('sum');  ∂L/∂ŷ = sign(ŷ − y)/M (0 where ŷ = y, as torch)."""

    _op = ops.absolute_error
