"""BatchNorm1d: batch normalisation over the batch axis."""
import numpy as np

from .checks import check_grad_like, check_matrix
from .module import Module
from .parameter import Parameter
from ..backend import get_array_module
from ..compiled import layer_kernels


class BatchNorm1d(Module):
    """y = γ · (x − μ) / √(σ² + ε) + β, per feature, for x of shape (N, C).

    Training: μ and σ² are the batch mean and biased variance; the running
    statistics move by ``momentum`` m, with the *unbiased* variance as torch:
    running_mean ← (1 − m)·running_mean + m·μ,
    running_var  ← (1 − m)·running_var + m·σ²·N/(N − 1).
    ``momentum=None`` uses the cumulative average (m = 1/num_batches_tracked).
    Evaluation (or ``track_running_stats=False`` never): the running
    statistics replace μ and σ².

    Backward in training, with x̂ = (x − μ)/√(σ² + ε), G = ∂L/∂y:
    ∂L/∂γ = Σₙ G·x̂,  ∂L/∂β = Σₙ G,
    ∂L/∂x = γ/(N·√(σ² + ε)) · (N·G − Σₙ G − x̂·Σₙ(G·x̂)).
    In evaluation, ∂L/∂x = γ·G/√(running_var + ε). Caches x̂ and 1/√(σ² + ε).

    The per-feature sums (μ, σ², Σₙ G, Σₙ G·x̂) accumulate in float64, as
    torch's CPU kernels do: on the chroma network at batch 1000 that makes
    the float32 gradients 10-25x closer to float64 than float32 sums did
    (benchmarks/float32_accuracy.py). On NumPy, training with batch
    statistics runs the compiled twins of these formulas
    (``fused_numba.batchnorm_forward``/``batchnorm_backward``): two or three
    passes over the batch instead of about eight.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 dtype=np.float32):
        super().__init__()
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNorm1d: momentum must be in [0, 1] or None, got {momentum}")
        if eps <= 0:
            raise ValueError(f"BatchNorm1d: eps must be positive, got {eps}")
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        if self.affine:
            self.weight = Parameter(np.ones(self.num_features, dtype=dtype))
            self.bias = Parameter(np.zeros(self.num_features, dtype=dtype))
        else:
            self.weight = None
            self.bias = None
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(self.num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))
        self._cache = None

    def _reference(self):
        if self.affine:
            return self.weight.data
        return self._buffers.get("running_mean")

    def forward(self, x):
        check_matrix(self, x, self.num_features, self._reference())
        xp = get_array_module(x)
        use_batch_stats = self.training or not self.track_running_stats
        if use_batch_stats:
            n = x.shape[0]
            if n < 2:
                raise ValueError(f"{self!r}: expected more than 1 value per channel when training, "
                                 f"got input of shape {tuple(x.shape)}")
            kernels = layer_kernels(x) if self.affine else None
            if kernels is not None:  # y = γ x̂ + β comes out of the same passes
                y, xhat, mean, var, inv_std = kernels.batchnorm_forward(x, self.weight.data, self.bias.data,
                                                                        self.eps)
            else:
                y = None  # the per-feature sums accumulate in float64 (as torch's CPU kernels), then x's dtype
                mean = x.mean(axis=0, dtype=np.float64).astype(x.dtype)
                xc = x - mean
                var = (xp.einsum("ij,ij->j", xc, xc, dtype=np.float64) * (1.0 / n)).astype(x.dtype)  # no xc²
                inv_std = 1.0 / xp.sqrt(var + self.eps)
                xhat = xc
                xhat *= inv_std
            if self.training and self.track_running_stats:
                self._update_running_stats(mean, var, n)
        else:
            y = None
            inv_std = 1.0 / xp.sqrt(self.running_var + self.eps)
            xhat = x - self.running_mean
            xhat *= inv_std
        self._cache = (xhat, inv_std, use_batch_stats)
        if y is not None or not self.affine:
            return xhat if y is None else y
        y = xhat * self.weight.data
        y += self.bias.data
        return y

    def _update_running_stats(self, mean, var, n):
        nbt = self._buffers["num_batches_tracked"]
        nbt += 1
        m = 1.0 / float(nbt) if self.momentum is None else self.momentum
        rm, rv = self._buffers["running_mean"], self._buffers["running_var"]
        rm *= 1.0 - m
        rm += m * mean
        rv *= 1.0 - m
        rv += (m * n / (n - 1)) * var

    def backward(self, dout):
        return self._backward(dout, want_dx=True)

    def backward_parameters(self, dout):
        self._backward(dout, want_dx=False)

    def _backward(self, dout, want_dx):
        check_grad_like(self, dout, None if self._cache is None else self._cache[0].shape)
        xhat, inv_std, use_batch_stats = self._cache
        kernels = layer_kernels(dout) if self.affine and use_batch_stats else None
        if kernels is not None:
            dx, sum_g, sum_gx = kernels.batchnorm_backward(dout, xhat, self.weight.data, inv_std, want_dx)
            self.weight.accumulate(sum_gx)
            self.bias.accumulate(sum_g)
            return dx
        xp = get_array_module(dout)  # Σₙ G and Σₙ G·x̂ (one pass, no temporary) accumulated in float64
        sum_g = dout.sum(axis=0, dtype=np.float64).astype(dout.dtype)
        sum_gx = xp.einsum("ij,ij->j", dout, xhat, dtype=np.float64).astype(dout.dtype)
        if self.affine:
            gamma = self.weight.data
            self.weight.accumulate(sum_gx)
            self.bias.accumulate(sum_g)
        else:
            gamma = 1.0
        if not want_dx:
            return None
        if not use_batch_stats:
            return dout * (gamma * inv_std)
        # ∂L/∂x = γ/√(σ²+ε) · (G − Σₙ G/N − x̂·Σₙ(G·x̂)/N), in four passes over (N, C)
        inv_n = 1.0 / dout.shape[0]
        dx = xhat * (sum_gx * inv_n)
        dx += sum_g * inv_n
        xp.subtract(dout, dx, out=dx)
        dx *= gamma * inv_std
        return dx

    def _on_moved(self):
        self._cache = None

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")
