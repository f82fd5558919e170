"""Losses on pairs and triplets of embeddings: margin ranking, cosine embedding and the triplet hinge on distances.
Inputs broadcast against each other as torch's; each backward takes G of ℓ's shape and returns the gradient of every
differentiable input, in order, summed back to that input's shape."""
import numpy as np

from ..backend import get_array_module
from .distance import sum_to

COSINE_EMBEDDING_EPSILON = float(np.float32(1e-12))   # torch's EPSILON, a C float, added to each squared norm


def margin_ranking(x1, x2, y, margin):
    """ℓ = max(0, −y·(x1 − x2) + margin), element-wise (y = 1: x1 should rank higher, y = −1: x2)."""
    xp = get_array_module(x1)
    z = -y * (x1 - x2) + margin
    return xp.maximum(z, 0), (z >= 0, y, x1.shape, x2.shape)


def margin_ranking_backward(g, saved):
    """(∂ℓ/∂x1, ∂ℓ/∂x2) = (−y·G, y·G) where −y·(x1 − x2) + margin ≥ 0 (at 0 too, as torch's clamp_min), else 0."""
    active, y, shape1, shape2 = saved
    v = (y * g) * active
    return sum_to(-v, shape1), sum_to(v, shape2)


def cosine_embedding(x1, x2, y, margin):
    """ℓ = 1 − cos where y = 1, max(0, cos − margin) where y = −1, 0 for any other label; along the last axis of
    x1, x2 (N, D) or (D,), with torch's cos = Σ x1·x2 / √((Σ x1² + ε)(Σ x2² + ε)), ε = 1e-12 (a float32)."""
    xp = get_array_module(x1)
    m1 = (x1 * x1).sum(axis=-1) + COSINE_EMBEDDING_EPSILON
    m2 = (x2 * x2).sum(axis=-1) + COSINE_EMBEDDING_EPSILON
    denominator = xp.sqrt(m1 * m2)
    cos = (x1 * x2).sum(axis=-1) / denominator
    positive, negative = y == 1, y == -1
    loss = xp.where(positive, 1 - cos, 0) + xp.where(negative, xp.maximum(cos - margin, 0), 0)
    dcos = negative * (cos - margin >= 0) - positive.astype(x1.dtype)   # the clamp passes G at cos = margin
    return loss.astype(x1.dtype, copy=False), (x1, x2, m1, m2, denominator, cos, dcos.astype(x1.dtype))


def cosine_embedding_backward(g, saved):
    """∂ℓ/∂x1 = G·s·(x2/√(m1·m2) − cos·x1/m1) and ∂ℓ/∂x2 = G·s·(x1/√(m1·m2) − cos·x2/m2), with mᵢ = Σ xᵢ² + ε and
    s = ∂ℓ/∂cos: −1 (y = 1), 1 (y = −1 and cos ≥ margin), else 0."""
    x1, x2, m1, m2, denominator, cos, dcos = saved
    s = (g * dcos)[..., None]
    c = cos[..., None]
    return (sum_to(s * (x2 / denominator[..., None] - c * x1 / m1[..., None]), x1.shape),
            sum_to(s * (x1 / denominator[..., None] - c * x2 / m2[..., None]), x2.shape))


def triplet_hinge(positive, negative, swapped, margin):
    """ℓ = max(0, margin + d(a, p) − d(a, n)) on distances, with d(a, n) replaced by min(d(a, n), d(p, n)) where
    ``swapped`` holds d(p, n) (torch's ``swap``, Balntas et al. 2016), else None."""
    xp = get_array_module(positive)
    nearest = negative if swapped is None else xp.minimum(negative, swapped)
    z = margin + positive - nearest
    return xp.maximum(z, 0), (z >= 0, positive.shape, negative, swapped)


def triplet_hinge_backward(g, saved):
    """(∂ℓ/∂d(a, p), ∂ℓ/∂d(a, n), ∂ℓ/∂d(p, n) or None) = (G, −G, 0) where the hinge is active (at 0 too, as torch's
    clamp_min); with ``swap``, −G goes to the smaller of d(a, n) and d(p, n), halved between them at a tie (torch's
    minimum)."""
    active, shape, negative, swapped = saved
    v = g * active
    if swapped is None:
        return sum_to(v, shape), sum_to(-v, negative.shape), None
    xp = get_array_module(v)
    share = xp.where(negative == swapped, v.dtype.type(0.5), v.dtype.type(1))
    return (sum_to(v, shape), sum_to(-v * share * (negative <= swapped), negative.shape),
            sum_to(-v * share * (swapped <= negative), swapped.shape))
