"""Soft encoding on a set of centres: each point's k nearest centres and their Gaussian weights."""
import numpy as np

from ..backend import get_array_module


def soft_encode(points, centres, k, sigma):
    """(indices (M, k), weights (M, k)) for points (M, D) and centres (Q, D): the k nearest centres, nearest
    first (ties: the lower index first), and weights exp(−(d² − d₀²)/2σ²) normalised to sum to 1 per point.

    The k nearest are found by k rounds of argmin over the (M, Q) squared distances, each round masking
    the centre it found: on the CPU, several times faster than ``argpartition`` for k = 5, Q ≈ 300.
    """
    xp = get_array_module(points)
    centres = xp.asarray(centres, dtype=points.dtype)
    d2 = xp.maximum((points * points).sum(axis=1, keepdims=True) - 2.0 * (points @ centres.T)
                    + (centres * centres).sum(axis=1), 0.0)
    rows = xp.arange(len(points))
    idx = xp.empty((len(points), k), dtype=np.int64)
    near = xp.empty((len(points), k), dtype=d2.dtype)
    for j in range(k):
        idx[:, j] = d2.argmin(axis=1)
        near[:, j] = d2[rows, idx[:, j]]
        d2[rows, idx[:, j]] = np.inf
    z = xp.exp((near[:, :1] - near) * (0.5 / sigma ** 2))
    z /= z.sum(axis=1, keepdims=True)
    return idx, z
