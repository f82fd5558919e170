"""The ``colorize`` command's files: an output name per input photo, and every photo done despite bad ones.

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
import sys
import warnings

from ...atomic import atomic_path

MAX_PIXELS = 89_478_485   # Pillow's own guard against decompression bombs (about 9459x9459), the default limit
LONG_PHOTO_TILES = 16     # a photo of more tiles than this at native resolution says so and shows progress


def output_paths(inputs, out, overwrite=False):
    """One distinct output path per input; ValueError (before any work) if one is an input of this call, or
    exists and not ``overwrite``."""
    used, paths = set(), []
    for path in inputs:
        stem = os.path.splitext(os.path.basename(path))[0] + "_color"
        name, k = stem + ".png", 1
        while name in used:
            k += 1
            name = f"{stem}_{k}.png"
        used.add(name)
        paths.append(os.path.join(out, name))
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


class PhotoTooLarge(ValueError):
    """A photo of more pixels than the limit; the message says how many and which ``--max-pixels`` reads it."""


def _read_error(path, exc):
    """One line saying why ``path`` could not be read as an image."""
    from PIL import UnidentifiedImageError
    if isinstance(exc, FileNotFoundError):
        return f"cannot read image {path}: no such file"
    if isinstance(exc, IsADirectoryError):
        return f"cannot read image {path}: it is a folder"
    if isinstance(exc, UnidentifiedImageError):
        return f"cannot read image {path}: not an image format Pillow can open"
    return f"cannot read image {path}: {exc}"


def read_photo(path, max_pixels=MAX_PIXELS, note=None):
    """The photo at ``path``, decoded and upright (a PIL image; the file is closed).

    Its size is checked against ``max_pixels`` from the header, before decoding (``PhotoTooLarge``);
    ``note(text)`` is told when only the first of several frames is read.
    """
    from PIL import Image, ImageOps
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None   # this function applies its own limit, with a message that names it
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise PhotoTooLarge(f"cannot read image {path}: {width * height:,} pixels ({width}x{height}), "
                                        f"over the limit of {max_pixels:,}; pass --max-pixels {width * height} "
                                        f"to colorize it")
                frames = getattr(img, "n_frames", 1)
                if frames > 1 and note is not None:
                    note(f"{path} has {frames} frames (an animation); its first frame is colorized")
                img.load()
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    ImageOps.exif_transpose(img, in_place=True)   # a copy only where the orientation asks for one
    return img


def colorize_files(model, task, inputs, targets, resolution=None, max_pixels=MAX_PIXELS):
    """Colorize each input into its target; print each target (stdout) or why an input is unreadable (stderr).

    ``resolution`` is ``colorize_photo``'s (U-Net models: 'native' or a short side; None for the default).
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
            except (OSError, ValueError, SyntaxError) as exc:
                why = str(exc) if isinstance(exc, PhotoTooLarge) else _read_error(path, exc)
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
    print(f"minimlp-colorize colorize: note: {text}", file=sys.stderr)


def _tile_progress(path, image, resolution):
    """For a photo colorized at native resolution in many tiles: say so, and a progress bar over its tiles
    (on a terminal); None for a quick one."""
    if resolution != "native":
        return None
    from .photo_conv import TILE
    width, height = image.size
    count = -(-width // TILE) * -(-height // TILE)
    if count <= LONG_PHOTO_TILES:
        return None
    _say(f"{path}: {width}x{height} at native resolution, {count} tiles of {TILE}x{TILE}")
    from ...train.progress import progress
    return lambda corners: progress(corners, len(corners), os.path.basename(path), quiet=False)
