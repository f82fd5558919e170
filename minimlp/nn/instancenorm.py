"""InstanceNorm1d, 2d and 3d: each sample's channels standardised over their own positions
(``minimlp.formulas.norm``)."""
import functools
import math

import numpy as np

from ..kernels import ops
from .checks import InputError, check_floating, check_like, whole, with_batch_axis
from .normalization import Normalization, data

LAYOUTS = {1: "L", 2: "H, W", 3: "D, H, W"}


class _InstanceNorm(Normalization):
    """y = γ_c·(x − μ)/√(σ² + ε) + β_c for x (N, C, *S) or (C, *S), with μ and the biased σ² per sample and
    channel over its positions S (GroupNorm with one channel per group); ``spatial_axes`` = len(S).

    torch's defaults: ``affine=False`` (no γ, β), ``track_running_stats=False`` (the instance statistics in
    training and evaluation). With ``track_running_stats=True``, training moves running_mean and running_var
    (unbiased) by ``momentum`` toward the statistics averaged over the batch, and evaluation standardises by
    them: ∂L/∂x = γ·G/√(running_var + ε). Backward otherwise as GroupNorm's:
    ∂L/∂x = (Ĝ − mean Ĝ − x̂·mean(Ĝ·x̂))/√(σ² + ε) per sample and channel, Ĝ = γ·G.
    """

    spatial_axes = None

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False,
                 dtype=np.float32, *, bias=True):
        super().__init__()
        self.num_features = whole(num_features, "num_features")
        self.eps = float(eps)
        self.momentum = momentum
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        self._affine(self.num_features, self.affine, bias, dtype)
        self._running_statistics(self.num_features, dtype, self.track_running_stats)

    def _check(self, x):
        check_floating(self, x)
        batched, layout = self.spatial_axes + 2, LAYOUTS[self.spatial_axes]
        if x.ndim not in (batched - 1, batched):
            raise InputError(f"{self!r}: expected a {batched - 1}-D (C, {layout}) or {batched}-D (N, C, {layout}) "
                             f"input with C = {self.num_features}, got a {x.ndim}-D input of shape {tuple(x.shape)}")
        channels = x.shape[-self.spatial_axes - 1]
        if channels != self.num_features:
            raise InputError(f"{self!r}: expected {self.num_features} input channels, got input of shape "
                             f"{tuple(x.shape)} with {channels} channels")
        check_like(self, x, data(self.weight) if self.affine else self._buffers.get("running_mean"))

    def forward(self, x):
        self._check(x)
        xb, unbatched = with_batch_axis(x, self.spatial_axes + 2)
        if xb.shape[0] == 0:
            return self._empty_batch_output(x)
        weight, bias = data(self.weight), data(self.bias)
        positions = math.prod(xb.shape[2:])
        if self.training or not self.track_running_stats:
            if positions < 2 and self.training:
                raise ValueError(f"{self!r}: expected more than 1 spatial element when training, got input of "
                                 f"shape {tuple(x.shape)}")
            y, saved, mean, var = ops.group_norm.run("forward", xb, weight, bias, self.num_features, self.eps,
                                                     training=self.training)
            if self.training and self.track_running_stats:
                momentum = 0.0 if self.momentum is None else float(self.momentum)
                ops.instance_norm.run("update_running_stats", self.running_mean, self.running_var, mean, var,
                                      positions, momentum)
            backward = ops.group_norm.pick("backward", xb, saved, training=self.training).backward
        else:
            y, saved = ops.instance_norm.run("forward_eval", xb, self.running_mean, self.running_var, weight, bias,
                                             self.eps)
            backward = ops.instance_norm.pick("backward_eval", xb).backward_eval
        self._keep(functools.partial(_one_sample, backward) if unbatched else backward, saved, x.shape)
        return y[0] if unbatched else y

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of x (N, C, L) or (C, L) over L (``_InstanceNorm`` has the formula)."""

    spatial_axes = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of x (N, C, H, W) or (C, H, W) over H·W (``_InstanceNorm`` has the formula)."""

    spatial_axes = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of x (N, C, D, H, W) or (C, D, H, W) over D·H·W (``_InstanceNorm`` has the
    formula)."""

    spatial_axes = 3


def _one_sample(backward, dout, saved, weight, bias, want_dx):
    # the backward of an input without its batch axis: G given one, ∂L/∂x returned without it
    dx = backward(dout[None], saved, weight, bias, want_dx)
    return None if dx is None else dx[0]
