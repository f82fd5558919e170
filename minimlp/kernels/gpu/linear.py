"""Linear's backward on the GPU: cuBLAS products written straight into the gradients' storage."""
from ...backend import get_array_module


def backward(g, x, weight, bias, want_dx=True):
    xp = get_array_module(g)
    dx = g @ weight.data if want_dx else None
    out, add = weight.grad_target()
    if add:
        out += g.T @ x
    else:
        xp.matmul(g.T, x, out=out)
    if bias is not None:
        out, add = bias.grad_target()
        if add:
            out += g.sum(axis=0)
        else:
            g.sum(axis=0, out=out)
    return dx
