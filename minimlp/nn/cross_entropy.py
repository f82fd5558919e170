"""CrossEntropyLoss: softmax and negative log-likelihood in one, from logits and class indices."""
import math

import numpy as np

from ..backend import device_of, get_array_module
from .checks import check_floating


class CrossEntropyLoss:
    """L = Σₙ ℓₙ / D with ℓₙ = (1 − ε)·(−w_{yₙ} log p_{n,yₙ}) + (ε/C)·(−Σ_c w_c log p_{n,c}), p = softmax(z).

    Torch's arguments and formula: logits z of shape (N, C) or (N, C, d₁, …)
    and integer targets y of shape (N,) or (N, d₁, …); class weights w
    (``weight``, default all ones); label smoothing ε (``label_smoothing``);
    targets equal to ``ignore_index`` contribute nothing. D = Σₙ w_{yₙ} over
    the targets not ignored for ``reduction="mean"`` (torch's default), 1 for
    "sum". Returns a Python float.

    Backward (``backward()``, like the other losses):
    ∂L/∂z_{n,k} = [(1 − ε)·w_{yₙ}·(p_{n,k} − [k = yₙ]) + (ε/C)·(p_{n,k}·Σ_c w_c − w_k)] / D,
    0 for ignored targets; with w = 1 this is (p_{n,k} − (1 − ε)[k = yₙ] − ε/C)/D.
    log p is computed as z − max z − log Σ exp(z − max z) (no overflow).
    Caches p, the targets and the per-sample factors.
    """

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        if reduction not in ("mean", "sum"):
            raise ValueError(f"CrossEntropyLoss: reduction must be 'mean' or 'sum', got {reduction!r}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing}")
        self.weight = weight
        self.ignore_index = int(ignore_index)
        self.reduction = reduction
        self.label_smoothing = float(label_smoothing)
        self._cache = None

    def __call__(self, logits, target):
        return self.forward(logits, target)

    def _rows(self, logits, target):
        """Logits as (M, C) rows (classes last) and targets as (M,), checking shapes, dtypes and range."""
        check_floating(self, logits)
        if getattr(target, "dtype", None) is None or target.dtype.kind not in "iu":
            raise TypeError(f"{self!r}: targets must be integer class indices, got "
                            f"{getattr(target, 'dtype', type(target).__name__)} (probability targets are not supported)")
        if device_of(logits) != device_of(target):
            raise TypeError(f"{self!r}: logits are on the {device_of(logits)}, targets on the {device_of(target)}")
        if logits.ndim < 2 or tuple(target.shape) != (logits.shape[0],) + tuple(logits.shape[2:]):
            raise ValueError(f"{self!r}: expected logits (N, C, ...) and targets (N, ...), got logits of shape "
                             f"{tuple(logits.shape)} and targets of shape {tuple(target.shape)}")
        xp = get_array_module(logits)
        c = logits.shape[1]
        rows = logits if logits.ndim == 2 else xp.moveaxis(logits, 1, -1).reshape(-1, c)
        y = target.reshape(-1).astype(np.int64)
        valid = y != self.ignore_index
        if bool(xp.any(valid & ((y < 0) | (y >= c)))):
            bad = int(y[valid & ((y < 0) | (y >= c))][0])
            raise ValueError(f"{self!r}: target {bad} is out of bounds for {c} classes")
        return xp, rows, y, valid

    def forward(self, logits, target):
        xp, z, y, valid = self._rows(logits, target)
        m, c = z.shape
        shifted = z - z.max(axis=1, keepdims=True)
        exp = xp.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        logp = shifted - xp.log(total)
        p = exp / total
        w = None if self.weight is None else xp.asarray(self.weight, dtype=z.dtype)
        safe_y = xp.where(valid, y, 0)
        picked = logp[xp.arange(m), safe_y]
        w_y = xp.ones(m, dtype=z.dtype) if w is None else w[safe_y]
        w_y = w_y * valid
        denom = float(w_y.sum()) if self.reduction == "mean" else 1.0
        eps = self.label_smoothing
        nll = -float((w_y * picked).sum())
        value = (1.0 - eps) * nll
        if eps > 0:
            smooth = -(logp if w is None else logp * w).sum(axis=1)
            value += eps / c * float((smooth * valid).sum())
        value = value / denom if denom != 0 else math.nan
        self._cache = (p, safe_y, valid, w_y, w, denom, tuple(logits.shape))
        if not math.isfinite(value) and denom != 0:
            raise FloatingPointError(f"CrossEntropyLoss is {value}: the logits hold NaN or Inf (training diverged)")
        return value

    def backward(self):
        """∂L/∂logits for the last forward call, in the logits' shape and dtype."""
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        p, y, valid, w_y, w, denom, shape = self._cache
        xp = get_array_module(p)
        m, c = p.shape
        eps = self.label_smoothing
        grad = p * ((1.0 - eps) * w_y)[:, None]
        grad[xp.arange(m), y] -= (1.0 - eps) * w_y
        if eps > 0:
            w_sum = float(c) if w is None else w.sum()
            grad += (eps / c) * (p * w_sum - (1.0 if w is None else w)) * valid[:, None]
        if denom != 1.0:
            grad *= 1.0 / denom
        if len(shape) > 2:
            grad = xp.ascontiguousarray(xp.moveaxis(grad.reshape((shape[0],) + shape[2:] + (c,)), -1, 1))
        return grad

    def __repr__(self):
        return f"CrossEntropyLoss(reduction={self.reduction!r}, label_smoothing={self.label_smoothing})"
