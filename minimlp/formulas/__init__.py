"""The maths of every op, written as plainly as NumPy allows: the reference each kernel is tested against.

One file per op (or family of ops). Each function works on the array module of its inputs (NumPy on
the CPU, CuPy on the GPU) and imports nothing but NumPy and ``minimlp.backend``; its docstring gives the
formula. Forward functions take arrays. Backward functions take the layer's parameters as objects with
``data`` (the array) and ``accumulate(gradient)`` (``minimlp.nn.Parameter``), add ∂L/∂θ into them and
return ∂L/∂x. Optimizer updates change the parameter and its state arrays in place.

The kernels in ``minimlp.kernels`` compute the same values faster; ``minimlp.kernels.ops`` lists, op by op,
which kernel runs where, and falls back to these functions wherever no kernel applies.
"""
from . import (activation, adam, batch_norm, conv, cross_entropy, dropout, im2col, linear, loss,
               pooling, resample, rmsprop, sgd, soft_encoding)

__all__ = ["activation", "adam", "batch_norm", "conv", "cross_entropy", "dropout", "im2col", "linear",
           "loss", "pooling", "resample", "rmsprop", "sgd", "soft_encoding"]
