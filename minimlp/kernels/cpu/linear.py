"""Linear on the CPU: its products split over the pool (``blas``), each gradient written where it is kept.

``forward_plain`` is one BLAS call on minimlp's threads, nothing compiled: what evaluation runs.
"""
from . import blas


def forward(x, weight, bias):
    return blas.matmul(x, weight.T, bias=bias)


def forward_plain(x, weight, bias):
    return blas.plain_matmul(x, weight.T, bias=bias)


def backward(g, x, weight, bias, want_dx=True):
    dx = blas.matmul(g, weight.data) if want_dx else None
    out, add = weight.grad_target()
    blas.matmul(g.T, x, out=out, accumulate=add)
    if bias is not None:
        bias_gradient(g, bias)
    return dx


def bias_gradient(g, bias):
    """∂L/∂b = Σₙ G into the bias's gradient storage (added when it already holds one)."""
    out, add = bias.grad_target()
    if add:
        out += g.sum(axis=0)
    elif g.dtype == out.dtype:
        from .elementwise import column_sums
        column_sums(g, out)
    else:
        g.sum(axis=0, out=out)
