"""Lazy modules: a layer whose input size (``in_features``, ``in_channels``, ``num_features``) is read from its first
input, as torch's ``LazyLinear``, ``LazyConv2d``, ``LazyBatchNorm2d``, ... (``torch.nn.modules.lazy``).

Until the first forward the layer holds ``UninitializedParameter``/``UninitializedBuffer`` placeholders, which
have a dtype and a device (``model.to(...)``/``double()`` change them) but no shape. The first forward checks
the input, creates each parameter of the shape the input implies, initialises it exactly as the non-lazy class
does (same draws from minimlp's generator, in the same order), then turns the object into that class
(``type(m)`` is ``Linear``, ``Conv2d``, ... afterwards: torch's ``cls_to_become``) and runs its forward.
Loading a state_dict into a lazy layer gives each loaded parameter and buffer the loaded shape, as torch.
"""
import numbers

import numpy as np

from .batchnorm import BatchNorm1d
from .batchnorm2d import BatchNorm2d
from .batchnorm3d import BatchNorm3d
from .checks import InputError, check_floating, check_like
from .conv import Conv2d, ConvTranspose2d
from .conv1d import Conv1d, ConvTranspose1d
from .conv3d import Conv3d, ConvTranspose3d
from .instancenorm import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from .linear import Linear
from .parameter import Parameter, UninitializedBuffer, UninitializedParameter, is_lazy


class LazyModuleMixin:
    """What every lazy layer shares; a subclass names ``cls_to_become`` (the non-lazy class it is a subclass of
    and becomes), ``_size_name`` (the attribute read from the input), ``_lazy_shapes(size)`` (the shape of each
    parameter and buffer for an input size) and ``_input_size(x)`` (that size, after checking x)."""

    cls_to_become = None
    _size_name = None

    def _make_lazy(self, dtype=None, device=None):
        """Replace each parameter and buffer ``_lazy_shapes`` names (where the layer has one) by an uninitialised
        one of ``dtype`` on ``device``; called at the end of the subclass's ``__init__``."""
        setattr(self, self._size_name, 0)
        for name in self._lazy_shapes(1):
            if self._parameters.get(name) is not None:
                setattr(self, name, UninitializedParameter(device=device, dtype=dtype))
            elif self._buffers.get(name) is not None:
                self._buffers[name] = UninitializedBuffer(device=device, dtype=dtype)

    def has_uninitialized_params(self):
        """Whether a parameter or buffer of this layer is still uninitialised (torch's)."""
        return any(is_lazy(v) for v in (*self._parameters.values(), *self._buffers.values()))

    def reset_parameters(self):
        """Nothing until the first forward (torch's): the parameters have no values to reset yet."""

    def initialize_parameters(self, input, *args, **kwargs):
        """Read the input size from ``input`` (checked first: a wrong input leaves the layer lazy), create the
        parameters and buffers still uninitialised with the shapes it implies and initialise them as the
        non-lazy class does; those a ``load_state_dict`` already gave must agree with it."""
        size = self._input_size(input)
        check_like(self, input, self._reference_placeholder())
        shapes = self._lazy_shapes(size)
        for name, shape in shapes.items():
            current = self._parameters.get(name, self._buffers.get(name))
            if current is not None and not is_lazy(current) and tuple(current.shape) != shape:
                raise InputError(f"{self!r}: the input's size {size} ({self._size_name}) needs {name} of shape "
                                 f"{shape}, but the loaded {name} has shape {tuple(current.shape)}; got input of "
                                 f"shape {tuple(input.shape)}")
        setattr(self, self._size_name, size)
        if not self.has_uninitialized_params():
            return
        kept = {name: (value.data if name in self._parameters else value).copy()
                for name, value in (*self._parameters.items(), *self._buffers.items())
                if value is not None and not is_lazy(value)}
        self._materialize(shapes)
        self.cls_to_become.reset_parameters(self)
        for name, value in kept.items():   # loaded before the forward: kept (the fresh ones alone initialised)
            (self._parameters[name].data if name in self._parameters else self._buffers[name])[...] = value

    def _materialize(self, shapes, only=None):
        for name, shape in shapes.items():
            if only is not None and name != only:
                continue
            if is_lazy(self._parameters.get(name)):
                self._parameters[name].materialize(shape)
            elif is_lazy(self._buffers.get(name)):
                self._buffers[name] = self._buffers[name].materialize(shape)

    def _reference_placeholder(self):
        """The array whose dtype and device the input must have (the first floating parameter or buffer, or its
        placeholder), or None."""
        for value in (*self._parameters.values(), *self._buffers.values()):
            array = value.data if is_lazy(value) or isinstance(value, Parameter) else value
            if array is not None and array.dtype.kind == "f":
                return array
        return None

    def forward(self, input, *args, **kwargs):
        """The first forward: ``initialize_parameters(input)``, then this object becomes ``cls_to_become`` and
        runs its forward."""
        self.initialize_parameters(input, *args, **kwargs)
        if self.has_uninitialized_params():
            raise RuntimeError(f"module {type(self).__name__} has not been fully initialized")
        self.__class__ = self.cls_to_become
        return self.forward(input, *args, **kwargs)

    def backward(self, dout):
        raise RuntimeError(f"{self!r}: backward called before forward")

    def backward_parameters(self, dout):
        raise RuntimeError(f"{self!r}: backward called before forward")

    def _before_loading(self, name, value):
        """A loaded array for an uninitialised parameter or buffer: materialise it to the loaded shape (torch's
        load hook), after checking that shape is one this layer can have; NaN until the load copies the values
        in (a load that fails leaves no plausible-looking values)."""
        current = self._parameters.get(name, self._buffers.get(name))
        if not is_lazy(current) or is_lazy(value) or name not in self._lazy_shapes(1):
            return
        shape = tuple(getattr(value, "shape", np.shape(value)))
        size = self._size_from(name, shape)
        expected = self._lazy_shapes(1 if size is None else size)[name]
        if shape != expected:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}: {name} of shape {shape} "
                               f"does not fit {self!r}, which needs shape "
                               f"{_pattern(expected, self._size_axis(name))}")
        self._materialize({name: shape})
        array = self._parameters[name].data if name in self._parameters else self._buffers[name]
        if array.dtype.kind == "f":
            array[...] = np.nan

    def _size_axis(self, name):
        """(axis, factor): the input size is ``factor`` × the axis ``axis`` of ``name``'s shape; None where its
        shape does not depend on the size."""
        return None

    def _size_from(self, name, shape):
        where = self._size_axis(name)
        if where is None or len(shape) <= where[0]:
            return None
        return shape[where[0]] * where[1]


def _pattern(shape, where):
    if where is None:
        return shape
    return "(" + ", ".join("?" if i == where[0] else str(n) for i, n in enumerate(shape)) + (",)" if len(shape) == 1
                                                                                             else ")")


def _check_ndim(module, x, allowed, message):
    check_floating(module, x)
    if x.ndim not in allowed:
        raise InputError(f"{module!r}: {message.format(ndim=x.ndim, shape=list(x.shape))}")


def _groups_placeholder(groups):
    """The in_channels the non-lazy constructor is given before the input tells the real one: ``groups`` itself
    where it is valid (its checks then run on the real ``groups`` and ``out_channels``)."""
    return groups if isinstance(groups, numbers.Integral) and not isinstance(groups, bool) and groups >= 1 else 1


class LazyLinear(LazyModuleMixin, Linear):
    """``Linear`` with ``in_features`` read from the first input, ``x.shape[-1]`` (torch.nn.LazyLinear): that
    forward creates W (out_features, in_features) and b (out_features,), draws them as ``Linear`` does
    (U(±1/√in_features)) and makes the object a ``Linear``, which computes y = x Wᵀ + b."""

    cls_to_become = Linear
    _size_name = "in_features"

    def __init__(self, out_features, bias=True, dtype=np.float32):
        super().__init__(0, out_features, bias, dtype)
        self._make_lazy(dtype)

    def _lazy_shapes(self, size):
        return {"weight": (self.out_features, size), "bias": (self.out_features,)}

    def _size_axis(self, name):
        return (1, 1) if name == "weight" else None

    def _input_size(self, x):
        check_floating(self, x)
        if x.ndim == 0:
            raise InputError(f"{self!r}: expected an input of shape (*, in_features), got a 0-D array")
        return int(x.shape[-1])


class _LazyConv(LazyModuleMixin):
    """A lazy convolution: ``in_channels`` is the channel axis of the first input (axis 1 of a batch, 0 of one
    unbatched sample), which must be a positive multiple of ``groups``."""

    _size_name = "in_channels"
    _spatial = None
    _lazy_transposed = False

    def _lazy_shapes(self, size):
        rest, kernel = self.out_channels // self.groups, tuple(self.kernel_size)
        weight = (size, rest) + kernel if self._lazy_transposed else (self.out_channels, size // self.groups) + kernel
        return {"weight": weight, "bias": (self.out_channels,)}

    def _size_axis(self, name):
        if name != "weight":
            return None
        return (0, 1) if self._lazy_transposed else (1, self.groups)

    def _input_size(self, x):
        n = self._spatial
        _check_ndim(self, x, (n + 1, n + 2), f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to "
                                             f"{type(self).__name__}, but got input of size: {{shape}}")
        size = int(x.shape[-n - 1])
        if size < 1 or size % self.groups:
            raise InputError(f"{self!r}: in_channels must be divisible by groups (got an input of shape "
                             f"{tuple(x.shape)}: {size} channels, groups={self.groups})")
        return size


class LazyConv1d(_LazyConv, Conv1d):
    """``Conv1d`` with ``in_channels`` read from the first input (N, C, L) or (C, L) (torch.nn.LazyConv1d): that
    forward creates W (out_channels, C/groups, k) and b, drawn as ``Conv1d`` does (kaiming-uniform, a = √5), and
    makes the object a ``Conv1d``: y[n, o, l] = b[o] + Σ_c Σ_k W[o, c, k] · x̃[n, c, l·s + k·d]."""

    cls_to_become = Conv1d
    _spatial = 1

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", dtype=np.float32):
        super().__init__(_groups_placeholder(groups), out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, dtype)
        self._make_lazy(dtype)


class LazyConv2d(_LazyConv, Conv2d):
    """``Conv2d`` with ``in_channels`` read from the first input (N, C, H, W) or (C, H, W) (torch.nn.LazyConv2d):
    that forward creates W (out_channels, C/groups, kh, kw) and b, drawn as ``Conv2d`` does (kaiming-uniform,
    a = √5), and makes the object a ``Conv2d``: y[n, o] = b[o] + Σ_c Σ_{i,j} W[o, c, i, j] · x̃[n, c, h·s + i·d,
    w·s + j·d]."""

    cls_to_become = Conv2d
    _spatial = 2

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", dtype=np.float32):
        super().__init__(_groups_placeholder(groups), out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, dtype)
        self._make_lazy(dtype)


class LazyConv3d(_LazyConv, Conv3d):
    """``Conv3d`` with ``in_channels`` read from the first input (N, C, D, H, W) or (C, D, H, W)
    (torch.nn.LazyConv3d): that forward creates W (out_channels, C/groups, kd, kh, kw) and b, drawn as ``Conv3d``
    does, and makes the object a ``Conv3d``: y[n, o] = b[o] + Σ_c Σ_{i,j,k} W[o, c, i, j, k] · x̃[n, c, ...]."""

    cls_to_become = Conv3d
    _spatial = 3

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        super().__init__(_groups_placeholder(groups), out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, device, dtype)
        self._make_lazy(self.weight.data.dtype, device)


class LazyConvTranspose1d(_LazyConv, ConvTranspose1d):
    """``ConvTranspose1d`` with ``in_channels`` read from the first input (N, C, L) or (C, L)
    (torch.nn.LazyConvTranspose1d): that forward creates W (C, out_channels/groups, k) and b, drawn as
    ``ConvTranspose1d`` does, and makes the object a ``ConvTranspose1d``:
    y[n, o, l·s + k·d − p] += Σ_c W[c, o, k] · x[n, c, l], plus b[o]."""

    cls_to_become = ConvTranspose1d
    _spatial = 1
    _lazy_transposed = True

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True,
                 dilation=1, padding_mode="zeros", dtype=np.float32):
        super().__init__(_groups_placeholder(groups), out_channels, kernel_size, stride, padding, output_padding,
                         groups, bias, dilation, padding_mode, dtype)
        self._make_lazy(dtype)


class LazyConvTranspose2d(_LazyConv, ConvTranspose2d):
    """``ConvTranspose2d`` with ``in_channels`` read from the first input (N, C, H, W) or (C, H, W)
    (torch.nn.LazyConvTranspose2d): that forward creates W (C, out_channels/groups, kh, kw) and b, drawn as
    ``ConvTranspose2d`` does, and makes the object a ``ConvTranspose2d``: the adjoint of Conv2d in x, plus b."""

    cls_to_become = ConvTranspose2d
    _spatial = 2
    _lazy_transposed = True

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True,
                 dilation=1, padding_mode="zeros", dtype=np.float32):
        super().__init__(_groups_placeholder(groups), out_channels, kernel_size, stride, padding, output_padding,
                         groups, bias, dilation, padding_mode, dtype)
        self._make_lazy(dtype)


class LazyConvTranspose3d(_LazyConv, ConvTranspose3d):
    """``ConvTranspose3d`` with ``in_channels`` read from the first input (N, C, D, H, W) or (C, D, H, W)
    (torch.nn.LazyConvTranspose3d): that forward creates W (C, out_channels/groups, kd, kh, kw) and b, drawn as
    ``ConvTranspose3d`` does, and makes the object a ``ConvTranspose3d``: the adjoint of Conv3d in x, plus b."""

    cls_to_become = ConvTranspose3d
    _spatial = 3
    _lazy_transposed = True

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True,
                 dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(_groups_placeholder(groups), out_channels, kernel_size, stride, padding, output_padding,
                         groups, bias, dilation, padding_mode, device, dtype)
        self._make_lazy(self.weight.data.dtype, device)


class _LazyNorm(LazyModuleMixin):
    """A lazy normalisation layer: ``num_features`` is the channel axis of the first input; γ = 1, β = 0,
    running_mean = 0 and running_var = 1 are created then, of that length (as the non-lazy class makes them).
    torch's lazy defaults: ``affine=True``, ``track_running_stats=True`` (for the instance norms too)."""

    _size_name = "num_features"
    _ndims = ()
    _channel_axis = 1

    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, dtype=np.float32, *,
                 bias=True):
        super().__init__(0, eps, momentum, affine, track_running_stats, dtype, bias=bias)
        self._make_lazy(dtype)

    def _lazy_shapes(self, size):
        return dict.fromkeys(("weight", "bias", "running_mean", "running_var"), (size,))

    def _size_axis(self, name):
        return (0, 1)

    def _input_size(self, x):
        _check_ndim(self, x, self._ndims, " or ".join(f"{n}D" for n in self._ndims).join(("expected ", " input "))
                    + "(got {ndim}D input)")
        return int(x.shape[self._channel_axis])


class LazyBatchNorm1d(_LazyNorm, BatchNorm1d):
    """``BatchNorm1d`` with ``num_features`` read from the first input (N, C) or (N, C, L), axis 1
    (torch.nn.LazyBatchNorm1d); it then becomes a ``BatchNorm1d``: y = γ·(x − μ)/√(σ² + ε) + β per feature."""

    cls_to_become = BatchNorm1d
    _ndims = (2, 3)


class LazyBatchNorm2d(_LazyNorm, BatchNorm2d):
    """``BatchNorm2d`` with ``num_features`` read from the first input (N, C, H, W), axis 1
    (torch.nn.LazyBatchNorm2d); it then becomes a ``BatchNorm2d``: y = γ·(x − μ)/√(σ² + ε) + β per channel."""

    cls_to_become = BatchNorm2d
    _ndims = (4,)


class LazyBatchNorm3d(_LazyNorm, BatchNorm3d):
    """``BatchNorm3d`` with ``num_features`` read from the first input (N, C, D, H, W), axis 1
    (torch.nn.LazyBatchNorm3d); it then becomes a ``BatchNorm3d``: y = γ·(x − μ)/√(σ² + ε) + β per channel."""

    cls_to_become = BatchNorm3d
    _ndims = (5,)


class LazyInstanceNorm1d(_LazyNorm, InstanceNorm1d):
    """``InstanceNorm1d`` with ``num_features`` read from the first input's channel axis, (N, C, L) or (C, L)
    (torch.nn.LazyInstanceNorm1d, whose defaults are ``affine=True, track_running_stats=True``); it then becomes an
    ``InstanceNorm1d``: y = γ_c·(x − μ)/√(σ² + ε) + β_c, μ and σ² per sample and channel over L."""

    cls_to_become = InstanceNorm1d
    _ndims = (2, 3)
    _channel_axis = -2


class LazyInstanceNorm2d(_LazyNorm, InstanceNorm2d):
    """``InstanceNorm2d`` with ``num_features`` read from the first input's channel axis, (N, C, H, W) or
    (C, H, W) (torch.nn.LazyInstanceNorm2d, defaults ``affine=True, track_running_stats=True``); it then becomes an
    ``InstanceNorm2d``: y = γ_c·(x − μ)/√(σ² + ε) + β_c, μ and σ² per sample and channel over H·W."""

    cls_to_become = InstanceNorm2d
    _ndims = (3, 4)
    _channel_axis = -3


class LazyInstanceNorm3d(_LazyNorm, InstanceNorm3d):
    """``InstanceNorm3d`` with ``num_features`` read from the first input's channel axis, (N, C, D, H, W) or
    (C, D, H, W) (torch.nn.LazyInstanceNorm3d, defaults ``affine=True, track_running_stats=True``); it then becomes
    an ``InstanceNorm3d``: y = γ_c·(x − μ)/√(σ² + ε) + β_c, μ and σ² per sample and channel over D·H·W."""

    cls_to_become = InstanceNorm3d
    _ndims = (4, 5)
    _channel_axis = -4
