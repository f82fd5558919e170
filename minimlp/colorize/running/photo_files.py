"""Photo files for ``colorize`` and ``serve``: reading a photo (upright, within the pixel limit), the one line
saying why one cannot be read, an output name per input, and every photo done despite bad ones.

Names: ``out/<stem>_color.png``. Inputs with the same stem (``a/x.jpg`` and
``b/x.png``) get ``x_color.png``, ``x_color_2.png``, … in the order given, so
nothing written in one call is overwritten by the same call. A name that
already exists from an earlier call is refused before any work unless
``overwrite``; a name that is one of the call's own inputs is refused always.

A photo is read upright (its EXIF orientation applied, as viewers show it), an
animated one by its first frame (said on stderr), and one of more than
``max_pixels`` pixels is refused with one line before it is decoded.
"""
import os
import re
import sys
import threading
import warnings

from ...atomic import atomic_path

# The most pixels a photo may have by default: a 48-megapixel phone photo fits. Colorizing is done in strips and
# tiles (``photo``, ``photo_luma``), so the peak is about 10 bytes a pixel (measured: 24 MP in 237 MB more than a
# small photo; tests/test_cli_photos.py): 0.5 GB at the limit. Pillow's own guard
# against decompression bombs starts at 89 million; ``read_photo`` lifts it only for a larger limit asked for.
MAX_PIXELS = 50_000_000
# What reading a bad file raises (Pillow: OSError for unknown or truncated formats, ValueError and SyntaxError for
# some broken headers; ``read_photo``: ValueError past the pixel limit)
READ_ERRORS = (OSError, ValueError, SyntaxError)
_PILLOW_GUARD = threading.Lock()   # held while Pillow's guard is lifted for a limit above it


class PhotoTooLarge(ValueError):
    """A photo of more pixels than the limit (``pixels``: how many it has, when its header says)."""

    def __init__(self, message, pixels=None):
        super().__init__(message)
        self.pixels = pixels


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
    """One distinct output path per input; ValueError (before any work) if one is an input of this call, or
    exists and not ``overwrite``."""
    paths = [os.path.join(out, name) for name in output_names(inputs)]
    for source, target in zip(inputs, paths):
        clash = next((i for i in inputs if _same_file(i, target)), None)
        if clash is not None:
            raise ValueError(f"the output of {source} would be {target}, which is also an input of this call "
                             f"({clash}); it is never written over: choose another -o")
    existing = [p for p in paths if os.path.exists(p)]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise ValueError(f"{existing[0]}{more} already exists from an earlier run: pass --overwrite to replace it, "
                         f"or choose another -o")
    return paths


def _same_file(a, b):
    """Whether paths ``a`` and ``b`` name one file (the same path, a link to it, or a hard link)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


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


def _open(source, max_pixels):
    """``Image.open(source)`` (not decoded), with Pillow's bomb guard lifted when ``max_pixels`` is above it
    (``read_photo`` applies its own limit to every photo); ``PhotoTooLarge`` where Pillow's guard refuses it."""
    from PIL import Image
    with warnings.catch_warnings():   # the size is checked by the caller, with its own message
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        guard = Image.MAX_IMAGE_PIXELS
        if guard is None or max_pixels <= guard:
            try:
                return Image.open(source)
            except Image.DecompressionBombError as exc:
                found = re.search(r"\((\d+) pixels\)", str(exc))
                pixels = int(found.group(1)) if found else None
                what = f"{pixels:,} pixels" if pixels else f"more than {2 * guard:,} pixels"
                raise PhotoTooLarge(f"{what}, more than the {max_pixels:,} a photo may have", pixels) from None
        with _PILLOW_GUARD:
            Image.MAX_IMAGE_PIXELS = None
            try:
                return Image.open(source)
            finally:
                Image.MAX_IMAGE_PIXELS = guard


def read_photo(source, max_pixels=MAX_PIXELS, note=None):
    """The photo in ``source`` (a path or a binary file object), decoded and turned upright as its EXIF orientation
    says (a PIL image; the file is closed). ``PhotoTooLarge`` (a ValueError), before decoding, if it has more than
    ``max_pixels`` pixels; ``note(text)`` is told when only the first of several frames is read."""
    from PIL import ImageOps
    with _open(source, max_pixels) as img:
        width, height = img.size
        if width * height > max_pixels:
            raise PhotoTooLarge(f"{width}x{height} is {width * height:,} pixels, more than the {max_pixels:,} "
                                f"a photo may have", width * height)
        frames = getattr(img, "n_frames", 1)
        if frames > 1 and note is not None:
            note(f"{source} has {frames} frames (an animation); its first frame is colorized")
        img.load()
        return ImageOps.exif_transpose(img)


def colorize_files(model, task, inputs, targets, resolution=None, max_pixels=MAX_PIXELS):
    """Colorize each input into its target; print each target (stdout) or why an input is unreadable (stderr).

    ``resolution`` is ``colorize_photo``'s (U-Net models: 'native' or a short side; None for the default).
    A photo over ``max_pixels`` gets one line naming the ``--max-pixels`` that would read it.
    The targets' folder is created with the first output: a call that writes nothing (every input
    unreadable, or interrupted before the first) leaves no empty folder behind.

    Returns the number of inputs that could not be read. Only reading is
    caught: an error of the model itself stops the command as it should.
    """
    from .photo import colorize_luma
    from .photo_luma import photo_luma
    missing = sorted({f for t in targets for f in _missing_folders(os.path.dirname(os.path.abspath(t)))},
                     key=len, reverse=True)
    failed = 0
    try:
        for path, target in zip(inputs, targets):
            try:
                image = read_photo(path, max_pixels, note=_say)
            except READ_ERRORS as exc:
                why = read_error(path, exc)
                if getattr(exc, "pixels", None):
                    why += f"; pass --max-pixels {exc.pixels} to colorize it"
                print(f"minimlp-colorize colorize: error: {why}", file=sys.stderr)
                failed += 1
                continue
            report = _tile_progress(path, image, resolution)
            luma = photo_luma(image)
            del image   # the decoded photo is not needed again: a large one's memory goes back now
            result = colorize_luma(model, task, luma, resolution=resolution, report=report)
            del luma
            with atomic_path(target, suffix=".png") as tmp:
                result.save(tmp, format="PNG")
            print(target, flush=True)
    finally:
        for folder in missing:   # deepest first
            if os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)
    return failed


def _missing_folders(folder):
    """``folder`` and those of its parents that do not exist yet (what writing into it would create)."""
    missing = []
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        missing.append(folder)
        folder = os.path.dirname(folder)
    return missing


def _say(text):
    """A note on stderr, as ``colorize`` words it."""
    print(f"minimlp-colorize colorize: note: {text}", file=sys.stderr)


LONG_PHOTO_TILES = 16     # a photo of more tiles than this at native resolution says so and shows progress


def _tile_progress(path, image, resolution):
    """At native resolution, ``report(corners, tile)`` for ``native_chroma``: for a photo of many tiles, it says
    so and shows a progress bar over them (on a terminal); None at any other resolution."""
    if resolution != "native":
        return None
    width, height = image.size

    def report(corners, tile):
        if len(corners) <= LONG_PHOTO_TILES:
            return corners
        _say(f"{path}: {width}x{height} at native resolution, {len(corners)} tiles of {tile}x{tile}")
        from ...train.progress import progress
        return progress(corners, len(corners), os.path.basename(path), quiet=False)
    return report
