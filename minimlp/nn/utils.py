"""Gradient clipping: ``clip_grad_norm_`` and ``clip_grad_value_`` with torch's semantics."""
import math

from ..backend import get_array_module
from .parameter import Parameter


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    r"""Scale all gradients together so that their joint norm is at most ``max_norm``.

    .. math::
        n = \Big\| \big(\|g_1\|_q, \ldots, \|g_k\|_q\big) \Big\|_q, \qquad
        g_i \leftarrow g_i \cdot \min\!\Big(1, \frac{\text{max\_norm}}{n + 10^{-6}}\Big)

    for ``norm_type`` :math:`q` (2 by default; any :math:`q > 0` or
    ``float('inf')``, where :math:`\|g\|_\infty = \max |g|`). Parameters
    without a gradient are ignored. The gradients are scaled in place (always,
    as torch does, even by 1). Returns the total norm :math:`n` as a 0-d array
    in the gradients' dtype on their device (like torch's 0-d tensor;
    ``float(...)`` it to print), or ``0.0`` when no parameter has a gradient.
    ``error_if_nonfinite=True`` raises when :math:`n` is nan or inf.
    """
    if isinstance(parameters, Parameter):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not norm_type > 0:
        raise ValueError(f"Invalid norm_type: {norm_type} (must be > 0 or inf)")
    if not grads:
        return 0.0
    xp = get_array_module(grads[0])
    flat = [g.reshape(-1) for g in grads]
    if math.isinf(norm_type):
        total = xp.max(xp.stack([xp.max(xp.abs(g)) for g in flat]))
    elif norm_type == 2.0:
        total = xp.sqrt(xp.sum(xp.stack([xp.dot(g, g) for g in flat])))
    else:
        norms = xp.stack([xp.sum(xp.abs(g) ** norm_type) ** (1.0 / norm_type) for g in flat])
        total = xp.sum(norms ** norm_type) ** (1.0 / norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients is non-finite ({float(total)}), "
                           "so it cannot be clipped. Set error_if_nonfinite=False to scale anyway.")
    coef = xp.minimum(max_norm / (total + 1e-6), 1.0)  # 0-d, grads' dtype; no device sync
    for g in grads:
        g *= coef
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    r"""Clip every gradient element to :math:`[-c, c]` in place: :math:`g \leftarrow \min(\max(g, -c), c)` for
    ``clip_value`` :math:`c`. Parameters without a gradient are skipped; returns None (as torch). ``foreach``
    is accepted for torch's signature and changes nothing."""
    if isinstance(parameters, Parameter):
        parameters = [parameters]
    c = float(clip_value)
    if not c >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be non-negative, got {clip_value}")
    for p in parameters:
        if p.grad is not None:
            get_array_module(p.grad).clip(p.grad, -c, c, out=p.grad)
