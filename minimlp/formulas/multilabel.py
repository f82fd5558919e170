"""Multi-label losses on scores x (N, C) or (C,): each sample may have several right classes."""
from ..backend import get_array_module
from .distance import sum_to


def multilabel_soft_margin(x, y, weight):
    """ℓₙ = (1/C)·Σ_c w_c·(y·softplus(−x) + (1 − y)·softplus(x)), i.e. −(1/C)·Σ w·(y·log σ(x) + (1 − y)·log σ(−x)),
    over the last axis; softplus(u) = max(u, 0) + log(1 + e^{−|u|}) (no overflow)."""
    xp = get_array_module(x)
    tail = xp.log1p(xp.exp(-xp.abs(x)))
    elements = y * (xp.maximum(-x, 0) + tail) + (1 - y) * (xp.maximum(x, 0) + tail)
    if weight is not None:
        elements = elements * weight
    c = x.shape[-1]
    return elements.sum(axis=-1) / c, (x, y, weight)


def multilabel_soft_margin_backward(g, saved):
    """∂ℓₙ/∂x_c = Gₙ·w_c·(σ(x_c) − y_c)/C."""
    x, y, weight = saved
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))
    sigma = xp.where(x >= 0, 1.0, e) / (1.0 + e)
    grad = (sigma - y) * (g[..., None] / x.shape[-1])
    return sum_to(grad if weight is None else grad * weight, x.shape)


def multilabel_margin(x, target):
    """ℓₙ = (1/C)·Σ_j Σ_{i ∉ T} max(0, 1 − (x[n, yⱼ] − x[n, i])) for x (N, C): the labels yⱼ are target[n, :k]
    up to the first −1 (T their set; a label given twice counts twice, as in torch's kernel)."""
    xp = get_array_module(x)
    c = x.shape[1]
    valid = xp.cumprod(target >= 0, axis=1).astype(bool)              # the entries before the first −1
    counts = ((target[:, :, None] == xp.arange(c)) & valid[:, :, None]).sum(axis=1)   # how often c is a label
    z = 1 - x[:, :, None] + x[:, None, :]                             # z[n, j, i] = 1 − x[n, j] + x[n, i]
    active = (z > 0) & (counts[:, None, :] == 0) & (counts[:, :, None] > 0)
    weight = (active * counts[:, :, None]).astype(x.dtype)
    return (weight * z).sum(axis=(1, 2)) / c, (weight, c)


def multilabel_margin_backward(g, saved):
    """∂ℓₙ/∂x[n, i] = Gₙ/C·(Σ_j [zⱼᵢ > 0] − [i ∈ T]·Σ_{i'} [zᵢᵢ' > 0]) (a hinge exactly at 0 passes nothing,
    as torch's kernel)."""
    weight, c = saved
    return (weight.sum(axis=1) - weight.sum(axis=2)) * (g[:, None] / c)
