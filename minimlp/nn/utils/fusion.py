"""torch.nn.utils.fusion's names: an evaluation-mode BatchNorm folded into the convolution or linear layer before it.

In evaluation a BatchNorm is the affine map y = γ·(z − μ)/√(σ² + ε) + β per channel, with its running μ, σ²;
after z = W ⊛ x + b it is again a convolution (a linear layer) of weight W' = W·s and bias b' = (b − μ)·s + β,
s = γ/√(σ² + ε) scaling each output channel. The fused layer is a new module: its arrays are new (the
originals are neither changed nor shared).
"""
import copy

from ...backend import get_array_module
from ..checks import ArgumentAssertionError
from ..parameter import Parameter


def _data(value):
    return value.data if isinstance(value, Parameter) else value


def _requires_grad(value):
    """A Parameter's flag; False for a plain array (torch's plain tensor) or None (torch's zeros in its place)."""
    return isinstance(value, Parameter) and value.requires_grad


def fuse_conv_bn_weights(conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b, transpose=False):
    r"""The fused convolution's (weight, bias), two new Parameters:

    .. math::
        s = \gamma / \sqrt{\sigma^2 + \varepsilon}, \qquad W' = W \cdot s_{o}, \qquad b' = (b - \mu)\,s + \beta

    with :math:`s` along the output channels: W's axis 0, or axis 1 with ``transpose`` (a ConvTranspose weight
    (C_in, C_out/groups, …), read as torch reads it). ``conv_b``, ``bn_w``, ``bn_b`` None count as 0, 1, 0. W'
    keeps W's dtype, b' the dtype of b (W's without one). Arrays or Parameters; each result's ``requires_grad``
    is its input's, as torch's: False for a plain array, and for b' where there was no b.
    """
    w, b = _data(conv_w), _data(conv_b)
    rm, rv = _data(bn_rm), _data(bn_rv)
    xp = get_array_module(w)
    bias_dtype = w.dtype if b is None else b.dtype
    b = xp.zeros_like(rm) if b is None else b
    gamma = xp.ones_like(rm) if bn_w is None else _data(bn_w)
    beta = xp.zeros_like(rm) if bn_b is None else _data(bn_b)
    rsqrt = 1.0 / xp.sqrt(rv + bn_eps)
    shape = ((1, -1) if transpose else (-1, 1)) + (1,) * (w.ndim - 2)
    fused_w = (w * (gamma * rsqrt).reshape(shape)).astype(w.dtype, copy=False)
    fused_b = ((b - rm) * rsqrt * gamma + beta).astype(bias_dtype, copy=False)
    return (Parameter(fused_w, _requires_grad(conv_w)),
            Parameter(fused_b, _requires_grad(conv_b)))


def fuse_linear_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b):
    r"""The fused linear layer's (weight, bias), two new Parameters:

    .. math::
        s = \gamma / \sqrt{\sigma^2 + \varepsilon}, \qquad W' = W \cdot s[:, \text{None}], \qquad
        b' = (b - \mu)\,s + \beta

    (``linear_b`` None counts as 0; ``bn_w`` and ``bn_b`` are required, as torch's). W' keeps W's dtype, b' the
    dtype of b (W's without one). A BatchNorm of one feature scales every output alike.
    """
    w, b = _data(linear_w), _data(linear_b)
    rm, rv = _data(bn_rm), _data(bn_rv)
    xp = get_array_module(w)
    bias_dtype = w.dtype if b is None else b.dtype
    b = xp.zeros_like(rm) if b is None else b
    scale = _data(bn_w) * (1.0 / xp.sqrt(rv + bn_eps))
    fused_w = w * scale[:, None].astype(w.dtype, copy=False)
    fused_b = ((b - rm) * scale + _data(bn_b)).astype(bias_dtype, copy=False)
    return (Parameter(fused_w, _requires_grad(linear_w)),
            Parameter(fused_b, _requires_grad(linear_b)))


def _fused_copy(layer, bn):
    """A deep copy of ``layer`` (no cached arrays) after torch's checks of the pair."""
    if layer.training or bn.training:
        raise ArgumentAssertionError("Fusion only for eval!")
    if layer.__dict__.get("_computed"):
        raise KeyError(f"attribute 'weight' already exists: {type(layer).__name__}'s "
                       f"{', '.join(layer.__dict__['_computed'])} is computed by a parametrization; remove it "
                       f"(remove_parametrizations, remove_weight_norm, remove_spectral_norm) before fusing")
    fused = copy.deepcopy(layer)
    fused._on_moved()   # what forward cached belongs to the original
    if bn.running_mean is None or bn.running_var is None:
        raise ArgumentAssertionError("bn.running_mean and bn.running_var must not be None")
    return fused


def fuse_conv_bn_eval(conv, bn, transpose=False):
    r"""A new convolution computing ``bn(conv(x))`` of the evaluation-mode pair: a deep copy of ``conv`` with
    :math:`W' = W \cdot s`, :math:`b' = (b - \mu)\,s + \beta`, :math:`s = \gamma/\sqrt{\sigma^2 + \varepsilon}`
    (``fuse_conv_bn_weights``; ``transpose=True`` for a ConvTranspose). Both modules must be in evaluation mode
    and ``bn`` must track running statistics: torch's AssertionError otherwise."""
    fused = _fused_copy(conv, bn)
    fused.weight, fused.bias = fuse_conv_bn_weights(fused.weight, fused.bias, bn.running_mean, bn.running_var,
                                                    bn.eps, bn.weight, bn.bias, transpose)
    return fused


def fuse_linear_bn_eval(linear, bn):
    r"""A new Linear computing ``bn(linear(x))`` of the evaluation-mode pair: a deep copy of ``linear`` with
    :math:`W' = W \cdot s[:, \text{None}]`, :math:`b' = (b - \mu)\,s + \beta`,
    :math:`s = \gamma/\sqrt{\sigma^2 + \varepsilon}` (``fuse_linear_bn_weights``). Both in evaluation mode,
    ``linear.out_features == bn.num_features`` or ``bn.num_features == 1``, running statistics tracked: torch's
    AssertionError otherwise."""
    if linear.training or bn.training:
        raise ArgumentAssertionError("Fusion only for eval!")
    if linear.out_features != bn.num_features and bn.num_features != 1:
        raise ArgumentAssertionError(
            f"To fuse, linear.out_features == bn.num_features or bn.num_features == 1, got "
            f"linear.out_features={linear.out_features} and bn.num_features={bn.num_features}")
    fused = _fused_copy(linear, bn)
    fused.weight, fused.bias = fuse_linear_bn_weights(fused.weight, fused.bias, bn.running_mean, bn.running_var,
                                                      bn.eps, bn.weight, bn.bias)
    return fused


__all__ = ["fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights"]
