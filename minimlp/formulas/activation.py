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
    """∂L/∂x = G·[x > 0], read from y: 0 where y ≤ 0, G elsewhere (at x = 0 too: 0; a NaN passes G, as torch)."""
    return get_array_module(g).where(y <= 0, 0, g).astype(g.dtype, copy=False)


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


def _logistic(x):
    """σ(x) = 1/(1 + e⁻ˣ) for x ≥ 0, eˣ/(1 + eˣ) below: e^{−|x|} never overflows, and σ keeps its relative
    precision far out on the negative side (where ½(1 + tanh(x/2)) rounds to 0)."""
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0, e) / (1.0 + e)


def silu(x):
    """(y, x): y = x·σ(x)."""
    return x * _logistic(x), x


def silu_backward(g, x):
    """∂L/∂x = G·σ(x)·(1 + x·(1 − σ(x)))."""
    s = _logistic(x)
    dx = 1.0 - s
    dx *= x
    dx += 1.0
    dx *= s
    dx *= g
    return dx


def elu(x, alpha):
    """(y, x): y = x for x > 0, α·(eˣ − 1) otherwise (``expm1``: no cancellation near 0)."""
    xp = get_array_module(x)
    return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0))), x


def elu_backward(g, x, alpha):
    """∂L/∂x = G·α·eˣ for x ≤ 0 (α at x = 0, as torch), G elsewhere (a NaN passes G, as torch)."""
    xp = get_array_module(g)
    return xp.where(x <= 0, g * (alpha * xp.exp(xp.minimum(x, 0))), g)


def softplus(x, beta, threshold):
    """(y, x): y = log(1 + e^{βx})/β, or x where βx > ``threshold`` (where the two agree to rounding)."""
    xp = get_array_module(x)
    bx = x * beta
    return xp.where(bx > threshold, x, xp.log1p(xp.exp(xp.minimum(bx, threshold))) / beta), x


def softplus_backward(g, x, beta, threshold):
    """∂L/∂x = G·σ(βx) = G·z/(z + 1) with z = e^{βx}, or G where βx > ``threshold``."""
    xp = get_array_module(g)
    bx = x * beta
    z = xp.exp(xp.minimum(bx, threshold))
    return xp.where(bx > threshold, g, g * z / (z + 1))


def hardtanh(x, min_val, max_val):
    """(y, x): y = min(max(x, a), b) for a = ``min_val``, b = ``max_val``."""
    return get_array_module(x).clip(x, min_val, max_val), x


def hardtanh_backward(g, x, min_val, max_val):
    """∂L/∂x = 0 where x ≤ a or x ≥ b (0 at the corners), G elsewhere (a NaN passes G), as torch."""
    return get_array_module(g).where((x <= min_val) | (x >= max_val), 0, g).astype(g.dtype, copy=False)
