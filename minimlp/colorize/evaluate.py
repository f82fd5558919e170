"""Scores of a colorizer on a set of images, beside the gray-copy baseline."""
import numpy as np

from ..backend import to_device, to_numpy
from .colorfulness import colorfulness_ratio
from .models import eval_batch_size
from .tasks import gray_copy, gray_input, output_to_rgb, planar_to_images, rgb_target


def predict_rgb(model, task, images, batch_size=None):
    """The model's colour images as planar RGB in [-1, 1] (NumPy, (N, 3072)), in evaluation mode.

    ``batch_size``: images per forward pass (default ``models.eval_batch_size``).
    """
    batch_size = batch_size or eval_batch_size(model)
    was_training = model.training
    model.eval()
    gray = gray_input(images)
    device = model.device
    out = []
    try:
        for start in range(0, len(gray), batch_size):
            g = to_device(gray[start:start + batch_size], device)
            out.append(to_numpy(output_to_rgb(model(g), g, task, bins=getattr(model, "chroma_bins", None))))
    finally:
        model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 3072), np.float32)


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


def evaluate_images(model, task, images):
    """Test MSE, PSNR and colourfulness ratio of the model, and gray-copy's MSE and PSNR, on the same images."""
    pred = predict_rgb(model, task, images)
    mse, model_psnr = scores(pred, images)
    base_mse, base_psnr = scores(gray_copy(gray_input(images)), images)
    return {"test_mse": mse, "psnr": model_psnr, "baseline_gray_mse": base_mse, "baseline_gray_psnr": base_psnr,
            "improvement_over_gray": 1.0 - mse / base_mse,
            "colorfulness_ratio": colorfulness_ratio(pred, rgb_target(images)), "n_images": int(len(images))}
