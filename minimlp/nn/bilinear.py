"""Bilinear: an output for each bilinear form of two inputs (``minimlp.formulas.bilinear``)."""
import math

import numpy as np

from ..kernels import ops
from . import init
from .checks import InputError, check_floating, check_grad_like, check_like, whole
from .module import Module
from .parameter import Parameter


class Bilinear(Module):
    """y[…, o] = Σ_{i,j} x1[…, i]·W[o, i, j]·x2[…, j] + b[o] for x1 (*, in1_features) and x2 (*, in2_features)
    with the same leading axes; W (out, in1, in2) and b (out,) ~ U(−1/√in1, 1/√in1), as torch.

    ``backward(G)`` returns (∂L/∂x1, ∂L/∂x2): ∂L/∂x1 = Σ_o G_o·W_o x2, ∂L/∂x2 = Σ_o G_o·W_oᵀ x1; it adds
    ∂L/∂W[o] = Σ_n G[n, o]·x1[n] x2[n]ᵀ and ∂L/∂b = Σ_n G. Keeps x1, x2 and T = x1ᵀ W (one product).
    """

    def __init__(self, in1_features, in2_features, out_features, bias=True, dtype=np.float32):
        super().__init__()
        self.in1_features, self.in2_features = whole(in1_features, "in1_features"), whole(in2_features, "in2_features")
        self.out_features = whole(out_features, "out_features")
        if self.in1_features <= 0:
            raise ValueError(f"in1_features must be > 0, but got (in1_features={self.in1_features})")
        self.weight = Parameter(np.empty((self.out_features, self.in1_features, self.in2_features), dtype=dtype))
        self.bias = Parameter(np.empty(self.out_features, dtype=dtype)) if bias else None
        self.reset_parameters()
        self._cache = None

    def reset_parameters(self):
        """W, b ~ U(−1/√in1_features, 1/√in1_features) again, in place (torch's ``reset_parameters``)."""
        bound = 1 / math.sqrt(self.in1_features)
        init.uniform_(self.weight.data, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias.data, -bound, bound)

    def forward(self, x1, x2):
        for name, x, size in (("input1", x1, self.in1_features), ("input2", x2, self.in2_features)):
            check_floating(self, x, name)
            check_like(self, x, self.weight.data)
            if x.ndim == 0 or x.shape[-1] != size:
                raise InputError(f"{self!r}: bilinear(): {name} size does not match weight size: got "
                                 f"{x.shape[-1] if x.ndim else 0} but expected {size}")
        if x1.shape[:-1] != x2.shape[:-1]:
            raise InputError(f"{self!r}: bilinear(): input batch dimensions do not match: got "
                             f"{tuple(x1.shape[:-1])} and {tuple(x2.shape[:-1])}")
        lead = tuple(x1.shape[:-1])
        a, b = x1.reshape(-1, self.in1_features), x2.reshape(-1, self.in2_features)
        y, t = ops.bilinear.run("forward", a, b, self.weight.data, None if self.bias is None else self.bias.data)
        self._cache = (a, b, t, lead)
        return y.reshape(lead + (self.out_features,))

    def backward(self, dout):
        return self._backward(dout, True)

    def backward_parameters(self, dout):
        self._backward(dout, False)

    def _backward(self, dout, want_dx):
        check_grad_like(self, dout, None if self._cache is None else self._cache[3] + (self.out_features,))
        a, b, t, lead = self._cache
        grads = ops.bilinear.run("backward", dout.reshape(-1, self.out_features), a, b, t, self.weight, self.bias,
                                 want_dx)
        if grads is None:
            return None
        return grads[0].reshape(lead + (self.in1_features,)), grads[1].reshape(lead + (self.in2_features,))

    def _on_moved(self):
        self._cache = None

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
