"""Cross-entropy of softmax(z) against class indices or class probabilities, per position, with its gradient.

For logits z (N, C, d₁, …), each position is a row of C logits: log p = z − max z − log Σ exp(z − max z)
(no overflow). Targets t per row: class indices y give tₙ = (1 − ε)·onehot(yₙ) + ε/C (a row with
yₙ = ignore_index counts nothing); probabilities give tₙ ← (1 − ε)·tₙ + ε/C. With class weights w:
ℓₙ = −Σ_c w_c tₙ,c log pₙ,c (for indices without smoothing, −w_y log pₙ,y alone) and ∂ℓₙ/∂zₙ,k = pₙ,k·Σ_c w_c tₙ,c − w_k tₙ,k.
"""
import numpy as np

from ..backend import get_array_module


def rows(x):
    """(N, C, d₁, …) → (N·d₁·…, C): the classes last, one row per position."""
    return x if x.ndim == 2 else get_array_module(x).moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def forward(logits, target, weight, label_smoothing, ignore_index):
    """(ℓ per row, saved, D): the losses, what backward needs, and the mean's divisor D (Σ w_y over the rows
    not ignored for index targets, which is 0 when every row is ignored; the number of rows for probabilities)."""
    xp = get_array_module(logits)
    z = rows(logits)
    c = z.shape[1]
    shifted = z - z.max(axis=1, keepdims=True)
    exp = xp.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    logp = shifted - xp.log(total)
    p = exp / total
    w = None if weight is None else xp.asarray(weight, dtype=z.dtype)
    eps = label_smoothing
    if target.dtype.kind in "iu":
        y = target.reshape(-1).astype(np.int64)
        valid = y != ignore_index
        safe_y = xp.where(valid, y, 0)
        t = xp.full((y.shape[0], c), eps / c, dtype=z.dtype)
        t[xp.arange(y.shape[0]), safe_y] += 1.0 - eps
        w_y = xp.ones(y.shape[0], dtype=z.dtype) if w is None else w[safe_y]
        divisor = float((w_y * valid).sum())
        # ℓ = −(1 − ε) w_y log p_y − (ε/C) Σ_c w_c log p_c: the target's term alone where ε = 0, so that a
        # class masked by a −inf logit costs nothing (0 · −inf would be NaN), as in torch
        losses = -(1.0 - eps) * w_y * logp[xp.arange(y.shape[0]), safe_y]
        if eps > 0:
            losses = losses - eps / c * (logp if w is None else logp * w).sum(axis=1)
        losses = xp.where(valid, losses, 0).astype(z.dtype, copy=False)
    else:
        t = rows(target)
        if eps > 0:
            t = t * (1.0 - eps) + eps / c
        valid, divisor = None, float(z.shape[0])
    wt = t if w is None else t * w
    if valid is None:
        losses = -(wt * logp).sum(axis=1)
    return losses, (p, wt, valid), divisor


def backward(saved, scale, shape):
    """∂L/∂z = scale·(p·Σ_c w_c t_c − w t) per row (0 on ignored rows), in the logits' ``shape``.

    ``scale``: a number (1/D for the mean, 1 for the sum), or a column (M, 1) of the outer gradient per row.
    """
    p, wt, valid = saved
    xp = get_array_module(p)
    grad = p * wt.sum(axis=1, keepdims=True) - wt
    grad *= scale
    if valid is not None:
        grad = xp.where(valid[:, None], grad, 0).astype(p.dtype, copy=False)
    if len(shape) > 2:
        c = shape[1]
        grad = xp.ascontiguousarray(xp.moveaxis(grad.reshape((shape[0],) + tuple(shape[2:]) + (c,)), -1, 1))
    return grad
