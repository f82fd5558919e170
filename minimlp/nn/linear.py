"""Linear: an affine map."""
import numpy as np

from ..kernels import ops
from . import init
from .checks import InputError, check_floating, check_grad_like, check_like, whole
from .module import Module
from .parameter import Parameter


class Linear(Module):
    """y = x Wᵀ + b;  backward, for G = ∂L/∂y:  ∂L/∂W = Gᵀ x,  ∂L/∂b = Σₙ G,  ∂L/∂x = G W.

    Shapes: x (*, in_features) → y (*, out_features), any number of leading axes (none: one sample), each
    row of x taken alone, as torch; W is (out_features, in_features) and b (out_features,), initialised as ``torch.nn.Linear``: W, b ~ U(−1/√in_features,
    1/√in_features). Caches x. ``backward_parameters`` skips ∂L/∂x (a first layer's input needs no
    gradient). The maths is ``minimlp.formulas.linear``; ``ops.linear`` runs it or a faster kernel.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32):
        super().__init__()
        self.in_features = whole(in_features, "in_features")
        self.out_features = whole(out_features, "out_features")
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dtype))
        self.bias = Parameter(np.empty(self.out_features, dtype=dtype)) if bias else None
        self.reset_parameters()
        self._x = None

    def reset_parameters(self):
        """W, b ~ U(−1/√in_features, 1/√in_features) again, in place (torch's ``reset_parameters``)."""
        init.linear_default_(self.weight.data, None if self.bias is None else self.bias.data)

    def forward(self, x):
        return self._forward(x, with_bias=True)

    def _forward(self, x, with_bias):
        """y = x Wᵀ + b, or x Wᵀ alone where the next layer adds b (``nn.fusion.folds_bias``)."""
        check_floating(self, x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise InputError(f"{self!r}: expected input of shape (*, {self.in_features}), got {tuple(x.shape)}")
        check_like(self, x, self.weight.data)
        lead = tuple(x.shape[:-1])
        self._x = x.reshape(-1, self.in_features) if x.ndim != 2 else x
        self._lead = lead
        bias = None if self.bias is None or not with_bias else self.bias.data
        y = ops.linear.run("forward", self._x, self.weight.data, bias, training=self.training)
        return y if x.ndim == 2 else y.reshape(lead + (self.out_features,))

    def backward(self, dout):
        return self._backward(dout, want_dx=True)

    def backward_parameters(self, dout):
        self._backward(dout, want_dx=False)

    def _backward(self, dout, want_dx):
        x = self._x
        check_grad_like(self, dout, None if x is None else self._lead + (self.out_features,))
        dx = ops.linear.run("backward", dout.reshape(x.shape[0], self.out_features), x, self.weight, self.bias,
                            want_dx)
        return dx if dx is None or len(self._lead) == 1 else dx.reshape(self._lead + (self.in_features,))

    def _on_moved(self):
        self._x = None

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
