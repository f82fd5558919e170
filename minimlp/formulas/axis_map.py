"""Index maps applied one axis at a time: the 3-d padding layers (one ``resample.pad`` map per axis).

Along an axis, output o reads input index[o] where used[o], and ``fill`` elsewhere (``used`` None: every output
reads). A volume map is one such gather per axis, so y[…, d, h, w] = x[…, i_D(d), i_H(h), i_W(w)] where all three
are used. The backward is its adjoint, axis by axis in the reverse order: with A the (out, in) 0/1 matrix of an
axis (A[o, index[o]] = 1 where used), ∂L/∂x = G ×_axis A (each input collects the gradient of every output that
read it; the fill gets none). The maps are built in NumPy, once per input size.
"""
from ..backend import get_array_module


def gather(x, maps, fill):
    """y = x gathered along each axis in turn; ``maps`` = ((axis, index, used), ...) on x's device, ``index`` and
    ``used`` (out,) arrays (``used`` None: all used); outputs no input feeds hold ``fill``."""
    xp = get_array_module(x)
    for axis, index, used in maps:
        x = xp.take(x, index, axis=axis)
        if used is not None:
            shape = (-1,) + (1,) * (-axis - 1)
            x = xp.where(used.reshape(shape), x, xp.asarray(fill, dtype=x.dtype))
    return x


def gather_backward(g, maps):
    """∂L/∂x = G multiplied by Aᵀ along each axis, in reverse order; ``maps`` = ((axis, A), ...) with A the
    (out, in) matrix of the axis (``resample.matrix`` of its taps)."""
    xp = get_array_module(g)
    for axis, a in reversed(maps):
        g = xp.moveaxis(xp.moveaxis(g, axis, -1) @ a, -1, axis)
    return g
