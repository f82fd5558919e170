"""BatchNorm3d: BatchNorm1d's statistics per channel over (N, D, H, W)."""
from .batchnorm import BatchNorm1d
from .checks import InputError, check_floating, check_like


class BatchNorm3d(BatchNorm1d):
    """y = γ · (x − μ) / √(σ² + ε) + β per channel, μ and σ² over the M = N·D·H·W values of that channel of a
    volume batch (N, C, D, H, W): BatchNorm1d's formulas, running statistics and backward
    ∂L/∂x = γ/(M·√(σ² + ε)) · (M·G − Σ G − x̂·Σ(G·x̂)) over every axis but the channel's."""

    def _check(self, x):
        check_floating(self, x)
        if x.ndim != 5 or x.shape[1] != self.num_features:
            raise InputError(f"{self!r}: expected 5D input (N, {self.num_features}, D, H, W), got "
                             f"{x.ndim}D input of shape {tuple(x.shape)}")
        check_like(self, x, self._reference())
