"""Upsample: nearest and bilinear resampling as a separable linear map."""
from ..kernels import ops
from .checks import pair
from .separable import SeparableMap

MODES = ("nearest", "bilinear")


class Upsample(SeparableMap):
    """Resize each image to ``size`` or by ``scale_factor`` (torch.nn.Upsample's arguments and formulas).

    Both modes are y = A_h x A_wᵀ with one (out, in) matrix per axis, so
    backward is ∂L/∂x = A_hᵀ G A_w (each input pixel collects the gradient of
    every output that read it, with the same weights).

    - "nearest": A[o, ⌊o·r⌋] = 1 with r = 1/scale_factor (or in/out when
      ``size`` is given), computed in float32 as torch, clamped to in − 1.
    - "bilinear": source coordinate u = (o + ½)·r − ½ clamped at 0
      (``align_corners=False``) or u = o·(in − 1)/(out − 1)
      (``align_corners=True``); A[o, ⌊u⌋] = 1 − λ, A[o, ⌊u⌋ + 1] = λ with
      λ = u − ⌊u⌋ (the second index clamped to in − 1).
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"Upsample: mode must be one of {MODES} in minimlp, got {mode!r}")
        if (size is None) == (scale_factor is None):
            raise ValueError("Upsample: give exactly one of size and scale_factor")
        if mode == "nearest" and align_corners is not None:
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
        self.scale_factor = scale_factor
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
        if self.mode == "nearest":
            return ops.separable_map.run("nearest", size, out, scale)
        return ops.separable_map.run("bilinear", size, out, scale, self.align_corners)

    def extra_repr(self):
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        s = f"{what}, mode={self.mode!r}"
        return s + (f", align_corners={self.align_corners}" if self.align_corners is not None else "")
