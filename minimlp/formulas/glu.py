"""The gated linear unit: the input's two halves along one axis, the first gated by the sigmoid of the second."""
from ..backend import get_array_module
from .activation import _logistic


def glu(x, dim):
    """(y, (a, σ(b))): y = a·σ(b) for x = [a, b] split in halves along ``dim``."""
    a, b = get_array_module(x).split(x, 2, axis=dim)
    s = _logistic(b)
    return a * s, (a, s)


def glu_backward(g, saved, dim):
    """∂L/∂x = [G·σ(b), G·a·σ(b)·(1 − σ(b))] along ``dim``."""
    a, s = saved
    gate = g * s
    return get_array_module(g).concatenate([gate, gate * a * (1 - s)], axis=dim)
