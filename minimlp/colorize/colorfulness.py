"""Colourfulness: how much chroma a colorizer puts in its images, beside that of the truth."""
import numpy as np

from ..data.color import rgb_to_yuv
from .tasks import rgb_target


def mean_chroma(rgb_planar, side=32):
    """Mean over pixels of √(U² + V²), BT.601 YUV of planar RGB in [-1, 1] (N, 3·side²)."""
    rgb = np.asarray(rgb_planar, dtype=np.float64).reshape(len(rgb_planar), 3, side, side)
    yuv = rgb_to_yuv(np.moveaxis(rgb, 1, -1))
    return float(np.hypot(yuv[..., 1], yuv[..., 2]).mean())


def colorfulness_ratio(pred_rgb, images):
    """mean √(U² + V²) of the predicted planar RGB over that of the uint8 ground-truth images (1: as vivid)."""
    return mean_chroma(pred_rgb) / mean_chroma(rgb_target(images))
