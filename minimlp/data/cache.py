"""A cache of decoded arrays, so that a JPEG archive is decoded only once: entries keyed by the source's path,
size and mtime and the loader's parameters, written atomically. Where it lives and when it misses: docs/data.md.
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
