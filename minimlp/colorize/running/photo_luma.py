"""The luma (BT.601, 0..255) of a photo in any mode Pillow opens: 8-bit, with transparency (on white), 16-bit,
32-bit integer and float (scaled by the range that holds them). The rules: docs/colorizer.md.

The luma is computed a strip of rows at a time, so a large photo costs its float32 luma plane and one
strip's float copies, not float copies of the whole photo.
"""
import numpy as np

from ...data.color import rgb_to_gray

BACKGROUND = 255.0
ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
STRIP_PIXELS = 1 << 20   # pixels per strip of rows


def _value_range(lo, hi, is_float):
    """(low, high) of the data range an I or F image's values (lowest ``lo``, highest ``hi``) are read in."""
    if lo >= 0:
        for top in ((1.0,) if is_float else ()) + (255.0, 65535.0):
            if hi <= top:
                return 0.0, top
    return lo, hi if hi > lo else lo + 1.0


def _strip_luma(image, value_range):
    """float32 luma of one strip (a PIL image); ``value_range`` (low, high) for I and F images."""
    mode = image.mode
    if mode in SIXTEEN_BIT:
        return (np.asarray(image, dtype=np.float64) * (255.0 / 65535.0)).astype(np.float32)
    if mode in ("I", "F"):
        lo, hi = value_range
        values = np.asarray(image, dtype=np.float64)
        return np.clip((values - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.float32)
    if mode in ALPHA_MODES or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
        alpha = rgba[..., 3:] / 255.0
        rgb = rgba[..., :3] * alpha + BACKGROUND * (1.0 - alpha)
    else:
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    return rgb_to_gray(rgb)


def photo_luma(image):
    """float32 (H, W) luma in 0..255 of a PIL image of any mode (see the module docstring)."""
    width, height = image.size
    rows = max(1, STRIP_PIXELS // width)
    value_range = None
    if image.mode in ("I", "F"):   # one range for the whole photo, from Pillow's extrema (no float copy)
        lo, hi = (float(v) for v in image.getextrema())
        value_range = _value_range(lo, hi, image.mode == "F")
    luma = np.empty((height, width), dtype=np.float32)
    for r0 in range(0, height, rows):
        r1 = min(height, r0 + rows)
        luma[r0:r1] = _strip_luma(image.crop((0, r0, width, r1)), value_range)
    return luma
