"""Piecewise activations besides ReLU, LeakyReLU and Hardtanh (``activation``): Hardswish, Hardsigmoid,
Threshold and PReLU, each with torch's choice of side at its corners. Each forward returns (y, x)."""
import numpy as np

from ..backend import get_array_module

ONE_SIXTH_AS_TORCH = float(np.float32(1.0) / np.float32(6.0))


def hardswish(x):
    """y = x·min(max(x + 3, 0), 6)/6."""
    xp = get_array_module(x)
    return x * xp.minimum(xp.maximum(x + 3, 0), 6) / 6, x


def hardswish_backward(g, x):
    """∂L/∂x = 0 for x ≤ −3, G·(x/3 + ½) for −3 < x < 3, G from 3 on (torch's sides at ±3)."""
    xp = get_array_module(g)
    return xp.where(x <= -3, 0, xp.where(x < 3, g * (x / 3 + 0.5), g)).astype(g.dtype, copy=False)


def hardsigmoid(x):
    """y = min(max(x + 3, 0), 6)/6."""
    xp = get_array_module(x)
    return xp.minimum(xp.maximum(x + 3, 0), 6) / 6, x


def hardsigmoid_backward(g, x):
    """∂L/∂x = G/6 for −3 < x < 3, 0 elsewhere (at ±3 too), as torch: G times 1/6 rounded to float32, in
    float64 too (``ONE_SIXTH_AS_TORCH``, 3e-8 from 1/6)."""
    xp = get_array_module(g)
    return xp.where((x > -3) & (x < 3), g * ONE_SIXTH_AS_TORCH, 0).astype(g.dtype, copy=False)


def threshold(x, threshold, value):
    """y = ``value`` where x ≤ ``threshold``, x elsewhere (a NaN stays NaN, as torch)."""
    xp = get_array_module(x)
    return xp.where(x <= threshold, xp.asarray(value, dtype=x.dtype), x), x


def threshold_backward(g, x, threshold, value):
    """∂L/∂x = 0 where x ≤ ``threshold``, G elsewhere."""
    return get_array_module(g).where(x <= threshold, 0, g).astype(g.dtype, copy=False)


def _per_channel(weight, x):
    """The slopes shaped to broadcast along x's channel axis (axis 1; one slope for an input of under 2 axes)."""
    return weight.reshape((-1,) + (1,) * (x.ndim - 2)) if x.ndim >= 2 and weight.size > 1 else weight.reshape(())


def prelu(x, weight):
    """y = x for x > 0, a_c·x otherwise, a_c the slope of x's channel."""
    return get_array_module(x).where(x > 0, x, _per_channel(weight, x) * x), x


def prelu_backward(g, x, weight, want_dx=True):
    """∂L/∂x = G for x > 0, a_c·G otherwise; ∂L/∂a_c = Σ G·x over x ≤ 0 of channel c, added to ``weight``."""
    xp = get_array_module(g)
    negative = xp.where(x > 0, 0, g * x)
    if x.ndim >= 2 and weight.data.size > 1:
        da = negative.sum(axis=tuple(i for i in range(x.ndim) if i != 1))
    else:
        da = negative.sum().reshape(weight.data.shape)
    weight.accumulate(da.astype(weight.data.dtype, copy=False))
    return xp.where(x > 0, g, _per_channel(weight.data, x) * g) if want_dx else None


def hardshrink(x, lambd):
    """y = x where |x| > λ, 0 where −λ ≤ x ≤ λ (a NaN stays NaN, as torch)."""
    xp = get_array_module(x)
    return xp.where((x >= -lambd) & (x <= lambd), xp.zeros((), dtype=x.dtype), x), x


def hardshrink_backward(g, x, lambd):
    """∂L/∂x = G where |x| > λ (or x is NaN), 0 where −λ ≤ x ≤ λ."""
    return get_array_module(g).where((x >= -lambd) & (x <= lambd), 0, g).astype(g.dtype, copy=False)


def softshrink(x, lambd):
    """y = x − λ for x > λ, x + λ for x < −λ, 0 between (λ ≥ 0; a NaN stays NaN, as torch)."""
    xp = get_array_module(x)
    return xp.where(x > lambd, x - lambd, xp.where(x < -lambd, x + lambd, x * 0)), x


def softshrink_backward(g, x, lambd):
    """∂L/∂x = G where |x| > λ (or x is NaN), 0 where −λ ≤ x ≤ λ: Hardshrink's mask."""
    return hardshrink_backward(g, x, lambd)


def rrelu(x, slope, drawn):
    """y = x·a where x ≤ 0, x elsewhere, with a the slope drawn for each element (``drawn``, training) or the
    one slope (lower + upper)/2 (evaluation, torch's LeakyReLU: a NaN takes the slope there, not in training).
    Keeps the factor each element's gradient takes (a or 1)."""
    xp = get_array_module(x)
    one = xp.ones((), dtype=x.dtype)
    factor = xp.where(x <= 0, slope, one) if drawn else xp.where(x > 0, one, xp.asarray(slope, dtype=x.dtype))
    factor = factor.astype(x.dtype, copy=False)
    return x * factor, factor


def rrelu_backward(g, factor):
    """∂L/∂x = G·a where x ≤ 0, G elsewhere (the factor forward kept)."""
    return g * factor
