"""A stand-in for CuPy on a machine without a GPU: NumPy underneath, CuPy's rules on top.

Its arrays report the module ``cupy``, so minimlp takes its GPU path (``backend.device_of`` says 'gpu', the GPU
kernels are picked). It refuses what CuPy refuses (an implicit copy to NumPy, NumPy arrays mixed into device
arithmetic, functions CuPy does not have), returns 0-d device arrays where CuPy does (reductions, indexing),
and counts every read of a device value by the host (``float``, ``int``, ``bool``, ``item``, ``get``, …): each is
a synchronisation on a real GPU. ``ElementwiseKernel`` runs its C body through ``elementwise_c``, so the GPU
kernels' arithmetic is checked against the formulas too. It cannot tell speed, memory, or CUDA compiler errors
beyond that small C subset: those still need a GPU (``benchmarks/gpu_check.sh``).

    fake = fake_cupy.install()      # minimlp's backend now sees a working 'GPU'
    ...
    fake_cupy.uninstall()
"""
import contextlib
import json
import os

import numpy as np

from . import elementwise_c

_NAMES = json.load(open(os.path.join(os.path.dirname(__file__), "cupy_names.json")))
host_reads = []          # (what, shape) for every device value read by the host
launches = []            # what launched a kernel, for every device operation that wrote device memory
built = []               # ("elementwise" | "reduction", spec) for every kernel built (cuda_source compiles them)
_COPIES_IN = ("array", "asarray", "asanyarray", "ascontiguousarray")   # host -> device copies take NumPy arrays


class HostRead(TypeError):
    """A device value read where reads are forbidden (``forbid_host_reads``)."""


_forbid = [False]


def _read(what, a):
    if _forbid[0]:
        raise HostRead(f"host read of a device value ({what}, shape {getattr(a, 'shape', ())}) inside a "
                       "block that forbids them")
    host_reads.append((what, tuple(getattr(a, "shape", ()))))


@contextlib.contextmanager
def forbid_host_reads():
    """Inside the block any host read of a device value raises HostRead (a synchronisation on a real GPU)."""
    _forbid[0] = True
    try:
        yield
    finally:
        _forbid[0] = False


def _refuse_numpy(value, where):
    if isinstance(value, np.ndarray):
        raise TypeError(f"Unsupported type {type(value)} (a NumPy array given to {where}: CuPy needs device "
                        "arrays; copy it with cupy.asarray)")


def _unwrap(value, where):
    """Device arrays to their NumPy storage, recursively; NumPy arrays refused as CuPy does."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, where) for v in value)
    _refuse_numpy(value, where)
    return value


def _wrap(value):
    if isinstance(value, np.ndarray):
        return ndarray(value)
    if isinstance(value, np.generic) and not isinstance(value, (np.dtype,)):
        return ndarray(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _with_outs(kwargs, where):
    """Unwrap ``out=``; remember which storage belongs to which device array, to return the same object."""
    outs = {}
    if "out" in kwargs and kwargs["out"] is not None:
        out = kwargs["out"]
        items = out if isinstance(out, tuple) else (out,)
        for o in items:
            if not isinstance(o, ndarray):
                raise TypeError(f"out= must be a device array in {where}, got {type(o).__name__}")
            outs[id(o._a)] = o
        kwargs["out"] = tuple(o._a for o in items) if isinstance(out, tuple) else out._a
    return outs


def _result(value, outs):
    if isinstance(value, np.ndarray) and id(value) in outs:
        return outs[id(value)]
    if isinstance(value, tuple):
        return tuple(_result(v, outs) for v in value)
    return _wrap(value)


def _launched(where, value, outs=(), inputs=()):
    """Count a kernel launch where the operation wrote device memory: an ``out=``, or a new array (a view,
    from reshape, a transpose or a slice, is no launch, nor an input returned as it is; ``empty`` allocates
    without one). NumPy's scalar results count: CuPy writes them as 0-d arrays (a dot, a full reduction)."""
    given = {id(a) for a in inputs if isinstance(a, np.ndarray)}
    written = [v for v in (value if isinstance(value, tuple) else (value,))
               if isinstance(v, np.generic) or (isinstance(v, np.ndarray) and v.flags.owndata and id(v) not in given)]
    if outs or written:
        if not where.endswith(".empty") and not where.endswith(".empty_like"):
            launches.append(where)


def _call(function, args, kwargs, where, bound=False):
    """``function`` on the storage of device arrays; ``bound``: a method, whose first argument is its array."""
    kwargs = dict(kwargs)
    outs = _with_outs(kwargs, where)
    args = _unwrap(args, where)
    kwargs = {k: (v if k == "out" else _unwrap(v, where)) for k, v in kwargs.items()}
    value = function(*args[1:], **kwargs) if bound else function(*args, **kwargs)
    _launched(where, value, outs, args)
    return _result(value, outs)


def _index(index):
    """An index's device arrays to their storage (NumPy index arrays are copied to the device, as CuPy does);
    a boolean mask makes CuPy read its count of True on the host."""
    items = index if isinstance(index, tuple) else (index,)
    for item in items:
        if isinstance(item, ndarray) and item.dtype == np.bool_:
            _read("boolean mask", item._a)
    unwrapped = tuple(i._a if isinstance(i, ndarray) else i for i in items)
    return unwrapped if isinstance(index, tuple) else unwrapped[0]


def _advanced(index):
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, (np.ndarray, list)) for i in items)


_PLAIN_ATTRIBUTES = {"shape", "dtype", "ndim", "size", "itemsize", "nbytes", "strides", "flags"}
_HOST_METHODS = {"item": "item", "tolist": "tolist", "tobytes": "tobytes"}


class ndarray:
    """A device array: NumPy storage, CuPy's behaviour."""

    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 100

    def __init__(self, a):
        self._a = a

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct "
                        "a NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if ufunc.__name__ not in _NAMES["cupy"]:
            return NotImplemented
        if method not in ("__call__", "outer") and ufunc.__name__ not in _UFUNC_METHODS.get(method, ()):
            raise NotImplementedError(f"`{ufunc.__name__}.{method}` is not supported yet")
        return _call(getattr(ufunc, method), inputs, kwargs, f"numpy.{ufunc.__name__}")

    def __array_function__(self, func, types, args, kwargs):
        space = "cupy" + (func.__module__ or "numpy")[len("numpy"):]
        if func.__name__ not in _NAMES.get(space, _NAMES["cupy"]):
            return NotImplemented
        return _call(func, args, kwargs, f"numpy.{func.__name__}")

    def get(self, stream=None, out=None):
        _read("get", self._a)
        return self._a.copy()

    def __getattr__(self, name):
        if name in _PLAIN_ATTRIBUTES:
            return getattr(self._a, name)
        if name in _HOST_METHODS:
            _read(name, self._a)
            return getattr(self._a, name)
        if name not in _NAMES["cupy.ndarray"]:
            raise AttributeError(f"'cupy.ndarray' object has no attribute {name!r}")
        value = getattr(self._a, name)
        if callable(value):
            return lambda *args, **kwargs: _call(value, (self,) + args, kwargs, f"ndarray.{name}", bound=True)
        return _wrap(value)

    def __setattr__(self, name, value):
        if name == "_a":
            object.__setattr__(self, name, value)
        elif name == "shape":
            self._a.shape = value
        else:
            raise AttributeError(f"cannot set {name!r} of a cupy.ndarray")

    @property
    def T(self):
        return ndarray(self._a.T)

    @property
    def device(self):
        return _Device()

    def __getitem__(self, index):
        value = self._a[_index(index)]
        _launched("indexing", value)
        return _wrap(value)

    def __setitem__(self, index, value):
        index = _index(index)
        if isinstance(value, np.ndarray) and value.ndim and not _advanced(index):
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        self._a[index] = value if isinstance(value, np.ndarray) else _unwrap(value, "assignment")
        launches.append("assignment")

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (ndarray(np.asarray(v)) for v in self._a)

    def __float__(self):
        _read("float", self._a)
        return float(self._a)

    def __int__(self):
        _read("int", self._a)
        return int(self._a)

    def __bool__(self):
        _read("bool", self._a)
        return bool(self._a)

    def __complex__(self):
        _read("complex", self._a)
        return complex(self._a)

    def __format__(self, spec):
        _read("format", self._a)
        return format(self._a if self._a.ndim else self._a.item(), spec)

    def __repr__(self):
        _read("repr", self._a)
        return repr(self._a)

    def __str__(self):
        _read("str", self._a)
        return str(self._a)

    def __copy__(self):
        return ndarray(self._a.copy())

    def __deepcopy__(self, memo):
        return ndarray(self._a.copy())

    def __reduce__(self):
        raise TypeError("a device array was pickled: move it to the host first (cupy pickles by copying to "
                        "the host, which minimlp's checkpoints must not rely on)")


def _operator(name):
    def method(self, *others):
        value = getattr(self._a, name)(*_unwrap(others, f"operator {name}"))
        _launched(f"operator {name}", value)
        return _wrap(value)
    method.__name__ = name
    return method


def _in_place(name):
    def method(self, other):
        getattr(self._a, name)(_unwrap(other, f"operator {name}"))
        launches.append(f"operator {name}")
        return self
    method.__name__ = name
    return method


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
              "lshift", "rshift"):
    setattr(ndarray, f"__{_name}__", _operator(f"__{_name}__"))
    setattr(ndarray, f"__r{_name}__", _operator(f"__r{_name}__"))
    setattr(ndarray, f"__i{_name}__", _in_place(f"__i{_name}__"))
for _name in ("lt", "le", "gt", "ge", "eq", "ne", "neg", "pos", "abs", "invert", "divmod"):
    setattr(ndarray, f"__{_name}__", _operator(f"__{_name}__"))
ndarray.__hash__ = None
ndarray.__module__ = "cupy"


_UFUNC_METHODS = {"at": ("add", "subtract", "maximum", "minimum", "bitwise_and", "bitwise_or", "bitwise_xor"),
                  "reduce": ("add", "multiply"), "accumulate": ("add", "multiply"), "reduceat": ("add",)}


class ufunc:
    """A CuPy ufunc: NumPy's, on device arrays only."""

    def __init__(self, numpy_ufunc):
        self._u = numpy_ufunc
        self.__name__ = numpy_ufunc.__name__
        self.nin, self.nout = numpy_ufunc.nin, numpy_ufunc.nout

    def __call__(self, *args, **kwargs):
        return _call(self._u, args, kwargs, f"cupy.{self.__name__}")

    def __getattr__(self, method):
        if method not in ("reduce", "accumulate", "outer", "at", "reduceat"):
            raise AttributeError(method)
        if method != "outer" and self.__name__ not in _UFUNC_METHODS.get(method, ()):
            raise NotImplementedError(f"`{self.__name__}.{method}` is not supported yet")
        if method == "at":
            return self._at
        return lambda *args, **kwargs: _call(getattr(self._u, method), args, kwargs,
                                             f"cupy.{self.__name__}.{method}")


    def _at(self, a, indices, b=None):
        if not isinstance(a, ndarray):
            raise TypeError(f"cupy.{self.__name__}.at needs a device array, got {type(a).__name__}")
        if self.__name__ == "subtract" and a.dtype not in (np.int32, np.uint32):
            raise TypeError(f"cupy.subtract.at supports int32 and uint32 only, not {a.dtype}")
        self._u.at(a._a, _index(indices), _unwrap(b, f"cupy.{self.__name__}.at"))
        launches.append(f"cupy.{self.__name__}.at")


class _Namespace:
    """A CuPy namespace ('cupy', 'cupy.linalg', …) made of NumPy's functions under CuPy's rules."""

    def __init__(self, name, numpy_module, extra=None):
        self._name, self._np, self._extra = name, numpy_module, dict(extra or {})

    def __getattr__(self, name):
        if name in self._extra:
            return self._extra[name]
        if name not in _NAMES.get(self._name, ()):
            raise AttributeError(f"module '{self._name}' has no attribute {name!r} (in CuPy)")
        value = getattr(self._np, name)
        if isinstance(value, np.ufunc):
            return ufunc(value)
        if isinstance(value, type) or not callable(value):
            return value
        if self._name == "cupy" and name in _COPIES_IN:
            return _copy_in(value)
        return lambda *args, **kwargs: _call(value, args, kwargs, f"{self._name}.{name}")


def _copy_in(function):
    def copy(obj, dtype=None, *args, **kwargs):
        if isinstance(obj, ndarray):
            return ndarray(function(obj._a, dtype, *args, **kwargs))
        if isinstance(obj, (list, tuple)) and any(isinstance(v, ndarray) for v in obj):
            if not all(isinstance(v, ndarray) and v.shape == obj[0].shape for v in obj):   # CuPy stacks these
                raise TypeError("Implicit conversion to a NumPy array is not allowed (a list mixing device arrays "
                                "with other values)")
            return ndarray(np.array([v._a for v in obj], dtype))
        host = obj if isinstance(obj, np.ndarray) else _unwrap(obj, "cupy.asarray")
        return ndarray(np.array(function(host, dtype, *args, **kwargs)))
    return copy


def asnumpy(a, stream=None, out=None):
    if isinstance(a, ndarray):
        return a.get()
    return np.asarray(a)


def get_array_module(*arrays):
    return cupy if any(isinstance(a, ndarray) for a in arrays) else np


class Generator:
    """cupy.random.Generator: NumPy's generator, device arrays out."""

    def __init__(self, seed=None):
        self._g = np.random.default_rng(seed)

    def __getattr__(self, name):
        if name not in _NAMES["cupy.random.Generator"]:
            raise AttributeError(f"'cupy.random.Generator' has no attribute {name!r}")
        method = getattr(self._g, name)
        return lambda *args, **kwargs: _call(method, args, kwargs, f"Generator.{name}")


class _Device:
    """cupy.cuda.Device and Stream: a context that does nothing, and ``synchronize`` counted as a host read."""

    id = 0
    null = None

    def __init__(self, *args, **kwargs):
        pass

    def synchronize(self):
        _read("synchronize", None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_Stream = _Device


class _Runtime:
    @staticmethod
    def getDeviceCount():
        return 1

    @staticmethod
    def deviceSynchronize():
        _read("synchronize", None)


class _Pool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


class ElementwiseKernel:
    """cupy.ElementwiseKernel: the C body checked and run by ``elementwise_c`` on the NumPy storage."""

    def __init__(self, in_params, out_params, operation, name="kernel", **kwargs):
        self.kernel = elementwise_c.Kernel(in_params, out_params, operation, name)
        built.append(("elementwise", (self.kernel.inputs, self.kernel.outputs, operation, name, self.kernel.raw)))

    def __call__(self, *args, **kwargs):
        arrays = [a._a if isinstance(a, ndarray) else a for a in args]
        for a in args:
            _refuse_numpy(a, f"ElementwiseKernel {self.kernel.name}")
        result = self.kernel(*arrays, **kwargs)
        launches.append(f"ElementwiseKernel {self.kernel.name}")
        if len(args) > len(self.kernel.inputs):   # outputs given: CuPy returns them
            outs = args[len(self.kernel.inputs):]
            return outs if len(outs) > 1 else outs[0]
        return tuple(ndarray(r) for r in result) if isinstance(result, tuple) else ndarray(result)


class ReductionKernel:
    """cupy.ReductionKernel: ``map_expr``, the reduction and ``post_map_expr`` run by ``elementwise_c``."""

    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr, identity, name="reduce_kernel",
                 reduce_type=None, preamble="", **kwargs):
        self.kernel = elementwise_c.Reduction(in_params, out_params, map_expr, reduce_expr, post_map_expr,
                                              identity, name, reduce_type)
        built.append(("reduction", (self.kernel.inputs, self.kernel.outputs, map_expr, reduce_expr, post_map_expr,
                                    reduce_type, identity, preamble, name)))

    def __call__(self, *args, out=None, axis=None, keepdims=False, stream=None):
        for a in args + (out,):
            _refuse_numpy(a, f"ReductionKernel {self.kernel.name}")
        arrays = [a._a if isinstance(a, ndarray) else a for a in args]
        result = self.kernel(*arrays, out=None if out is None else out._a, axis=axis, keepdims=keepdims)
        launches.append(f"ReductionKernel {self.kernel.name}")
        if out is not None:
            return out
        return args[len(self.kernel.inputs)] if len(args) > len(self.kernel.inputs) else ndarray(result)


def _not_faked(name):
    def refuse(*args, **kwargs):
        raise NotImplementedError(f"cupy.{name} is not faked: run this on a GPU (benchmarks/gpu_check.sh)")
    return refuse


class _ComputeTypes:
    """CuPy's compute type per dtype for its products (``cupy._core.set_compute_type``; TBD: CuPy decides from
    ``CUPY_TF32`` at the first product), kept so that tests can read what minimlp set."""

    CODES = {"COMPUTE_TYPE_TBD": 0, "COMPUTE_TYPE_DEFAULT": 1, "COMPUTE_TYPE_PEDANTIC": 2, "COMPUTE_TYPE_FP16": 3,
             "COMPUTE_TYPE_FP32": 4, "COMPUTE_TYPE_FP64": 5, "COMPUTE_TYPE_BF16": 6, "COMPUTE_TYPE_TF32": 7}
    current = {}

    @classmethod
    def set(cls, dtype, compute_type):
        if compute_type not in cls.CODES.values():
            raise ValueError(f"Unknown compute type: {compute_type}")
        cls.current[np.dtype(dtype)] = compute_type

    @classmethod
    def get(cls, dtype):
        return cls.current.get(np.dtype(dtype), 0)


_core = _Namespace("cupy._core", None, {
    "set_compute_type": _ComputeTypes.set, "get_compute_type": _ComputeTypes.get,
    "_routines_linalg": _Namespace("cupy._core._routines_linalg", None, dict(_ComputeTypes.CODES))})
_random = _Namespace("cupy.random", np.random, {"default_rng": Generator, "Generator": Generator})
_cuda = _Namespace("cupy.cuda", None, {
    "Device": _Device, "Stream": _Stream, "runtime": _Runtime, "get_current_stream": lambda: _Stream(),
    "MemoryPool": _Pool})
cupy = _Namespace("cupy", np, {
    "ndarray": ndarray, "asnumpy": asnumpy, "get_array_module": get_array_module, "random": _random,
    "linalg": _Namespace("cupy.linalg", np.linalg), "fft": _Namespace("cupy.fft", np.fft),
    "lib": _Namespace("cupy.lib", None, {"stride_tricks": _Namespace("cupy.lib.stride_tricks",
                                                                     np.lib.stride_tricks)}),
    "cuda": _cuda, "_core": _core, "get_default_memory_pool": _Pool, "get_default_pinned_memory_pool": _Pool,
    "ElementwiseKernel": ElementwiseKernel, "ReductionKernel": ReductionKernel,
    "RawKernel": _not_faked("RawKernel"), "RawModule": _not_faked("RawModule"),
    "fuse": lambda *a, **k: (a[0] if a and callable(a[0]) else (lambda f: f)),
    "__version__": "fake", "__name__": "cupy", "float32": np.float32, "float64": np.float64})


_replaced = []


def install():
    """Make minimlp's backend see a working GPU served by this fake; returns the fake module."""
    from minimlp import backend, random
    _replaced.append((backend._cupy, backend._gpu_error))
    backend._cupy, backend._gpu_error = cupy, None
    random._state["cupy"] = None
    host_reads.clear()
    launches.clear()
    _ComputeTypes.current.clear()
    return cupy


def installed():
    """Whether minimlp's backend is served by this fake now."""
    from minimlp import backend
    return backend._cupy is cupy


def uninstall():
    """Give minimlp's backend back what ``install`` replaced (a real CuPy, or nothing probed yet)."""
    from minimlp import backend, random
    backend._cupy, backend._gpu_error = _replaced.pop() if _replaced else (None, None)
    random._state["cupy"] = None
