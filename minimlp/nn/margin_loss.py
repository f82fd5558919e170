"""MultiMarginLoss: the multi-class hinge ("SVM") loss on class scores (``minimlp.formulas.margin``)."""
import math

from ..backend import get_array_module
from ..kernels import ops
from .checks import InputError, check_array, check_floating
from .loss_value import reduced_loss
from .reduction import reduction_argument


class MultiMarginLoss:
    """ℓₙ = (1/C)·Σ_{i ≠ yₙ} w_{yₙ}·max(0, margin − x[n, yₙ] + x[n, i])^p for scores x (N, C) or (C,) and class
    indices y (N,) or 0-d (p = 1 or 2; ``weight`` w per class, default 1); L = mean ℓ ("mean"), Σ ℓ ("sum") or
    ℓ ("none"). Backward: each wrong class inside the margin gets G·w_{yₙ}·dᵢ/C (dᵢ = 1, or 2zᵢ for p = 2), the
    right class minus their sum. Keeps the margins zᵢ."""

    def __init__(self, p=1, margin=1.0, weight=None, size_average=None, reduce=None, reduction="mean"):
        if p not in (1, 2):
            raise ValueError("only p == 1 and p == 2 supported")
        self.p, self.margin, self.weight = p, margin, weight
        self.reduction = reduction_argument("MultiMarginLoss", size_average, reduce, reduction)
        self._cache = None

    def __call__(self, input, target):
        return self.forward(input, target)

    def _check(self, x, target):
        check_floating(self, x)
        check_array(self, target, "target")
        kind = getattr(getattr(target, "dtype", None), "kind", None)
        expected = (x.shape[0],) if x.ndim == 2 else ()
        if x.ndim not in (1, 2) or x.shape[-1] == 0 or kind not in ("i", "u") or tuple(target.shape) != expected:
            raise InputError(f"{self!r}: expected scores (N, C) or (C,) and integer class indices (N,) or 0-d, got "
                             f"scores of shape {tuple(x.shape)} and {kind and target.dtype} targets of shape "
                             f"{tuple(getattr(target, 'shape', ()))}")
        c = x.shape[-1]
        if target.size and (int(target.min()) < 0 or int(target.max()) >= c):
            raise InputError(f"{self!r}: target out of range (classes 0 … {c - 1})")
        if self.weight is not None and tuple(self.weight.shape) != (c,):
            raise InputError(f"{self!r}: weight must have shape ({c},), got {tuple(self.weight.shape)}")

    def forward(self, input, target):
        self._check(input, target)
        unbatched = input.ndim == 1
        x, y = (input[None], target[None]) if unbatched else (input, target)
        weight = None if self.weight is None else self.weight.astype(x.dtype, copy=False)
        loss, saved = ops.multi_margin.run("forward", x, y, self.p, float(self.margin), weight)
        self._cache = (saved, unbatched, loss.shape[0])
        if self.reduction == "none":
            return loss[0] if unbatched else loss
        def check(value):
            if not math.isfinite(value) and loss.shape[0]:
                raise FloatingPointError(f"MultiMarginLoss is {value}: the scores hold NaN or Inf (training "
                                         "diverged)")
        return reduced_loss(loss.sum(), 1 if self.reduction == "sum" else (loss.shape[0] or math.nan), check)

    def backward(self, grad_output=None):
        """∂L/∂x for the last forward call; ``grad_output`` a number for "mean"/"sum" (default 1), an array of
        the loss's shape for "none" (required)."""
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        saved, unbatched, n = self._cache
        xp = get_array_module(saved[0])
        if self.reduction == "none":
            shape = () if unbatched else (n,)
            if grad_output is None or tuple(getattr(grad_output, "shape", (None,))) != shape:
                raise ValueError(f"{self!r}: backward needs grad_output of the loss's shape {shape}")
            g = xp.asarray(grad_output, dtype=saved[0].dtype).reshape(n)
        else:
            scale = 1.0 if grad_output is None else float(grad_output)
            g = xp.full(n, scale / n if self.reduction == "mean" and n else scale, dtype=saved[0].dtype)
        d = ops.multi_margin.run("backward", g, saved)
        return d[0] if unbatched else d

    def __repr__(self):
        return "MultiMarginLoss()"  # torch's: a loss's repr names no argument
