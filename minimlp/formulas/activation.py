"""Element-wise activations and their derivatives: each forward returns (y, what its backward needs)."""
from ..backend import get_array_module


def sigmoid(x):
    """(y, y): y = 1 / (1 + e⁻ˣ), computed as ½(1 + tanh(x/2)), which cannot overflow."""
    y = x * 0.5
    get_array_module(x).tanh(y, out=y)
    y += 1.0
    y *= 0.5
    return y, y


def sigmoid_backward(g, y):
    """∂L/∂x = G·y·(1 − y)."""
    dx = 1.0 - y
    dx *= y
    dx *= g
    return dx


def tanh(x):
    """(y, y): y = tanh(x)."""
    y = get_array_module(x).tanh(x)
    return y, y


def tanh_backward(g, y):
    """∂L/∂x = G·(1 − y²)."""
    dx = y * y
    get_array_module(g).subtract(1.0, dx, out=dx)
    dx *= g
    return dx


def relu(x):
    """(y, y): y = max(x, 0) (NaN stays NaN)."""
    y = get_array_module(x).maximum(x, 0)
    return y, y


def relu_backward(g, y):
    """∂L/∂x = G·[x > 0], read from y > 0 (0 at x = 0 and for NaN, as torch)."""
    return g * (y > 0)


def leaky_relu(x, negative_slope):
    """(y, mask): y = x for x > 0, a·x otherwise, and the mask x > 0."""
    positive = x > 0
    return get_array_module(x).where(positive, x, x * negative_slope), positive


def leaky_relu_backward(g, mask, negative_slope):
    """∂L/∂x = G for x > 0, a·G otherwise."""
    return get_array_module(g).where(mask, g, g * negative_slope)


def identity(x):
    """(y, None): y = x."""
    return x, None


def identity_backward(g, kept):
    """∂L/∂x = G."""
    return g
