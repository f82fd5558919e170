"""Softmax and log-softmax along one axis, shifted by the maximum (no overflow)."""
from ..backend import get_array_module


def softmax(x, dim):
    """(y, y): y = e^{x − max x} / Σ e^{x − max x} along ``dim``."""
    xp = get_array_module(x)
    y = x - x.max(axis=dim, keepdims=True)
    xp.exp(y, out=y)
    y /= y.sum(axis=dim, keepdims=True)
    return y, y


def softmax_backward(g, y, dim):
    """∂L/∂x = y·(G − Σ G·y) along ``dim``."""
    dx = g * y
    total = dx.sum(axis=dim, keepdims=True)
    dx -= y * total
    return dx


def log_softmax(x, dim):
    """(y, y): y = x − max x − log Σ e^{x − max x} along ``dim``."""
    xp = get_array_module(x)
    y = x - x.max(axis=dim, keepdims=True)
    y -= xp.log(xp.exp(y).sum(axis=dim, keepdims=True))
    return y, y


def log_softmax_backward(g, y, dim):
    """∂L/∂x = G − e^y·Σ G along ``dim`` (e^y is the softmax)."""
    xp = get_array_module(g)
    dx = xp.exp(y)
    dx *= g.sum(axis=dim, keepdims=True)
    xp.subtract(g, dx, out=dx)
    return dx


def softmin(x, dim):
    """(y, y): y = softmax(−x) along ``dim``."""
    return softmax(-x, dim)


def softmin_backward(g, y, dim):
    """∂L/∂x = −y·(G − Σ G·y) along ``dim`` (softmax's, through −x)."""
    dx = softmax_backward(g, y, dim)
    dx *= -1
    return dx
