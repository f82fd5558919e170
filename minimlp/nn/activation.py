"""Element-wise activations. Each caches what its derivative needs."""
from .checks import check_floating, check_grad_like
from .module import Module
from ..backend import get_array_module
from ..compiled import layer_kernels


class _Activation(Module):
    def forward(self, x):
        check_floating(self, x)
        y = self._forward(x, get_array_module(x))
        self._shape = x.shape
        return y

    def backward(self, dout):
        check_grad_like(self, dout, getattr(self, "_shape", None))
        return self._backward(dout, get_array_module(dout))

    def backward_parameters(self, dout):
        """No parameters: only checks ``dout``."""
        check_grad_like(self, dout, getattr(self, "_shape", None))

    def _on_moved(self):
        self.__dict__.pop("_shape", None)
        self._cached = None


class Identity(_Activation):
    """y = x;  ∂L/∂x = G."""

    def _forward(self, x, xp):
        return x

    def _backward(self, dout, xp):
        return dout


class Sigmoid(_Activation):
    """y = 1 / (1 + e⁻ˣ), computed as ½(1 + tanh(x/2)) (no overflow);  ∂L/∂x = G·y·(1 − y). Caches y."""

    def _forward(self, x, xp):
        y = x * 0.5
        xp.tanh(y, out=y)
        y += 1.0
        y *= 0.5
        self._cached = y
        return y

    def _backward(self, dout, xp):
        y = self._cached
        kernels = layer_kernels(dout)
        if kernels is not None and dout.dtype == y.dtype and kernels.contiguous(dout, y):
            return kernels.sigmoid_backward(dout, y)
        dx = 1.0 - y
        dx *= y
        dx *= dout
        return dx


class Tanh(_Activation):
    """y = tanh(x);  ∂L/∂x = G·(1 − y²). Caches y."""

    def _forward(self, x, xp):
        y = xp.tanh(x)
        self._cached = y
        return y

    def _backward(self, dout, xp):
        y = self._cached
        kernels = layer_kernels(dout)
        if kernels is not None and dout.dtype == y.dtype and kernels.contiguous(dout, y):
            return kernels.tanh_backward(dout, y)
        dx = y * y
        xp.subtract(1.0, dx, out=dx)
        dx *= dout
        return dx


class ReLU(_Activation):
    """y = max(x, 0);  ∂L/∂x = G·[x > 0] (0 at x = 0, as torch). Caches the mask x > 0."""

    def _forward(self, x, xp):
        self._cached = x > 0
        return xp.maximum(x, 0)

    def _backward(self, dout, xp):
        return dout * self._cached


class LeakyReLU(_Activation):
    """y = x for x > 0, a·x otherwise;  ∂L/∂x = G for x > 0, a·G otherwise. Caches the mask x > 0."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def _forward(self, x, xp):
        positive = x > 0
        self._cached = positive
        return xp.where(positive, x, x * self.negative_slope)

    def _backward(self, dout, xp):
        return xp.where(self._cached, dout, dout * self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"
