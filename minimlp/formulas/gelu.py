"""GELU, y = x·Φ(x), exactly (Φ through erf) or with torch's tanh approximation."""
import math

from ..backend import get_array_module
from .special import erf

SQRT_HALF = math.sqrt(0.5)
PDF_SCALE = 1 / math.sqrt(2 * math.pi)       # φ(x) = e^{−x²/2}/√(2π)
TANH_SCALE = math.sqrt(2 / math.pi)          # √(2/π)
KAPPA = 0.044715


def gelu(x, approximate):
    """(y, x): "none": y = x·Φ(x) = ½x(1 + erf(x/√2)); "tanh": y = ½x(1 + tanh(√(2/π)(x + 0.044715x³)))."""
    xp = get_array_module(x)
    if approximate == "tanh":
        inner = x * x
        inner *= KAPPA
        inner += 1.0
        inner *= x
        inner *= TANH_SCALE
        t = xp.tanh(inner, out=inner)
    else:
        t = erf(x * SQRT_HALF)
    t += 1.0
    t *= 0.5   # Φ(x) before the product: x·Φ(x) cannot overflow where x does not
    t *= x
    return t, x


def gelu_backward(g, x, approximate):
    """∂L/∂x = G·(Φ(x) + x·φ(x)) for "none"; for "tanh", with u = √(2/π)(x + 0.044715x³) and t = tanh u:
    G·(½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²))."""
    xp = get_array_module(g)
    x2 = x * x
    if approximate == "tanh":
        t = xp.tanh(TANH_SCALE * x * (1.0 + KAPPA * x2))
        dx = (1.0 + 3 * KAPPA * x2) * (1.0 - t * t)
        dx *= TANH_SCALE * 0.5
        dx *= x
        dx += 0.5 * (1.0 + t)
    else:
        dx = xp.exp(x2 * -0.5)
        dx *= PDF_SCALE
        dx *= x
        dx += 0.5 * (1.0 + erf(x * SQRT_HALF))
    dx *= g
    return dx
