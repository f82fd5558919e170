"""Linear: an affine map."""
import numpy as np

from ..backend import get_array_module
from ..compiled import layer_kernels
from . import blas, init
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
    Caches x. ``backward_parameters`` skips the ∂L/∂x product (a first
    layer's input needs no gradient). In training mode on NumPy the products
    go through ``blas.matmul`` (BLAS split over minimlp's threads, shared
    with the compiled kernels), the weight gradient written straight into its
    buffer; in evaluation mode each is one plain ``matmul`` on minimlp's
    number of threads (``blas.plain_matmul``: evaluating or colorizing loads
    no compiled code); on CuPy, cuBLAS ``matmul`` calls. Inside
    ``Optimizer.step_in_backward()`` the weight is updated as soon as its
    gradient is computed (``minimlp.optim.in_backward``), after ∂L/∂x has
    used the old weight.
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
        bias = None if self.bias is None else self.bias.data
        if not self.training and type(x) is np.ndarray:  # nothing compiled runs beside it: one plain product
            return blas.plain_matmul(x, W.T, bias=bias)
        return _matmul(x, W.T, bias=bias)

    def backward(self, dout):
        self._check_grad(dout)
        update = self._pending_update()
        if update is not None:
            done, dx = update.linear_weight(dout, self._x, want_dx=True)
            if done:
                self._bias_gradient(dout)
                return dx
        dx = _matmul(dout, self.weight.data)
        self._weight_gradient(dout)
        self._bias_gradient(dout)
        return dx

    def backward_parameters(self, dout):
        self._check_grad(dout)
        update = self._pending_update()
        if update is None or not update.linear_weight(dout, self._x)[0]:
            self._weight_gradient(dout)
        self._bias_gradient(dout)

    def _pending_update(self):
        """The weight's in-backward update, if any; an error if it was already applied in this block."""
        update = self.weight.update_in_backward
        if update is not None and update.done:
            raise RuntimeError(
                f"{self!r}: its weight was already updated inside this Optimizer.step_in_backward() block, and "
                "a second backward through it (a weight shared between layers, or two backward calls in one "
                "block) would use the updated weight; call backward() then optimizer.step() instead")
        return update

    def _check_grad(self, dout):
        x = self._x
        check_grad_like(self, dout, None if x is None else (x.shape[0], self.out_features))

    def _weight_gradient(self, dout):
        """∂L/∂W = Gᵀ x into (or added to) the weight's gradient."""
        w = self.weight
        _matmul(dout.T, self._x, out=w.grad_buffer(), accumulate=w.has_grad)
        w.has_grad = True

    def _bias_gradient(self, dout):
        if self.bias is not None:
            b = self.bias
            if b.has_grad:
                b.grad_buffer()[...] += dout.sum(axis=0)
            else:
                kernels = layer_kernels(dout)
                if kernels is not None and dout.dtype == b.data.dtype:
                    kernels.column_sums(dout, b.grad_buffer())  # Σₙ G on minimlp's threads
                else:
                    dout.sum(axis=0, out=b.grad_buffer())
                b.has_grad = True

    def _on_moved(self):
        self._x = None

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def _matmul(a, b, out=None, accumulate=False, bias=None):
    """``a @ b`` (into ``out``, or added to it), plus ``bias`` on every row: ``blas.matmul`` on NumPy (the bias
    added to each block while it is in cache), ``matmul`` on CuPy."""
    if type(a) is np.ndarray:
        return blas.matmul(a, b, out=out, accumulate=accumulate, bias=bias)
    xp = get_array_module(a)
    if out is None:
        out = xp.matmul(a, b)
    elif accumulate:
        out += xp.matmul(a, b)
    else:
        xp.matmul(a, b, out=out)
    if bias is not None:
        out += bias
    return out
