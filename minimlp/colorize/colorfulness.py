"""How colourful a colorizer's output is next to the truth: the colourfulness ratio.

    chroma(x) = √(U² + V²) per pixel, (Y, U, V) = BT.601 YUV of the RGB image in [-1, 1]
    ratio = mean chroma of the outputs / mean chroma of the ground truth   (over every pixel of every image)

1 means as colourful as the truth on average; a gray output (U = V = 0)
gives 0. MSE-trained models pull towards gray, so their ratio sits well below 1.
"""
import numpy as np

from ..data.color import rgb_to_yuv


def mean_chroma(planar_rgb):
    """Mean of √(U² + V²) over every pixel of planar RGB images (N, 3·H·W) in [-1, 1], in float64."""
    x = np.asarray(planar_rgb, dtype=np.float64)
    hwc = x.reshape(len(x), 3, -1).transpose(0, 2, 1)
    yuv = rgb_to_yuv(hwc)
    return float(np.sqrt(yuv[..., 1] ** 2 + yuv[..., 2] ** 2).mean())


def colorfulness_ratio(pred_rgb, true_rgb):
    """Mean chroma of ``pred_rgb`` over that of ``true_rgb`` (both planar RGB in [-1, 1]); NaN if the truth is gray.

    ``pred_rgb`` is clipped to [-1, 1] first, as the images a user sees are.
    """
    truth = mean_chroma(true_rgb)
    return mean_chroma(np.clip(pred_rgb, -1.0, 1.0)) / truth if truth > 0 else float("nan")
