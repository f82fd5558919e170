"""Colour conversions on arrays (..., 3), NumPy or CuPy, keeping float32 float32: BT.601 luma and YUV, the
paper's [-1, 1] scaling, CIE L*a*b*. Each function's formula and conventions: docs/data.md.
"""
import numpy as np

from minimlp.backend import get_array_module

BT601_WEIGHTS = (0.299, 0.587, 0.114)
BGR_AS_RGB_WEIGHTS = (0.114, 0.587, 0.299)  # what cv2.COLOR_BGR2GRAY does to RGB data

_WR, _WG, _WB = BT601_WEIGHTS
_UMAX, _VMAX = 0.436, 0.615
_RGB_TO_YUV = np.array([
    [_WR, _WG, _WB],
    [-_UMAX * _WR / (1 - _WB), -_UMAX * _WG / (1 - _WB), _UMAX],
    [_VMAX, -_VMAX * _WG / (1 - _WR), -_VMAX * _WB / (1 - _WR)],
])
_YUV_TO_RGB = np.linalg.inv(_RGB_TO_YUV)

_RGB_TO_XYZ = np.array([  # sRGB primaries, D65 white
    [0.4124564, 0.3575761, 0.1804375],
    [0.2126729, 0.7151522, 0.0721750],
    [0.0193339, 0.1191920, 0.9503041],
])
_WHITE = _RGB_TO_XYZ.sum(axis=1)
_RGB_TO_XYZN = _RGB_TO_XYZ / _WHITE[:, None]      # XYZ already divided by the white point
_XYZN_TO_RGB = np.linalg.inv(_RGB_TO_XYZN)
_DELTA = 6.0 / 29.0


def _float(x):
    """(xp, x as a floating array): integer input becomes float32, floats keep their dtype."""
    xp = get_array_module(x)
    x = xp.asarray(x)
    if x.shape[-1:] != (3,):
        raise ValueError(f"expected a trailing channel axis of 3, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(xp.float32)
    return xp, x


def _apply(matrix, x):
    """``matrix @ pixel`` for every pixel of ``x`` (..., 3), in x's dtype."""
    xp, x = _float(x)
    return x @ xp.asarray(matrix.T, dtype=x.dtype)


def rgb_to_gray(rgb, weights=BT601_WEIGHTS, keepdims=False):
    """Luma ``w_r R + w_g G + w_b B`` of (..., 3) -> (...) (or (..., 1) with keepdims)."""
    xp, x = _float(rgb)
    wr, wg, wb = (float(w) for w in weights)
    y = x[..., 0] * wr + x[..., 1] * wg + x[..., 2] * wb
    return y[..., None] if keepdims else y


def to_unit_range(x, dtype=np.float32):
    """8-bit pixels (0..255) -> [-1, 1]: ``x / 127.5 - 1`` in ``dtype`` (float32 by default)."""
    xp = get_array_module(x)
    return xp.asarray(x).astype(dtype) / 127.5 - 1.0


def from_unit_range(y):
    """[-1, 1] -> uint8: ``round((y + 1) * 127.5)``, clipped to 0..255."""
    xp = get_array_module(y)
    y = xp.asarray(y)
    return xp.clip(xp.rint((y + 1.0) * 127.5), 0, 255).astype(xp.uint8)


def rgb_to_yuv(rgb):
    """BT.601 analog YUV of RGB (any scale; linear)."""
    return _apply(_RGB_TO_YUV, rgb)


def yuv_to_rgb(yuv):
    """Inverse of ``rgb_to_yuv``."""
    return _apply(_YUV_TO_RGB, yuv)


def _srgb_to_linear(xp, c):
    return xp.where(c <= 0.04045, c / 12.92, ((xp.maximum(c, 0.04045) + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(xp, c):
    return xp.where(c <= 0.0031308, c * 12.92,
                    1.055 * xp.maximum(c, 0.0031308) ** (1.0 / 2.4) - 0.055)


def rgb_to_lab(rgb):
    """CIE L*a*b* (D65) of sRGB in [0, 1]; L in [0, 100], a and b roughly [-128, 127]."""
    xp, x = _float(rgb)
    xyz = _apply(_RGB_TO_XYZN, _srgb_to_linear(xp, x))
    t0 = _DELTA ** 3
    f = xp.where(xyz > t0, xp.cbrt(xp.maximum(xyz, t0)), xyz / (3 * _DELTA ** 2) + 4.0 / 29.0)
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    return xp.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb(lab):
    """Inverse of ``rgb_to_lab``: sRGB, not clipped (out-of-gamut colours leave [0, 1])."""
    xp, x = _float(lab)
    fy = (x[..., 0] + 16.0) / 116.0
    f = xp.stack([fy + x[..., 1] / 500.0, fy, fy - x[..., 2] / 200.0], axis=-1)
    xyz = xp.where(f > _DELTA, f ** 3, (f - 4.0 / 29.0) * (3 * _DELTA ** 2))
    return _linear_to_srgb(xp, _apply(_XYZN_TO_RGB, xyz))
