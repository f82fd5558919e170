"""Flat buffers: every parameter's data, gradient and state as views of one array per device and dtype (a
*bucket*), in parameter order, so that an update is one call per run of neighbours. A ``p.data`` rebound
later (``model.to(...)``) is copied back by ``sync``, or reported when its shape, dtype or device changed.
"""
from ..backend import device_of, get_array_module


class Bucket:
    """One flat data/grad array pair (and flat state arrays) for a device and dtype."""

    def __init__(self, xp, dtype, size):
        self.xp, self.dtype, self.size = xp, dtype, size
        self.data = xp.empty(size, dtype=dtype)
        self.grad = xp.zeros(size, dtype=dtype)
        self.state = {}

    def state_array(self, name):
        buf = self.state.get(name)
        if buf is None:
            buf = self.state[name] = self.xp.zeros(self.size, dtype=self.dtype)
        return buf


class FlatParameters:
    """The parameters of an optimizer, their flat buckets, and the contiguous runs a step updates at once.

    ``slots[i]`` = (bucket, offset, size, shape) of parameter i; ``segments`` = (group index, bucket, the
    parameter indices of that group on that bucket), one per group and bucket.
    """

    def __init__(self, params, groups):
        buckets, where = {}, []
        for p in params:
            key = (device_of(p.data), p.data.dtype.str)
            if key not in buckets:
                buckets[key] = [get_array_module(p.data), p.data.dtype, 0]
            where.append((key, buckets[key][2]))
            buckets[key][2] += p.data.size
        self.buckets = {key: Bucket(*spec) for key, spec in buckets.items()}
        self.params, self.slots, self.data_views, self.grad_views = list(params), [], [], []
        for p, (key, offset) in zip(self.params, where):
            bucket = self.buckets[key]
            n, shape = p.data.size, p.data.shape
            bucket.data[offset:offset + n] = p.data.reshape(-1)
            p.data = bucket.data[offset:offset + n].reshape(shape)
            grad_view = bucket.grad[offset:offset + n].reshape(shape)
            p.set_grad_storage(grad_view)
            self.slots.append((bucket, offset, n, shape))
            self.data_views.append(p.data)
            self.grad_views.append(grad_view)
        self.segments, i = [], 0
        for gi, group in enumerate(groups):
            runs = {}
            for _ in group["params"]:
                runs.setdefault(id(self.slots[i][0]), []).append(i)
                i += 1
            self.segments += [(gi, self.slots[idx[0]][0], idx) for idx in runs.values()]

    def state_view(self, i, name):
        """Parameter i's slice of the flat state array ``name``, in the parameter's shape."""
        bucket, offset, n, shape = self.slots[i]
        return bucket.state_array(name)[offset:offset + n].reshape(shape)

    def span(self, run):
        """(bucket, lo, hi): the flat slice covering a run of neighbouring parameters."""
        first, last = self.slots[run[0]], self.slots[run[-1]]
        return first[0], first[1], last[1] + last[2]

    def sync(self):
        """Bring rebound ``p.data`` back into the flat views; False when a parameter changed shape, dtype or
        device (the optimizer must then flatten again)."""
        for i, p in enumerate(self.params):
            view = self.data_views[i]
            if p.data is view:
                continue
            new = p.data
            if new.shape != view.shape or new.dtype != view.dtype or device_of(new) != device_of(view):
                return False
            view[...] = new
            p.data = view
            p.set_grad_storage(self.grad_views[i])
        return True

    def reclaim_gradient(self, i):
        """Point parameter i's gradient storage back at its flat view (a backward may have replaced it)."""
        p = self.params[i]
        if p.grad is not self.grad_views[i]:
            p.set_grad_storage(self.grad_views[i])
