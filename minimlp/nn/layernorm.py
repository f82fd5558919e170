"""LayerNorm: each sample standardised over its last axes (``minimlp.formulas.norm``)."""
import functools

import numpy as np

from ..kernels import ops
from .checks import InputError, check_floating, check_like
from .normalization import Normalization, data


class LayerNorm(Normalization):
    """y = γ·(x − μ)/√(σ² + ε) + β, with μ and the biased σ² over the last D axes, whose shape is
    ``normalized_shape`` (an int or a tuple); γ and β have that shape (``elementwise_affine``, ``bias``).

    The same in training and evaluation; no running statistics. Backward, with x̂ the standardised input and
    Ĝ = γ·G: ∂L/∂x = (Ĝ − mean Ĝ − x̂·mean(Ĝ·x̂))/√(σ² + ε) over the D axes; ∂L/∂γ = Σ G·x̂ and
    ∂L/∂β = Σ G over the leading axes. Keeps x̂ and 1/√(σ² + ε).
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, dtype=np.float32):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else normalized_shape
        self.normalized_shape = tuple(int(s) for s in shape)
        if min(self.normalized_shape, default=0) < 1:
            raise ValueError(f"LayerNorm: normalized_shape must be one or more positive sizes, got {normalized_shape!r}")
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        self._affine(self.normalized_shape, self.elementwise_affine, bias, dtype)

    def forward(self, x):
        check_floating(self, x)
        d = len(self.normalized_shape)
        if tuple(x.shape[x.ndim - d:]) != self.normalized_shape or x.ndim < d:
            raise InputError(f"{self!r}: expected an input whose last {d} axes are {self.normalized_shape}, got "
                             f"input of shape {tuple(x.shape)}")
        check_like(self, x, None if self.weight is None else self.weight.data)
        y, saved = ops.layer_norm.run("forward", x, data(self.weight), data(self.bias), d, self.eps,
                                     training=self.training)
        self._keep(BACKWARD, saved, x.shape)
        return y

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


BACKWARD = functools.partial(ops.layer_norm.run, "backward")
