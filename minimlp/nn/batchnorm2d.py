"""BatchNorm2d: BatchNorm1d's statistics per channel over (N, H, W)."""
import numpy as np

from ..backend import get_array_module
from ..compiled import layer_kernels
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
    On NumPy, training with batch statistics runs compiled twins of these
    formulas on the (N, C, H, W) layout itself, without the copies
    (``fused_numba.batchnorm2d_forward``/``batchnorm2d_backward``).
    """

    def forward(self, x):
        check_image(self, x, self.num_features, self._reference())
        n, c, h, w = x.shape
        kernels = layer_kernels(x) if self.affine and (self.training or not self.track_running_stats) else None
        if kernels is not None:
            if n * h * w < 2:
                raise ValueError(f"{self!r}: expected more than 1 value per channel when training, "
                                 f"got input of shape {tuple(x.shape)}")
            x = np.ascontiguousarray(x)
            y, xhat, mean, var, inv_std = kernels.batchnorm2d_forward(x, self.weight.data, self.bias.data, self.eps)
            if self.training and self.track_running_stats:
                self._update_running_stats(mean, var, n * h * w)
            self._cache, self._image_shape = (xhat, inv_std, "nchw"), (n, c, h, w)
            return y
        if not (self.training or not self.track_running_stats):
            return self._forward_running(x)
        rows = get_array_module(x).ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(n * h * w, c)
        y = super().forward(rows)
        self._image_shape = (n, c, h, w)
        return _channels_first(y, n, h, w, c)

    def _forward_running(self, x):
        """Evaluation: y = γ·x̂ + β with x̂ = (x − running_mean)/√(running_var + ε), per channel, in (N, C, H, W)."""
        xp = get_array_module(x)
        inv_std = 1.0 / xp.sqrt(self.running_var + self.eps)
        xhat = x - self.running_mean[:, None, None]
        xhat *= inv_std[:, None, None]
        self._cache, self._image_shape = (xhat, inv_std, "nchw-running"), tuple(x.shape)
        if not self.affine:
            return xhat
        y = xhat * self.weight.data[:, None, None]
        y += self.bias.data[:, None, None]
        return y

    def _backward(self, dout, want_dx):
        shape = getattr(self, "_image_shape", None)
        check_grad_like(self, dout, None if self._cache is None else shape)
        n, c, h, w = shape
        if self._cache[2] == "nchw-running":  # evaluation: ∂L/∂x = γ·G/√(running_var + ε)
            xhat, inv_std, _ = self._cache
            xp = get_array_module(dout)
            gamma = self.weight.data if self.affine else xp.ones_like(inv_std)
            if self.affine:
                self.weight.accumulate(xp.einsum("nchw,nchw->c", dout, xhat, dtype=np.float64).astype(dout.dtype))
                self.bias.accumulate(dout.sum(axis=(0, 2, 3), dtype=np.float64).astype(dout.dtype))
            return dout * (gamma * inv_std)[:, None, None] if want_dx else None
        if self._cache[2] == "nchw":
            xhat, inv_std, _ = self._cache
            from . import fused_numba  # the forward ran it: keep the pair together
            dx, sum_g, sum_gx = fused_numba.batchnorm2d_backward(np.ascontiguousarray(dout), xhat, self.weight.data,
                                                                 inv_std, want_dx)
            self.weight.accumulate(sum_gx)
            self.bias.accumulate(sum_g)
            return dx
        rows = get_array_module(dout).ascontiguousarray(dout.transpose(0, 2, 3, 1)).reshape(n * h * w, c)
        dx = super()._backward(rows, want_dx)
        return None if dx is None else _channels_first(dx, n, h, w, c)


def _channels_first(rows, n, h, w, c):
    """(N·H·W, C) → a C-contiguous (N, C, H, W) array."""
    return get_array_module(rows).ascontiguousarray(rows.reshape(n, h, w, c).transpose(0, 3, 1, 2))
