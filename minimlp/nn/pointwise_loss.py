"""Losses with one term per element (Huber, SmoothL1, BCE, BCE with logits, KL divergence, soft margin, Poisson
NLL, hinge embedding), reduced as torch."""
import math
import warnings

import numpy as np

from ..backend import device_of, get_array_module
from ..kernels import ops
from .checks import InputError, InputTypeError, check_floating
from .loss_value import reduced_loss
from .reduction import REDUCTIONS, reduction_argument


class _PointwiseLoss:
    """ℓ = f(x, y) per element, then L = mean ℓ ("mean", the default), Σ ℓ ("sum", both a Python float, and a
    FloatingPointError where it is NaN or infinite, as MSELoss; on the GPU a 0-d device array: ``nn.loss_value``) or the
    array ℓ ("none"). ``backward(grad_output=None)``: ∂L/∂x, with ``grad_output`` a number for "mean"/"sum"
    (default 1) or an array of ℓ's shape for "none" (required)."""

    _op = None
    _reductions = REDUCTIONS
    _label_targets = False   # integer targets (labels ±1) taken, as torch takes them

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        self.reduction = reduction_argument(type(self).__name__, size_average, reduce, reduction, self._reductions)
        self._cache = None

    def __call__(self, input, target):
        return self.forward(input, target)

    def _check(self, x, y):
        check_floating(self, x)
        if not (self._label_targets and getattr(getattr(y, "dtype", None), "kind", None) in ("i", "u")):
            check_floating(self, y, "target")
        if tuple(x.shape) != tuple(y.shape):
            raise InputError(f"{self!r}: input shape {tuple(x.shape)} and target shape {tuple(y.shape)} differ "
                             f"(minimlp does not broadcast losses)")
        if device_of(x) != device_of(y):
            raise TypeError(f"{self!r}: input is on the {device_of(x)}, target on the {device_of(y)}")
        return y.astype(x.dtype, copy=False)   # torch promotes; ∂L/∂input keeps the input's dtype

    def _arguments(self, x):
        return ()

    def _divisor(self, loss):
        """What "mean" divides Σ ℓ by."""
        return loss.size

    def forward(self, input, target):
        target = self._check(input, target)
        loss, saved = self._op.run("forward", input, target, *self._arguments(input))
        self._cache = (saved, tuple(loss.shape), self._divisor(loss), input.dtype)
        if self.reduction == "none":
            return loss
        if self._cache[2] == 0:   # no elements: Σ ℓ = 0, their mean NaN (torch's), not a diverged training
            return reduced_loss(loss.sum(), 1, lambda value: None) if self.reduction == "sum" else math.nan

        def check(value):
            if not math.isfinite(value):
                xp = get_array_module(input)
                raise FloatingPointError(f"{type(self).__name__} is {value}: the input has "
                                         f"{int(xp.count_nonzero(~xp.isfinite(input)))} non-finite values and the "
                                         f"target {int(xp.count_nonzero(~xp.isfinite(target)))} (training diverged, "
                                         f"or the data holds NaN/Inf)")
        return reduced_loss(loss.sum(), 1 if self.reduction == "sum" else self._cache[2], check)

    def backward(self, grad_output=None):
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        saved, shape, divisor, dtype = self._cache
        if self.reduction == "none":
            if grad_output is None or tuple(getattr(grad_output, "shape", (None,))) != shape:
                raise ValueError(f"{self!r}: backward needs grad_output of the loss's shape {shape}, got "
                                 f"{None if grad_output is None else tuple(getattr(grad_output, 'shape', ()))}")
            return self._op.run("backward", grad_output.astype(dtype, copy=False), saved)
        scale = 1.0 if grad_output is None else float(grad_output)
        return self._op.run("backward", scale if self.reduction == "sum" else scale / divisor if divisor else math.nan,
                            saved)

    def __repr__(self):
        return f"{type(self).__name__}()"  # torch's: a loss's repr names no argument


class HuberLoss(_PointwiseLoss):
    """ℓ = ½d² where |d| < δ, else δ·(|d| − ½δ), d = x − y (``delta`` δ = 1);  ∂ℓ/∂x = clip(d, −δ, δ)."""

    _op = ops.huber

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction=reduction)
        if not float(delta) > 0:
            raise InputError(f"HuberLoss: delta must be positive, got {delta}")
        self.delta = float(delta)

    def _arguments(self, x):
        return (self.delta,)


class SmoothL1Loss(_PointwiseLoss):
    """ℓ = ½d²/β where |d| < β, else |d| − ½β, d = x − y (``beta`` β = 1; β = 0 is L1);
    ∂ℓ/∂x = clip(d/β, −1, 1) (sign(d) for β = 0)."""

    _op = ops.smooth_l1

    def __init__(self, size_average=None, reduce=None, reduction="mean", beta=1.0):
        super().__init__(size_average, reduce, reduction)
        if float(beta) < 0:
            raise InputError(f"SmoothL1Loss: beta must be non-negative, got {beta}")
        self.beta = float(beta)

    def _arguments(self, x):
        return (self.beta,)


class _Weighted(_PointwiseLoss):
    """A ``weight`` array broadcast against the input (checked at forward)."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.weight = weight

    def _broadcast(self, name, value, x):
        if value is None:
            return None
        check_floating(self, value, name)
        try:
            shape = _broadcast_shape(value.shape, x.shape)
        except ValueError:
            shape = None
        if shape != tuple(x.shape) or device_of(value) != device_of(x):
            raise InputError(f"{self!r}: {name} of shape {tuple(value.shape)} ({device_of(value)}) must broadcast "
                             f"to the input's shape {tuple(x.shape)}, on its device")
        return value.astype(x.dtype, copy=False)

    def _arguments(self, x):
        return (self._broadcast("weight", self.weight, x),)


class BCELoss(_Weighted):
    """ℓ = −w·(y·log p + (1 − y)·log(1 − p)) for probabilities p in [0, 1] (each log clamped at −100, as
    torch); ∂ℓ/∂p = w·(p − y)/max(p(1 − p), 1e-12)."""

    _op = ops.bce

    def _check(self, x, y):
        check_floating(self, y, "target")
        if x.dtype != y.dtype:   # torch's BCELoss, unlike the other losses, does not promote the target
            raise InputTypeError(f"{self!r}: Found dtype {y.dtype} but expected {x.dtype} (the target's dtype must "
                                 f"be the input's)")
        y = super()._check(x, y)
        if x.size and (float(x.min()) < 0 or float(x.max()) > 1):
            raise InputError(f"{self!r}: all elements of input should be between 0 and 1 (probabilities; "
                             f"BCEWithLogitsLoss takes logits)")
        return y


class BCEWithLogitsLoss(_Weighted):
    """ℓ = −w·(q·y·log σ(z) + (1 − y)·log(1 − σ(z))) for logits z, q = ``pos_weight`` (per class, along the
    last axis; default 1), computed without overflow as w·((1 − y)·z + (1 + (q − 1)·y)·softplus(−z));
    ∂ℓ/∂z = w·((1 − y) − (1 + (q − 1)·y)·σ(−z))."""

    _op = ops.bce_with_logits

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None):
        super().__init__(weight, size_average, reduce, reduction)
        self.pos_weight = pos_weight

    def _arguments(self, x):
        return super()._arguments(x) + (self._broadcast("pos_weight", self.pos_weight, x),)


class KLDivLoss(_PointwiseLoss):
    """ℓ = p·(log p − x) for log-probabilities x and probabilities p = y (0 where p = 0), or p = e^y with
    ``log_target``; ∂ℓ/∂x = −p. Reductions: "mean" (over every element, torch's default), "batchmean"
    (Σ ℓ / N, the true KL divergence per sample), "sum", "none"."""

    _op = ops.kl_div
    _reductions = ("mean", "batchmean", "sum", "none")

    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target=False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = bool(log_target)

    def _arguments(self, x):
        return (self.log_target,)

    def forward(self, input, target):
        if self.reduction == "mean":
            warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size. "
                          "'batchmean' divides only by the batch size, and aligns with the KL div math definition. "
                          "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                          UserWarning, stacklevel=3)
        return super().forward(input, target)

    def _divisor(self, loss):
        if self.reduction == "batchmean":
            return loss.shape[0] if loss.ndim else 1
        return loss.size


class SoftMarginLoss(_PointwiseLoss):
    """ℓ = log(1 + e^{−y·x}) for labels y = ±1 (the logistic loss of a margin), computed without overflow;
    ∂ℓ/∂x = −y·σ(−y·x)."""

    _op = ops.soft_margin
    _label_targets = True


class PoissonNLLLoss(_PointwiseLoss):
    """ℓ = e^x − y·x with ``log_input`` (x = log λ, the default) or x − y·log(x + ε) (x = λ, ε = ``eps``) for counts
    y; ``full`` adds Stirling's y·log y − y + ½·log(2πy) where y > 1. ∂ℓ/∂x = e^x − y, or 1 − y/(x + ε)."""

    _op = ops.poisson_nll

    def __init__(self, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = bool(log_input), bool(full), eps

    def _arguments(self, x):
        return (self.log_input, self.full, float(self.eps))


class HingeEmbeddingLoss(_PointwiseLoss):
    """ℓ = x where y = 1 and max(0, margin − x) where y = −1 (x a distance, y = ±1); ∂ℓ/∂x = 1, or −1 where
    x ≤ margin (torch's sum of both terms for other labels)."""

    _op = ops.hinge_embedding
    _label_targets = True

    def __init__(self, margin=1.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def _arguments(self, x):
        return (float(self.margin),)


def _broadcast_shape(a, b):
    """NumPy's broadcast of two shapes (ValueError where they do not broadcast)."""
    return tuple(np.broadcast_shapes(tuple(a), tuple(b)))
