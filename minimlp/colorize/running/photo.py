"""Colorizing photos of any size: the photo's full-resolution luma, with chroma the model predicts.

An MLP sees the photo shrunk to 32x32, its chroma upsampled (bicubic); the U-Net predicts chroma at native or
reduced resolution (``photo_conv``). Either way the output keeps the photo's own luma, so detail is kept.
"""
import numpy as np
from PIL import Image

from ...backend import to_device, to_numpy
from ...data.color import rgb_to_yuv, yuv_to_rgb
from ..models.architectures import conv_core
from .photo_conv import conv_chroma
from .photo_luma import photo_luma
from ..task.arrays import output_to_rgb

DEFAULT_RESOLUTION = 32   # the U-Net's chroma is predicted with the photo's short side at 32 pixels (see photo_conv)


def _resize_plane(plane, size):
    """Resize a float32 (H, W) plane to ``size`` = (width, height) with bicubic interpolation."""
    return np.asarray(Image.fromarray(plane.astype(np.float32), mode="F").resize(size, Image.BICUBIC))


def _square_chroma(model, task, luma, side):
    """U and V (0..255 units) at the photo's size from the model run on the photo shrunk to side×side (any model)."""
    height, width = luma.shape
    small = np.asarray(Image.fromarray(luma, mode="F").resize((side, side), Image.BOX), dtype=np.float32)
    x = to_device((small * (1 / 127.5) - 1.0).reshape(1, side * side), model.device)
    predicted = to_numpy(output_to_rgb(model(x), x, task, bins=getattr(model, "chroma_bins", None)))
    small_rgb = (predicted.reshape(3, side, side).transpose(1, 2, 0) + 1.0) * 127.5
    small_yuv = rgb_to_yuv(small_rgb.astype(np.float32))
    return [_resize_plane(small_yuv[..., k], (width, height)) for k in (1, 2)]


def colorize_photo(model, task, image, side=32, resolution=None, temperature=None):
    """A colour version (8-bit PIL RGB) of ``image`` (PIL, any mode; colour is turned to gray first).

    1. Y = BT.601 luma of the photo at full resolution (0..255), from any mode
       (``photo_luma``: 16-bit and float images by their range, transparency on white).
    2. Chroma: for an MLP (or ``resolution`` 'square'), Y is shrunk to side×side
       (area-averaging), scaled to [-1, 1] and given to the model; the predicted
       colour image's U and V planes are upsampled (bicubic) to the photo's size.
       For the U-Net on the chroma task (or the vivid chroma-bins task, its logits decoded to U and V by the
       annealed mean pixel by pixel at ``temperature``, by default the model's own), U and V come from
       ``photo_conv.conv_chroma`` at ``resolution`` ('native' or a short side in pixels; default
       ``DEFAULT_RESOLUTION``).
    3. The result is yuv_to_rgb(Y, U, V): the photo's own full-resolution luma
       with the model's chroma, so the luma is unchanged (up to rounding, and
       clipping of out-of-gamut colours).
    """
    return colorize_luma(model, task, photo_luma(image), side, resolution, temperature)


def colorize_luma(model, task, luma, side=32, resolution=None, temperature=None):
    """``colorize_photo`` from the photo's luma (float32 (H, W), 0..255, as ``photo_luma`` gives it), for a caller
    that shows the gray input too and so computes it once."""
    net = conv_core(model) if task in ("chroma", "chroma-bins") else None
    bins = getattr(model, "chroma_bins", None)
    if temperature is not None and bins is None:
        raise ValueError(f"a decoding temperature needs a vivid (chroma-bins) model, not a {task} one")
    decode = None if bins is None else (lambda planes: bins.decode(planes[None], temperature)[0])  # logits → U, V
    if resolution not in (None, "square") and net is None:
        raise ValueError(f"chroma resolution {resolution!r} needs a convolutional chroma model (a U-Net); "
                         f"this one runs at {side}x{side} only")
    was_training = model.training
    model.eval()
    try:
        if net is None or resolution == "square":
            u, v = _square_chroma(model, task, luma, side)
        else:
            chroma = conv_chroma(net, luma * (1 / 127.5) - 1.0, resolution or DEFAULT_RESOLUTION, model.device,
                                 decode=decode)
            u, v = chroma[:2] * 127.5
    finally:
        model.train(was_training)
    out = yuv_to_rgb(np.stack([luma, u, v], axis=-1))
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), mode="RGB")
