"""CrossEntropyLoss: softmax and negative log-likelihood in one, from logits and class indices or probabilities."""
import math

import numpy as np

from ..backend import device_of, get_array_module
from .checks import check_floating


class CrossEntropyLoss:
    """Torch's CrossEntropyLoss: ℓₙ = −Σ_c w_c·tₙ,c·log pₙ,c with p = softmax(z) over the class axis.

    Logits z of shape (N, C) or (N, C, d₁, …); each position n of (N, d₁, …)
    is one row. Targets are either

    - class indices y of shape (N,) or (N, d₁, …): tₙ = (1 − ε)·onehot(yₙ) + ε/C,
      so ℓₙ = (1 − ε)·(−w_{yₙ} log pₙ,yₙ) + (ε/C)·(−Σ_c w_c log pₙ,c); rows with
      yₙ = ``ignore_index`` give ℓₙ = 0;
    - class probabilities t of the logits' shape (floating):
      tₙ ← (1 − ε)·tₙ + ε/C, ℓₙ = −Σ_c w_c tₙ,c log pₙ,c.

    w is ``weight`` (default all ones), ε ``label_smoothing``. Reduction
    ("mean", torch's default; "sum"; "none"): L = Σₙ ℓₙ / D with D = Σₙ w_{yₙ}
    over the rows not ignored for index targets, D = N·d₁·… for probability
    targets (torch's semantics), D = 1 for "sum"; "none" returns the array ℓ
    of shape (N, d₁, …). "mean" and "sum" return a Python float.

    Backward (``backward(grad_output=None)``; required of shape (N, d₁, …) for
    "none", where gₙ replaces 1/D):
    ∂L/∂zₙ,k = gₙ·(pₙ,k·Σ_c w_c tₙ,c − w_k tₙ,k), with gₙ = 1/D (mean), 1
    (sum); 0 for ignored rows. log p is computed as z − max z − log Σ exp(z −
    max z) (no overflow). Caches p, the per-row Σ_c w_c tₙ,c and the targets.
    """

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"CrossEntropyLoss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing}")
        self.weight = weight
        self.ignore_index = int(ignore_index)
        self.reduction = reduction
        self.label_smoothing = float(label_smoothing)
        self._cache = None

    def __call__(self, logits, target):
        return self.forward(logits, target)

    def _check(self, logits, target):
        """'index' or 'probability': which kind of target, after checking shapes, dtypes and devices."""
        check_floating(self, logits)
        kind = getattr(getattr(target, "dtype", None), "kind", None)
        if device_of(logits) != device_of(target):
            raise TypeError(f"{self!r}: logits are on the {device_of(logits)}, targets on the {device_of(target)}")
        shape, tshape = tuple(logits.shape), tuple(getattr(target, "shape", ()))
        if logits.ndim < 2:
            raise ValueError(f"{self!r}: expected logits (N, C, ...), got logits of shape {shape}")
        if kind in ("i", "u") and tshape == (shape[0],) + shape[2:]:
            return "index"
        if kind == "f" and tshape == shape:
            if target.dtype != logits.dtype:
                raise TypeError(f"{self!r}: probability targets of dtype {target.dtype} and logits of dtype "
                                f"{logits.dtype} differ")
            return "probability"
        raise ValueError(f"{self!r}: logits of shape {shape} need integer class indices of shape "
                         f"{(shape[0],) + shape[2:]} or floating class probabilities of shape {shape}, got "
                         f"{kind and target.dtype} targets of shape {tshape}")

    @staticmethod
    def _rows_of(xp, x, c):
        """(N, C, d₁, …) → (M, C) rows, classes last."""
        return x if x.ndim == 2 else xp.moveaxis(x, 1, -1).reshape(-1, c)

    def forward(self, logits, target):
        kind = self._check(logits, target)
        xp = get_array_module(logits)
        c = logits.shape[1]
        z = self._rows_of(xp, logits, c)
        shifted = z - z.max(axis=1, keepdims=True)
        exp = xp.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        logp = shifted - xp.log(total)
        p = exp / total
        w = None if self.weight is None else xp.asarray(self.weight, dtype=z.dtype)
        eps = self.label_smoothing
        if kind == "index":
            t, valid, denom = self._index_targets(xp, target, c, w, z.dtype)
        else:
            t = self._rows_of(xp, target, c)
            if eps > 0:
                t = t * (1.0 - eps) + eps / c
            valid, denom = None, float(z.shape[0])
        wt = t if w is None else t * w
        losses = -(wt * logp).sum(axis=1)
        if valid is not None:
            losses = losses * valid
        self._cache = (p, wt, valid, denom, tuple(logits.shape))
        if self.reduction == "none":
            return losses.reshape((logits.shape[0],) + tuple(logits.shape[2:]))
        total_loss = float(losses.sum())
        value = total_loss / denom if self.reduction == "mean" else total_loss
        if not math.isfinite(value) and math.isfinite(denom):
            raise FloatingPointError(f"CrossEntropyLoss is {value}: the logits hold NaN or Inf (training diverged)")
        return value

    def _index_targets(self, xp, target, c, w, dtype):
        """(dense smoothed targets (M, C), valid mask (M,), mean's divisor Σ w_y over valid rows)."""
        y = target.reshape(-1).astype(np.int64)
        valid = y != self.ignore_index
        if bool(xp.any(valid & ((y < 0) | (y >= c)))):
            bad = int(y[valid & ((y < 0) | (y >= c))][0])
            raise ValueError(f"{self!r}: target {bad} is out of bounds for {c} classes")
        safe_y = xp.where(valid, y, 0)
        eps = self.label_smoothing
        t = xp.full((y.shape[0], c), eps / c, dtype=dtype)
        t[xp.arange(y.shape[0]), safe_y] += 1.0 - eps
        w_y = xp.ones(y.shape[0], dtype=dtype) if w is None else w[safe_y]
        denom = float((w_y * valid).sum())
        return t, valid, (denom if denom != 0 else math.nan)

    def backward(self, grad_output=None):
        """∂L/∂logits for the last forward call, in the logits' shape and dtype.

        ``grad_output``: ∂(outer)/∂L, a number for "mean"/"sum" (default 1),
        an array of the loss's shape (N, d₁, …) for "none" (required).
        """
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        p, wt, valid, denom, shape = self._cache
        xp = get_array_module(p)
        c = shape[1]
        grad = p * wt.sum(axis=1, keepdims=True) - wt
        if self.reduction == "none":
            loss_shape = (shape[0],) + shape[2:]
            if grad_output is None or tuple(grad_output.shape) != loss_shape:
                raise ValueError(f"{self!r}: backward needs grad_output of the loss's shape {loss_shape}, got "
                                 f"{None if grad_output is None else tuple(grad_output.shape)}")
            scale = grad_output.reshape(-1, 1).astype(p.dtype, copy=False)
        else:
            scale = (1.0 / denom if self.reduction == "mean" else 1.0) * (1.0 if grad_output is None
                                                                         else float(grad_output))
        grad *= scale
        if valid is not None:
            grad *= valid[:, None]
        if len(shape) > 2:
            grad = xp.ascontiguousarray(xp.moveaxis(grad.reshape((shape[0],) + shape[2:] + (c,)), -1, 1))
        return grad

    def __repr__(self):
        return f"CrossEntropyLoss(reduction={self.reduction!r}, label_smoothing={self.label_smoothing})"
