"""Embedding: a table lookup, y[…] = W[i[…]], whose gradient scatters back onto the rows looked up."""
from ..backend import get_array_module


def lookup(weight, indices):
    """(y, indices): y[…, :] = W[i[…], :]."""
    return weight[indices], indices


def lookup_backward(g, indices, weight, padding_idx):
    """∂L/∂W[r] += Σ_{… : i[…] = r} G[…, :] (rows hit twice add up); the ``padding_idx`` row gets none."""
    xp = get_array_module(g)
    grad = xp.zeros(weight.shape, dtype=g.dtype)
    xp.add.at(grad, indices.reshape(-1), g.reshape(-1, weight.shape[1]))
    if padding_idx is not None:
        grad[padding_idx] = 0
    weight.accumulate(grad)
