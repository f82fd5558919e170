"""BatchNorm2d: BatchNorm1d's statistics per channel over (N, H, W)."""
from ..backend import get_array_module
from .batchnorm import BatchNorm1d
from .checks import check_grad_like, check_image


class BatchNorm2d(BatchNorm1d):
    """y = γ · (x − μ) / √(σ² + ε) + β per channel, μ and σ² over the N·H·W values of that channel.

    Exactly ``BatchNorm1d`` applied to x viewed as an (N·H·W, C) matrix
    (channels last), so its formulas, running statistics (the unbiased
    variance uses the count N·H·W, as torch) and backward are BatchNorm1d's:
    ∂L/∂x = γ/(M·√(σ² + ε)) · (M·G − Σ G − x̂·Σ(G·x̂)) with M = N·H·W, sums per
    channel. Shapes (N, C, H, W) → (N, C, H, W); ``state_dict`` keys as torch.
    The layout change costs one copy each way in forward and in backward.
    """

    def forward(self, x):
        check_image(self, x, self.num_features, self._reference())
        n, c, h, w = x.shape
        rows = get_array_module(x).ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(n * h * w, c)
        y = super().forward(rows)
        self._image_shape = (n, c, h, w)
        return _channels_first(y, n, h, w, c)

    def _backward(self, dout, want_dx):
        shape = getattr(self, "_image_shape", None)
        check_grad_like(self, dout, None if self._cache is None else shape)
        n, c, h, w = shape
        rows = get_array_module(dout).ascontiguousarray(dout.transpose(0, 2, 3, 1)).reshape(n * h * w, c)
        dx = super()._backward(rows, want_dx)
        return None if dx is None else _channels_first(dx, n, h, w, c)


def _channels_first(rows, n, h, w, c):
    """(N·H·W, C) → a C-contiguous (N, C, H, W) array."""
    return get_array_module(rows).ascontiguousarray(rows.reshape(n, h, w, c).transpose(0, 3, 1, 2))
