"""RMSNorm: each sample scaled by the root mean square of its last axes (``minimlp.formulas.norm``)."""
import functools

import numpy as np

from ..kernels import ops
from .checks import InputError, check_floating, check_like
from .normalization import Normalization, data
from .parameter import Parameter


class RMSNorm(Normalization):
    """y = γ·x/√(mean(x²) + ε), the mean over the last D axes, whose shape is ``normalized_shape`` (an int or a
    tuple); γ of that shape (``elementwise_affine``), no β. ``eps=None`` takes the machine epsilon of the
    input's dtype, as torch.

    Backward, with x̂ = x/√(mean(x²) + ε) and Ĝ = γ·G: ∂L/∂x = (Ĝ − x̂·mean(Ĝ·x̂))/√(mean(x²) + ε) over the D axes;
    ∂L/∂γ = Σ G·x̂ over the leading axes. Keeps x̂ and 1/√(mean(x²) + ε).
    """

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, dtype=np.float32):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else normalized_shape
        self.normalized_shape = tuple(int(s) for s in shape)
        if min(self.normalized_shape, default=0) < 1:
            raise ValueError(f"RMSNorm: normalized_shape must be one or more positive sizes, got {normalized_shape!r}")
        self.eps = eps
        self.elementwise_affine = bool(elementwise_affine)
        self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype)) if self.elementwise_affine else None
        self.bias = None

    def forward(self, x):
        check_floating(self, x)
        d = len(self.normalized_shape)
        if x.ndim < d or tuple(x.shape[x.ndim - d:]) != self.normalized_shape:
            raise InputError(f"{self!r}: expected an input whose last {d} axes are {self.normalized_shape}, got "
                             f"input of shape {tuple(x.shape)}")
        check_like(self, x, data(self.weight))
        eps = float(np.finfo(x.dtype).eps) if self.eps is None else float(self.eps)
        y, saved = ops.rms_norm.run("forward", x, data(self.weight), d, eps, training=self.training)
        self._keep(BACKWARD, saved, x.shape)
        return y

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


BACKWARD = functools.partial(ops.rms_norm.run, "backward")
