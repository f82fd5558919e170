"""Parameter: a trainable array and its gradient."""


class Parameter:
    """A trainable array ``data`` with its accumulated gradient ``grad``.

    ``grad`` is None until a backward pass writes it, and again after ``zero_grad()`` (torch's
    ``set_to_none=True``). Its storage (``grad_buffer()``) is kept between steps; backward passes write
    their first contribution into it and add later ones (``accumulate``, ``grad_target``), so gradients
    add up across backward calls as in torch. Optimizers re-home ``data`` and that storage into views of
    one flat array: change a parameter in place (``data[...] = value``), as ``load_state_dict`` does.
    ``requires_grad=False`` freezes it (``Module.requires_grad_``): its ``grad`` stays None and no optimizer
    moves it (backward still computes the gradient, and drops it).
    """

    __slots__ = ("data", "_grad", "has_grad", "requires_grad", "__weakref__")

    def __init__(self, data, requires_grad=True):
        if not (hasattr(data, "shape") and hasattr(data, "dtype")):
            raise TypeError(f"Parameter: expected a NumPy or CuPy array, got {type(data).__name__}")
        if requires_grad and data.dtype.kind not in "fc":
            raise RuntimeError(f"Parameter: only floating-point arrays can require gradients, got dtype {data.dtype}")
        self.data = data
        self._grad = None
        self.has_grad = False
        self.requires_grad = bool(requires_grad)

    @property
    def grad(self):
        return self._grad if self.has_grad and self.requires_grad else None

    @grad.setter
    def grad(self, value):
        if value is None:
            self.has_grad = False
            return
        if value.shape != self.data.shape:
            raise ValueError(f"gradient shape {value.shape} does not match parameter shape {self.data.shape}")
        if self._grad is not None and self._grad.dtype == value.dtype and type(self._grad) is type(value):
            self._grad[...] = value
        else:
            self._grad = value.copy()
        self.has_grad = True

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    @property
    def ndim(self):
        return self.data.ndim

    def __array__(self, dtype=None, copy=None):
        """The data, for NumPy functions (``np.asarray(p)``, ``np.allclose(p, w)``, ``np.save``); arithmetic and
        indexing take ``p.data``, the array itself (torch's name)."""
        import numpy as np
        return np.array(self.data, dtype=dtype, copy=True) if copy else np.asarray(self.data, dtype=dtype)

    def grad_buffer(self):
        """The gradient storage (allocated on first use), whatever it holds."""
        g = self._grad
        if g is None or g.shape != self.data.shape or g.dtype != self.data.dtype or type(g) is not type(self.data):
            self._grad = g = _empty_like(self.data)
        return g

    def set_grad_storage(self, buffer):
        """Use ``buffer`` (same shape and dtype as data) as gradient storage, keeping its contents' meaning."""
        if buffer.shape != self.data.shape or buffer.dtype != self.data.dtype:
            raise ValueError("gradient storage must match the parameter's shape and dtype")
        if self.has_grad and self._grad is not None and self._grad is not buffer:
            buffer[...] = self._grad
        self._grad = buffer

    def grad_target(self):
        """(storage, add): where a backward writes this gradient, and whether to add to what the storage holds
        (a gradient is already there) rather than overwrite it. The gradient counts as written from then on."""
        storage, add = self.grad_buffer(), self.has_grad
        self.has_grad = True
        return storage, add

    def accumulate(self, value):
        """Add ``value`` to the gradient (or store it, when there is none yet)."""
        g = self.grad_buffer()
        if self.has_grad:
            g += value
        else:
            g[...] = value
            self.has_grad = True

    def zero_grad(self, set_to_none=True):
        if set_to_none:
            self.has_grad = False
        else:
            self.grad_buffer().fill(0)
            self.has_grad = True

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


def _empty_like(array):
    from ..backend import get_array_module
    return get_array_module(array).empty_like(array)
