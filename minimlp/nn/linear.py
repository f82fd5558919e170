"""Linear: an affine map."""
import numpy as np

from ..kernels import ops
from . import init
from .checks import check_grad_like, check_matrix
from .module import Module
from .parameter import Parameter


class Linear(Module):
    """y = x Wᵀ + b;  backward, for G = ∂L/∂y:  ∂L/∂W = Gᵀ x,  ∂L/∂b = Σₙ G,  ∂L/∂x = G W.

    Shapes: x (N, in_features) → y (N, out_features); W is (out_features, in_features) and b
    (out_features,), as in torch, initialised as ``torch.nn.Linear``: W, b ~ U(−1/√in_features,
    1/√in_features). Caches x. ``backward_parameters`` skips ∂L/∂x (a first layer's input needs no
    gradient). The maths is ``minimlp.formulas.linear``; ``ops.linear`` runs it or a faster kernel.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32):
        super().__init__()
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dtype))
        self.bias = Parameter(np.empty(self.out_features, dtype=dtype)) if bias else None
        init.linear_default_(self.weight.data, None if self.bias is None else self.bias.data)
        self._x = None

    def forward(self, x):
        check_matrix(self, x, self.in_features, self.weight.data)
        self._x = x
        bias = None if self.bias is None else self.bias.data
        return ops.linear.run("forward", x, self.weight.data, bias, training=self.training)

    def backward(self, dout):
        return self._backward(dout, want_dx=True)

    def backward_parameters(self, dout):
        self._backward(dout, want_dx=False)

    def _backward(self, dout, want_dx):
        x = self._x
        check_grad_like(self, dout, None if x is None else (x.shape[0], self.out_features))
        return ops.linear.run("backward", dout, x, self.weight, self.bias, want_dx)

    def _on_moved(self):
        self._x = None

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
