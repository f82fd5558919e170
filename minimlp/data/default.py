"""The embedded default dataset (the paper's 5,000 / 500 / 1,000 split of the shared JPEG archive, the original
JPEG bytes in ``default/paper_split_seed0.tar.gz``), and where the shared archive lives. docs/data.md.
"""
import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path, PurePosixPath

import numpy as np

from .. import settings
from ..atomic import atomic_path
from . import cache as _cache
from .errors import DataError
from .image_folder import decode_files, iter_files
from .splits import ImageSet, Split, paper_split_indices

SHARED_NAME = "cifar10-jpeg.tar.gz"
DEFAULT_DIR = Path(__file__).resolve().parent / "default"
DEFAULT_ARCHIVE = DEFAULT_DIR / "paper_split_seed0.tar.gz"
DEFAULT_MANIFEST = DEFAULT_DIR / "paper_split_seed0.json"
SPLITS = ("train", "valid", "test")


def shared_archive_path():
    """Path of the shared ``cifar10-jpeg.tar.gz``, or None when it is not there.

    ``$MINIMLP_SHARED_DATA`` (the file, or a folder holding it) wins; otherwise
    ``<repo root>/../shared/data/cifar10-jpeg.tar.gz``, the repo root being the
    folder that holds the ``minimlp`` package.
    """
    env = settings.shared_data()
    if env:
        p = Path(env).expanduser()
        p = p / SHARED_NAME if p.is_dir() else p
        return p if p.is_file() else None
    repo_root = Path(__file__).resolve().parents[2]
    p = repo_root.parent / "shared" / "data" / SHARED_NAME
    return p if p.is_file() else None


def build_default(archive, out_path=DEFAULT_ARCHIVE, seed=0):
    """Write the embedded dataset (``out_path`` and its ``.json`` manifest) from the shared archive."""
    archive, out_path = Path(archive), Path(out_path)
    files = {}
    for name, data in iter_files(archive):
        parts = PurePosixPath(name).parts
        if len(parts) >= 3 and parts[-3] in ("train", "test"):
            files.setdefault(parts[-3], {})[(parts[-2], parts[-1])] = data
    # the same row order as load_cifar10 (image_folder.load_split_tree): sorted (class, file)
    keys = {s: sorted(files[s]) for s in ("train", "test")}
    classes = sorted({c for c, _ in keys["train"]})
    idx = dict(zip(SPLITS, paper_split_indices(len(keys["train"]), len(keys["test"]), seed)))
    pool = {"train": "train", "valid": "train", "test": "test"}

    with atomic_path(out_path) as tmp, open(tmp, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for split in SPLITS:
            for pos, i in enumerate(idx[split]):
                cls, fname = keys[pool[split]][i]
                data = files[pool[split]][(cls, fname)]
                info = tarfile.TarInfo(f"{split}/{pos:04d}_{cls}.jpg")
                info.size, info.mode, info.mtime = len(data), 0o644, 0
                tf.addfile(info, io.BytesIO(data))
    manifest = {
        "description": "Xia & Salhi paper split of CIFAR-10 (JPEG copy), minimlp.data.paper_split",
        "seed": seed,
        "classes": classes,
        "counts": {s: len(idx[s]) for s in SPLITS},
        "members": "<split>/<position:04d>_<class>.jpg, in split order",
        "source": {"name": archive.name, "size": archive.stat().st_size,
                   "sha256": hashlib.sha256(archive.read_bytes()).hexdigest()},
        "indices": {s: [int(i) for i in idx[s]] for s in SPLITS},
        "indices_into": {s: f"load_cifar10(source) {pool[s]} set" for s in SPLITS},
    }
    out_path.with_suffix("").with_suffix(".json").write_text(json.dumps(manifest) + "\n")
    return out_path


def load_default(archive=DEFAULT_ARCHIVE, manifest=DEFAULT_MANIFEST, cache=True):
    """The embedded paper split (seed 0) as a ``Split`` of ImageSets; no network needed.

    Decoding the 6,500 JPEGs takes ~1.5 s; the result is cached like any archive's.
    """
    archive, manifest = Path(archive), Path(manifest)
    for p in (archive, manifest):
        if not p.is_file():
            raise FileNotFoundError(f"the embedded dataset file {p} is missing "
                                    "(rebuild it with examples/build_default_data.py)")
    meta = json.loads(manifest.read_text())
    classes = meta["classes"]

    def build():
        names, images = decode_files(iter_files(archive), 32, exact=True, source=archive)
        out = {}
        for split in SPLITS:
            rows = sorted((n, i) for i, n in enumerate(names) if n.startswith(split + "/"))
            if len(rows) != meta["counts"][split]:
                raise DataError(f"{archive}: {len(rows)} {split} images, the manifest says "
                                f"{meta['counts'][split]}")
            out[f"{split}_images"] = images[[i for _, i in rows]]
            out[f"{split}_labels"] = np.array(
                [classes.index(PurePosixPath(n).stem.split("_", 1)[1]) for n, _ in rows], dtype=np.int64)
        return out

    a = _cache.cached(archive, "default", build, enabled=cache)
    return Split(*(ImageSet(a[f"{s}_images"], a[f"{s}_labels"], classes) for s in SPLITS))
