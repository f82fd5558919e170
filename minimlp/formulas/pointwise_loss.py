"""Losses with one term per element: ℓ = f(x, y), and ∂ℓ/∂x scaled by the upstream gradient G.

Each forward returns (ℓ, saved); each backward takes G (a number or an array of ℓ's shape) and returns
∂L/∂x = G·∂ℓ/∂x.
"""
import numpy as np

from ..backend import get_array_module

LOG_FLOOR = -100.0   # torch's BCELoss clamps log p and log(1 − p) at −100
BCE_EPSILON = float(np.float32(1e-12))  # and its gradient's denominator p(1 − p) at 1e-12, a C float in torch


def huber(x, y, delta):
    """ℓ = ½d² where |d| < δ, δ(|d| − ½δ) elsewhere, d = x − y."""
    xp = get_array_module(x)
    d = x - y
    a = xp.abs(d)
    return xp.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta)), (d, delta)


def huber_backward(g, saved):
    """∂ℓ/∂x = clip(d, −δ, δ)."""
    d, delta = saved
    return get_array_module(d).clip(d, -delta, delta) * g


def smooth_l1(x, y, beta):
    """ℓ = ½d²/β where |d| < β, |d| − ½β elsewhere (|d| for β = 0)."""
    xp = get_array_module(x)
    d = x - y
    a = xp.abs(d)
    if beta == 0:
        return a, (d, beta)
    return xp.where(a < beta, 0.5 * d * d / beta, a - 0.5 * beta), (d, beta)


def smooth_l1_backward(g, saved):
    """∂ℓ/∂x = d/β where |d| ≤ β, sign(d) elsewhere (sign(d) for β = 0)."""
    d, beta = saved
    xp = get_array_module(d)
    return (xp.sign(d) if beta == 0 else xp.clip(d / beta, -1.0, 1.0)) * g


def bce(p, y, weight):
    """ℓ = −w·(y·log p + (1 − y)·log(1 − p)), each log clamped at −100 (torch's)."""
    xp = get_array_module(p)
    with np.errstate(divide="ignore"):                      # log 0 = −inf (NumPy warns), then clamped
        loss = -(y * xp.maximum(xp.log(p), LOG_FLOOR) + (1 - y) * xp.maximum(xp.log1p(-p), LOG_FLOOR))
    return (loss if weight is None else loss * weight), (p, y, weight)


def bce_backward(g, saved):
    """∂ℓ/∂p = w·(p − y)/max((1 − p)·p, 1e-12) (torch's, in torch's order)."""
    p, y, weight = saved
    xp = get_array_module(p)
    grad = g * (p - y) / xp.maximum((1 - p) * p, BCE_EPSILON)
    return grad if weight is None else grad * weight


def bce_with_logits(z, y, weight, pos_weight):
    """ℓ = −w·(q·y·log σ(z) + (1 − y)·log(1 − σ(z))) with q = ``pos_weight`` (1 if None), computed as
    w·((1 − y)·z + (1 + (q − 1)·y)·softplus(−z)), softplus(u) = max(u, 0) + log(1 + e^{−|u|}) (no overflow)."""
    xp = get_array_module(z)
    softplus = xp.maximum(-z, 0) + xp.log1p(xp.exp(-xp.abs(z)))
    coefficient = 1.0 if pos_weight is None else 1 + (pos_weight - 1) * y
    loss = (1 - y) * z + coefficient * softplus
    return (loss if weight is None else loss * weight), (z, y, weight, coefficient)


def bce_with_logits_backward(g, saved):
    """∂ℓ/∂z = w·((1 − y) − (1 + (q − 1)·y)·σ(−z))."""
    z, y, weight, coefficient = saved
    xp = get_array_module(z)
    e = xp.exp(-xp.abs(z))
    sigma_minus = xp.where(z >= 0, e, 1.0) / (1.0 + e)      # σ(−z), without overflow
    grad = (1 - y) - coefficient * sigma_minus
    return grad * g if weight is None else grad * weight * g


def kl_div(x, t, log_target):
    """ℓ = p·(log p − x) with p = t (p·log p is 0 where p = 0 and NaN where p < 0, as torch's xlogy), or
    p = e^t for ``log_target`` (ℓ = e^t·(t − x)); x holds log-probabilities."""
    xp = get_array_module(x)
    if log_target:
        return xp.exp(t) * (t - x), (t, log_target)
    zero_or_nan = xp.where(t == 0, t.dtype.type(0), t.dtype.type(np.nan))
    plogp = xp.where(t > 0, t * xp.log(xp.where(t > 0, t, 1)), zero_or_nan)
    return plogp - t * x, (t, log_target)


def kl_div_backward(g, saved):
    """∂ℓ/∂x = −p."""
    t, log_target = saved
    p = get_array_module(t).exp(t) if log_target else t
    return -p * g


def soft_margin(x, y):
    """ℓ = log(1 + e^{−y·x}) for labels y = ±1, computed as softplus(−y·x) without overflow."""
    xp = get_array_module(x)
    z = -y * x
    return xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z))), (x, y)


def soft_margin_backward(g, saved):
    """∂ℓ/∂x = −y·σ(−y·x)."""
    x, y = saved
    xp = get_array_module(x)
    z = -y * x
    e = xp.exp(-xp.abs(z))
    sigma = xp.where(z >= 0, 1.0, e) / (1.0 + e)
    return -y * sigma * g


def poisson_nll(x, y, log_input, full, eps):
    """ℓ = e^x − y·x (``log_input``: x is log λ) or x − y·log(x + ε) (x is λ); with ``full``, Stirling's
    y·log y − y + ½·log(2πy) added where y > 1, as torch."""
    xp = get_array_module(x)
    loss = xp.exp(x) - y * x if log_input else x - y * xp.log(x + eps)
    if full:
        safe = xp.where(y > 1, y, 1)
        loss = loss + xp.where(y > 1, safe * xp.log(safe) - safe + 0.5 * xp.log(2 * np.pi * safe), 0)
    return loss, (x, y, log_input, eps)


def poisson_nll_backward(g, saved):
    """∂ℓ/∂x = e^x − y, or 1 − y/(x + ε)."""
    x, y, log_input, eps = saved
    xp = get_array_module(x)
    return (xp.exp(x) - y if log_input else 1 - y / (x + eps)) * g


def hinge_embedding(x, y, margin):
    """ℓ = max(0, margin − x) where y ≠ 1, plus x where y ≠ −1 (torch's reading: for y = ±1, one term)."""
    xp = get_array_module(x)
    return (xp.where(y != 1, xp.maximum(margin - x, 0), 0) + xp.where(y != -1, x, 0)), (x, y, margin)


def hinge_embedding_backward(g, saved):
    """∂ℓ/∂x = −1 where y ≠ 1 and x ≤ margin (at x = margin too, as torch's clamp), plus 1 where y ≠ −1."""
    x, y, margin = saved
    d = (y != -1).astype(x.dtype)
    d -= (y != 1) & (margin - x >= 0)
    return d * g
