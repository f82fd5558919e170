"""Photo files for ``colorize`` and ``serve``: reading a photo (upright, within the pixel limit), the one line
saying why one cannot be read, an output name per input, and every photo done despite bad ones.

Names: ``out/<stem>_color.png``. Inputs with the same stem (``a/x.jpg`` and
``b/x.png``) get ``x_color.png``, ``x_color_2.png``, … in the order given, so
nothing written in one call is overwritten by the same call. A name that
already exists from an earlier call is refused before any work unless
``overwrite``.
"""
import os
import sys
import warnings

from ...atomic import atomic_path

# The most pixels a photo may have: a 48-megapixel phone photo fits. Colorizing takes about 56 bytes a pixel at its
# peak, so 2.8 GB at the limit; Pillow's own guard against decompression bombs starts at 89 million.
MAX_PIXELS = 50_000_000
# What reading a bad file raises (Pillow: OSError for unknown or truncated formats, ValueError and SyntaxError for
# some broken headers; ``read_photo``: ValueError past the pixel limit)
READ_ERRORS = (OSError, ValueError, SyntaxError)


def output_names(inputs):
    """One distinct file name per input path or name: ``<stem>_color.png``, then ``<stem>_color_2.png``, …"""
    used, names = set(), []
    for path in inputs:
        stem = os.path.splitext(os.path.basename(path))[0] + "_color"
        name, k = stem + ".png", 1
        while name in used:
            k += 1
            name = f"{stem}_{k}.png"
        used.add(name)
        names.append(name)
    return names


def output_paths(inputs, out, overwrite=False):
    """One distinct output path per input; ValueError (before any work) if one exists and not ``overwrite``."""
    paths = [os.path.join(out, name) for name in output_names(inputs)]
    existing = [p for p in paths if os.path.exists(p)]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise ValueError(f"{existing[0]}{more} already exists from an earlier run: pass --overwrite to replace it, "
                         f"or choose another -o")
    return paths


def read_error(path, exc):
    """One line saying why ``path`` (a file's path or name) could not be read as an image (``exc``: what
    ``read_photo`` raised, one of ``READ_ERRORS``)."""
    from PIL import UnidentifiedImageError
    if isinstance(exc, FileNotFoundError):
        return f"cannot read image {path}: no such file"
    if isinstance(exc, IsADirectoryError):
        return f"cannot read image {path}: it is a folder"
    if isinstance(exc, UnidentifiedImageError):
        return f"cannot read image {path}: not an image format Pillow can open"
    return f"cannot read image {path}: {exc}"


def _too_many_pixels(what):
    return ValueError(f"{what}, more than the {MAX_PIXELS:,} a photo may have")


def read_photo(source):
    """The photo in ``source`` (a path or a binary file object), decoded and turned upright as its EXIF orientation
    says (a PIL image; the file is closed). ValueError, before decoding, if it has more than ``MAX_PIXELS`` pixels."""
    from PIL import Image, ImageOps
    with warnings.catch_warnings():   # the size is checked here, with its own message
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            opened = Image.open(source)
        except Image.DecompressionBombError:
            raise _too_many_pixels(f"more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels") from None
    with opened as img:
        width, height = img.size
        if width * height > MAX_PIXELS:
            raise _too_many_pixels(f"{width}x{height} is {width * height:,} pixels")
        img.load()
        return ImageOps.exif_transpose(img)


def colorize_files(model, task, inputs, targets, resolution=None):
    """Colorize each input into its target; print each target (stdout) or why an input is unreadable (stderr).

    ``resolution`` is ``colorize_photo``'s (U-Net models: 'native' or a short side; None for the default).

    Returns the number of inputs that could not be read. Only reading is
    caught: an error of the model itself stops the command as it should.
    """
    from .photo import colorize_photo
    failed = 0
    for path, target in zip(inputs, targets):
        try:
            image = read_photo(path)
        except READ_ERRORS as exc:
            print(f"minimlp-colorize colorize: error: {read_error(path, exc)}", file=sys.stderr)
            failed += 1
            continue
        result = colorize_photo(model, task, image, resolution=resolution)
        with atomic_path(target, suffix=".png") as tmp:
            result.save(tmp, format="PNG")
        print(target)
    return failed
