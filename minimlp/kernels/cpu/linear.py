"""Linear on the CPU: its three products split over minimlp's threads, each gradient written where it is kept.

``forward``: y = x Wᵀ + b with the bias added to each block of y while it is in cache. ``backward``:
∂L/∂x = G W, ∂L/∂W = Gᵀ x straight into the weight's gradient storage (added to it when it already holds
a gradient), ∂L/∂b = Σₙ G by a compiled column sum. ``forward_plain`` is the product in one BLAS call on
minimlp's number of threads, nothing compiled: what evaluation runs, so that evaluating never waits for
Numba, and gives the same bits wherever minimlp runs on the same number of threads.
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
