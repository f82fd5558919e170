"""Photo files the colorizer's tests read: a crafted PNG header of any size (no pixel data), a photo with an EXIF
orientation, a text file."""
import struct
import zlib

import numpy as np
from PIL import Image


def png_header(width, height):
    """The bytes of a PNG whose header says width x height (8-bit gray) and which holds no pixels: Pillow opens it
    (and knows its size) but cannot decode it."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def gradient_rgb(height=40, width=48):
    """An RGB gradient (uint8 H x W x 3), different in every row and column."""
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([60 + 3 * xx, 50 + 3 * yy, 200 - 2 * xx - yy], axis=-1)
    return np.clip(rgb, 30, 220).astype(np.uint8)


def save_with_orientation(path, rgb, orientation, format=None):
    """Save ``rgb`` with EXIF orientation tag ``orientation`` (1..8)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(rgb).save(path, format=format, exif=exif.tobytes())


# the stored array turned upright as each EXIF orientation says (the TIFF/EXIF definition of tag 0x0112)
UPRIGHT = {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
           7: lambda a: a[::-1, ::-1].transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1)}
