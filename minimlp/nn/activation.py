"""Element-wise activations; each keeps what its derivative needs (``minimlp.formulas.activation``)."""
from ..kernels import ops
from .checks import check_floating, check_grad_like
from .module import Module


class _Activation(Module):
    """Shared checks (a floating input of any shape; a gradient of the last output's shape) and the calls of
    the subclass's op, with the arguments ``_args()`` after the input. A 0-d input runs as a (1,) view and
    gives a 0-d output and gradient, as torch (NumPy's ufuncs would return scalars)."""

    _op = None

    def forward(self, x):
        check_floating(self, x)
        self._shape = x.shape
        y, self._kept = self._op.run("forward", _at_least_1d(x), *self._args())
        return y.reshape(()) if x.ndim == 0 else y

    def backward(self, dout):
        check_grad_like(self, dout, getattr(self, "_shape", None))
        dx = self._op.run("backward", _at_least_1d(dout), self._kept, *self._args())
        return dx.reshape(()) if dout.ndim == 0 else dx

    def backward_parameters(self, dout):
        """No parameters: only checks ``dout``."""
        check_grad_like(self, dout, getattr(self, "_shape", None))

    def _args(self):
        return ()

    def _on_moved(self):
        self.__dict__.pop("_shape", None)
        self._kept = None


def _at_least_1d(x):
    return x.reshape(1) if x.ndim == 0 else x


class Identity(_Activation):
    """y = x;  ∂L/∂x = G."""

    _op = ops.identity


class Sigmoid(_Activation):
    """y = 1 / (1 + e⁻ˣ), computed as ½(1 + tanh(x/2)) (no overflow);  ∂L/∂x = G·y·(1 − y). Keeps y."""

    _op = ops.sigmoid


class Tanh(_Activation):
    """y = tanh(x);  ∂L/∂x = G·(1 − y²). Keeps y."""

    _op = ops.tanh


class ReLU(_Activation):
    """y = max(x, 0);  ∂L/∂x = G·[x > 0] (0 at x = 0, as torch). Keeps the mask x > 0."""

    _op = ops.relu


class LeakyReLU(_Activation):
    """y = x for x > 0, a·x otherwise;  ∂L/∂x = G for x > 0, a·G otherwise. Keeps the mask x > 0."""

    _op = ops.leaky_relu

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def _args(self):
        return (self.negative_slope,)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"
