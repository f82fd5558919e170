"""LPPool: the p-norm of each window, (Σ_window x^p)^(1/p), built as torch builds it, around an average pooling.

torch's ``F.lp_pool2d`` (and ``lp_pool1d``), with k the kernel's area (kh·kw, or k):

    a = avg_pool(x^p)                  (no padding; a ``ceil_mode`` window cut by the input averages over its D
                                        positions inside)
    u = sign(a)·relu(|a|)              (= a)
    y = (k·u)^(1/p)                    = (Σ_window x^p · k/D)^(1/p): the p-norm wherever the window lies inside

and for p = ±∞ a max pooling of ±|x|: y = max |x| (p = ∞) or min |x| (p = −∞, as −max(−|x|)). Nothing is
clamped: an odd or fractional p with a negative window sum gives NaN, as in torch.

Backward is torch's chain rule step by step, which also fixes its values at the edges:

    ∂L/∂v = G·((1/p)·v^(1/p − 1)),  v = k·u      (torch's pow backward: G·(e·v^(e − 1)))
    ∂L/∂a = ∂L/∂v·k where a ≠ 0, and 0 where a = 0: relu's gradient at 0 and sign's are 0, so a window whose
            sum is 0 gets 0 (not the ∞·0 of the root's gradient), as torch documents; NaN where a < 0 (odd p)
    ∂L/∂(x^p) = the average pooling's backward;  ∂L/∂x = ∂L/∂(x^p)·(p·x^(p − 1))  (∞ or NaN at x = 0 for p < 1,
            as torch)
    p = ±∞: ∂L/∂x = the max pooling's routing of G (its first maximum on ties) times sign(x) (0 at x = 0).

The average and max poolings are ``pooling.avg_pool2d`` and ``pooling.max_pool2d``; these are the steps around them.
"""
import numpy as np

from ..backend import get_array_module


def power(x, p):
    """x^p (NaN for a negative x and a fractional p, ∞ at 0 for p < 0)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return x ** p


def power_backward(g, x, p):
    """∂L/∂x = G·(p·x^(p − 1))."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return g * (p * x ** (p - 1))


def magnitude(x, sign):
    """±|x| (``sign`` = 1.0 for p = ∞, −1.0 for p = −∞), the input of the max pooling."""
    return sign * get_array_module(x).abs(x)


def magnitude_backward(g, x, sign):
    """∂L/∂x = ±G·sign(x) (0 at x = 0)."""
    return sign * g * get_array_module(x).sign(x)


def root(a, p, k):
    """(y, saved): y = (k·sign(a)·relu(|a|))^(1/p) of the averages a; keeps a and v = k·sign(a)·relu(|a|)."""
    xp = get_array_module(a)
    v = xp.sign(a) * xp.maximum(xp.abs(a), 0) * k
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        y = v ** (1.0 / p)
    return y, (a, v)


def root_backward(g, saved, p, k):
    """∂L/∂a = G·((1/p)·v^(1/p − 1))·k·sign(a)², and 0 where a = 0."""
    xp = get_array_module(g)
    a, v = saved
    e = 1.0 / p
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        through = g * (e * v ** (e - 1)) * k * xp.sign(a)
        return xp.where(a == 0, 0, through * xp.sign(a)).astype(g.dtype, copy=False)
