"""Element-wise losses: the difference ŷ − y with the loss, and the gradient from that difference.

Each forward takes ``scale`` (1/M for the mean over M elements, 1 for the sum) and returns (what its backward
and ``…_elements`` read, scale·Σ ℓ); here what they read is the difference ŷ − y.
"""
from ..backend import get_array_module


def squared_error(prediction, target, scale=1.0):
    """(ŷ − y, scale·Σ (ŷ − y)²)."""
    diff = prediction - target
    flat = diff.reshape(-1)
    return diff, _scaled(flat @ flat, scale)


def squared_error_elements(diff):
    """ℓ = (ŷ − y)² element-wise (reduction "none")."""
    return diff * diff


def squared_error_backward(diff, scale):
    """∂L/∂ŷ = 2(ŷ − y)·scale (scale = 1/M for the mean over M elements, 1 for the sum)."""
    return diff * (2.0 * scale)


def absolute_error(prediction, target, scale=1.0):
    """(ŷ − y, scale·Σ |ŷ − y|)."""
    diff = prediction - target
    return diff, _scaled(get_array_module(diff).abs(diff).sum(), scale)


def absolute_error_elements(diff):
    """ℓ = |ŷ − y| element-wise (reduction "none")."""
    return get_array_module(diff).abs(diff)


def absolute_error_backward(diff, scale):
    """∂L/∂ŷ = sign(ŷ − y)·scale (0 where ŷ = y, as torch); ``scale`` a number or an array of diff's shape."""
    grad = get_array_module(diff).sign(diff)
    grad *= scale
    return grad


def _scaled(total, scale):
    return total if scale == 1 else total * scale
