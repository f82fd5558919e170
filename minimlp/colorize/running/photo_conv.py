"""Chroma for a photo of any size from the fully convolutional U-Net: at native resolution (reflect-padded to
multiples of 4, in tiles with a margin beyond the receptive field) or at a reduced one (short side S, chroma
upsampled). How and why: docs/colorizer.md.
"""
import contextlib
import math

import numpy as np
from PIL import Image

from ...backend import to_device, to_numpy
from ...nn import Module

TILE = 192
MARGIN = 32


def _levels_multiple(net):
    """2^(number of poolings) of a ``nn.unet.unet``: the multiple its input sides must be."""
    from ...nn import MaxPool2d
    return 2 ** sum(isinstance(m, MaxPool2d) for m in net.modules())


def receptive_radius(module, scale=1, context_fixed=False):
    """(r, scale out): how many input pixels beyond a tile an output pixel of ``module`` can see (an upper
    bound), for the layers a U-Net is made of, and the module's output stride in input pixels; r is infinite
    past a ``GlobalFusion`` (every pixel sees the whole image) unless ``context_fixed`` (its branch's output
    given, the fusion sees only the pixel)."""
    from ... import nn
    from ...nn.checks import pair
    if isinstance(module, nn.Sequential):
        radius = 0
        for child in module:
            r, scale = receptive_radius(child, scale, context_fixed)
            radius += r
        return radius, scale
    if isinstance(module, nn.GlobalFusion):
        return (0 if context_fixed else math.inf), scale
    if hasattr(module, "block"):   # a skip (Concat, Residual) or a wrapper: the block's path is the longer
        return receptive_radius(module.block, scale, context_fixed)[0], scale
    if isinstance(module, nn.Conv2d):
        reach = max(-(-(k - 1) * d // 2) for k, d in zip(module.kernel_size, module.dilation))  # centred
        return reach * scale, scale * max(module.stride)
    if isinstance(module, nn.MaxPool2d):
        return (max(pair(module.kernel_size)) - 1) * scale, scale * max(pair(module.stride))
    if isinstance(module, nn.ConvTranspose2d):
        return (max(module.kernel_size) - 1) * scale, scale // max(module.stride)
    return 0, scale


def tile_margin(net, context_fixed=False):
    """The tiles' margin for ``net``: ``MARGIN``, or its receptive radius rounded up to the poolings' multiple
    when that is wider (a fourth level, dilated convolutions); infinite with a global-context branch, unless
    ``context_fixed`` (its vector given: ``whole_image_context``)."""
    radius = receptive_radius(net, context_fixed=context_fixed)[0]
    multiple = _levels_multiple(net)
    return max(MARGIN, radius if math.isinf(radius) else -(-int(radius) // multiple) * multiple)


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


def tiles(height, width, tile=TILE):
    """The (row, column) corners of the tiles covering a (height, width) plane, row by row."""
    return [(r0, c0) for r0 in range(0, height, tile) for c0 in range(0, width, tile)]


def tile_size(margin):
    """The side of the square tiles a photo is cut into around a ``margin``: ``TILE``, or 4 margins when wider.

    Each tile runs with its margin on every side, (t + 2m)² pixels for the t² it keeps: at t ≥ 4m that work is
    at most 2.25x the tile's own (the four-level U-Net's 72-pixel margin around 192-pixel tiles made it 3.1x).
    """
    return max(TILE, 4 * margin)


def native_chroma(net, luma, device="cpu", tile=None, margin=None, decode=None, report=None):
    """The output planes (C, H, W; U and V for the chroma task) at the luma plane's own resolution.

    ``luma``: (H, W) in [-1, 1]. ``margin``: the real neighbours each tile sees beyond its edges (default
    ``tile_margin(net)``); ``tile``: the tiles' side (default ``tile_size(margin)``). ``report(corners, tile)``,
    when given, wraps the list of tile corners (a progress bar).
    A network with a global-context branch sees the whole image: in tiles, its branch's input is averaged over
    every tile first (``whole_image_context``), so the tiles give what one run on the whole image would.
    """
    h, w = luma.shape
    padded = _pad_to(luma, _levels_multiple(net))
    fused = bool(_fusions(net))
    margin = tile_margin(net, context_fixed=fused) if margin is None else margin
    tile = tile_size(margin) if tile is None else tile
    corners = tiles(*padded.shape, tile)
    if len(corners) > 1 and fused:
        with whole_image_context(net, padded, corners, tile, margin, device):
            return _tiled(net, padded, corners, tile, margin, device, decode, report)[:, :h, :w]
    return _tiled(net, padded, corners, tile, margin, device, decode, report)[:, :h, :w]


def _regions(padded, corners, tile, margin):
    """For each tile: its corner, its far corner, and the corner of the region run (the tile and its margin)."""
    hp, wp = padded.shape
    for r0, c0 in corners:
        r1, c1 = min(r0 + tile, hp), min(c0 + tile, wp)
        a, b = max(0, r0 - margin), max(0, c0 - margin)
        yield (r0, c0), (r1, c1), (a, b), padded[a:min(hp, r1 + margin), b:min(wp, c1 + margin)]


def _tiled(net, padded, corners, tile, margin, device, decode, report):
    out = None
    shown = corners if report is None else report(corners, tile)
    for ((r0, c0), (r1, c1), (a, b), region), _ in zip(_regions(padded, corners, tile, margin), shown):
        part = _run(net, region, device, decode)
        if out is None:
            out = np.empty((len(part), *padded.shape), dtype=np.float32)
        out[:, r0:r1, c0:c1] = part[:, r0 - a:r1 - a, c0 - b:c1 - b]
    return out


def _fusions(net):
    from ...nn import GlobalFusion
    return [m for m in net.modules() if isinstance(m, GlobalFusion)]


class _Seen(Module):
    """Its block's output, keeping the input it saw (the global-context branch's, tile by tile)."""

    def __init__(self, block):
        super().__init__()
        self.block = block
        self.seen = None

    def forward(self, x):
        self.seen = x
        return self.block(x)


class _Fixed(Module):
    """The same output whatever the input: the whole image's global-context vector."""

    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, x):
        return self.value


@contextlib.contextmanager
def whole_image_context(net, padded, corners, tile, margin, device):
    """While inside: ``net``'s global-context branch gives the whole padded image's vector, whatever tile it
    runs on. The branch (a global average first, as ``unet.global_context``'s) is run once on its input's mean
    over the whole image, summed tile by tile over each tile's own cells (exact: ``margin`` covers what those
    cells see). One branch per network."""
    fusions = _fusions(net)
    if len(fusions) != 1:
        raise ValueError(f"photos in tiles: a network with {len(fusions)} global-context branches (one is handled)")
    fusion = fusions[0]
    branch = fusion.block
    seen = _Seen(branch)
    fusion.block = seen
    try:
        total, cells = 0.0, 0
        for (r0, c0), (r1, c1), (a, b), region in _regions(padded, corners, tile, margin):
            net(to_device(np.ascontiguousarray(region, dtype=np.float32)[None, None], device))
            x = to_numpy(seen.seen)[0]
            step = region.shape[0] // x.shape[1]   # the branch's input stride in pixels
            own = x[:, (r0 - a) // step:(r1 - a) // step, (c0 - b) // step:(c1 - b) // step]
            total = total + own.sum(axis=(1, 2), dtype=np.float64)
            cells += own.shape[1] * own.shape[2]
        mean = to_device((total / cells).astype(np.float32)[None, :, None, None], device)
        fusion.block = _Fixed(branch(mean))
        yield
    finally:
        fusion.block = branch


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


def box_shrink(plane, size, rows=1024):
    """``plane`` (H, W) shrunk to ``size`` = (width, height) by area-averaging (Pillow's BOX filter), a band of
    about ``rows`` source rows at a time: the values of one whole-plane resize, bit for bit, without a float
    copy of the whole plane (a large photo's luma)."""
    height_in, width_in = plane.shape
    width, height = size
    step = max(1, rows * height // height_in)   # output rows per band
    out = np.empty((height, width), dtype=np.float32)
    for j0 in range(0, height, step):
        j1 = min(height, j0 + step)
        top, bottom = j0 * height_in / height, j1 * height_in / height
        a, b = int(top), min(height_in, math.ceil(bottom))
        band = Image.fromarray(np.ascontiguousarray(plane[a:b], dtype=np.float32), mode="F")
        out[j0:j1] = np.asarray(band.resize((width, j1 - j0), Image.BOX, box=(0, top - a, width_in, bottom - a)))
    return out


def shrunk(plane, short_side):
    """``plane`` (H, W) shrunk (area-averaging) to short side ``short_side``, or itself when not larger."""
    h, w = plane.shape
    size = reduced_size(h, w, short_side)
    return plane if size == (w, h) else box_shrink(plane, size)


def reduced_chroma(net, luma, short_side=32, device="cpu", decode=None):
    """Output planes (C, H, W): predicted with the short side shrunk to ``short_side``, upsampled bilinearly."""
    h, w = luma.shape
    small = native_chroma(net, shrunk(luma, short_side), device, decode=decode)
    return small if small.shape[1:] == (h, w) else np.stack([_resize(p, (w, h), Image.BILINEAR) for p in small])
