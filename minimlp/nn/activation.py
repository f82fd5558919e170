"""Element-wise activations; each keeps what its derivative needs (``minimlp.formulas.activation``)."""
from ..kernels import ops
from .checks import check_floating, check_grad_like
from .module import Module


class _Activation(Module):
    """Shared checks: a floating input of any shape; a gradient of the last output's shape."""

    def forward(self, x):
        check_floating(self, x)
        self._shape = x.shape
        return self._forward(x)

    def backward(self, dout):
        check_grad_like(self, dout, getattr(self, "_shape", None))
        return self._backward(dout)

    def backward_parameters(self, dout):
        """No parameters: only checks ``dout``."""
        check_grad_like(self, dout, getattr(self, "_shape", None))

    def _on_moved(self):
        self.__dict__.pop("_shape", None)
        self._kept = None


class Identity(_Activation):
    """y = x;  ∂L/∂x = G."""

    def _forward(self, x):
        return x

    def _backward(self, dout):
        return dout


class Sigmoid(_Activation):
    """y = 1 / (1 + e⁻ˣ), computed as ½(1 + tanh(x/2)) (no overflow);  ∂L/∂x = G·y·(1 − y). Keeps y."""

    def _forward(self, x):
        self._kept = ops.sigmoid.run("forward", x)
        return self._kept

    def _backward(self, dout):
        return ops.sigmoid.run("backward", dout, self._kept)


class Tanh(_Activation):
    """y = tanh(x);  ∂L/∂x = G·(1 − y²). Keeps y."""

    def _forward(self, x):
        self._kept = ops.tanh.run("forward", x)
        return self._kept

    def _backward(self, dout):
        return ops.tanh.run("backward", dout, self._kept)


class ReLU(_Activation):
    """y = max(x, 0);  ∂L/∂x = G·[x > 0] (0 at x = 0, as torch). Keeps the mask x > 0."""

    def _forward(self, x):
        y, self._kept = ops.relu.run("forward", x)
        return y

    def _backward(self, dout):
        return ops.relu.run("backward", dout, self._kept)


class LeakyReLU(_Activation):
    """y = x for x > 0, a·x otherwise;  ∂L/∂x = G for x > 0, a·G otherwise. Keeps the mask x > 0."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def _forward(self, x):
        y, self._kept = ops.leaky_relu.run("forward", x, self.negative_slope)
        return y

    def _backward(self, dout):
        return ops.leaky_relu.run("backward", dout, self._kept, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"
