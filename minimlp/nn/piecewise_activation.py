"""ReLU6, Hardswish, Hardsigmoid, Threshold and PReLU: piecewise activations with torch's names, arguments and
sides at the corners (``minimlp.formulas.piecewise_activation``)."""
import numpy as np

from ..kernels import ops
from .activation import Hardtanh, _Activation, _at_least_1d
from .checks import InputError, check_floating, check_grad_like, check_like
from .module import Module
from .parameter import Parameter


class ReLU6(Hardtanh):
    """y = min(max(x, 0), 6);  ∂L/∂x = G where 0 < x < 6, else 0 (a ``Hardtanh(0, 6)``, as torch's)."""

    def __init__(self, inplace=False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self):
        return ""


class Hardswish(_Activation):
    """y = x·min(max(x + 3, 0), 6)/6;  ∂L/∂x = 0 for x ≤ −3, G·(x/3 + ½) for −3 < x < 3, G from 3 on."""

    _op = ops.hardswish


class Hardsigmoid(_Activation):
    """y = min(max(x + 3, 0), 6)/6;  ∂L/∂x = G/6 for −3 < x < 3, else 0."""

    _op = ops.hardsigmoid


class Threshold(_Activation):
    """y = x where x > ``threshold``, ``value`` elsewhere;  ∂L/∂x = G where x > ``threshold``, else 0."""

    _op = ops.threshold

    def __init__(self, threshold, value, inplace=False):
        super().__init__(inplace)
        self.threshold, self.value = threshold, value

    def _args(self):
        return (float(self.threshold), float(self.value))

    def extra_repr(self):
        return f"threshold={self.threshold}, value={self.value}"


class PReLU(Module):
    """y = x for x > 0, a·x otherwise, with learnt slopes a (``weight``): one for all, or one per channel (axis 1)
    when ``num_parameters`` > 1, each initialised to ``init``.

    ∂L/∂x = G for x > 0, a·G otherwise;  ∂L/∂a = Σ G·x over the entries x ≤ 0 (of a's channel). Keeps x.
    """

    def __init__(self, num_parameters=1, init=0.25, dtype=np.float32):
        super().__init__()
        if int(num_parameters) < 1:
            raise ValueError(f"PReLU: num_parameters must be at least 1, got {num_parameters}")
        self.num_parameters, self.init = int(num_parameters), init
        self.weight = Parameter(np.full(self.num_parameters, init, dtype=dtype))
        self._x = None

    def reset_parameters(self):
        """Every slope back to ``init``, in place (torch's ``reset_parameters``)."""
        self.weight.data[...] = self.init

    def forward(self, x):
        check_floating(self, x)
        check_like(self, x, self.weight.data)
        channels = x.shape[1] if x.ndim >= 2 else 1
        if self.num_parameters != 1 and self.num_parameters != channels:
            raise InputError(f"{self!r}: Mismatch of parameter numbers and input channel size. Found parameter "
                             f"numbers = {self.num_parameters} and channel size = {channels}.")
        y, self._x = ops.prelu.run("forward", _at_least_1d(x), self.weight.data, training=self.training)
        self._shape = x.shape
        return y.reshape(()) if x.ndim == 0 else y

    def backward(self, dout):
        return self._backward(dout, True)

    def backward_parameters(self, dout):
        self._backward(dout, False)

    def _backward(self, dout, want_dx):
        check_grad_like(self, dout, None if self._x is None else self._shape)
        dx = ops.prelu.run("backward", _at_least_1d(dout), self._x, self.weight, want_dx)
        return None if dx is None else dx.reshape(dout.shape)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"

    def _on_moved(self):
        self._x = None
