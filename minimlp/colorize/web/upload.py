"""One uploaded photo colorized into PNGs: the result, the gray input the model saw and, for a colour photo, the
original; read with the ``colorize`` command's own reader, limits and one-line messages."""
import io
import time

import numpy as np
from PIL import Image

from ..running.photo import colorize_luma
from ..running.photo_files import READ_ERRORS, read_error, read_photo
from ..running.photo_luma import photo_luma

# the most bytes one upload may have (a 50-megapixel photo is under 150 MB as 8-bit RGB; a JPEG of it far less)
MAX_UPLOAD_BYTES = 160 * 2 ** 20
# a photo counts as colour when some pixel's R, G and B differ by more than this (a gray JPEG saved as RGB differs
# by a level or two)
COLOUR_SPREAD = 3
# the stages reported while a photo is worked on, in order
STAGES = ("waiting", "reading", "colorizing", "encoding")
MAX_NAME = 120


class PhotoError(ValueError):
    """Why a photo was not colorized, in one line (the same line ``minimlp-colorize colorize`` prints)."""


def upload_name(text):
    """The file name an upload is known by: the last part of ``text`` (no folders), printable, at most 120
    characters; "photo" when nothing is left."""
    name = "".join(c for c in (text or "").replace("\\", "/").rsplit("/", 1)[-1] if c.isprintable())
    return name[-MAX_NAME:] or "photo"


def too_large(name, size):
    """The one-line refusal of an upload of ``size`` bytes, past ``MAX_UPLOAD_BYTES``."""
    return PhotoError(f"cannot read image {name}: {size / 2 ** 20:,.1f} MiB, more than the "
                      f"{MAX_UPLOAD_BYTES / 2 ** 20:g} MiB an upload may have")


def is_colour(image):
    """Whether a photo (PIL, any mode) holds colour: a colour mode with some pixel not gray."""
    if image.mode in ("1", "L", "LA", "La", "I", "F") or image.mode.startswith("I;16"):
        return False
    rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    return int((rgb.max(axis=-1) - rgb.min(axis=-1)).max()) > COLOUR_SPREAD


def png_bytes(image, compress_level=1):
    """``image`` as PNG file bytes, at zlib level 1: on a 24-megapixel photo 1 s against 4 s at Pillow's default 6
    (which ``colorize`` writes), for a file about a third larger; the pixels are the same."""
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=compress_level)
    return out.getvalue()


class Colorized:
    """A colorized upload: its name, the photo's size, and PNG bytes of the result, the gray input and (for a colour
    photo; else None) the original, upright."""

    def __init__(self, name, size, result, gray, original, seconds):
        self.name, self.size, self.seconds = name, size, seconds
        self.pngs = {"result": result, "gray": gray}
        if original is not None:
            self.pngs["original"] = original

    @property
    def nbytes(self):
        return sum(len(png) for png in self.pngs.values())


def colorize_upload(data, name, choice, temperature=None, report=lambda stage: None):
    """Colorize the photo in ``data`` (the file's bytes) with ``choice`` (a ``ModelChoice``); ``report(stage)``
    is called as each of ``STAGES[1:]`` begins. PhotoError, one line, for a file that is not a readable photo."""
    started = time.perf_counter()
    report("reading")
    if len(data) > MAX_UPLOAD_BYTES:
        raise too_large(name, len(data))
    try:
        image = read_photo(io.BytesIO(data))
    except READ_ERRORS as exc:
        raise PhotoError(read_error(name, exc)) from None
    report("colorizing")
    luma = photo_luma(image)
    result = colorize_luma(choice.model, choice.task, luma, temperature=temperature)
    report("encoding")
    gray = Image.fromarray(np.clip(np.rint(luma), 0, 255).astype(np.uint8))
    original = None
    if is_colour(image):
        original = png_bytes(image.convert("RGBA" if "A" in image.mode or "transparency" in image.info else "RGB"))
    return Colorized(name, image.size, png_bytes(result), png_bytes(gray), original, time.perf_counter() - started)

