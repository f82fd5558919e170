"""Images from a folder tree or a tar archive of one, decoded with Pillow (``load_image_folder``,
``load_split_tree``); a tar is read once, front to back, and every bad file is an error naming it.
Layouts and sizes: docs/data.md.
"""
import io
import os
import tarfile
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageOps

from . import cache as _cache
from .errors import DataError
from .splits import ImageSet

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
CHUNK = 2000  # images per task sent to a decoding process


def _is_image(name):
    base = PurePosixPath(name).name
    return not base.startswith(".") and base.lower().endswith(IMAGE_EXTENSIONS)


def is_archive(path):
    """True for a file that ``tarfile`` can open (plain, gz, bz2, xz); DataError if it is cut short."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        return tarfile.is_tarfile(path)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(f"{path}: truncated or corrupt archive ({exc.__class__.__name__}: {exc})") from exc


def iter_files(path):
    """Yield ``(relative posix name, bytes)`` of every image under a folder or in a tar.

    Folders are walked in sorted order; a tar in its stored order.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for f in sorted(files):
                full = Path(root) / f
                rel = full.relative_to(path).as_posix()
                if _is_image(rel):
                    yield rel, full.read_bytes()
        return
    try:
        with tarfile.open(path, "r|*") as tf:
            for member in tf:
                if member.isfile() and _is_image(member.name):
                    yield member.name, tf.extractfile(member).read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(f"{path}: truncated or corrupt archive ({exc.__class__.__name__}: {exc})") from exc


def _decode_one(name, data, size, exact):
    try:
        with Image.open(io.BytesIO(data)) as im:
            im = im.convert("RGB")
            if im.size != (size, size):
                if exact:
                    raise DataError(f"{name}: image is {im.size[0]}x{im.size[1]}, expected {size}x{size}")
                im = ImageOps.fit(im, (size, size), method=Image.Resampling.BICUBIC)
            return np.asarray(im)
    except DataError:
        raise
    except Exception as exc:  # Pillow raises several types for bad data
        raise DataError(f"{name}: cannot decode image ({exc.__class__.__name__}: {exc})") from None


def _decode_chunk(names, blobs, size, exact):
    out = np.empty((len(names), size, size, 3), dtype=np.uint8)
    for i, (name, data) in enumerate(zip(names, blobs)):
        out[i] = _decode_one(name, data, size, exact)
    return out


def default_workers():
    """Decoding processes to use: 2 where there are 2+ cores (measured: 14 s -> 10 s cold on 2 cores)."""
    return min(2, os.cpu_count() or 1)


def decode_files(items, size=32, exact=False, source="", workers=1):
    """Decode ``(name, bytes)`` pairs into ``(names, uint8 array (N, size, size, 3))``.

    Images are decoded in chunks of ``CHUNK``. With ``workers > 1`` a process
    pool is started at the first full chunk and decodes while ``items`` (which
    may be a generator reading an archive) is still being consumed; smaller
    inputs never pay for starting one.
    """
    names, parts, pool = [], [], None
    batch_names, blobs = [], []
    try:
        for name, data in items:
            names.append(name)
            batch_names.append(name)
            blobs.append(data)
            if len(blobs) == CHUNK:
                if workers > 1 and pool is None:
                    pool = ProcessPoolExecutor(workers)
                if pool is None:
                    parts.append(_decode_chunk(batch_names, blobs, size, exact))
                else:
                    parts.append(pool.submit(_decode_chunk, batch_names, blobs, size, exact))
                batch_names, blobs = [], []
        if blobs:
            parts.append(_decode_chunk(batch_names, blobs, size, exact))
        parts = [p if isinstance(p, np.ndarray) else p.result() for p in parts]
    except DataError as exc:
        named = not source or str(exc).startswith(f"{source}:")   # the archive's own errors name it already
        raise DataError(str(exc) if named else f"{source}: {exc}") from None
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if not names:
        return names, np.empty((0, size, size, 3), dtype=np.uint8)
    return names, np.concatenate(parts) if len(parts) > 1 else parts[0]


def _no_images(path):
    return DataError(f"{path}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)})")


def load_image_folder(path, size=32, *, cache=True, workers=None):
    """Any folder or tar of images -> ImageSet of ``size x size`` RGB uint8 images (see module doc)."""
    path = Path(path)

    def build():
        names, images = decode_files(iter_files(path), size, exact=False, source=path,
                                     workers=workers or default_workers())
        if not names:
            raise _no_images(path)
        parts = [PurePosixPath(n).parts for n in names]
        if path.is_file() and len({p[0] for p in parts}) == 1 and min(map(len, parts)) > 1:
            parts = [p[1:] for p in parts]  # the archive's single top folder, as in `tar czf x.tgz photos/`
        order = sorted(range(len(names)), key=lambda i: parts[i])
        images = images[order] if order != list(range(len(names))) else images
        parts = [parts[i] for i in order]
        classes = sorted({p[0] for p in parts if len(p) > 1})
        index = {c: i for i, c in enumerate(classes)}
        labels = np.array([index[p[0]] if len(p) > 1 else -1 for p in parts], dtype=np.int64)
        return {"images": images, "labels": labels, "classes": np.array(classes, dtype=str)}

    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    a = _cache.cached(path, "image_folder", build, enabled=cache, size=size)
    return ImageSet(a["images"], a["labels"], [str(c) for c in a["classes"]])


def _split_class_name(name, path):
    """(split, class) of 'top/.../train/<class>/<file>'; None for files outside train/ and test/."""
    parts = PurePosixPath(name).parts
    for i, p in enumerate(parts):
        if p in ("train", "test"):
            if len(parts) - i != 3:
                raise DataError(f"{path}: {name} is not of the form {p}/<class>/<file>")
            return p, parts[i + 1]
    return None


def load_split_tree(path, size=32, *, cache=True, workers=None):
    """A ``train/<class>/*``, ``test/<class>/*`` tree (folder or tar) -> {'train', 'test'} ImageSets."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")

    def build():
        items = ((n, d) for n, d in iter_files(path) if _split_class_name(n, path) is not None)
        names, images = decode_files(items, size, exact=True, source=path,
                                     workers=workers or default_workers())
        keys = [_split_class_name(n, path) + (PurePosixPath(n).name,) for n in names]
        classes = sorted({c for s, c, _ in keys if s == "train"})
        out = {"classes": np.array(classes, dtype=str)}
        for split in ("train", "test"):
            rows = sorted((k[1], k[2], i) for i, k in enumerate(keys) if k[0] == split)
            if not rows:
                raise DataError(f"{path}: no images under {split}/<class>/")
            extra = {c for c, _, _ in rows} - set(classes)
            if extra:
                raise DataError(f"{path}: test classes {sorted(extra)} do not occur in train/")
            index = {c: i for i, c in enumerate(classes)}
            out[f"{split}_images"] = images[[i for _, _, i in rows]]
            out[f"{split}_labels"] = np.array([index[c] for c, _, _ in rows], dtype=np.int64)
        return out

    a = _cache.cached(path, "split_tree", build, enabled=cache, size=size)
    classes = [str(c) for c in a["classes"]]
    return {s: ImageSet(a[f"{s}_images"], a[f"{s}_labels"], classes) for s in ("train", "test")}
