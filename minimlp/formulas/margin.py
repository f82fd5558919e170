"""The multi-class margin (hinge, "SVM") loss: every wrong class scored within the margin of the right one costs."""
from ..backend import get_array_module


def multi_margin(x, target, p, margin, weight):
    """(ℓ, saved): x (N, C) scores, target (N,) class indices; ℓₙ = (1/C)·Σ_{i ≠ yₙ} w_{yₙ}·max(0, zₙᵢ)^p
    with zₙᵢ = margin − x[n, yₙ] + x[n, i] (torch's kernel: the weight outside the power)."""
    xp = get_array_module(x)
    n, c = x.shape
    rows = xp.arange(n)
    z = margin - x[rows, target][:, None] + x
    z[rows, target] = 0
    active = z > 0
    h = xp.where(active, z if p == 1 else z * z, 0)
    w = 1.0 if weight is None else weight[target][:, None]
    return (h * w).sum(axis=1) / c, (z, active, target, w, p)


def multi_margin_backward(g, saved):
    """∂ℓₙ/∂x[n, i] = w_{yₙ}·dᵢ/C for i ≠ yₙ with dᵢ = 1 (p = 1) or 2zₙᵢ (p = 2) where zₙᵢ > 0, and
    ∂ℓₙ/∂x[n, yₙ] = −Σ_{i ≠ yₙ} of those; times Gₙ."""
    z, active, target, w, p = saved
    xp = get_array_module(z)
    n, c = z.shape
    d = active.astype(z.dtype) if p == 1 else 2 * z * active
    d *= w
    d *= g.reshape(-1, 1) / c
    d[xp.arange(n), target] = -d.sum(axis=1)
    return d
