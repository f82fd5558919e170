"""The colorizer's scores: MSE and PSNR against the truth, and how colourful the output is.

MSE is taken on planar RGB in [-1, 1] over every value of every image; PSNR per image on the uint8 images,
then averaged. The colourfulness ratio:

    chroma(x) = √(U² + V²) per pixel, (Y, U, V) = BT.601 YUV of the RGB image in [-1, 1]
    ratio = mean chroma of the outputs / mean chroma of the ground truth   (over every pixel of every image)

1 means as colourful as the truth on average; a gray output (U = V = 0)
gives 0. MSE-trained models pull towards gray, so their ratio sits well below 1.
"""
import numpy as np

from ...data.color import rgb_to_yuv
from .arrays import planar_to_images, rgb_target


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
