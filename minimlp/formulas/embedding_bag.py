"""EmbeddingBag: the sum, mean or maximum of the embedding rows of each bag of indices, without building the bags.

The bags cut the 1-d indices i at the offsets o: bag b holds the positions o[b] ≤ j < o[b + 1], the last one running
to the end. With ``include_last_offset`` o has one entry more, the input's length (torch's CSR form), and the bags
are those of o[:−1]: as torch's CPU kernel, the last bag runs to the end whatever that last entry. Positions holding
``padding_idx`` take no part; a bag left empty gives zeros. With w_j the per-sample weights (1 without them):

    sum:   y[b] = Σ_{j∈b} w_j · W[i_j]
    mean:  y[b] = (1/n_b) Σ_{j∈b} W[i_j],   n_b = the number of positions in bag b
    max:   y[b, d] = max_{j∈b} W[i_j, d]

Backward, for G = ∂L/∂y:

    sum:   ∂L/∂W[r] += Σ_{j : i_j = r} w_j · G[b(j)]       ∂L/∂w_j = G[b(j)] · W[i_j]   (0 at padding positions)
    mean:  ∂L/∂W[r] += Σ_{j : i_j = r} G[b(j)] / n_{b(j)}
    max:   ∂L/∂W[a[b, d], d] += G[b, d], a[b, d] the row that gave the maximum

torch's CPU rule picks a[b, d]: the bag is scanned in order and a value replaces the maximum only when it is
greater, so the first position reaching the maximum takes the gradient, and a NaN is the maximum only where it
comes first in its bag (no comparison with NaN is true). Each bag's positions are contiguous and in bag order;
the sums are one scatter-add (``add.at``, as ``embedding.lookup_backward``), the maxima ``maximum.at``, both on
NumPy and CuPy (13 and later).
"""
import numpy as np

from ..backend import get_array_module


def members(indices, offsets, include_last_offset, padding_idx):
    """(positions, bag, n_bags): the positions j of the 1-d ``indices`` that count (not ``padding_idx``), in
    order, each one's bag b(j), and the number of bags."""
    xp = get_array_module(indices)
    starts = offsets[:-1] if include_last_offset else offsets
    positions = xp.arange(indices.shape[0] if starts.shape[0] else 0)          # no bags: no position counts
    bag = xp.searchsorted(starts, positions, side="right") - 1
    if padding_idx is not None:
        keep = indices[positions] != padding_idx
        positions, bag = positions[keep], bag[keep]
    return positions, bag, int(starts.shape[0])


def forward(weight, indices, offsets, mode, per_sample_weights, include_last_offset, padding_idx):
    """(y, saved): y (n_bags, embedding_dim) as above, for 1-d ``indices`` and ``offsets``
    (the bags' starts, checked by the caller) and ``per_sample_weights`` (1-d, or None; ``mode`` "sum" only)."""
    xp = get_array_module(weight)
    positions, bag, n_bags = members(indices, offsets, include_last_offset, padding_idx)
    rows = indices[positions]
    if mode == "max":
        y, argmax = _bag_max(weight, rows, bag, n_bags)
        return y, (mode, rows, bag, None, argmax, None)
    y = xp.zeros((n_bags, weight.shape[1]), dtype=weight.dtype)
    values = weight[rows]
    scale = None
    if per_sample_weights is not None:
        scale = per_sample_weights[positions]
        values = values * scale[:, None]
    xp.add.at(y, bag, values)
    count = None
    if mode == "mean":
        count = xp.maximum(xp.bincount(bag, minlength=n_bags), 1).astype(weight.dtype)
        y /= count[:, None]
    return y, (mode, rows, bag, count, None, None if scale is None else (positions, scale, indices.shape[0]))


def _bag_max(weight, rows, bag, n_bags):
    """(y, argmax): each bag's column maxima and the rows they came from (−1 for an empty bag), torch's rule."""
    xp = get_array_module(weight)
    d = weight.shape[1]
    y = xp.zeros((n_bags, d), dtype=weight.dtype)
    argmax = xp.full((n_bags, d), -1, dtype=np.int64)
    m = rows.shape[0]
    if m == 0:
        return y, argmax
    values = weight[rows]                                                   # (M, D)
    cleaned = xp.where(xp.isnan(values), -np.inf, values)                  # a later NaN never wins
    best = xp.full((n_bags, d), -np.inf, dtype=weight.dtype)
    xp.maximum.at(best, bag, cleaned)
    first = xp.full((n_bags, d), m, dtype=np.int64)                        # the first position reaching the maximum
    xp.minimum.at(first, bag, xp.where(cleaned == best[bag], xp.arange(m)[:, None], m))
    filled = xp.bincount(bag, minlength=n_bags) > 0
    lead = xp.minimum(xp.searchsorted(bag, xp.arange(n_bags)), m - 1)      # each bag's first position
    first = xp.where(filled[:, None] & xp.isnan(values[lead]), lead[:, None], first)   # a NaN that comes first wins
    first = xp.minimum(first, m - 1)
    columns = xp.arange(d)[None, :]
    y[...] = xp.where(filled[:, None], values[first, columns], 0)
    argmax[...] = xp.where(filled[:, None], rows[first], -1)
    return y, argmax


def backward(g, saved, weight):
    """Adds ∂L/∂W into ``weight`` (a Parameter); returns ∂L/∂w (1-d, the length of the indices) where the
    forward took per-sample weights, else None."""
    xp = get_array_module(g)
    mode, rows, bag, count, argmax, weighted = saved
    grad = xp.zeros(weight.shape, dtype=g.dtype)
    if mode == "max":
        bags, columns = xp.nonzero(argmax >= 0)
        xp.add.at(grad, (argmax[bags, columns], columns), g[bags, columns])
    else:
        share = g[bag]
        if count is not None:
            share = share / count[bag][:, None]
        if weighted is not None:
            share = share * weighted[1][:, None]
        xp.add.at(grad, rows, share)
    weight.accumulate(grad)
    if weighted is None:
        return None
    positions, _, length = weighted
    grad_weights = xp.zeros(length, dtype=g.dtype)
    grad_weights[positions] = (g[bag] * weight.data[rows]).sum(axis=1)
    return grad_weights
