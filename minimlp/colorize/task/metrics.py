"""The colorizer's scores: MSE and PSNR against the truth, and how colourful the output is.

MSE is taken on planar RGB in [-1, 1] over every value of every image; PSNR per image on the uint8 images,
then averaged. The colourfulness ratio:

    chroma(x) = √(U² + V²) per pixel, (Y, U, V) = BT.601 YUV of the RGB image in [-1, 1]
    ratio = mean chroma of the outputs / mean chroma of the ground truth   (over every pixel of every image)

1 means as colourful as the truth on average; a gray output (U = V = 0)
gives 0. MSE-trained models pull towards gray, so their ratio sits well below 1.

The wrong-hue rate: among the pixels where both the output and the truth have chroma above ``HUE_CHROMA``
(0.05, about 6 of 255 levels: a colour, not JPEG noise on gray), the share whose hue atan2(V, U) is more
than 60° from the truth's. A colourful model with the right colours has a low rate; one that paints a white
car red, a high one.
"""
import numpy as np

from ...data.color import rgb_to_yuv
from .arrays import planar_to_images, rgb_target


HUE_CHROMA = 0.05
HUE_DEGREES = 60.0


def _uv(planar_rgb):
    """(U, V) per pixel, float64, of planar RGB images (N, 3·H·W) in [-1, 1]."""
    x = np.asarray(planar_rgb, dtype=np.float64)
    yuv = rgb_to_yuv(x.reshape(len(x), 3, -1).transpose(0, 2, 1))
    return yuv[..., 1], yuv[..., 2]


def wrong_hue_rate(pred_rgb, true_rgb, chroma=HUE_CHROMA, degrees=HUE_DEGREES):
    """Share of the pixels with chroma above ``chroma`` in both whose hues differ by more than ``degrees``;
    NaN when no pixel qualifies. ``pred_rgb`` is clipped to [-1, 1] first."""
    pu, pv = _uv(np.clip(pred_rgb, -1.0, 1.0))
    tu, tv = _uv(true_rgb)
    both = (np.hypot(pu, pv) > chroma) & (np.hypot(tu, tv) > chroma)
    if not both.any():
        return float("nan")
    # the angle between the two (U, V) vectors, in [0°, 180°]
    angle = np.degrees(np.abs(np.arctan2(pu * tv - pv * tu, pu * tu + pv * tv)))
    return float((angle[both] > degrees).mean())


def mean_chroma(planar_rgb):
    """Mean of √(U² + V²) over every pixel of planar RGB images (N, 3·H·W) in [-1, 1], in float64."""
    u, v = _uv(planar_rgb)
    return float(np.sqrt(u ** 2 + v ** 2).mean())


def colorfulness_ratio(pred_rgb, true_rgb):
    """Mean chroma of ``pred_rgb`` over that of ``true_rgb`` (both planar RGB in [-1, 1]); NaN if the truth is gray.

    ``pred_rgb`` is clipped to [-1, 1] first, as the images a user sees are.
    """
    truth = mean_chroma(true_rgb)
    return mean_chroma(np.clip(pred_rgb, -1.0, 1.0)) / truth if truth > 0 else float("nan")


def psnr(images_a, images_b):
    """Mean over images of 10·log10(255² / MSE) on uint8 [0, 255] images (capped at 100 dB for identical images)."""
    diff = images_a.astype(np.float64) - images_b.astype(np.float64)
    mse = (diff ** 2).reshape(len(diff), -1).mean(axis=1)
    values = 10 * np.log10(255.0 ** 2 / np.maximum(mse, 255.0 ** 2 * 1e-10))
    return float(values.mean())


def scores(pred_rgb, images):
    """MSE on [-1, 1] planar RGB (over every value of every image) and PSNR on the uint8 images."""
    target = rgb_target(images)
    mse = float(np.mean((pred_rgb.astype(np.float64) - target) ** 2))
    return mse, psnr(planar_to_images(pred_rgb), images)
