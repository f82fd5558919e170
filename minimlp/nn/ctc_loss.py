"""CTCLoss: connectionist temporal classification, a label sequence scored against every alignment of it with the
frames (``minimlp.formulas.ctc``)."""
import math
import operator

import numpy as np

from ..backend import device_of, get_array_module, to_numpy
from ..kernels import ops
from .checks import InputError, InputTypeError, TargetIndexError, check_floating, whole
from .loss_value import reduced_loss
from .reduction import reduction_argument


class CTCLoss:
    """ℓₙ = −log p(lₙ | xₙ), the probability of the target lₙ summed over every path of frames that reads as it
    (repeats merged, then blanks removed), from log-probabilities x (T, N, C) or unbatched (T, C) (a
    log-softmax's output), over the first ``input_lengths[n]`` frames; by the α and β recursions of
    ``minimlp.formulas.ctc``. ``targets`` (N, S) padded (what follows ``target_lengths[n]`` is ignored) or 1-d,
    the targets one after another (Σ target_lengths); the lengths as sequences of ints or integer arrays.
    L = mean over n of ℓₙ / max(target_lengths[n], 1) ("mean"), Σ ℓ ("sum"), both a Python float (on the GPU a
    0-d device array: ``nn.loss_value``), or the array ℓ (N,) ("none"; 0-d unbatched). A target no path fits (longer,
    with the blanks its repeats need, than its input) has ℓ = +∞, as torch (not the FloatingPointError of a diverged
    training; a NaN loss still raises);
    ``zero_infinity`` sets those losses and their gradients to 0.

    ``backward(grad_output=None)``: ∂L/∂x, torch's: gₙ·(y_t(k) − γ_t(k)) at t < input_lengths[n] and 0 after,
    with y = exp(x), γ_t(k) the posterior probability that frame t reads class k, and gₙ = G/(N·max(Sₙ, 1)),
    G or ``grad_output[n]`` for "mean", "sum", "none" (a number, default 1, or the loss's shape, required). It is
    the gradient with respect to the logits of x = log_softmax(logits) (the plain derivative with respect to x
    is −γ; the two agree once passed back through the log-softmax). An infinite ℓₙ gets NaN at its frames (0 with
    ``zero_infinity``). Keeps log_probs, log α (T, N, S') and the extended targets; β is computed in backward.
    """

    def __init__(self, blank=0, reduction="mean", zero_infinity=False):
        self.blank = whole(blank, "blank")
        self.reduction = reduction_argument("CTCLoss", None, None, reduction)
        self.zero_infinity = bool(zero_infinity)
        self._cache = None

    def __call__(self, log_probs, targets, input_lengths, target_lengths):
        return self.forward(log_probs, targets, input_lengths, target_lengths)

    def _lengths(self, value, name, n):
        """``value`` (ints, a sequence of them, an integer NumPy or CuPy array) as a NumPy int64 array (n,)."""
        if type(value).__module__.startswith("torch"):
            raise TypeError(f"{self!r}: {name} is a torch {type(value).__name__}; minimlp takes a list or tuple of "
                            f"ints or a NumPy or CuPy integer array")
        if hasattr(value, "dtype"):
            if value.dtype.kind not in ("i", "u"):
                raise InputTypeError(f"{self!r}: {name} must be integers, got dtype {value.dtype}")
            lengths = to_numpy(value).astype(np.int64).reshape(-1)
        else:
            items = value if isinstance(value, (list, tuple)) else [value]
            try:
                lengths = np.array([operator.index(v) for v in items], dtype=np.int64)
            except TypeError:
                raise InputTypeError(f"{self!r}: {name} must be ints, got {value!r}") from None
        if lengths.shape != (n,):
            raise InputError(f"{self!r}: {name} must be of size batch_size ({n}), got {lengths.size} values")
        if lengths.size and lengths.min() < 0:
            raise InputError(f"{self!r}: expected {name} to have value at least 0, but got value {lengths.min()}")
        return lengths

    def _padded_targets(self, targets, target_lengths, n, classes):
        """The targets as a padded (N, max S) int64 array on their device, checked as torch checks them."""
        if type(targets).__module__.startswith("torch") or not hasattr(targets, "dtype"):
            raise TypeError(f"{self!r}: expected the targets as a NumPy or CuPy integer array, got "
                            f"{type(targets).__name__}")
        if targets.dtype.kind not in ("i", "u"):
            raise InputTypeError(f"{self!r}: expected integer targets (class indices), got dtype {targets.dtype}")
        xp = get_array_module(targets)
        longest = int(target_lengths.max()) if n else 0
        if targets.ndim == 2:
            if targets.shape[0] != n or targets.shape[1] < longest:
                raise InputError(f"{self!r}: expected padded targets of shape ({n}, S) with S ≥ {longest} (the "
                                 f"longest target length), got {tuple(targets.shape)}")
            padded = targets[:, :longest].astype(xp.int64)
        elif targets.ndim == 1:
            if targets.shape[0] != int(target_lengths.sum()):
                raise InputError(f"{self!r}: expected 1-d targets of size {int(target_lengths.sum())} (the sum of "
                                 f"target_lengths), got {targets.shape[0]}")
            starts = xp.asarray(np.cumsum(target_lengths) - target_lengths)
            index = starts[:, None] + xp.arange(longest)
            used = xp.arange(longest) < xp.asarray(target_lengths)[:, None]
            padded = (targets[xp.where(used, index, 0)] if longest else xp.zeros((n, 0), xp.int64)).astype(xp.int64)
        else:
            raise InputError(f"{self!r}: expected targets (N, S) padded or 1-d concatenated, got a {targets.ndim}-d "
                             f"array of shape {tuple(targets.shape)}")
        used = xp.arange(longest) < xp.asarray(target_lengths)[:, None]
        bad = used & ((padded < 0) | (padded >= classes))
        if bool(bad.any()):
            raise TargetIndexError(f"{self!r}: target {int(padded[bad][0])} is out of bounds for {classes} classes")
        return xp.where(used, padded, self.blank)

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        check_floating(self, log_probs, "log_probs")
        if log_probs.ndim not in (2, 3):
            raise InputError(f"{self!r}: expected log_probs (T, N, C) or unbatched (T, C), got a {log_probs.ndim}-d "
                             f"array of shape {tuple(log_probs.shape)}")
        if log_probs.size == 0:
            raise InputError(f"{self!r}: log_probs must not be empty, got shape {tuple(log_probs.shape)}")
        unbatched = log_probs.ndim == 2
        x = log_probs[:, None] if unbatched else log_probs
        steps, n, classes = x.shape
        if not 0 <= self.blank < classes:
            raise InputError(f"{self!r}: blank must be in label range [0, {classes}), got {self.blank}")
        il = self._lengths(input_lengths, "input_lengths", n)
        tl = self._lengths(target_lengths, "target_lengths", n)
        if il.max() > steps:
            raise InputError(f"{self!r}: expected input_lengths to have value at most {steps} (T), but got value "
                             f"{il.max()}")
        if device_of(targets) != device_of(x):
            raise InputTypeError(f"{self!r}: log_probs are on the {device_of(x)}, targets on the "
                                 f"{device_of(targets)}")
        padded = self._padded_targets(targets, tl, n, classes)
        xp = get_array_module(x)
        loss, saved = ops.ctc.run("forward", x, padded, xp.asarray(il), xp.asarray(tl), self.blank,
                                  self.zero_infinity)
        self._cache = (saved, unbatched, tl, x.dtype)
        if self.reduction == "none":
            return loss[0] if unbatched else loss
        def check(value):
            if math.isnan(value):
                raise FloatingPointError(f"CTCLoss is nan: log_probs hold {int(xp.count_nonzero(xp.isnan(x)))} NaN "
                                         f"values (training diverged, or the data holds NaN)")
        total = loss.sum() if self.reduction == "sum" else (loss / xp.asarray(np.maximum(tl, 1), dtype=x.dtype)).mean()
        return reduced_loss(total, 1, check)

    def backward(self, grad_output=None):
        """∂L/∂log_probs for the last forward call (see the class docstring for ``grad_output``)."""
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        saved, unbatched, tl, dtype = self._cache
        xp = get_array_module(saved[0])
        n = tl.shape[0]
        if self.reduction == "none":
            shape = () if unbatched else (n,)
            if grad_output is None or tuple(getattr(grad_output, "shape", (None,))) != shape:
                raise ValueError(f"{self!r}: backward needs grad_output of the loss's shape {shape}, got "
                                 f"{None if grad_output is None else tuple(getattr(grad_output, 'shape', ()))}")
            g = xp.asarray(grad_output, dtype=dtype).reshape(n)
        else:
            scale = 1.0 if grad_output is None else float(grad_output)
            g = xp.full(n, scale, dtype=dtype)
            if self.reduction == "mean":
                g /= xp.asarray(n * np.maximum(tl, 1), dtype=dtype)
        grad = ops.ctc.run("backward", g, saved)
        return grad[:, 0] if unbatched else grad

    def __repr__(self):
        return "CTCLoss()"  # torch's: a loss's repr names no argument
