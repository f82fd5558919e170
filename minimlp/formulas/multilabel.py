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
    up to the first −1 (T their set; a label given twice counts twice, as in torch's kernel). The pairs are
    (label slot j, class i), N·K·C of them for K the most labels in a row, not N·C·C."""
    xp = get_array_module(x)
    c = x.shape[1]
    valid = xp.cumprod(target >= 0, axis=1).astype(bool)              # the entries before the first −1
    k = int(valid.sum(axis=1).max()) if valid.size else 0
    labels, valid = target[:, :k], valid[:, :k]
    onehot = (labels[:, :, None] == xp.arange(c)) & valid[:, :, None]  # onehot[n, j, i]: slot j holds label i
    is_label = onehot.any(axis=1)
    z = 1 - xp.take_along_axis(x, xp.where(valid, labels, 0), axis=1)[:, :, None] + x[:, None, :]
    active = (z > 0) & ~is_label[:, None, :] & valid[:, :, None]       # z[n, j, i] = 1 − x[n, yⱼ] + x[n, i]
    return xp.where(active, z, 0).sum(axis=(1, 2)) / c, (active, onehot, c)


def multilabel_margin_backward(g, saved):
    """∂ℓₙ/∂x[n, i] = Gₙ/C·(Σ_j [zⱼᵢ > 0] − Σ_{j: yⱼ = i} Σ_{i'} [zⱼᵢ' > 0]) (a hinge exactly at 0 passes nothing,
    as torch's kernel)."""
    active, onehot, c = saved
    per_class = active.sum(axis=1) - (active.sum(axis=2)[:, :, None] * onehot).sum(axis=1)
    return per_class.astype(g.dtype) * (g[:, None] / c)
