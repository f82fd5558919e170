"""CIFAR-10 (Krizhevsky, 2009): ``load_cifar10(source)`` → (train, test) ImageSets from the official python
batches (folder or archive, read with an unpickler that runs no code, MD5-checked where official) or an image
tree. Sources and MD5 rules: docs/data.md.
"""
import hashlib
import io
import pickle
import tarfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

from . import image_folder
from .errors import DataError
from .splits import ImageSet

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
ARCHIVE_NAME = "cifar-10-python.tar.gz"
ARCHIVE_SIZE = 170498071
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
BATCH_MD5 = {  # as torchvision.datasets.CIFAR10 lists them
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
OFFICIAL_FILES = TRAIN_BATCHES + ("test_batch", "batches.meta")

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


def file_md5(path, chunk=1 << 20):
    """Hex MD5 of a file, read in 1 MiB pieces."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


class _SafeUnpickler(pickle.Unpickler):
    def __init__(self, data, name):
        super().__init__(io.BytesIO(data), encoding="bytes")
        self.name = name

    def find_class(self, module, name):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise DataError(f"{self.name}: refusing to unpickle {module}.{name} "
                            "(a CIFAR-10 batch holds only NumPy arrays, lists and bytes)")
        module = module.replace("numpy.core", "numpy._core")
        return getattr(__import__(module, fromlist=[name]), name)


def _unpickle(data, name):
    try:
        return _SafeUnpickler(data, name).load()
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{name}: not a readable pickle ({exc.__class__.__name__}: {exc})") from None


def parse_batch(data, name):
    """Images (N, 32, 32, 3) uint8 and labels (N,) int64 of one pickled batch (bytes)."""
    d = _unpickle(data, name)
    if not isinstance(d, dict) or b"data" not in d:
        keys = sorted(d) if isinstance(d, dict) else type(d).__name__
        raise DataError(f"{name}: not a CIFAR-10 batch: no b'data' entry (found {keys})")
    label_key = b"labels" if b"labels" in d else b"fine_labels" if b"fine_labels" in d else None
    if label_key is None:
        raise DataError(f"{name}: not a CIFAR-10 batch: no b'labels' entry")
    x = np.asarray(d[b"data"])
    labels = np.asarray(d[label_key], dtype=np.int64)
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        raise DataError(f"{name}: b'data' must be uint8 (N, 3072), got {x.dtype} {x.shape}")
    if labels.shape != (len(x),):
        raise DataError(f"{name}: {len(x)} images but {labels.size} labels")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{name}: labels outside 0..9")
    return x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels


def _official_folder(path):
    """The folder holding data_batch_1 etc. under ``path``, or None."""
    for cand in (path, path / "cifar-10-batches-py"):
        if (cand / "data_batch_1").is_file() or (cand / "batches.meta").is_file():
            return cand
    return None


def _archive_kind(path):
    """'official' if the tar holds CIFAR-10 batches, else 'tree' (looks at the first members)."""
    try:
        with tarfile.open(path, "r|*") as tf:
            for i, m in enumerate(tf):
                if PurePosixPath(m.name).name in OFFICIAL_FILES:
                    return "official"
                if m.isfile() or i > 50:
                    return "tree"
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(f"{path}: truncated or corrupt archive ({exc.__class__.__name__}: {exc})") from exc
    return "tree"


def _read_official_files(path):
    """{basename: bytes} of the official files in a folder or a tar."""
    if path.is_dir():
        folder = _official_folder(path)
        return {f: (folder / f).read_bytes() for f in OFFICIAL_FILES if (folder / f).is_file()}
    files = {}
    try:
        with tarfile.open(path, "r|*") as tf:
            for m in tf:
                base = PurePosixPath(m.name).name
                if m.isfile() and base in OFFICIAL_FILES:
                    files[base] = tf.extractfile(m).read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(f"{path}: truncated or corrupt archive ({exc.__class__.__name__}: {exc})") from exc
    return files


def _check_md5(path, md5):
    is_official = (path.is_file() and path.name == ARCHIVE_NAME and path.stat().st_size == ARCHIVE_SIZE)
    if md5 is False or (md5 is None and not is_official):
        return None
    if path.is_file():
        expected = ARCHIVE_MD5 if md5 in (None, True) else str(md5).lower()
        got = file_md5(path)
        if got != expected:
            raise DataError(f"{path}: MD5 {got} does not match the expected {expected}; "
                            "the file is damaged or not the official CIFAR-10 archive")
        return None
    if md5 is not True:
        raise DataError(f"{path}: md5='{md5}' can only be checked for an archive file; "
                        "pass md5=True to check a folder's batches against the official MD5s")
    return BATCH_MD5


def load_official(path, md5=None):
    """(train, test) ImageSets from the official python format (folder or archive)."""
    path = Path(path)
    batch_md5 = _check_md5(path, md5)
    files = _read_official_files(path)
    missing = [f for f in TRAIN_BATCHES + ("test_batch",) if f not in files]
    if missing:
        raise DataError(f"{path}: not a complete CIFAR-10 python dataset, missing {', '.join(missing)}")
    if batch_md5:
        for f, expected in batch_md5.items():
            got = hashlib.md5(files[f]).hexdigest()
            if got != expected:
                raise DataError(f"{path}/{f}: MD5 {got} does not match the official {expected}")
    classes = CLASSES
    if "batches.meta" in files:
        meta = _unpickle(files["batches.meta"], f"{path}/batches.meta")
        if not isinstance(meta, dict) or b"label_names" not in meta:
            raise DataError(f"{path}/batches.meta: no b'label_names' entry")
        classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in meta[b"label_names"])
    train = [parse_batch(files[f], f"{path}/{f}") for f in TRAIN_BATCHES]
    test = parse_batch(files["test_batch"], f"{path}/test_batch")
    return (ImageSet(np.concatenate([b[0] for b in train]), np.concatenate([b[1] for b in train]), classes),
            ImageSet(test[0], test[1], classes))


def load_cifar10(source=None, *, md5=None, cache=True, workers=None):
    """CIFAR-10 as ``(train, test)`` ImageSets from any of the sources in the module doc.

    ``md5`` applies to the official format (see the module doc); ``cache`` and
    ``workers`` to image trees (decoded-array cache; decoding processes).
    """
    if source is None:
        from .default import shared_archive_path
        source = shared_archive_path()
        if source is None:
            raise FileNotFoundError(
                "no CIFAR-10 source given and the shared archive was not found "
                "(set MINIMLP_SHARED_DATA, or call download_cifar10() and pass its path)")
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    if path.is_dir():
        official = _official_folder(path) is not None
    elif not image_folder.is_archive(path):
        raise DataError(f"{path}: not a folder or a readable tar archive (truncated or corrupt?)")
    else:
        official = _archive_kind(path) == "official"
    if official:
        return load_official(path, md5=md5)
    sets = image_folder.load_split_tree(path, 32, cache=cache, workers=workers)
    return sets["train"], sets["test"]
