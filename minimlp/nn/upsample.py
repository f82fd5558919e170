"""Upsample: nearest, bilinear, bicubic and area resampling as a separable linear map."""
import numpy as np

from ..kernels import ops
from .checks import UnsupportedModeError, pair
from .separable import SeparableMap

MODES = ("nearest", "nearest-exact", "bilinear", "bicubic", "area")
INTERPOLATING = ("bilinear", "bicubic")


class Upsample(SeparableMap):
    """Resize each image to ``size`` or by ``scale_factor`` (torch.nn.Upsample's arguments and formulas).

    Every mode is y = A_h x A_wᵀ with one (out, in) matrix per axis, so
    backward is ∂L/∂x = A_hᵀ G A_w (each input pixel collects the gradient of
    every output that read it, with the same weights). With r = 1/scale_factor
    (or in/out when ``size`` is given):

    - "nearest": A[o, ⌊o·r⌋] = 1, computed in float32 as torch, clamped to
      in − 1; "nearest-exact": A[o, ⌊(o + ½)·r⌋] = 1, clamped.
    - "bilinear": source coordinate u = (o + ½)·r − ½ clamped at 0
      (``align_corners=False``) or u = o·(in − 1)/(out − 1)
      (``align_corners=True``); A[o, ⌊u⌋] = 1 − λ, A[o, ⌊u⌋ + 1] = λ with
      λ = u − ⌊u⌋ (the second index clamped to in − 1).
    - "bicubic": u as for bilinear but not clamped; A[o, ⌊u⌋ − 1 + k] = w_k(λ)
      for k = 0 … 3, Keys' cubic convolution with a = −0.75, the indices
      clamped to [0, in − 1] (``formulas.resample.bicubic``).
    - "area": output o averages the inputs ⌊o·in/out⌋ ≤ i < ⌈(o + 1)·in/out⌉
      (adaptive average pooling to the output size).
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        if mode not in MODES:
            raise UnsupportedModeError(f"Upsample: mode must be one of {MODES} in minimlp, got {mode!r}")
        if scale_factor is not None and not isinstance(scale_factor, (tuple, list)) and not scale_factor:
            scale_factor = None   # torch keeps a scale factor of 0 as None
        if (size is None) == (scale_factor is None):
            raise ValueError("Upsample: give exactly one of size and scale_factor")
        if mode not in INTERPOLATING and align_corners is not None:
            raise ValueError("Upsample: align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
        if recompute_scale_factor:
            raise ValueError("Upsample: recompute_scale_factor=True is not supported by minimlp")
        for name, value in (("size", size), ("scale_factor", scale_factor)):
            if isinstance(value, (tuple, list)) and len(value) != 2:
                raise ValueError(f"Upsample: {name} must be one number or two for a 4-D input (N, C, H, W), got "
                                 f"{value!r}")
        self._size = None if size is None else pair(size, "size")
        self.size = size
        self.scale_factor = (tuple(float(s) for s in scale_factor) if isinstance(scale_factor, (tuple, list))
                             else float(scale_factor) if scale_factor else None)
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def _scales(self):
        if self.scale_factor is None:
            return (None, None)
        sf = self.scale_factor
        return tuple(float(s) for s in sf) if isinstance(sf, (tuple, list)) else (float(sf),) * 2

    def _out_size(self, h, w):
        if self._size is not None:
            return self._size
        sh, sw = self._scales()
        return ops.separable_map.run("scaled_size", h, sh), ops.separable_map.run("scaled_size", w, sw)

    def _axis_taps(self, size, out, axis):
        scale_factor = self._scales()[axis]
        scale = 1.0 / scale_factor if scale_factor is not None else size / out
        if self.mode.startswith("nearest") and scale_factor is None:
            scale = np.float32(size) / np.float32(out)   # torch divides in float32 for the nearest modes
        if self.mode == "area":
            return ops.separable_map.run("adaptive_average", size, out)
        if self.mode in INTERPOLATING:
            return ops.separable_map.run(self.mode, size, out, scale, self.align_corners)
        return ops.separable_map.run(self.mode.replace("-", "_"), size, out, scale)

    def extra_repr(self):
        what = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return f"{what}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """``Upsample(size, scale_factor, mode="nearest")``, under torch's older name: A[o, ⌊o·r⌋] = 1."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(size, scale_factor, mode="bilinear", align_corners=True)``, under torch's older name: source
    coordinate u = o·(in − 1)/(out − 1), A[o, ⌊u⌋] = 1 − λ, A[o, ⌊u⌋ + 1] = λ with λ = u − ⌊u⌋."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
