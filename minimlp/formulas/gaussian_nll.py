"""The negative log-likelihood of a target under a Gaussian of predicted mean and variance."""
import math

from ..backend import get_array_module
from .distance import sum_to


def gaussian_nll(x, y, var, full, eps):
    """ℓ = ½·(log v + (x − y)²/v) with v = max(var, ε) (plus ½·log 2π with ``full``); x, y and ``var``
    broadcast against each other."""
    xp = get_array_module(x)
    v = xp.maximum(var, eps)
    d = x - y
    loss = 0.5 * (xp.log(v) + d * d / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return loss, (d, v, x.shape, var.shape)


def gaussian_nll_backward(g, saved):
    """(∂ℓ/∂x, ∂ℓ/∂var) = (G·d/v, ½·G·(1/v − d²/v²)) with d = x − y, each summed to its input's shape; the clamp
    v = max(var, ε) passes the gradient to var below ε too, as torch's (which clamps under no_grad)."""
    d, v, shape, var_shape = saved
    dv = 0.5 * g * (1 / v - d * d / (v * v))
    return sum_to(g * d / v, shape), sum_to(dv, var_shape)
