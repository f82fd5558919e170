"""Weight initialisers with PyTorch's formulas and defaults.

All draw from minimlp's CPU generator (``minimlp.manual_seed``) and write into
the array in place, so a seed gives the same weights on NumPy and CuPy.
"""
import math
import numbers
import warnings

import numpy as np

from ..backend import get_array_module
from ..random import numpy_rng


def _fill(array, values):
    xp = get_array_module(array)
    array[...] = xp.asarray(values.astype(array.dtype, copy=False))
    return array


def _fans(array):
    if array.ndim < 2:
        raise ValueError("fan in and fan out need an array of at least 2 dimensions")
    receptive = int(np.prod(array.shape[2:])) if array.ndim > 2 else 1
    return array.shape[1] * receptive, array.shape[0] * receptive


def calculate_gain(nonlinearity, param=None):
    """torch.nn.init.calculate_gain: the recommended gain for a nonlinearity."""
    if nonlinearity in ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                        "conv_transpose2d", "conv_transpose3d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is not None and (isinstance(param, bool) or not isinstance(param, numbers.Real)):
            raise ValueError(f"negative_slope {param!r} not a valid number")
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def uniform_(array, a=0.0, b=1.0):
    """Fill with U(a, b)."""
    return _fill(array, numpy_rng().uniform(a, b, size=array.shape))


def normal_(array, mean=0.0, std=1.0):
    """Fill with N(mean, std²)."""
    return _fill(array, numpy_rng().normal(mean, std, size=array.shape))


def constant_(array, value):
    array[...] = value
    return array


def zeros_(array):
    return constant_(array, 0)


def ones_(array):
    return constant_(array, 1)


def xavier_uniform_(array, gain=1.0):
    """U(-a, a) with a = gain·sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _fans(array)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(array, -bound, bound)


def xavier_normal_(array, gain=1.0):
    """N(0, std²) with std = gain·sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(array)
    return normal_(array, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_fan(array, mode):
    """fan_in or fan_out of ``array`` (``mode``, case-insensitive, as torch); None for an empty array."""
    if str(mode).lower() not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    if 0 in array.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    return _fans(array)[0 if str(mode).lower() == "fan_in" else 1]


def kaiming_uniform_(array, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """U(-b, b) with b = gain·sqrt(3 / fan) (He et al., 2015); torch's defaults. An empty array is left as it is."""
    fan = _kaiming_fan(array, mode)
    if fan is None:
        return array
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(array, -bound, bound)


def kaiming_normal_(array, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """N(0, std²) with std = gain / sqrt(fan). An empty array is left as it is."""
    fan = _kaiming_fan(array, mode)
    if fan is None:
        return array
    return normal_(array, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))


def linear_default_(weight, bias=None):
    """torch.nn.Linear's reset_parameters: kaiming_uniform_(a=√5) on the weight,
    i.e. U(-1/√fan_in, 1/√fan_in), and the bias from the same range."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        bound = 1.0 / math.sqrt(weight.shape[1]) if weight.shape[1] > 0 else 0.0
        uniform_(bias, -bound, bound)
