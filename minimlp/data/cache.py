"""A cache of decoded arrays, so that a JPEG archive is decoded only once.

The cache folder is ``$MINIMLP_CACHE`` if set, else ``$XDG_CACHE_HOME/minimlp``,
else ``~/.cache/minimlp``. An entry is an uncompressed ``.npz`` named after the
source file and a key: a hash of the source's absolute path, size and
modification time (nanoseconds), the loader's name and parameters, and
``FORMAT_VERSION``. Touching or replacing the source therefore misses the cache
and decodes again; stale entries are left for the user to delete.

Entries are written to a temporary file in the cache folder and moved into
place with ``os.replace``, so a reader never sees half a file, and two
processes filling the same entry at once both end with a complete one. An entry
that cannot be read (truncated by a full disk, say) counts as a miss.
Only single-file sources (archives) are cached: a folder's mtime does not change
when a file deep inside it does.
"""
import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

from minimlp.atomic import atomic_path

FORMAT_VERSION = 1


def cache_dir():
    """The cache folder (not created here)."""
    if os.environ.get("MINIMLP_CACHE"):
        return Path(os.environ["MINIMLP_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "minimlp"


def cache_path(source, kind, **params):
    """Where the cached arrays for ``source`` read by loader ``kind`` with ``params`` live."""
    source = Path(source).resolve()
    st = source.stat()
    key = json.dumps([FORMAT_VERSION, str(source), st.st_size, st.st_mtime_ns, kind, params],
                     sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    stem = source.name.split(".")[0] or "data"
    return cache_dir() / f"{stem}-{kind}-{digest}.npz"


def load(path):
    """The dict of arrays stored at ``path``, or None when it is missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as exc:  # a damaged entry is a miss, not an error
        warnings.warn(f"ignoring unreadable cache file {path}: {exc}", stacklevel=2)
        return None


def save(path, arrays):
    """Write ``arrays`` (a dict) to ``path`` atomically: temp file, then ``os.replace``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return path


def cached(source, kind, build, enabled=True, **params):
    """``build()`` (a dict of arrays), through the cache when ``enabled`` and ``source`` is a file."""
    if not enabled or not Path(source).is_file():
        return build()
    path = cache_path(source, kind, **params)
    arrays = load(path)
    if arrays is None:
        arrays = build()
        try:
            save(path, arrays)
        except OSError as exc:  # a read-only home must not stop a load
            warnings.warn(f"could not write the cache file {path}: {exc}", stacklevel=2)
    return arrays
