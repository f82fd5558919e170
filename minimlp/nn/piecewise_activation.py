"""ReLU6, Hardswish, Hardsigmoid, Threshold, PReLU, Hardshrink, Softshrink and RReLU: piecewise activations
with torch's names, arguments and sides at the corners (``minimlp.formulas.piecewise_activation``)."""
import numpy as np

from ..backend import get_array_module
from ..kernels import ops
from ..random import rng_for
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


class Hardshrink(_Activation):
    """y = x where |x| > λ (``lambd``), 0 where −λ ≤ x ≤ λ;  ∂L/∂x = G where |x| > λ, else 0."""

    _op = ops.hardshrink

    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd

    def _args(self):
        return (float(self.lambd),)

    def extra_repr(self):
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    """y = x − λ for x > λ, x + λ for x < −λ, 0 between (λ = ``lambd`` ≥ 0);  ∂L/∂x = G where |x| > λ, else 0."""

    _op = ops.softshrink

    def forward(self, x):
        check_floating(self, x)
        if not 0 <= self.lambd <= np.finfo(x.dtype).max:
            raise InputError(f"{self!r}: lambda must be in range [0, largest float], but found {self.lambd}")
        return super().forward(x)


class RReLU(_Activation):
    """Randomized leaky ReLU: y = x for x > 0, a·x otherwise. In training a ~ U(``lower``, ``upper``) is drawn
    for each element from minimlp's generator (``minimlp.manual_seed``); in evaluation a = (lower + upper)/2.
    ∂L/∂x = G·a where x ≤ 0, G elsewhere, with the same a. Keeps the factor (a or 1) of each element."""

    _op = ops.rrelu

    def __init__(self, lower=1.0 / 8, upper=1.0 / 3, inplace=False):
        super().__init__(inplace)
        self.lower, self.upper = lower, upper

    def forward(self, x):
        check_floating(self, x)
        if self.lower > self.upper:   # torch refuses it in training and evaluation alike
            raise InputError(f"{self!r}: Lower bound should be less than or equal to the upper bound")
        self._shape = x.shape
        x1 = _at_least_1d(x)
        if self.training:
            draw = rng_for(get_array_module(x)).random(x1.shape, dtype=x.dtype)
            slope = draw * (self.upper - self.lower) + self.lower
        else:
            slope = (self.lower + self.upper) / 2
        y, self._kept = self._op.run("forward", x1, slope, self.training, training=self.training)
        return y.reshape(()) if x.ndim == 0 else y

    def extra_repr(self):
        return f"lower={self.lower}, upper={self.upper}"
