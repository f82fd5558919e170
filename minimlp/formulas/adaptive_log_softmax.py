"""Adaptive softmax (Grave et al. 2017), as torch's AdaptiveLogSoftmaxWithLoss: a head over the S shortlist classes
and one entry per tail cluster, and a two-matrix projection per cluster.

With cutoffs S = c₀ < c₁ < … < c_K = n_classes, cluster i holds the classes c_i ≤ t < c_{i+1}:

    head   z = x Wₕᵀ (+ b),  ℓ_head = log_softmax(z)  over S + K entries
    tail i u = (x P_iᵀ) Q_iᵀ,  ℓ_i = log_softmax(u)  over c_{i+1} − c_i entries
    log p(t | x) = ℓ_head[t]                         for t < S
                 = ℓ_head[S + i] + ℓ_i[t − c_i]       for t in cluster i

Only the rows whose target falls in a cluster go through its projection (torch's saving). Backward, with g the
gradient of each row's log p: ∂z = g·(onehot(head entry) − softmax z), ∂u = g·(onehot(t − c_i) − softmax u) on
the cluster's rows, then the products' rules: ∂Wₕ = ∂zᵀx, ∂b = Σ ∂z, ∂Q_i = ∂uᵀh, ∂P_i = (∂u Q_i)ᵀx_i,
∂x = ∂z Wₕ + Σ_i (∂u Q_i) P_i scattered to the cluster's rows.
"""
import numpy as np

from ..backend import get_array_module
from .softmax import log_softmax, log_softmax_backward


def _head_logits(x, head_weight, head_bias):
    z = x @ head_weight.T
    return z if head_bias is None else z + head_bias


def forward(x, target, head_weight, head_bias, tails, cutoffs):
    """log p(target | x) per row: x (N, d), target (N,) integers in [0, n_classes), ``tails`` [(P_i, Q_i)],
    ``cutoffs`` [S, c₁, …, n_classes]. Returns (log p (N,), what backward needs)."""
    xp = get_array_module(x)
    shortlist = cutoffs[0]
    head_lp, _ = log_softmax(_head_logits(x, head_weight, head_bias), 1)
    entry = target.astype(np.int64, copy=True)       # each row's head entry: its class, or its cluster's
    output = xp.zeros(x.shape[0], dtype=x.dtype)
    clusters = []
    for i, (p, q) in enumerate(tails):
        low, high = cutoffs[i], cutoffs[i + 1]
        rows = xp.nonzero((target >= low) & (target < high))[0]
        if rows.size == 0:
            clusters.append(None)
            continue
        relative = target[rows].astype(np.int64) - low
        h = x[rows] @ p.T
        tail_lp, _ = log_softmax(h @ q.T, 1)
        output[rows] = tail_lp[xp.arange(rows.size), relative]
        entry[rows] = shortlist + i
        clusters.append((rows, relative, h, tail_lp))
    output += head_lp[xp.arange(x.shape[0]), entry]
    return output, (x, entry, head_lp, clusters)


def _picked(g, index, width):
    """The (rows, width) matrix with g[r] at column index[r]: the gradient of log-softmax entries picked by index."""
    xp = get_array_module(g)
    m = xp.zeros((g.shape[0], width), dtype=g.dtype)
    m[xp.arange(g.shape[0]), index] = g
    return m


def backward(g, saved, head_weight, head_bias, tails, want_dx=True):
    """g = ∂L/∂log p per row (N,). Adds ∂L/∂Wₕ, ∂L/∂b and the ∂L/∂P_i, ∂L/∂Q_i of every cluster a target reached
    to the parameters (``accumulate``; a cluster no target reached gets none, as torch's, so an optimizer leaves
    it alone); returns ∂L/∂x, or None without ``want_dx``."""
    x, entry, head_lp, clusters = saved
    dz = log_softmax_backward(_picked(g, entry, head_lp.shape[1]), head_lp, 1)
    head_weight.accumulate(dz.T @ x)
    if head_bias is not None:
        head_bias.accumulate(dz.sum(axis=0))
    dx = dz @ head_weight.data if want_dx else None
    for (p, q), cluster in zip(tails, clusters):
        if cluster is None:
            continue
        rows, relative, h, tail_lp = cluster
        du = log_softmax_backward(_picked(g[rows], relative, tail_lp.shape[1]), tail_lp, 1)
        q.accumulate(du.T @ h)
        dh = du @ q.data
        p.accumulate(dh.T @ x[rows])
        if want_dx:
            dx[rows] += dh @ p.data
    return dx


def log_prob(x, head_weight, head_bias, tails, cutoffs):
    """log p(c | x) for every class c (N, n_classes): the head's shortlist entries, then for each cluster
    ℓ_head[S + i] + ℓ_i."""
    xp = get_array_module(x)
    shortlist = cutoffs[0]
    head_lp, _ = log_softmax(_head_logits(x, head_weight, head_bias), 1)
    out = xp.empty((x.shape[0], cutoffs[-1]), dtype=x.dtype)
    out[:, :shortlist] = head_lp[:, :shortlist]
    for i, (p, q) in enumerate(tails):
        tail_lp, _ = log_softmax((x @ p.T) @ q.T, 1)
        out[:, cutoffs[i]:cutoffs[i + 1]] = tail_lp + head_lp[:, shortlist + i:shortlist + i + 1]
    return out


def predict(x, head_weight, head_bias, tails, cutoffs):
    """The most probable class per row (int64), as torch: the head's argmax where it is a shortlist class (no
    cluster class can beat it), else the argmax of the full ``log_prob`` (computed for those rows only)."""
    xp = get_array_module(x)
    best = xp.argmax(_head_logits(x, head_weight, head_bias), axis=1).astype(np.int64)
    rows = xp.nonzero(best >= cutoffs[0])[0]
    if rows.size:
        best[rows] = xp.argmax(log_prob(x[rows], head_weight, head_bias, tails, cutoffs), axis=1)
    return best
