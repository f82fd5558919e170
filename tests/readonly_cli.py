"""Run ``minimlp-colorize`` as if the folder ``$READONLY_ROOT`` were on a read-only file system.

Root writes into any folder whatever its permissions, so tests that run as root
cannot make a read-only folder with chmod. This runner makes every call that
would create or change something under ``$READONLY_ROOT`` (``os.open`` for
writing, ``open`` for writing, ``mkdir``, ``rename``/``replace``, ``remove``)
fail with EROFS, as the kernel does on a read-only mount, and then runs the
command line with the arguments given: ``python readonly_cli.py train --out …``.
"""
import builtins
import errno
import os
import sys

ROOT = os.path.abspath(os.environ["READONLY_ROOT"])


def _inside(path):
    try:
        path = os.path.abspath(os.fsdecode(path))
    except TypeError:   # a file descriptor
        return False
    return path == ROOT or path.startswith(ROOT + os.sep)


def _refuse(path):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))


def _guard(function, writes=lambda *args, **kwargs: True):
    def guarded(path, *args, **kwargs):
        if _inside(path) and writes(*args, **kwargs):
            _refuse(path)
        return function(path, *args, **kwargs)
    return guarded


WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
os.open = _guard(os.open, lambda flags, *a, **k: bool(flags & WRITE_FLAGS))
builtins.open = _guard(builtins.open, lambda mode="r", *a, **k: any(c in mode for c in "wax+"))
for name in ("mkdir", "rename", "replace", "remove", "unlink", "rmdir"):
    setattr(os, name, _guard(getattr(os, name)))

if __name__ == "__main__":
    from minimlp.colorize.cli import main
    sys.exit(main(sys.argv[1:]))
