"""BatchNorm1d: batch normalisation over the batch axis."""
import numpy as np

from ..kernels import ops
from .checks import check_grad_like, check_matrix
from .module import Module
from .parameter import Parameter


class BatchNorm1d(Module):
    """y = γ · (x − μ) / √(σ² + ε) + β, per feature, for x of shape (N, C).

    Training: μ and σ² are the batch mean and biased variance; the running statistics move by
    ``momentum`` m, with the *unbiased* variance as torch:
    running_mean ← (1 − m)·running_mean + m·μ,  running_var ← (1 − m)·running_var + m·σ²·N/(N − 1).
    ``momentum=None`` uses the cumulative average (m = 1/num_batches_tracked). Evaluation (unless
    ``track_running_stats=False``): the running statistics replace μ and σ².

    Backward in training, with x̂ = (x − μ)/√(σ² + ε), G = ∂L/∂y:
    ∂L/∂γ = Σₙ G·x̂,  ∂L/∂β = Σₙ G,  ∂L/∂x = γ/(N·√(σ² + ε)) · (N·G − Σₙ G − x̂·Σₙ(G·x̂)).
    In evaluation, ∂L/∂x = γ·G/√(running_var + ε). Keeps x̂ and 1/√(σ² + ε). The maths, with its sums in
    float64, is ``minimlp.formulas.batch_norm``.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 dtype=np.float32):
        super().__init__()
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{type(self).__name__}: momentum must be in [0, 1] or None, got {momentum}")
        if eps <= 0:
            raise ValueError(f"{type(self).__name__}: eps must be positive, got {eps}")
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

    def _check(self, x):
        check_matrix(self, x, self.num_features, self._reference())

    def forward(self, x):
        self._check(x)
        gamma, beta = (self.weight.data, self.bias.data) if self.affine else (None, None)
        if self.training or not self.track_running_stats:
            count = x.size // self.num_features
            if count < 2:
                raise ValueError(f"{self!r}: expected more than 1 value per channel when training, "
                                 f"got input of shape {tuple(x.shape)}")
            impl = ops.batch_norm.pick("forward_train", x, gamma)
            y, saved, mean, var = impl.forward_train(x, gamma, beta, self.eps)
            if self.training and self.track_running_stats:
                self._update_running_stats(mean, var, count)
            self._cache = (impl.backward_train, saved, tuple(x.shape))
        else:
            impl = ops.batch_norm.pick("forward_eval", x)
            y, saved = impl.forward_eval(x, self.running_mean, self.running_var, gamma, beta, self.eps)
            self._cache = (impl.backward_eval, saved, tuple(x.shape))
        return y

    def _update_running_stats(self, mean, var, count):
        nbt = self._buffers["num_batches_tracked"]
        nbt += 1
        m = 1.0 / float(nbt) if self.momentum is None else self.momentum
        ops.batch_norm.run("update_running_stats", self.running_mean, self.running_var, mean, var, count, m)

    def backward(self, dout):
        return self._backward(dout, want_dx=True)

    def backward_parameters(self, dout):
        self._backward(dout, want_dx=False)

    def _backward(self, dout, want_dx):
        check_grad_like(self, dout, None if self._cache is None else self._cache[2])
        backward, saved, _ = self._cache
        return backward(dout, saved, self.weight, self.bias, want_dx)

    def _on_moved(self):
        self._cache = None

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")
