"""The ``colorize`` command's files: an output name per input photo, and every photo done despite bad ones.

Names: ``out/<stem>_color.png``. Inputs with the same stem (``a/x.jpg`` and
``b/x.png``) get ``x_color.png``, ``x_color_2.png``, … in the order given, so
nothing written in one call is overwritten by the same call. A name that
already exists from an earlier call is refused before any work unless
``overwrite``.
"""
import os
import sys

from ...atomic import atomic_path


def output_paths(inputs, out, overwrite=False):
    """One distinct output path per input; ValueError (before any work) if one exists and not ``overwrite``."""
    used, paths = set(), []
    for path in inputs:
        stem = os.path.splitext(os.path.basename(path))[0] + "_color"
        name, k = stem + ".png", 1
        while name in used:
            k += 1
            name = f"{stem}_{k}.png"
        used.add(name)
        paths.append(os.path.join(out, name))
    existing = [p for p in paths if os.path.exists(p)]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise ValueError(f"{existing[0]}{more} already exists from an earlier run: pass --overwrite to replace it, "
                         f"or choose another -o")
    return paths


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


def read_photo(path):
    """The photo at ``path``, decoded (a PIL image; the file is closed)."""
    from PIL import Image
    with Image.open(path) as img:
        img.load()
    return img


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
        except (OSError, ValueError, SyntaxError) as exc:
            print(f"minimlp-colorize colorize: error: {_read_error(path, exc)}", file=sys.stderr)
            failed += 1
            continue
        result = colorize_photo(model, task, image, resolution=resolution)
        with atomic_path(target, suffix=".png") as tmp:
            result.save(tmp, format="PNG")
        print(target)
    return failed
