"""Activations on the GPU: each forward and backward in one element-wise kernel (the formulas take two to four
passes: ``minimlp.formulas.activation``, against which these are tested on ``tests/fake_cupy``)."""
from functools import lru_cache

from ...backend import cupy_module

_BODIES = {
    "sigmoid": ("T x", "T y", "y = (tanh(x * (T)0.5) + 1) * (T)0.5"),
    "sigmoid_backward": ("T g, T y", "T dx", "dx = (1 - y) * y * g"),
    "tanh_backward": ("T g, T y", "T dx", "dx = (1 - y * y) * g"),
}


@lru_cache(maxsize=None)
def _kernel(name):
    in_params, out_params, body = _BODIES[name]
    return cupy_module().ElementwiseKernel(in_params, out_params, body, f"minimlp_{name}")


def sigmoid(x):
    """(y, y): y = ½(1 + tanh(x/2))."""
    y = _kernel("sigmoid")(x)
    return y, y


def sigmoid_backward(g, y):
    return _kernel("sigmoid_backward")(g, y)


def tanh_backward(g, y):
    return _kernel("tanh_backward")(g, y)
