"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The file gets the mode a plain ``open(path, "w")`` would give it (0666 less
the user's umask), not the 0600 of the temporary file it is written through.
"""
import json
import os
import tempfile
from contextlib import contextmanager


@contextmanager
def atomic_path(path, suffix=".tmp"):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` (``os.replace``), on error it is removed.

    The folder is created if needed. Write the whole file to the yielded path
    (and close it) inside the ``with`` block.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _umask():
    """The process's umask (read by setting it and putting it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    return path


def write_json(obj, path):
    """Write ``obj`` as indented JSON (UTF-8, a final newline) to ``path`` atomically."""
    return write_text(path, json.dumps(obj, indent=2) + "\n")
