"""BatchNorm2d: BatchNorm1d's statistics per channel over (N, H, W)."""
from .batchnorm import BatchNorm1d
from .checks import check_image


class BatchNorm2d(BatchNorm1d):
    """y = γ · (x − μ) / √(σ² + ε) + β per channel, μ and σ² over the M = N·H·W values of that channel.

    BatchNorm1d's formulas over every axis but the channel's, so its running statistics (the unbiased
    variance uses the count M, as torch), ``bias=False``, empty batches and backward are BatchNorm1d's:
    ∂L/∂x = γ/(M·√(σ² + ε)) · (M·G − Σ G − x̂·Σ(G·x̂)) with sums per channel. Shapes (N, C, H, W) →
    (N, C, H, W); ``state_dict`` keys as torch. The maths is ``minimlp.formulas.batch_norm``.
    """

    def _check(self, x):
        check_image(self, x, self.num_features, self._reference())
