"""Colorizing photos of any size: the photo's full-resolution luma, with chroma the model predicts.

An MLP sees the photo shrunk to 32x32, its chroma upsampled (bicubic); the U-Net predicts chroma at native or
reduced resolution (``photo_conv``). Either way the output keeps the photo's own luma, so detail is kept.
The output is composed a strip of rows at a time (``STRIP_PIXELS`` each): a large photo costs its luma plane,
the 8-bit output and, at native resolution, the chroma planes, and no float copy of the whole colour image.
"""
import numpy as np
from PIL import Image

from ...backend import to_device, to_numpy
from ...data.color import rgb_to_yuv, yuv_to_rgb
from ..models.architectures import conv_core
from ..task.arrays import output_to_rgb
from .photo_conv import box_shrink, native_chroma, shrunk
from .photo_luma import photo_luma

DEFAULT_RESOLUTION = 32   # the U-Net's chroma is predicted with the photo's short side at 32 pixels (see photo_conv)
STRIP_PIXELS = 1 << 20   # pixels per strip of rows that a large photo is composed in


def _square_chroma(model, task, luma, side):
    """U and V (0..255 units, (2, side, side)) from the model run on the photo shrunk to side×side (any model)."""
    small = box_shrink(luma, (side, side))
    x = to_device((small * (1 / 127.5) - 1.0).reshape(1, side * side), model.device)
    predicted = to_numpy(output_to_rgb(model(x), x, task, bins=getattr(model, "chroma_bins", None)))
    small_rgb = (predicted.reshape(3, side, side).transpose(1, 2, 0) + 1.0) * 127.5
    return rgb_to_yuv(small_rgb.astype(np.float32))[..., 1:].transpose(2, 0, 1)


def _unit(luma):
    """Luma in 0..255 → the network's [-1, 1], in one new array."""
    x = luma * np.float32(1 / 127.5)
    x -= 1.0
    return x


def _rows_of(planes, size, resample):
    """A function (r0, r1) → the (U, V) planes at ``size`` = (width, height), rows r0..r1 only: slices when
    they are that size, else resized from ``planes`` (each strip as the whole plane's resize would give it)."""
    h, w = planes.shape[1:]
    width, height = size
    if (h, w) == (height, width):
        return lambda r0, r1: planes[:, r0:r1]
    images = [Image.fromarray(np.ascontiguousarray(p, dtype=np.float32), mode="F") for p in planes]
    return lambda r0, r1: [np.asarray(im.resize((width, r1 - r0), resample, box=(0, r0 * h / height, w,
                                                                                 r1 * h / height)))
                           for im in images]


def _compose(luma, planes, resample):
    """The 8-bit RGB image (PIL) of the luma with the chroma planes brought to its size, strip by strip."""
    height, width = luma.shape
    rows = max(1, STRIP_PIXELS // width)
    out = Image.new("RGB", (width, height))
    rows_of = _rows_of(planes, (width, height), resample)
    for r0 in range(0, height, rows):
        r1 = min(height, r0 + rows)
        u, v = rows_of(r0, r1)
        rgb = np.clip(np.rint(yuv_to_rgb(np.stack([luma[r0:r1], u, v], axis=-1))), 0, 255).astype(np.uint8)
        out.paste(Image.fromarray(rgb, mode="RGB"), (0, r0))
    return out


def colorize_photo(model, task, image, side=32, resolution=None, temperature=None, report=None):
    """A colour version (8-bit PIL RGB) of ``image`` (PIL, any mode; colour is turned to gray first).

    1. Y = BT.601 luma of the photo at full resolution (0..255), from any mode
       (``photo_luma``: 16-bit and float images by their range, transparency on white).
    2. and 3.: ``colorize_luma``.
    """
    return colorize_luma(model, task, photo_luma(image), side, resolution, temperature, report)


def colorize_luma(model, task, luma, side=32, resolution=None, temperature=None, report=None):
    """A colour image (8-bit PIL RGB) with luma ``luma`` (float32 (H, W), 0..255) and the chroma the model predicts.

    2. Chroma: for an MLP (or ``resolution`` 'square'), Y is shrunk to side×side
       (area-averaging), scaled to [-1, 1] and given to the model; the predicted
       colour image's U and V planes are upsampled (bicubic) to the photo's size.
       For the U-Net on the chroma task (or the vivid chroma-bins task, its logits decoded to U and V by the
       annealed mean pixel by pixel at ``temperature``, by default the model's own), U and V come from
       ``photo_conv.native_chroma`` run on Y at ``resolution``: 'native', or Y shrunk to that short side in
       pixels (default ``DEFAULT_RESOLUTION``) and the chroma upsampled bilinearly. ``report`` wraps the
       native path's list of tiles (a progress bar).
    3. The result is yuv_to_rgb(Y, U, V): the photo's own full-resolution luma
       with the model's chroma, so the luma is unchanged (up to rounding, and
       clipping of out-of-gamut colours).
    """
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
            planes, resample = _square_chroma(model, task, luma, side), Image.BICUBIC
        else:
            resolution = resolution or DEFAULT_RESOLUTION
            seen = luma if resolution == "native" else shrunk(luma, int(resolution))
            planes = native_chroma(net, _unit(seen), model.device, decode=decode, report=report)[:2]
            planes *= 127.5
            resample = Image.BILINEAR
    finally:
        model.train(was_training)
    return _compose(luma, planes, resample)
