"""InstanceNorm2d: each image's channels standardised over their own pixels (``minimlp.formulas.norm``)."""
import functools

import numpy as np

from ..kernels import ops
from .checks import check_image, whole, with_batch_axis
from .normalization import Normalization, data


class InstanceNorm2d(Normalization):
    """y = γ_c·(x − μ)/√(σ² + ε) + β_c for x (N, C, H, W) or (C, H, W), with μ and the biased σ² per sample
    and channel over its H·W pixels (GroupNorm with one channel per group).

    torch's defaults: ``affine=False`` (no γ, β), ``track_running_stats=False`` (the instance statistics in
    training and evaluation). With ``track_running_stats=True``, training moves running_mean and running_var
    (unbiased) by ``momentum`` toward the statistics averaged over the batch, and evaluation standardises by
    them: ∂L/∂x = γ·G/√(running_var + ε). Backward otherwise as GroupNorm's:
    ∂L/∂x = (Ĝ − mean Ĝ − x̂·mean(Ĝ·x̂))/√(σ² + ε) per image and channel, Ĝ = γ·G.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False,
                 dtype=np.float32, *, bias=True):
        super().__init__()
        self.num_features = whole(num_features, "num_features")
        self.eps = float(eps)
        self.momentum = momentum
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        self._affine(self.num_features, self.affine, bias, dtype)
        if self.track_running_stats:
            self._running_statistics(self.num_features, dtype)

    def forward(self, x):
        reference = data(self.weight) if self.affine else self._buffers.get("running_mean")
        check_image(self, x, self.num_features, reference, unbatched=True)
        x4, unbatched = with_batch_axis(x, 4)
        if x4.shape[0] == 0:
            return self._empty_batch_output(x)
        weight, bias = data(self.weight), data(self.bias)
        if self.training or not self.track_running_stats:
            if x4.shape[2] * x4.shape[3] < 2 and self.training:
                raise ValueError(f"{self!r}: expected more than 1 spatial element when training, got input of "
                                 f"shape {tuple(x.shape)}")
            y, saved, mean, var = ops.group_norm.run("forward", x4, weight, bias, self.num_features, self.eps,
                                                     training=self.training)
            if self.training and self.track_running_stats:
                momentum = 0.0 if self.momentum is None else float(self.momentum)
                ops.instance_norm.run("update_running_stats", self.running_mean, self.running_var, mean, var,
                                      x4.shape[2] * x4.shape[3], momentum)
            backward = ops.group_norm.pick("backward", x4, saved, training=self.training).backward
        else:
            y, saved = ops.instance_norm.run("forward_eval", x4, self.running_mean, self.running_var, weight, bias,
                                             self.eps)
            backward = ops.instance_norm.pick("backward_eval", x4).backward_eval
        self._keep(functools.partial(_one_image, backward) if unbatched else backward, saved, x.shape)
        return y[0] if unbatched else y

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


def _one_image(backward, dout, saved, weight, bias, want_dx):
    # the backward of an input without its batch axis: G given one, ∂L/∂x returned without it
    dx = backward(dout[None], saved, weight, bias, want_dx)
    return None if dx is None else dx[0]
