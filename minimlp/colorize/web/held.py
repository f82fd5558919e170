"""The colorized photos the server holds for the page, in memory only, the oldest let go past a byte budget."""
import io
import secrets
import threading
import zipfile
from collections import OrderedDict

from ..running.photo_files import output_names

# the most bytes of PNGs held; past it the oldest results are let go (the newest is always kept)
MAX_HELD_BYTES = 1 << 30


class HeldResults:
    """Colorized uploads by id (a random token), oldest first; thread-safe. Nothing is ever written to disk."""

    def __init__(self, max_bytes=MAX_HELD_BYTES):
        self.max_bytes = max_bytes
        self._items = OrderedDict()
        self._lock = threading.Lock()

    def add(self, colorized):
        """Hold ``colorized`` (an ``upload.Colorized``); its id."""
        key = secrets.token_urlsafe(9)
        with self._lock:
            self._items[key] = colorized
            while len(self._items) > 1 and sum(c.nbytes for c in self._items.values()) > self.max_bytes:
                self._items.popitem(last=False)
        return key

    def get(self, key):
        """The ``Colorized`` held under ``key``, or None (unknown, or let go)."""
        with self._lock:
            return self._items.get(key)

    def zip_of(self, keys):
        """(bytes of a zip of the results held under ``keys``, named as ``colorize`` names its outputs, in that
        order; the number of keys no longer held)."""
        found = [c for c in map(self.get, keys) if c is not None]
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:   # PNGs are compressed already
            for name, colorized in zip(output_names([c.name for c in found]), found):
                archive.writestr(name, colorized.pngs["result"])
        return out.getvalue(), len(keys) - len(found)

    def __len__(self):
        with self._lock:
            return len(self._items)
