"""Softmax, LogSoftmax, Softmin and Softmax2d along one axis (``minimlp.formulas.softmax``); GLU, which halves
one axis (``minimlp.formulas.glu``)."""
import warnings

from ..kernels import ops
from .activation import _Activation
from .checks import InputError, check_floating, check_grad_like
from .module import Module


class _AlongAxis(_Activation):
    """An activation along ``dim``: torch's index, negative from the end; None picks torch's implicit axis
    (0 for a 0-, 1- or 3-D input, else 1) and warns, as torch."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = None if dim is None else int(dim)

    def forward(self, x):
        check_floating(self, x)
        ndim = max(getattr(x, "ndim", 1), 1)
        dim = self.dim
        if dim is None:
            dim = 0 if ndim in (1, 3) else 1
            warnings.warn(f"Implicit dimension choice for {self._name} has been deprecated. Change the call to "
                          "include dim=X as an argument.", UserWarning, stacklevel=3)
        if not -ndim <= dim < ndim:
            raise IndexError(f"{self!r}: dim {dim} is out of range for a {x.ndim}-D input of shape "
                             f"{tuple(x.shape)} (expected -{ndim} … {ndim - 1})")
        self._axis = dim % ndim
        return super().forward(x)

    def _args(self):
        return (self._axis,)

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmax(_AlongAxis):
    """y = e^{x − m} / Σ_dim e^{x − m} with m = max_dim x;  ∂L/∂x = y·(G − Σ_dim G·y). Keeps y."""

    _op = ops.softmax
    _name = "softmax"


class LogSoftmax(_AlongAxis):
    """y = x − m − log Σ_dim e^{x − m} with m = max_dim x;  ∂L/∂x = G − e^y·Σ_dim G. Keeps y."""

    _op = ops.log_softmax
    _name = "log_softmax"


class Softmin(_AlongAxis):
    """y = softmax(−x) along ``dim``;  ∂L/∂x = −y·(G − Σ_dim G·y). Keeps y."""

    _op = ops.softmin
    _name = "softmin"


class Softmax2d(Softmax):
    """Softmax over the channels of (N, C, H, W) or (C, H, W) (``Softmax(dim=-3)``), as torch's."""

    def __init__(self):
        super().__init__(dim=-3)

    def forward(self, x):
        check_floating(self, x)
        if x.ndim not in (3, 4):
            raise InputError(f"Softmax2d: expected input to be 3D or 4D, got {x.ndim}D instead")
        return super().forward(x)

    def extra_repr(self):
        return ""


class GLU(Module):
    """y = a·σ(b) for x = [a, b] split in halves along ``dim`` (default the last);
    ∂L/∂x = [G·σ(b), G·a·σ(b)·(1 − σ(b))]. Keeps a and σ(b)."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = int(dim)
        self._saved = None

    def forward(self, x):
        check_floating(self, x)
        if not -x.ndim <= self.dim < x.ndim or x.ndim == 0:
            raise IndexError(f"{self!r}: dim {self.dim} is out of range for a {x.ndim}-D input of shape "
                             f"{tuple(x.shape)}")
        axis = self.dim % x.ndim
        if x.shape[axis] % 2:
            raise InputError(f"{self!r}: Halving dimension must be even, but dimension {axis} is size "
                             f"{x.shape[axis]}")
        y, kept = ops.glu.run("forward", x, axis)
        self._saved, self._axis, self._shape = kept, axis, tuple(y.shape)
        return y

    def backward(self, dout):
        check_grad_like(self, dout, None if self._saved is None else self._shape)
        return ops.glu.run("backward", dout, self._saved, self._axis)

    def extra_repr(self):
        return f"dim={self.dim}"

    def _on_moved(self):
        self._saved = None
