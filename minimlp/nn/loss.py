"""Losses: a value from (prediction, target), and its gradient with respect to the prediction."""
import math

from .checks import check_floating
from ..backend import device_of, get_array_module
from ..compiled import layer_kernels


class _Loss:
    """Shared checks and the reduction; subclasses give the element-wise loss and derivative."""

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
            raise TypeError(f"{self!r}: prediction is on the {device_of(prediction)}, target on the {device_of(target)}")

    def forward(self, prediction, target):
        self._check(prediction, target)
        diff, total = self._difference_and_total(prediction, target)
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

    def _difference_and_total(self, prediction, target):
        diff = prediction - target
        return diff, self._total(diff, get_array_module(diff))

    def backward(self):
        """∂L/∂prediction for the last forward call."""
        if self._diff is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        scale = 1.0 / self._diff.size if self.reduction == "mean" else 1.0
        return self._grad(self._diff, get_array_module(self._diff), scale)

    def __repr__(self):
        return f"{type(self).__name__}(reduction={self.reduction!r})"


class MSELoss(_Loss):
    """L = (1/M) Σ (ŷ − y)² over all M elements ('mean', torch's default) or Σ (ŷ − y)² ('sum').

    ∂L/∂ŷ = 2(ŷ − y)/M (or 2(ŷ − y)). Returns a Python float; raises
    FloatingPointError when the loss is NaN or infinite. On NumPy the
    difference and Σ (ŷ − y)² come from one compiled pass
    (``fused_numba.difference_and_sum_of_squares``, summing in float64).
    """

    def _difference_and_total(self, prediction, target):
        kernels = layer_kernels(prediction)
        if kernels is None or prediction.ndim != 2:
            return super()._difference_and_total(prediction, target)
        return kernels.difference_and_sum_of_squares(prediction, target)

    def _total(self, diff, xp):
        flat = diff.reshape(-1)
        return flat @ flat

    def _grad(self, diff, xp, scale):
        kernels = layer_kernels(diff)
        if kernels is not None and diff.flags.c_contiguous:
            return kernels.scaled(diff, 2.0 * scale)
        return diff * (2.0 * scale)  # one pass; 2·scale is exact, so this equals (2·diff)·scale


class L1Loss(_Loss):
    """L = (1/M) Σ |ŷ − y| ('mean') or Σ |ŷ − y| ('sum');  ∂L/∂ŷ = sign(ŷ − y)/M (0 where ŷ = y, as torch)."""

    def _total(self, diff, xp):
        return xp.abs(diff).sum()

    def _grad(self, diff, xp, scale):
        grad = xp.sign(diff)
        if scale != 1.0:
            grad *= scale
        return grad
