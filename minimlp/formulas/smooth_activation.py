"""Smooth element-wise activations besides the common ones (``activation``): SELU, CELU, Mish, LogSigmoid,
Softsign and Tanhshrink. Each forward returns (y, x): every backward here reads the input."""
from ..backend import get_array_module
from .activation import _logistic

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def selu(x):
    """y = s·x for x > 0, s·α·(eˣ − 1) otherwise, with torch's α ≈ 1.6733 and s ≈ 1.0507."""
    xp = get_array_module(x)
    return xp.where(x > 0, x * SELU_SCALE, (SELU_SCALE * SELU_ALPHA) * xp.expm1(xp.minimum(x, 0))), x


def selu_backward(g, x):
    """∂L/∂x = G·s·α·eˣ for x ≤ 0, G·s elsewhere."""
    xp = get_array_module(g)
    return xp.where(x <= 0, g * ((SELU_SCALE * SELU_ALPHA) * xp.exp(xp.minimum(x, 0))), g * SELU_SCALE)


def celu(x, alpha):
    """y = x for x > 0, α·(e^{x/α} − 1) otherwise."""
    xp = get_array_module(x)
    return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0) / alpha)), x


def celu_backward(g, x, alpha):
    """∂L/∂x = G·e^{x/α} for x ≤ 0, G elsewhere."""
    xp = get_array_module(g)
    return xp.where(x <= 0, g * xp.exp(xp.minimum(x, 0) / alpha), g)


def _softplus(x):
    """log(1 + eˣ) = max(x, 0) + log(1 + e^{−|x|}): no overflow, no loss far out on either side."""
    xp = get_array_module(x)
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def mish(x):
    """y = x·tanh(softplus(x))."""
    return x * get_array_module(x).tanh(_softplus(x)), x


def mish_backward(g, x):
    """∂L/∂x = G·(t + x·σ(x)·(1 − t²)) with t = tanh(softplus(x))."""
    t = get_array_module(x).tanh(_softplus(x))
    return g * (t + x * _logistic(x) * (1 - t * t))


def log_sigmoid(x):
    """y = log σ(x) = −softplus(−x) = min(x, 0) − log(1 + e^{−|x|})."""
    xp = get_array_module(x)
    return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x))), x


def log_sigmoid_backward(g, x):
    """∂L/∂x = G·(1 − σ(x)) = G·σ(−x)."""
    return g * _logistic(-x)


def softsign(x):
    """y = x / (1 + |x|)."""
    return x / (1 + get_array_module(x).abs(x)), x


def softsign_backward(g, x):
    """∂L/∂x = G / (1 + |x|)²."""
    d = 1 + get_array_module(x).abs(x)
    return g / (d * d)


def tanhshrink(x):
    """y = x − tanh(x)."""
    return x - get_array_module(x).tanh(x), x


def tanhshrink_backward(g, x):
    """∂L/∂x = G·tanh²(x) (torch, differentiating x − tanh x, computes G − G·(1 − tanh² x): the same value,
    which near 0 loses the digits this keeps)."""
    t = get_array_module(x).tanh(x)
    return g * (t * t)
