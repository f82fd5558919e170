"""Checks the commands run before any work: numeric options in range, output folders writable.

Each check raises ``ValueError`` with one line naming the option or the path
and what is wrong, and creates nothing, so a refused command leaves the disk
as it found it.
"""
import errno
import os
import tempfile

from ..models.architectures import needs_two_images

# option name -> (test, what it must be); None values (not given) are not checked
TRAIN_LIMITS = {
    "epochs": (lambda v: v >= 1, "at least 1"),
    "batch_size": (lambda v: v >= 1, "at least 1"),
    "lr": (lambda v: v > 0, "greater than 0"),
    "weight_decay": (lambda v: v >= 0, "0 or more"),
    "train_size": (lambda v: v >= 2, "at least 2 (BatchNorm needs two images to train on)"),
}


def check_numbers(args, limits=TRAIN_LIMITS):
    """Refuse a numeric option outside its range (NaN included), naming the flag and the range."""
    for key, (ok, what) in limits.items():
        value = getattr(args, key, None)
        if value is not None and not (value == value and ok(value)):
            raise ValueError(f"--{key.replace('_', '-')} {value}: must be {what}")


def check_batchnorm_batch(config):
    """A model with BatchNorm1d cannot train on batches of one image."""
    if needs_two_images(config) and config["training"]["batch_size"] < 2:
        raise ValueError(f"--batch-size {config['training']['batch_size']}: {config['model']} has BatchNorm, "
                         f"which needs at least 2 images per batch to train")


def check_output_folder(path, flag):
    """Refuse ``path`` as an output folder when it is a file or cannot be written; create nothing.

    The nearest folder that exists (``path`` itself or a parent) is probed by
    creating and removing a temporary file in it, which catches read-only file
    systems and missing permissions alike (``os.access`` does not for root).
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{flag} {path} is a file, not a folder: choose a folder for the outputs")
    folder = os.path.abspath(path)
    while not os.path.isdir(folder):
        parent = os.path.dirname(folder)
        if os.path.exists(folder) or parent == folder:
            raise ValueError(f"{flag} {path}: {folder} is not a folder")
        folder = parent
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        why = "read-only file system" if exc.errno == errno.EROFS else (exc.strerror or str(exc)).lower()
        raise ValueError(f"{flag} {path}: cannot write in {folder} ({why})") from None
