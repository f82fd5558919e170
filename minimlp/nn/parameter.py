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


_UNINITIALIZED = ("Can't access the shape of an uninitialized parameter or buffer. This error usually happens in "
                  "`load_state_dict` when trying to load an uninitialized parameter into an initialized one. Call "
                  "`forward` to initialize the parameters before accessing their attributes.")


def _placeholder(device, dtype):
    """A (0,)-shaped array of ``dtype`` on ``device``: what an uninitialised parameter or buffer holds, so that
    ``Module.to`` moves and casts it like any array and the array made later has its device and dtype."""
    import numpy as np

    from ..backend import resolve_device, xp_for
    xp = np if device is None or resolve_device(device) == "cpu" else xp_for(device)
    return xp.empty((0,), dtype=np.dtype(np.float32 if dtype is None else dtype))


class _Uninitialized:
    """What UninitializedParameter and UninitializedBuffer share: no shape until ``materialize``."""

    __slots__ = ()

    @property
    def shape(self):
        raise RuntimeError(_UNINITIALIZED)

    size = ndim = shape

    def __array__(self, dtype=None, copy=None):
        raise RuntimeError(_UNINITIALIZED)

    def __repr__(self):
        return f"<{type(self).__name__}>"


class UninitializedParameter(_Uninitialized, Parameter):
    """A parameter whose shape is not known yet: what a lazy module (``nn.LazyLinear``, ...) holds until its
    first forward, as torch's. It has a dtype and device (``Module.to`` changes them; ``data`` is a (0,)-shaped
    placeholder) but no shape, values or gradient: reading its shape raises torch's RuntimeError, and an optimizer
    refuses it (run one forward first). ``materialize(shape)`` turns this very object into a ``Parameter`` of
    that shape (uninitialised values), so every reference to it sees the real parameter."""

    __slots__ = ()
    cls_to_become = Parameter

    def __init__(self, requires_grad=True, device=None, dtype=None):
        super().__init__(_placeholder(device, dtype), requires_grad)

    def materialize(self, shape, device=None, dtype=None):
        """Become a ``Parameter`` of ``shape`` (values uninitialised), on this one's device and dtype unless
        given."""
        from ..backend import get_array_module
        placeholder = self.data if device is None else _placeholder(device, self.data.dtype)
        xp = get_array_module(placeholder)
        self.data = xp.empty(tuple(shape), dtype=placeholder.dtype if dtype is None else dtype)
        self._grad, self.has_grad = None, False
        self.__class__ = self.cls_to_become

    def copy(self):
        """A new uninitialised parameter of the same dtype and device (``state_dict`` holds one, as torch)."""
        fresh = UninitializedParameter(self.requires_grad)
        fresh.data = self.data.copy()
        return fresh

    @property
    def grad(self):
        return None

    @grad.setter
    def grad(self, value):
        if value is not None:
            raise RuntimeError(_UNINITIALIZED)

    def grad_buffer(self):
        raise RuntimeError(_UNINITIALIZED)

    def zero_grad(self, set_to_none=True):
        """Nothing to clear: an uninitialised parameter has no gradient."""


class UninitializedBuffer(_Uninitialized):
    """A buffer (running statistics) whose shape is not known yet: what a lazy normalisation layer
    (``nn.LazyBatchNorm2d``, ...) holds until its first forward, as torch's. Its ``dtype`` and device follow
    ``Module.to``; ``materialize(shape)`` returns the array of that shape (values uninitialised) that replaces
    it in the module. ``requires_grad`` and ``persistent`` are torch's arguments (``persistent=False`` keeps it out
    of ``state_dict`` where the module registers it so)."""

    __slots__ = ("data", "requires_grad", "persistent")

    def __init__(self, requires_grad=False, device=None, dtype=None, persistent=True):
        self.data = _placeholder(device, dtype)
        self.requires_grad = bool(requires_grad)
        self.persistent = bool(persistent)

    @property
    def dtype(self):
        return self.data.dtype

    def materialize(self, shape, device=None, dtype=None):
        """The array of ``shape`` (values uninitialised) this buffer becomes, on its device and dtype unless
        given."""
        from ..backend import get_array_module
        placeholder = self.data if device is None else _placeholder(device, self.data.dtype)
        return get_array_module(placeholder).empty(tuple(shape), dtype=placeholder.dtype if dtype is None else dtype)

    def converted(self, convert):
        """A new uninitialised buffer with ``convert`` (``Module.to``'s move and cast) applied to its device and
        dtype."""
        fresh = UninitializedBuffer(self.requires_grad, persistent=self.persistent)
        fresh.data = convert(self.data)
        return fresh

    def copy(self):
        return self.converted(lambda a: a.copy())


def is_lazy(value):
    """Whether ``value`` is an uninitialised parameter or buffer (torch's ``torch.nn.parameter.is_lazy``)."""
    return isinstance(value, _Uninitialized)


class ComputedParameter(Parameter):
    """A parametrized module's computed value (``module.weight`` under ``weight_norm``, ``orthogonal``, ...): it
    has ``data`` and, during backward, ``grad``, but it is not a leaf: an optimizer refuses it and a module refuses
    it as a parameter (torch's non-leaf tensor); train and share the originals
    (``module.parametrizations.weight.original``)."""

    __slots__ = ()
