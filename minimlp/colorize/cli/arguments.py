"""Checks the commands run before any work: numeric options in range, output folders writable.

Each check raises ``ValueError`` with one line naming the option or the path
and what is wrong, and creates nothing, so a refused command leaves the disk
as it found it. The ranges are ``running.rules``', which ``sweep`` applies to
its grid too.
"""
import errno
import os
import tempfile

from ..running.rules import LIMITS, check_value


def check_numbers(args, keys=tuple(LIMITS)):
    """Refuse a numeric option of ``args`` outside its range (NaN included), naming the flag and the range."""
    for key in keys:
        check_value(key, getattr(args, key, None))


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
