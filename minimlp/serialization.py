"""save/load: nested structures of arrays in one ``.npz`` file, written atomically.

A structure may nest dicts (str or int keys), lists and tuples, holding NumPy
or CuPy arrays (stored as NumPy; ``load`` returns NumPy), Python or NumPy
scalars, strings, bools and None. The layout is kept as JSON in the archive
next to the arrays, so nothing is unpickled when loading.
"""
import json
import os
import zipfile

import numpy as np

from .atomic import atomic_path
from .backend import to_numpy

_LAYOUT_KEY = "__minimlp_layout__"


def _encode(obj, arrays):
    if hasattr(obj, "grad") and hasattr(getattr(obj, "data", None), "dtype"):   # a Parameter: its values
        obj = obj.data
    if hasattr(obj, "shape") and hasattr(obj, "dtype") and getattr(obj, "ndim", 0) >= 0 and not np.isscalar(obj):
        array = to_numpy(obj)
        if array.dtype.hasobject:
            raise TypeError("save: cannot store an array of Python objects (minimlp files hold no pickles); "
                            "store numbers, strings and arrays of numbers")
        key = f"a{len(arrays)}"
        arrays[key] = array
        return {"t": "array", "k": key}
    if isinstance(obj, (bool, np.bool_)):
        return {"t": "bool", "v": bool(obj)}
    if isinstance(obj, (int, np.integer)):
        return {"t": "int", "v": int(obj)}
    if isinstance(obj, (float, np.floating)):
        return {"t": "float", "v": repr(float(obj))}
    if isinstance(obj, str):
        return {"t": "str", "v": obj}
    if obj is None:
        return {"t": "none"}
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"save: dict keys must be str or int, got {k!r}")
            items.append([("i" if isinstance(k, int) else "s"), k, _encode(v, arrays)])
        return {"t": "dict", "v": items}
    if isinstance(obj, (list, tuple)):
        return {"t": "list" if isinstance(obj, list) else "tuple", "v": [_encode(v, arrays) for v in obj]}
    hint = " (save its state: model.state_dict())" if hasattr(obj, "state_dict") else ""
    raise TypeError(f"save: cannot store an object of type {type(obj).__name__}{hint}")


def _decode(node, arrays):
    t = node["t"]
    if t == "array":
        return arrays[node["k"]]
    if t in ("bool", "int", "str"):
        return node["v"]
    if t == "float":
        return float(node["v"])
    if t == "none":
        return None
    if t == "dict":
        return {(int(k) if kind == "i" else k): _decode(v, arrays) for kind, k, v in node["v"]}
    if t in ("list", "tuple"):
        values = [_decode(v, arrays) for v in node["v"]]
        return values if t == "list" else tuple(values)
    raise ValueError(f"unknown node type {t!r} in the saved layout")


def save(obj, path):
    """Write ``obj`` to ``path`` (.npz) atomically: a temporary file in the same folder, then a rename; returns the
    path. ``path`` may also be a binary file object (``io.BytesIO``, an open file), written as it is, as torch's."""
    arrays = {}
    layout = _encode(obj, arrays)
    arrays[_LAYOUT_KEY] = np.frombuffer(json.dumps(layout).encode("utf-8"), dtype=np.uint8)
    if hasattr(path, "write"):
        np.savez(path, **arrays)
        return path
    path = os.fspath(path)
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
    return path


class DamagedFileError(ValueError):
    """A file that begins as a .npz (zip) archive but cannot be read: cut short (a copy that stopped, a full
    disk) or damaged."""


ZIP_MAGIC = b"PK\x03\x04"   # the first bytes of a zip archive, and so of every .npz


def load(path):
    """Read what ``save`` wrote. Arrays come back as NumPy arrays.

    A file that is not a zip archive, or a zip archive ``save`` did not write (a plain ``np.savez`` file,
    torch's), raises ValueError; one that begins as one but cannot be read (truncated or damaged) raises
    ``DamagedFileError``.
    """
    if hasattr(path, "read"):   # a binary file object, as torch.load takes
        return _read(path, path)
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file: {path}")
    if not zipfile.is_zipfile(path):   # np.load would guess a pickle and suggest allow_pickle=True
        with open(path, "rb") as f:
            begins_as_zip = f.read(len(ZIP_MAGIC)) == ZIP_MAGIC
        if begins_as_zip:
            raise DamagedFileError(f"{path} is truncated or damaged (it begins as a .npz archive, but its end, "
                                   f"where the archive lists its contents, is missing; {os.path.getsize(path)} "
                                   f"bytes)")
        raise ValueError(f"{path} is not a .npz file written by minimlp.save (it is not a zip archive)")
    return _read(path, path)


def _read(source, name):
    """The structure in the archive ``source`` (a path or a file object, called ``name`` in errors)."""
    try:
        with np.load(source, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise DamagedFileError(f"{name} is truncated or damaged ({exc})") from exc
    if _LAYOUT_KEY not in arrays:   # a plain np.savez file, torch's zip, any other archive
        names = sorted(arrays)
        raise ValueError(f"{name} is a zip archive but not a file written by minimlp.save (no format tag; it holds "
                         f"{', '.join(names[:3])}{', ...' if len(names) > 3 else ''})")
    layout = json.loads(arrays.pop(_LAYOUT_KEY).tobytes().decode("utf-8"))
    return _decode(layout, arrays)
