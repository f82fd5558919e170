"""Gradient clipping and flat parameter vectors with torch's semantics: ``clip_grad_norm_`` (its two halves
``get_total_norm`` and ``clip_grads_with_norm_``), ``clip_grad_value_``, ``parameters_to_vector`` and
``vector_to_parameters``."""
import math

import numpy as np

from ...backend import get_array_module
from ..parameter import Parameter


def _listed(items):
    return [items] if isinstance(items, Parameter) or hasattr(items, "shape") else list(items)


def _vector_norm(xp, v, p):
    """‖v‖_p of a flat array as torch's ``vector_norm``: max |v| (p = inf), min |v| (−inf), the count of non-zero
    values (p = 0), else (Σ |v|^p)^(1/p) (a zero makes a negative order's norm 0)."""
    if math.isinf(p):
        return xp.max(xp.abs(v)) if p > 0 else xp.min(xp.abs(v))
    if p == 0:
        return xp.asarray(xp.count_nonzero(v), dtype=v.dtype)
    if p == 2:
        return xp.sqrt(xp.dot(v, v))
    with np.errstate(divide="ignore"):
        return xp.sum(xp.abs(v) ** p) ** (1.0 / p)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    r"""The norm of the arrays' norms, :math:`n = \|(\|g_1\|_q, \ldots, \|g_k\|_q)\|_q` for ``norm_type``
    :math:`q` (any real or ±inf, as torch's ``vector_norm``), as a 0-d array in their dtype on their device
    (float32 0 for no arrays). ``error_if_nonfinite=True`` raises when :math:`n` is nan or inf; ``foreach``
    changes nothing here."""
    arrays = _listed(tensors)
    norm_type = float(norm_type)
    if not arrays:
        return np.zeros((), dtype=np.float32)
    xp = get_array_module(arrays[0])
    norms = xp.stack([xp.asarray(_vector_norm(xp, a.reshape(-1), norm_type), dtype=a.dtype) for a in arrays])
    total = xp.asarray(_vector_norm(xp, norms, norm_type), dtype=norms.dtype)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    return total


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    r""":math:`g \leftarrow g \cdot \min(1, \text{max\_norm} / (n + 10^{-6}))` for every gradient, in place (always,
    even by 1, as torch), with :math:`n` = ``total_norm``; parameters without a gradient are skipped."""
    grads = [p.grad for p in _listed(parameters) if p.grad is not None]
    if not grads:
        return
    xp = get_array_module(grads[0])
    coef = xp.minimum(float(max_norm) / (total_norm + 1e-6), 1.0)  # 0-d, grads' dtype; no device sync
    for g in grads:
        g *= coef.astype(g.dtype, copy=False)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    r"""Scale all gradients together so that their joint norm is at most ``max_norm``.

    .. math::
        n = \Big\| \big(\|g_1\|_q, \ldots, \|g_k\|_q\big) \Big\|_q, \qquad
        g_i \leftarrow g_i \cdot \min\!\Big(1, \frac{\text{max\_norm}}{n + 10^{-6}}\Big)

    (``get_total_norm`` then ``clip_grads_with_norm_``). Parameters without a gradient are ignored. Returns
    :math:`n` as a 0-d array in the gradients' dtype on their device (torch's 0-d tensor; ``float(...)`` it to
    print), a float32 0 when no parameter has a gradient.
    """
    parameters = _listed(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    r"""Clip every gradient element to :math:`[-c, c]` in place: :math:`g \leftarrow \min(\max(g, -c), c)` for
    ``clip_value`` :math:`c \ge 0` (torch's clamp would set every element to a negative :math:`c`: refused here as
    the mistake it is). Parameters without a gradient are skipped; returns None (as torch). ``foreach`` changes
    nothing here."""
    c = float(clip_value)
    if not c >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be non-negative, got {clip_value}")
    for p in _listed(parameters):
        if p.grad is not None:
            get_array_module(p.grad).clip(p.grad, -c, c, out=p.grad)


def parameters_to_vector(parameters):
    """The parameters' values flattened and joined into one 1-d array (a copy)."""
    arrays = [p.data if isinstance(p, Parameter) else p for p in parameters]
    xp = get_array_module(arrays[0])
    return xp.concatenate([a.reshape(-1) for a in arrays])


def vector_to_parameters(vec, parameters):
    """Copy consecutive pieces of the 1-d ``vec`` into the parameters' values, in order."""
    if getattr(vec, "ndim", None) != 1:
        raise TypeError(f"expected a 1-d array, but got: {type(vec).__name__} of shape {getattr(vec, 'shape', ())}")
    offset = 0
    for p in parameters:
        array = p.data if isinstance(p, Parameter) else p
        array[...] = vec[offset:offset + array.size].reshape(array.shape)
        offset += array.size
