"""GroupNorm: each sample standardised over groups of channels (``minimlp.formulas.norm``)."""
import numpy as np

from ..kernels import ops
from .checks import check_floating, check_grad_like, check_like
from .layernorm import _data
from .module import Module
from .parameter import Parameter


class GroupNorm(Module):
    """y = γ_c·(x − μ)/√(σ² + ε) + β_c for x (N, C, …), with μ and the biased σ² per sample over each group
    of C/G channels and all their positions; γ and β per channel (``affine``).

    The same in training and evaluation. Backward per group, with x̂ the standardised input and Ĝ = γ·G:
    ∂L/∂x = (Ĝ − mean Ĝ − x̂·mean(Ĝ·x̂))/√(σ² + ε); ∂L/∂γ_c = Σ G·x̂ and ∂L/∂β_c = Σ G over N and the
    positions. Keeps x̂ and 1/√(σ² + ε).
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, dtype=np.float32):
        super().__init__()
        self.num_groups, self.num_channels = int(num_groups), int(num_channels)
        if self.num_groups < 1 or self.num_channels % self.num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.eps = float(eps)
        self.affine = bool(affine)
        self.weight = Parameter(np.ones(self.num_channels, dtype=dtype)) if self.affine else None
        self.bias = Parameter(np.zeros(self.num_channels, dtype=dtype)) if self.affine else None
        self._cache = None

    def forward(self, x):
        check_floating(self, x)
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"{self!r}: expected input of shape (N, {self.num_channels}, ...), got "
                             f"{tuple(x.shape)}")
        check_like(self, x, _data(self.weight))
        y, saved, _, _ = ops.group_norm.run("forward", x, _data(self.weight), _data(self.bias), self.num_groups,
                                            self.eps, training=self.training)
        self._cache = (saved, tuple(x.shape))
        return y

    def backward(self, dout):
        return self._backward(dout, True)

    def backward_parameters(self, dout):
        self._backward(dout, False)

    def _backward(self, dout, want_dx):
        check_grad_like(self, dout, None if self._cache is None else self._cache[1])
        return ops.group_norm.run("backward", dout, self._cache[0], self.weight, self.bias, want_dx)

    def _on_moved(self):
        self._cache = None

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
