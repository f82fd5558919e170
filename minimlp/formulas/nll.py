"""Negative log-likelihood of class indices, from log-probabilities: ℓₙ = −w_{yₙ}·x[n, yₙ]."""
from ..backend import get_array_module


def nll(x, target, weight, ignore_index):
    """(ℓ, saved, D): x (N, C, …) log-probabilities, target (N, …) class indices; ℓₙ = −w_{yₙ} x[n, yₙ] (0 for
    ignored rows) and D = Σₙ w_{yₙ} over the rows not ignored (the "mean" divisor)."""
    xp = get_array_module(x)
    keep = target != ignore_index
    safe = xp.where(keep, target, 0)
    w = xp.ones(x.shape[1], dtype=x.dtype) if weight is None else weight
    wn = xp.where(keep, w[safe], 0).astype(x.dtype)
    picked = xp.take_along_axis(x, xp.expand_dims(safe, 1), axis=1)[:, 0]
    return -wn * picked, (safe, wn, x.shape), float(wn.sum())


def nll_backward(g, saved):
    """∂L/∂x[n, c] = −G_n·w_{yₙ} at c = yₙ, 0 elsewhere."""
    safe, wn, shape = saved
    xp = get_array_module(wn)
    classes = xp.arange(shape[1]).reshape((1, shape[1]) + (1,) * (len(shape) - 2))
    grad = (xp.expand_dims(safe, 1) == classes) * xp.expand_dims(-wn * g, 1)
    return grad.astype(wn.dtype, copy=False)
