"""Losses: a value from (prediction, target), and its gradient with respect to the prediction."""
import math

from ..backend import device_of, get_array_module
from ..kernels import ops
from .checks import check_floating
from .loss_value import reduced_loss
from .reduction import reduction_argument


class _Loss:
    """Shared checks and the reduction; subclasses name the op giving the total and the gradient."""

    _op = None

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        self.reduction = reduction_argument(type(self).__name__, size_average, reduce, reduction)
        self._saved = None   # (the forward's implementation, what it saved for the backward, the prediction's shape)

    def __call__(self, input, target):
        return self.forward(input, target)

    def _check(self, prediction, target):
        check_floating(self, prediction)
        check_floating(self, target, "target")
        if tuple(prediction.shape) != tuple(target.shape):
            raise ValueError(f"{self!r}: prediction shape {tuple(prediction.shape)} and target shape "
                             f"{tuple(target.shape)} differ (minimlp does not broadcast losses)")
        if device_of(prediction) != device_of(target):
            raise TypeError(f"{self!r}: prediction is on the {device_of(prediction)}, "
                            f"target on the {device_of(target)}")
        return target.astype(prediction.dtype, copy=False)   # torch promotes; ∂L/∂prediction keeps its dtype

    def _scale(self, size):
        return 1.0 / size if self.reduction == "mean" and size else 1.0

    def forward(self, prediction, target):
        target = self._check(prediction, target)
        # no elements: Σ = 0, the mean NaN (torch's), not a diverged training
        impl = self._op.pick("forward", prediction, target) if prediction.size else self._op.formula
        saved, total = impl.forward(prediction, target, self._scale(prediction.size))
        self._saved = (impl, saved, tuple(prediction.shape))
        if self.reduction == "none":
            return self._op.run_on_saved(impl, "elements", saved)
        if prediction.size == 0:
            return 0.0 if self.reduction == "sum" else math.nan
        def check(value):
            if not math.isfinite(value):
                xp = get_array_module(prediction)
                bad_pred = int(xp.count_nonzero(~xp.isfinite(prediction)))
                bad_target = int(xp.count_nonzero(~xp.isfinite(target)))
                raise FloatingPointError(
                    f"{type(self).__name__} is {value}: the prediction has {bad_pred} non-finite values and the "
                    f"target {bad_target} (training diverged, or the data holds NaN/Inf)")
        return reduced_loss(total, 1, check)

    def backward(self, grad_output=None):
        """∂L/∂prediction for the last forward call; ``grad_output`` = ∂(outer)/∂L, a number for "mean"/"sum"
        (default 1), an array of the prediction's shape for "none" (required)."""
        if self._saved is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        impl, saved, shape = self._saved
        if self.reduction == "none":
            if grad_output is None or tuple(getattr(grad_output, "shape", (None,))) != shape:
                raise ValueError(f"{self!r}: backward needs grad_output of the loss's shape {shape}, got "
                                 f"{None if grad_output is None else tuple(getattr(grad_output, 'shape', ()))}")
            grad = self._op.run_on_saved(impl, "backward", saved, 1.0)
            grad *= grad_output
            return grad
        scale = self._scale(math.prod(shape))
        if grad_output is not None:
            scale *= float(grad_output)
        return self._op.run_on_saved(impl, "backward", saved, scale)

    def __repr__(self):
        return f"{type(self).__name__}()"  # torch's: a loss's repr names no argument


class MSELoss(_Loss):
    """L = (1/M) Σ (ŷ − y)² over all M elements ('mean', torch's default), Σ (ŷ − y)² ('sum'), or the array
    ℓ = (ŷ − y)² ('none').

    ∂L/∂ŷ = 2(ŷ − y)/M (or 2(ŷ − y); 2(ŷ − y)·G for 'none', with G = ``backward(grad_output)``). 'mean' and
    'sum' return a Python float and raise FloatingPointError when the loss is NaN or infinite (on the GPU: a 0-d
    device array, ``float(loss)`` reads it; ``minimlp.nn.loss_value``). The maths is ``minimlp.formulas.loss.squared_error``.
    """

    _op = ops.squared_error


class L1Loss(_Loss):
    """L = (1/M) Σ |ŷ − y| ('mean'), Σ |ŷ − y| ('sum') or the array ℓ = |ŷ − y| ('none').

    ∂L/∂ŷ = sign(ŷ − y)/M (0 where ŷ = y, as torch); sign(ŷ − y)·G for 'none'.
    """

    _op = ops.absolute_error
