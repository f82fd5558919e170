"""GroupNorm: each sample standardised over groups of channels (``minimlp.formulas.norm``)."""
import functools

import numpy as np

from ..kernels import ops
from .checks import InputError, check_floating, check_like, whole
from .normalization import Normalization, data


class GroupNorm(Normalization):
    """y = γ_c·(x − μ)/√(σ² + ε) + β_c for x (N, C, …), with μ and the biased σ² per sample over each group
    of C/G channels and all their positions; γ and β per channel (``affine``).

    The same in training and evaluation. Backward per group, with x̂ the standardised input and Ĝ = γ·G:
    ∂L/∂x = (Ĝ − mean Ĝ − x̂·mean(Ĝ·x̂))/√(σ² + ε); ∂L/∂γ_c = Σ G·x̂ and ∂L/∂β_c = Σ G over N and the
    positions. Keeps x̂ and 1/√(σ² + ε).
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, dtype=np.float32, *, bias=True):
        super().__init__()
        self.num_groups, self.num_channels = whole(num_groups, "num_groups"), whole(num_channels, "num_channels")
        if self.num_groups < 1 or self.num_channels % self.num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.eps = float(eps)
        self.affine = bool(affine)
        self._affine(self.num_channels, self.affine, bias, dtype)

    def forward(self, x):
        check_floating(self, x)
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise InputError(f"{self!r}: expected input of shape (N, {self.num_channels}, ...), got "
                             f"{tuple(x.shape)}")
        check_like(self, x, data(self.weight))
        if x.shape[0] == 0:
            return self._empty_batch_output(x)
        y, saved, _, _ = ops.group_norm.run("forward", x, data(self.weight), data(self.bias), self.num_groups,
                                            self.eps, training=self.training)
        self._keep(BACKWARD, saved, x.shape)
        return y

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


BACKWARD = functools.partial(ops.group_norm.run, "backward")
