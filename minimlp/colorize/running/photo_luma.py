"""The luma (BT.601, 0..255) of a photo in any mode Pillow opens: 8-bit, with transparency (on white), 16-bit,
32-bit integer and float (scaled by the range that holds them). The rules: docs/colorizer.md.
"""
import numpy as np

from ...data.color import rgb_to_gray

BACKGROUND = 255.0
ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


def _value_range(values, is_float):
    """(low, high) of the data range an I or F image's values are read in."""
    lo, hi = float(values.min()), float(values.max())
    if lo >= 0:
        for top in ((1.0,) if is_float else ()) + (255.0, 65535.0):
            if hi <= top:
                return 0.0, top
    return lo, hi if hi > lo else lo + 1.0


def photo_luma(image):
    """float32 (H, W) luma in 0..255 of a PIL image of any mode (see the module docstring)."""
    mode = image.mode
    if mode in SIXTEEN_BIT:
        return (np.asarray(image, dtype=np.float64) * (255.0 / 65535.0)).astype(np.float32)
    if mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float64)
        lo, hi = _value_range(values, mode == "F")
        return np.clip((values - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.float32)
    if mode in ALPHA_MODES or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
        alpha = rgba[..., 3:] / 255.0
        rgb = rgba[..., :3] * alpha + BACKGROUND * (1.0 - alpha)
    else:
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    return rgb_to_gray(rgb)
