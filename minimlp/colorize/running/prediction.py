"""A colorizer's predictions on a set of images, and its scores beside the gray-copy baseline."""
import numpy as np

from ...backend import to_device, to_numpy
from ..models.architectures import eval_batch_size
from ..task.arrays import gray_copy, gray_input, output_to_rgb, rgb_target
from ..task.metrics import HUE_CHROMA, HUE_DEGREES, colorfulness_ratio, scores, wrong_hue_rate


def predict_rgb(model, task, images, batch_size=None):
    """The model's colour images as planar RGB in [-1, 1] (NumPy, (N, 3072)), in evaluation mode.

    ``batch_size``: images per forward pass (default ``architectures.eval_batch_size``).
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


def evaluate_images(model, task, images):
    """Test MSE, PSNR, colourfulness ratio and wrong-hue rate of the model, and gray-copy's MSE and PSNR, on the
    same images."""
    pred = predict_rgb(model, task, images)
    truth = rgb_target(images)
    mse, model_psnr = scores(pred, images)
    base_mse, base_psnr = scores(gray_copy(gray_input(images)), images)
    return {"test_mse": mse, "psnr": model_psnr, "baseline_gray_mse": base_mse, "baseline_gray_psnr": base_psnr,
            "improvement_over_gray": 1.0 - mse / base_mse,
            "colorfulness_ratio": colorfulness_ratio(pred, truth), "wrong_hue_rate": wrong_hue_rate(pred, truth),
            "wrong_hue_rule": f"hue is more than {HUE_DEGREES:g} degrees from the truth's, of the pixels where "
                              f"both chromas exceed {HUE_CHROMA:g}",
            "n_images": int(len(images))}
