"""Linear: an affine map."""
import numpy as np

from ..backend import get_array_module
from . import fused_cpu, init
from .checks import check_grad_like, check_matrix
from .module import Module
from .parameter import Parameter


class Linear(Module):
    """y = x Wᵀ + b.

    Shapes: x (N, in_features) → y (N, out_features); W is (out_features,
    in_features) and b (out_features,), as in torch. Initialised as
    torch.nn.Linear: W, b ~ U(-1/√in_features, 1/√in_features).

    Backward, for upstream gradient G = ∂L/∂y (N, out_features):
    ∂L/∂W = Gᵀ x,  ∂L/∂b = Σₙ G,  ∂L/∂x = G W.
    Caches x.

    On the CPU the three products go through ``fused_cpu.matmul`` (the same
    products, split across two threads of single-threaded BLAS when large);
    on CuPy they are plain ``matmul`` calls.
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
        W = self.weight.data
        check_matrix(self, x, self.in_features, W)
        self._x = x
        y = _matmul(x, W.T)
        if self.bias is not None:
            y += self.bias.data
        return y

    def backward(self, dout):
        x = self._x
        check_grad_like(self, dout, None if x is None else (x.shape[0], self.out_features))
        w = self.weight
        if w.has_grad:
            w.grad_buffer()[...] += dout.T @ x
        else:
            _matmul(dout.T, x, out=w.grad_buffer())
            w.has_grad = True
        if self.bias is not None:
            b = self.bias
            if b.has_grad:
                b.grad_buffer()[...] += dout.sum(axis=0)
            else:
                dout.sum(axis=0, out=b.grad_buffer())
                b.has_grad = True
        return _matmul(dout, w.data)

    def _on_moved(self):
        self._x = None

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def _matmul(a, b, out=None):
    """a @ b (into ``out`` when given): two-thread BLAS split on NumPy (fused_cpu), plain matmul otherwise."""
    if type(a) is np.ndarray and type(b) is np.ndarray:
        if out is None:
            out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
        return fused_cpu.matmul(a, b, out)
    return get_array_module(a).matmul(a, b, out=out) if out is not None else a @ b
