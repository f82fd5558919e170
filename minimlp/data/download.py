"""Fetching the official CIFAR-10 archive.

``download_cifar10(root)`` downloads ``cifar-10-python.tar.gz`` into ``root``
with a tqdm progress bar, checks its MD5 while it streams, and moves it into
place only when the sum matches (temp file + ``os.replace``). A file already
there with the right MD5 is not fetched again. Without a network the first
connection fails within ``timeout`` seconds and the error says where to put a
copy fetched by hand. ``url`` and ``md5`` are parameters, so a mirror (or a
test server on 127.0.0.1, or a ``file://`` URL) can stand in.
"""
import hashlib
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from ..atomic import atomic_path
from .cache import cache_dir
from .cifar10 import ARCHIVE_MD5, ARCHIVE_NAME, file_md5
from .errors import DataError

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


class DownloadError(DataError):
    """The archive could not be fetched (no network, HTTP error, wrong MD5)."""


def download_cifar10(root=None, url=URL, md5=ARCHIVE_MD5, timeout=10.0, progress=True,
                     filename=ARCHIVE_NAME):
    """Download CIFAR-10 into ``root`` (default: the cache folder) and return the file's path.

    Parameters
    ----------
    root : folder to put the archive in (created if needed).
    url : where to fetch it from.
    md5 : expected hex MD5 (None: no check).
    timeout : seconds to wait for the connection and for each read.
    progress : show a tqdm bar.
    """
    root = Path(root).expanduser() if root is not None else cache_dir()
    dest = root / filename
    by_hand = (f"Without a network, download {URL} on another machine and copy it to {dest}"
               + (f" (MD5 {md5})" if md5 else "") + f", then load it with load_cifar10('{dest}').")
    if dest.is_file() and (md5 is None or file_md5(dest) == md5):
        return dest
    root.mkdir(parents=True, exist_ok=True)
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = (f"HTTP {exc.code} {exc.reason}" if isinstance(exc, urllib.error.HTTPError)
                  else getattr(exc, "reason", exc))
        raise DownloadError(f"could not download {url} ({reason}). {by_hand}") from exc
    h = hashlib.md5()
    try:
        with atomic_path(dest, suffix=".part") as tmp, response, open(tmp, "wb") as f:
            total = response.headers.get("Content-Length")
            with tqdm(total=int(total) if total else None, unit="B", unit_scale=True,
                      desc=filename, disable=not progress) as bar:
                while True:
                    block = response.read(1 << 16)
                    if not block:
                        break
                    f.write(block)
                    h.update(block)
                    bar.update(len(block))
            if md5 is not None and h.hexdigest() != md5:
                raise DownloadError(f"downloaded {url} but its MD5 is {h.hexdigest()}, expected {md5}; "
                                    f"the file was not kept. {by_hand}")
    except (OSError, TimeoutError) as exc:
        raise DownloadError(f"download of {url} failed part way ({exc}). {by_hand}") from exc
    return dest
