"""Weight initialisers with PyTorch's formulas, defaults, argument names and checks.

Each fills its ``tensor`` (an array, or a ``Parameter``: its ``data``) in place and returns it, as torch's. The
random ones draw from minimlp's CPU generator (``minimlp.manual_seed``), or from ``generator`` (a NumPy
``Generator``) where one is given, so a seed gives the same weights on NumPy and CuPy.
"""
import math
import numbers
import warnings

import numpy as np

from ..backend import get_array_module
from ..formulas.special import erfinv
from ..random import numpy_rng
from .checks import InputError
from .parameter import Parameter

_GAIN_ONE = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
             "sigmoid")


class IntegerArrayError(TypeError, NotImplementedError):
    """A random initialiser asked to fill an integer array: a TypeError that is also torch's NotImplementedError."""


def _array(tensor, name, floating=True):
    """The array ``tensor`` holds (a Parameter's ``data``); an integer array refused where values are drawn."""
    array = tensor.data if isinstance(tensor, Parameter) else tensor
    if floating and array.dtype.kind != "f":
        raise IntegerArrayError(f"{name}: not implemented for arrays of dtype {array.dtype} (torch: not "
                                f"implemented for '{array.dtype}'); initialise a floating-point array")
    return array


def _fill(array, values):
    xp = get_array_module(array)
    array[...] = xp.asarray(values.astype(array.dtype, copy=False))


def _rng(generator):
    return numpy_rng() if generator is None else generator


def _fans(array):
    if array.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = int(np.prod(array.shape[2:])) if array.ndim > 2 else 1
    return array.shape[1] * receptive, array.shape[0] * receptive


def calculate_gain(nonlinearity, param=None):
    """torch.nn.init.calculate_gain: the recommended gain for a nonlinearity (1 for the linear ones and sigmoid,
    5/3 for tanh, √2 for relu, √(2/(1 + slope²)) for leaky_relu, 3/4 for selu)."""
    if nonlinearity in _GAIN_ONE:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is not None and (isinstance(param, bool) or not isinstance(param, numbers.Real)):
            raise ValueError(f"negative_slope {param} not a valid number")
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with U(a, b): values in [a, b), as torch's (a draw that rounds up to b in the array's dtype is moved
    to the largest value below it)."""
    array = _array(tensor, "uniform_")
    a, b = float(a), float(b)
    if not (math.isfinite(a) and math.isfinite(b)) or a > b:
        raise InputError(f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}"
                         if a > b else f"uniform_: from and to must be finite, got from={a}, to={b}")
    values = _rng(generator).uniform(a, b, size=array.shape).astype(array.dtype, copy=False)
    if b > a:
        top = np.nextafter(array.dtype.type(b), array.dtype.type(a))
        values = np.minimum(values, top) if values.ndim else min(values, top)
    _fill(array, np.asarray(values))
    return tensor


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with N(mean, std²); std ≥ 0."""
    array = _array(tensor, "normal_")
    if not std >= 0:
        raise InputError(f"normal expects std >= 0.0, but found std {std}")
    _fill(array, _rng(generator).normal(mean, std, size=array.shape))
    return tensor


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fill with N(mean, std²) restricted to [a, b], by torch's method: u uniform in [2Φ(α) − 1, 2Φ(β) − 1]
    (α, β the bounds in standard units, Φ the normal CDF), x = mean + std·√2·erf⁻¹(u), clamped to [a, b]."""
    array = _array(tensor, "trunc_normal_")
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The distribution of values "
                      "may be incorrect.", stacklevel=2)
    low, high = (_normal_cdf((bound - mean) / std) for bound in (a, b))
    u = _rng(generator).uniform(2 * low - 1, 2 * high - 1, size=array.shape)
    _fill(array, np.clip(mean + std * math.sqrt(2.0) * erfinv(u), a, b))
    return tensor


def _normal_cdf(z):
    return (1.0 + math.erf(z / math.sqrt(2.0))) / 2.0


def constant_(tensor, val):
    """Fill with ``val``."""
    _array(tensor, "constant_", floating=False)[...] = val
    return tensor


def zeros_(tensor):
    """Fill with 0."""
    return constant_(tensor, 0)


def ones_(tensor):
    """Fill with 1."""
    return constant_(tensor, 1)


def eye_(tensor):
    """The identity matrix (a 2-D array of any shape: ones on the main diagonal)."""
    array = _array(tensor, "eye_", floating=False)
    if array.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    array[...] = get_array_module(array).eye(*array.shape, dtype=array.dtype)
    return tensor


def dirac_(tensor, groups=1):
    """The Dirac delta of a 3-, 4- or 5-D convolution weight: the identity on each group's first channels (the
    kernel's centre tap 1), so the convolution passes its input through."""
    array = _array(tensor, "dirac_", floating=False)
    if array.ndim not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    if array.shape[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    per_group = array.shape[0] // groups
    array[...] = 0
    centre = tuple(k // 2 for k in array.shape[2:])
    for g in range(groups):
        for d in range(min(per_group, array.shape[1])):
            array[(g * per_group + d, d) + centre] = 1
    return tensor


def orthogonal_(tensor, gain=1, generator=None):
    """A (semi-)orthogonal matrix (Saxe et al., 2013) from the QR of a normal draw, signs fixed by R's diagonal,
    reshaped to ``tensor``'s shape (rows = its first axis) and scaled by ``gain``."""
    array = _array(tensor, "orthogonal_")
    if array.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if array.size == 0:
        return tensor
    rows = array.shape[0]
    cols = array.size // rows
    flat = _rng(generator).normal(0.0, 1.0, size=(rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    _fill(array, gain * q.reshape(array.shape))
    return tensor


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """A 2-D matrix drawn from N(0, std²) with a fraction ``sparsity`` of each column's entries set to zero."""
    array = _array(tensor, "sparse_")
    if array.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rng = _rng(generator)
    rows, cols = array.shape
    values = rng.normal(0.0, std, size=(rows, cols))
    zeros = int(math.ceil(sparsity * rows))
    for c in range(cols):
        values[rng.permutation(rows)[:zeros], c] = 0
    _fill(array, values)
    return tensor


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """U(-a, a) with a = gain·sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _fans(_array(tensor, "xavier_uniform_"))
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """N(0, std²) with std = gain·sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(_array(tensor, "xavier_normal_"))
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _kaiming_fan(array, mode):
    """fan_in or fan_out of ``array`` (``mode``, case-insensitive, as torch); None for an empty array (torch
    warns and returns before looking at ``mode``)."""
    if 0 in array.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    if str(mode).lower() not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    return _fans(array)[0 if str(mode).lower() == "fan_in" else 1]


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(-b, b) with b = gain·sqrt(3 / fan) (He et al., 2015); torch's defaults. An empty array is left as it is."""
    fan = _kaiming_fan(_array(tensor, "kaiming_uniform_"), mode)
    if fan is None:
        return tensor
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """N(0, std²) with std = gain / sqrt(fan). An empty array is left as it is."""
    fan = _kaiming_fan(_array(tensor, "kaiming_normal_"), mode)
    if fan is None:
        return tensor
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), generator)


def linear_default_(weight, bias=None):
    """torch.nn.Linear's reset_parameters: kaiming_uniform_(a=√5) on the weight,
    i.e. U(-1/√fan_in, 1/√fan_in), and the bias from the same range."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        bound = 1.0 / math.sqrt(weight.shape[1]) if weight.shape[1] > 0 else 0.0
        uniform_(bias, -bound, bound)
