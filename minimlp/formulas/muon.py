"""Muon's update, as ``torch.optim.Muon``: momentum, then the update matrix orthogonalised by a Newton–Schulz
iteration computed in bfloat16, then a step scaled for the matrix's shape."""
import math

from ..backend import get_array_module
from .adafactor import lerp_

COEFFICIENTS = (3.4445, -4.7750, 2.0315)   # (a, b, c) of the quintic iteration: torch's defaults (Keller Jordan's)
STEPS = 5
EPS = 1e-7


def bfloat16(x):
    """x rounded to the nearest bfloat16 (ties to even), held in a float32 array: NumPy and CuPy have no bfloat16.

    A float64 input is rounded to float32 first, then to bfloat16, as torch converts it (twice rounded). A
    bfloat16 is a float32 whose 16 low bits are zero: add 0x7FFF plus the lowest kept bit, clear the 16 low
    bits; NaN stays NaN.
    """
    xp = get_array_module(x)
    x = xp.asarray(x, dtype=xp.float32)
    bits = x.view(xp.uint32)
    rounded = ((bits + xp.uint32(0x7FFF) + ((bits >> 16) & xp.uint32(1))) & xp.uint32(0xFFFF0000)).view(xp.float32)
    return xp.where(xp.isnan(x), x, rounded)


def newton_schulz(g, coefficients=COEFFICIENTS, steps=STEPS, eps=EPS):
    r"""The orthogonalisation :math:`\mathrm{NS}^{(a,b,c)}_k(G; \epsilon)` of the matrix G (2-d), in bfloat16 as
    torch computes it:

    .. math::
        X_0 &= G / \max(\lVert G \rVert_F, \epsilon) \qquad (G^T \text{ if } G \text{ has more rows than columns}) \\
        A_j &= X_j X_j^T, \qquad B_j = b A_j + c A_j^2, \qquad X_{j+1} = a X_j + B_j X_j \qquad (j < k)

    and :math:`X_k` (transposed back). Each value is rounded to bfloat16 where torch's is: G on entry, the norm,
    the quotient, and each of :math:`A_j`, :math:`B_j`, :math:`X_{j+1}` once (a product of bfloat16 matrices is
    summed in float32 and rounded once, ``addmm``'s scaled sum with it). The result is a float32 array of
    bfloat16 values; its singular values lie near 1 (about 0.7 to 1.2), not exactly 1.
    """
    if steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    if g.ndim != 2:
        raise ValueError("Input tensor gradient must be a 2D matrix")
    if len(coefficients) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    xp = get_array_module(g)
    a, b, c = (xp.float32(k) for k in coefficients)
    tall = g.shape[0] > g.shape[1]
    x = bfloat16(g.T if tall else g)
    norm = bfloat16(xp.sqrt(xp.sum(x * x)))
    x = bfloat16(x / bfloat16(xp.maximum(norm, xp.float32(eps))))
    for _ in range(steps):
        gram = bfloat16(x @ x.T)
        polynomial = bfloat16(b * gram + c * (gram @ gram))
        x = bfloat16(a * x + polynomial @ x)
    return x.T if tall else x


def adjusted_lr(lr, adjust_lr_fn, shape):
    """The learning rate for a matrix of ``shape`` (A, B): γ·√max(1, A/B) (``"original"`` or None, Keller Jordan's),
    0.2·γ·√max(A, B) (``"match_rms_adamw"``, Moonshot's: the update's RMS that of AdamW's), else γ."""
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return lr * math.sqrt(max(1, rows / cols))
    if adjust_lr_fn == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(rows, cols))
    return lr


def update(p, g, momentum_buffer, *, lr, weight_decay, momentum, nesterov, ns_coefficients, ns_steps, eps,
           adjust_lr_fn):
    r"""One step of the matrix p in place, with B = ``momentum_buffer`` (momentum :math:`\mu`, learning rate
    :math:`\gamma`, weight decay :math:`\lambda`):

    .. math::
        B &\leftarrow \mu B + (1 - \mu) g \\
        U &= \mu B + (1 - \mu) g \ \text{(nesterov)}, \quad B \ \text{(otherwise)} \\
        O &= \mathrm{NS}^{(a,b,c)}_k(U; \epsilon) \\
        p &\leftarrow p (1 - \gamma \lambda) - \gamma' O, \qquad \gamma' = \mathrm{AdjustLR}(\gamma; \text{shape of } p)

    (both interpolations written as torch's ``lerp``; :func:`newton_schulz`, :func:`adjusted_lr`). The weight
    decay takes the unadjusted :math:`\gamma`, as torch's. O is bfloat16-valued; p and B keep p's dtype.
    """
    lerp_(momentum_buffer, g, 1 - momentum)
    direction = lerp_(g.copy(), momentum_buffer, momentum) if nesterov else momentum_buffer
    orthogonal = newton_schulz(direction, ns_coefficients, ns_steps, eps)
    if weight_decay != 0:
        p *= 1 - lr * weight_decay
    p -= adjusted_lr(lr, adjust_lr_fn, p.shape) * orthogonal.astype(p.dtype)
