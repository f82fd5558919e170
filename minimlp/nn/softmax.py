"""Softmax and LogSoftmax along one axis (``minimlp.formulas.softmax``)."""
import warnings

from ..kernels import ops
from .activation import _Activation
from .checks import check_floating


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
