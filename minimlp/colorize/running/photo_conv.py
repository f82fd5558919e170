"""Chroma for a photo of any size from the fully convolutional U-Net: at native resolution (reflect-padded to
multiples of 4, in tiles with a margin beyond the receptive field) or at a reduced one (short side S, chroma
upsampled). How and why: docs/colorizer.md.
"""
import numpy as np
from PIL import Image

from ...backend import to_device, to_numpy

TILE = 192
MARGIN = 32


def _levels_multiple(net):
    """2^(number of poolings) of a ``nn.unet.unet``: the multiple its input sides must be."""
    from ...nn import MaxPool2d
    return 2 ** sum(isinstance(m, MaxPool2d) for m in net.modules())


def _pad_to(plane, multiple):
    """``plane`` padded at the bottom and right to multiples of ``multiple`` (reflect, or edge when too small)."""
    h, w = plane.shape
    ph, pw = -h % multiple, -w % multiple
    mode = "reflect" if ph < h and pw < w else "edge"
    return np.pad(plane, ((0, ph), (0, pw)), mode=mode)


def _run(net, y, device, decode=None):
    """The network's output planes (C, h, w) on one luma plane (h, w), in float32; ``decode(planes)`` of them
    when given (the vivid model's logits over chroma bins → U and V, pixel by pixel)."""
    x = to_device(np.ascontiguousarray(y, dtype=np.float32)[None, None], device)
    planes = to_numpy(net(x))[0]
    return planes if decode is None else decode(planes)


def native_chroma(net, luma, device="cpu", tile=TILE, margin=MARGIN, decode=None):
    """The output planes (C, H, W; U and V for the chroma task) at the luma plane's own resolution.

    ``luma``: (H, W) in [-1, 1].
    """
    h, w = luma.shape
    padded = _pad_to(luma, _levels_multiple(net))
    hp, wp = padded.shape
    out = None
    for r0 in range(0, hp, tile):
        for c0 in range(0, wp, tile):
            r1, c1 = min(r0 + tile, hp), min(c0 + tile, wp)
            a, b = max(0, r0 - margin), max(0, c0 - margin)
            part = _run(net, padded[a:min(hp, r1 + margin), b:min(wp, c1 + margin)], device, decode)
            if out is None:
                out = np.empty((len(part), hp, wp), dtype=np.float32)
            out[:, r0:r1, c0:c1] = part[:, r0 - a:r1 - a, c0 - b:c1 - b]
    return out[:, :h, :w]


def _resize(plane, size, resample):
    """A float32 (H, W) plane resized to ``size`` = (width, height)."""
    return np.asarray(Image.fromarray(np.asarray(plane, dtype=np.float32), mode="F").resize(size, resample),
                      dtype=np.float32)


def reduced_size(height, width, short_side):
    """(width, height) with the short side ``short_side`` and the aspect kept (the photo's own if already smaller)."""
    short = min(height, width)
    if short <= short_side:
        return width, height
    scale = short_side / short
    return max(1, round(width * scale)), max(1, round(height * scale))


def reduced_chroma(net, luma, short_side=32, device="cpu", decode=None):
    """Output planes (C, H, W): predicted with the short side shrunk to ``short_side``, upsampled bilinearly."""
    h, w = luma.shape
    size = reduced_size(h, w, short_side)
    if size == (w, h):
        return native_chroma(net, luma, device, decode=decode)
    small = native_chroma(net, _resize(luma, size, Image.BOX), device, decode=decode)
    return np.stack([_resize(p, (w, h), Image.BILINEAR) for p in small])


def conv_chroma(net, luma, resolution=32, device="cpu", decode=None):
    """Output planes (C, H, W) for ``resolution``: 'native', or the short side (an int) to predict at."""
    if resolution == "native":
        return native_chroma(net, luma, device, decode=decode)
    return reduced_chroma(net, luma, int(resolution), device, decode=decode)
