"""BatchNorm1d: batch normalisation over the batch axis (and the length of a sequence)."""
import numpy as np

from ..backend import get_array_module
from ..kernels import ops
from .activation import ReLU, Sigmoid, Tanh
from .checks import InputError, check_floating, check_grad_like, check_like, whole
from .normalization import Normalization

# the op of a BatchNorm followed by each activation it can run in its own passes (``nn.fusion``)
_PAIRS = {ReLU: ops.batch_norm_relu, Sigmoid: ops.batch_norm_sigmoid, Tanh: ops.batch_norm_tanh}


class BatchNorm1d(Normalization):
    """y = γ · (x − μ) / √(σ² + ε) + β, per feature, for x of shape (N, C) or (N, C, L).

    Training: μ and σ² are the batch mean and biased variance over the M = N (or N·L) values of each
    feature; the running statistics move by ``momentum`` m, with the *unbiased* variance as torch:
    running_mean ← (1 − m)·running_mean + m·μ,  running_var ← (1 − m)·running_var + m·σ²·M/(M − 1).
    ``momentum=None`` uses the cumulative average (m = 1/num_batches_tracked). Evaluation (unless
    ``track_running_stats=False``): the running statistics replace μ and σ². ``bias=False`` (keyword, as
    torch 2.13) keeps γ and drops β. An empty batch (N = 0) gives an empty output, leaves the running
    statistics and adds zero gradients, as torch.

    Backward in training, with x̂ = (x − μ)/√(σ² + ε), G = ∂L/∂y:
    ∂L/∂γ = Σ G·x̂,  ∂L/∂β = Σ G,  ∂L/∂x = γ/(M·√(σ² + ε)) · (M·G − Σ G − x̂·Σ(G·x̂)), sums per feature.
    In evaluation, ∂L/∂x = γ·G/√(running_var + ε). Keeps x̂ and 1/√(σ² + ε). The maths, with its sums in
    float64, is ``minimlp.formulas.batch_norm``.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 dtype=np.float32, *, bias=True):
        super().__init__()
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{type(self).__name__}: momentum must be in [0, 1] or None, got {momentum}")
        if eps <= 0:
            raise ValueError(f"{type(self).__name__}: eps must be positive, got {eps}")
        self.num_features = whole(num_features, "num_features")
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        self._affine(self.num_features, self.affine, bias, dtype)
        self._running_statistics(self.num_features, dtype, self.track_running_stats)
        self._fused_backward = None   # (backward, saved) of a forward fused with the next activation (``nn.fusion``)

    def _reference(self):
        if self.affine:
            return self.weight.data
        return self._buffers.get("running_mean")

    def _check(self, x):
        check_floating(self, x)
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise InputError(f"{self!r}: expected input of shape (N, {self.num_features}) or "
                             f"(N, {self.num_features}, L), got {tuple(x.shape)}")
        check_like(self, x, self._reference())

    def forward(self, x):
        return self._forward(x, None)

    def _fuses_activation(self, x, activation):
        """Whether ``_forward_activation`` applies to ``x``: batch statistics (training, or no running ones) of a
        non-empty batch, and for the sigmoid and tanh, a kernel that runs the pair (on the GPU; elsewhere the
        two layers' own kernels are the faster)."""
        if not ((self.training or not self.track_running_stats) and x.size > 0):
            return False
        op = _PAIRS[type(activation)]
        return op is ops.batch_norm_relu or op.has_kernel("forward_train", x, self._gamma())

    def _forward_activation(self, x, activation, shift=None):
        """``activation(self(x))`` in the passes of this layer alone, where ``_fuses_activation`` (``nn.fusion``):
        the output f(γ x̂ + β) is written once, and ``_backward_activation`` multiplies G by f′ inside
        BatchNorm's backward. Both layers are left as their own forward would leave them (``activation.backward``
        then ``backward`` also work). ``shift``: as ``_forward_shifted``."""
        return self._forward(x, activation, shift)

    def _forward_shifted(self, x, shift):
        """``self(x + shift)``, ``shift`` per channel: the bias of the layer before, which left it out
        (``nn.fusion.folds_bias``; batch statistics only)."""
        return self._forward(x, None, shift)

    def _backward_activation(self, dout, want_dx=True):
        """∂L/∂x of ``_forward_activation`` from G = ∂L/∂(its output); ∂L/∂γ, ∂L/∂β added."""
        check_grad_like(self, dout, None if self._cache is None else self._cache[2])
        backward, saved = self._fused_backward
        return backward(dout, saved, self.weight, self.bias, want_dx)

    def _gamma(self):
        return self.weight.data if self.affine else None

    def _on_moved(self):
        super()._on_moved()
        self._fused_backward = None

    def _forward(self, x, activation, shift=None):
        self._check(x)
        self._fused_backward = None
        gamma = self._gamma()
        beta = None if self.bias is None else self.bias.data
        if self.training or not self.track_running_stats:
            count = x.size // self.num_features
            if count == 0:
                return self._empty_batch(x, gamma, beta)
            if count < 2:
                raise ValueError(f"{self!r}: expected more than 1 value per channel when training, "
                                 f"got input of shape {tuple(x.shape)}")
            op = ops.batch_norm if activation is None else _PAIRS[type(activation)]
            impl = op.pick("forward_train", x, gamma)
            y, saved, _, _ = impl.forward_train(x, gamma, beta, self.eps, self._running(), shift)
            if activation is None:
                self._keep(impl.backward_train, saved, x.shape)
            else:
                self._keep(ops.batch_norm.pick("backward_train", x, gamma).backward_train, saved[:2], x.shape)
                self._fused_backward = (impl.backward_train, saved)
                activation.keep_output(x.shape, y)
        else:
            impl = ops.batch_norm.pick("forward_eval", x)
            y, saved = impl.forward_eval(x, self.running_mean, self.running_var, gamma, beta, self.eps)
            self._keep(impl.backward_eval, saved, x.shape)
        return y

    def _empty_batch(self, x, gamma, beta):
        """No values: an empty output, the statistics left as they are (the batch still counts), and a backward
        that adds zero gradients (the formula's, with μ = 0 and σ² = 1)."""
        if self.training and self.track_running_stats:
            self._buffers["num_batches_tracked"] += 1
        xp = get_array_module(x)
        formula = ops.batch_norm.formula
        mean, var = xp.zeros(self.num_features, x.dtype), xp.ones(self.num_features, x.dtype)
        y, saved = formula.forward_eval(x, mean, var, gamma, beta, self.eps)
        self._keep(formula.backward_eval, saved, x.shape)
        return y

    def _running(self):
        """What a training forward moves (``formulas.batch_norm.update_running_stats``): (running_mean,
        running_var, momentum, num_batches_tracked), or None where nothing is tracked. ``momentum=None``
        reads the count (on the GPU, a wait for the device) to make the cumulative average's m = 1/(count + 1)."""
        if not (self.training and self.track_running_stats):
            return None
        nbt = self._buffers["num_batches_tracked"]
        m = 1.0 / (float(nbt) + 1) if self.momentum is None else self.momentum
        return self.running_mean, self.running_var, m, nbt

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")
