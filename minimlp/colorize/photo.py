"""Colorizing photos of any size: the model runs at 32x32, its chroma is upsampled onto the full-size luma."""
import numpy as np
from PIL import Image

from ..backend import to_device, to_numpy
from ..data.color import rgb_to_yuv, yuv_to_rgb
from .photo_luma import photo_luma
from .tasks import output_to_rgb


def _resize_plane(plane, size):
    """Resize a float32 (H, W) plane to ``size`` = (width, height) with bicubic interpolation."""
    return np.asarray(Image.fromarray(plane.astype(np.float32), mode="F").resize(size, Image.BICUBIC))


def colorize_photo(model, task, image, side=32):
    """A colour version (8-bit PIL RGB) of ``image`` (PIL, any mode; colour is turned to gray first).

    1. Y = BT.601 luma of the photo at full resolution (0..255), from any mode
       (``photo_luma``: 16-bit and float images by their range, transparency on white).
    2. Y is shrunk to side×side (area-averaging), scaled to [-1, 1] and given to the model.
    3. The predicted colour image is turned into YUV; its U and V planes are
       upsampled (bicubic) to the photo's size.
    4. The result is yuv_to_rgb(Y, U, V): the photo's own full-resolution luma
       with the model's chroma, so detail is kept and the luma is unchanged
       (up to rounding, and clipping of out-of-gamut colours).
    """
    luma = photo_luma(image)
    height, width = luma.shape
    small = np.asarray(Image.fromarray(luma, mode="F").resize((side, side), Image.BOX), dtype=np.float32)
    x = (small * (1 / 127.5) - 1.0).reshape(1, side * side)
    was_training = model.training
    model.eval()
    try:
        xd = to_device(x, model.device)
        predicted = to_numpy(output_to_rgb(model(xd), xd, task, bins=getattr(model, "chroma_bins", None)))
    finally:
        model.train(was_training)
    small_rgb = (predicted.reshape(3, side, side).transpose(1, 2, 0) + 1.0) * 127.5
    small_yuv = rgb_to_yuv(small_rgb.astype(np.float32))
    u = _resize_plane(small_yuv[..., 1], (width, height))
    v = _resize_plane(small_yuv[..., 2], (width, height))
    out = yuv_to_rgb(np.stack([luma, u, v], axis=-1))
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), mode="RGB")
