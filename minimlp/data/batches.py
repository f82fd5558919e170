"""Minibatches over in-memory arrays, on the CPU or the GPU: epoch e's order depends on (seed, e) only, so a
resumed run sees the same batches; on the CPU each batch is a reused buffer (copy one you keep). docs/data.md.
"""
import math

import numpy as np

from minimlp.backend import device_of, resolve_device, to_device, xp_for


class Batches:
    """Iterate over minibatches of ``x`` (and ``y``).

    Parameters
    ----------
    x, y : arrays with the same first dimension (``y`` may be None: ``yb`` is then None).
    batch_size : rows per batch.
    shuffle : draw a new permutation every epoch (deterministic for ``seed``). True by
        default, unlike torch's DataLoader, because training is what this is for; pass
        False for evaluation.
    seed : int, the seed of the per-epoch permutations (default 0: runs repeat unless asked).
    drop_last : skip the final batch when it is shorter than ``batch_size``.
    device : 'cpu', 'gpu', 'auto' or None (None: where ``x`` already is).
    dtype : cast ``x`` (not ``y``) once to this dtype (after moving it); None keeps it.
    """

    def __init__(self, x, y, batch_size, shuffle=True, seed=0, drop_last=False,
                 device=None, dtype=None):
        if y is not None and len(y) != len(x):
            raise ValueError(f"x has {len(x)} rows but y has {len(y)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.device = device_of(x) if device is None else resolve_device(device)
        self.xp = xp_for(self.device)
        x = to_device(x, self.device)
        self.x = x if dtype is None else x.astype(dtype, copy=False)
        self.y = None if y is None else to_device(y, self.device)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0
        self._buffers = {}

    def __len__(self):
        n = len(self.x)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def order(self, epoch):
        """The row order (NumPy int64) used in ``epoch``."""
        n = len(self.x)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, epoch]).permutation(n)

    def _buffer(self, name, source, rows):
        key = (name, rows)
        if key not in self._buffers:
            self._buffers[key] = np.empty((rows,) + source.shape[1:], dtype=source.dtype)
        return self._buffers[key]

    def _take(self, name, source, idx):
        if source is None:
            return None
        if self.device == "gpu":
            return self.xp.take(source, idx, axis=0)
        return np.take(source, idx, axis=0, out=self._buffer(name, source, len(idx)), mode="clip")

    def __iter__(self):
        order = self.order(self.epoch)
        if self.device == "gpu":
            order = to_device(order, "gpu")
        bs = self.batch_size
        for b in range(len(self)):
            idx = order[b * bs:(b + 1) * bs]
            yield self._take("x", self.x, idx), self._take("y", self.y, idx)
        self.epoch += 1
