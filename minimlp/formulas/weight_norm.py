"""Weight normalisation (Salimans & Kingma 2016): a weight as a magnitude g times a direction v/‖v‖.

    w = g · v / ‖v‖,   ‖v‖ the 2-norm over every axis but ``dim`` (one norm per slice along ``dim``; torch's
                        ``dim = -1``: one norm of the whole array, g a scalar)

Backward, for G = ∂L/∂w and s = Σ_slice G ⊙ v (per slice, as ‖v‖):

    ∂L/∂g = s / ‖v‖        ∂L/∂v = (g / ‖v‖) · G − (g · s / ‖v‖³) · v
"""
from ..backend import get_array_module


def check_dim(ndim, dim):
    """torch's IndexError for a ``dim`` outside [−ndim, ndim − 1] (−1, or None, means the whole array)."""
    if dim is not None and not -ndim <= dim < ndim:
        raise IndexError(f"Dimension out of range (expected to be in range of [-{ndim}, {ndim - 1}], but got {dim})")


def _axes(v, dim):
    """The axes a norm runs over: all (``dim`` = −1, torch's convention) or all but ``dim``."""
    return tuple(range(v.ndim)) if dim == -1 else tuple(a for a in range(v.ndim) if a != dim % v.ndim)


def norm_except_dim(v, dim):
    """‖v‖ over every axis but ``dim``, kept as axes of size 1 (torch's ``norm_except_dim(v, 2, dim)``); for
    ``dim`` = −1 the whole array's norm, 0-d."""
    xp = get_array_module(v)
    axes = _axes(v, dim)
    return xp.asarray(xp.sqrt((v * v).sum(axis=axes, keepdims=dim != -1)))


def forward(g, v, dim):
    """(w = g · v/‖v‖, ‖v‖)."""
    norm = norm_except_dim(v, dim)
    return v * (g / norm), norm


def backward(grad_w, g, v, norm, dim):
    """(∂L/∂g, ∂L/∂v) for G = ∂L/∂w (module docstring)."""
    s = (grad_w * v).sum(axis=_axes(v, dim), keepdims=dim != -1)
    scale = g / norm
    return (s / norm).reshape(g.shape), scale * grad_w - (scale * s / (norm * norm)) * v
