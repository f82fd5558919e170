"""Scaled dot-product attention, and multi-head attention's input projection (CS231n's Transformer lab; torch's
``multi_head_attention_forward``).

For B independent heads (B = N·heads), Q (B, L, d), K (B, S, d), V (B, S, d_v) and an additive mask M
(0 where a query may look, −∞ where not, or any float; broadcast to (B, L, S)):

    S = Q Kᵀ/√d + M,   P = softmax(S) along the keys,   P̃ = P ⊙ D,   O = P̃ V

with D the scaled attention-dropout mask (keep/(1 − p); none: D = 1). Backward, for G = ∂L/∂O and, where the
weights P̃ were used too, their gradient G_P:

    ∂L/∂P̃ = G Vᵀ + G_P,   ∂L/∂V = P̃ᵀ G,   dP = ∂L/∂P̃ ⊙ D,   dS = P ⊙ (dP − rowsum(dP ⊙ P)),
    ∂L/∂Q = dS K/√d,   ∂L/∂K = dSᵀ Q/√d.

Every product is one batched matmul over the B heads.
"""
import math

import numpy as np

from ..backend import get_array_module


def scaled_dot_product(q, k, v, mask=None, keep=None, safe=False):
    """(O, P̃, saved): O = softmax(Q Kᵀ/√d + M) ⊙ D · V, for q (B, L, d), k (B, S, d), v (B, S, d_v), ``mask``
    an additive float array broadcasting to (B, L, S) or None, ``keep`` the scaled dropout mask D (B, L, S) or None.

    A query whose every score is −∞ (all its keys masked) gets NaN weights, as torch's ``need_weights`` path;
    with ``safe``, zero weights (so O = 0), as torch's ``scaled_dot_product_attention``.
    """
    xp = get_array_module(q)
    scale = 1.0 / math.sqrt(q.shape[-1])
    s = (q * scale) @ k.transpose(0, 2, 1)
    if mask is not None:
        s += mask
    top = s.max(axis=-1, keepdims=True) if s.size else s[..., :1]   # no keys (or no queries): nothing to weigh
    with np.errstate(invalid="ignore"):               # a row all −∞ gives NaN here, as in torch
        p = s - top
    xp.exp(p, out=p)
    p /= p.sum(axis=-1, keepdims=True)
    if safe:
        p = xp.where(xp.isneginf(top), 0.0, p).astype(p.dtype, copy=False)
    used = p if keep is None else p * keep
    return used @ v, used, (q, k, v, p, used, keep, scale)


def scaled_dot_product_backward(g, saved, g_weights=None):
    """(∂L/∂Q, ∂L/∂K, ∂L/∂V) for G = ∂L/∂O (B, L, d_v) and, if not None, G_P = ∂L/∂P̃ (B, L, S) (the gradient
    reaching the weights that forward returned)."""
    q, k, v, p, used, keep, scale = saved
    dv = used.transpose(0, 2, 1) @ g
    dp = g @ v.transpose(0, 2, 1)
    if g_weights is not None:
        dp += g_weights
    if keep is not None:
        dp *= keep
    ds = dp * p
    ds -= p * ds.sum(axis=-1, keepdims=True)
    ds *= scale
    return ds @ k, ds.transpose(0, 2, 1) @ q, dv


def in_projection(query, key, value, weights, biases):
    """(q, k, v) = (x_q W_qᵀ + b_q, x_k W_kᵀ + b_k, x_v W_vᵀ + b_v) for rows x (M, features); ``weights`` the three
    arrays (row blocks of the packed ``in_proj_weight``, or ``q/k/v_proj_weight``), ``biases`` three arrays or
    None."""
    out = []
    for i, (x, w) in enumerate(zip((query, key, value), weights)):
        y = x @ w.T
        if biases is not None:
            y += biases[i]
        out.append(y)
    return tuple(out)


def in_projection_backward(grads, inputs, weight, bias):
    """With G_i = ∂L/∂(x_i W_iᵀ + b_i): ∂L/∂W_i = G_iᵀ x_i and ∂L/∂b_i = Σ G_i (added to the parameters), and
    (∂L/∂x_q, ∂L/∂x_k, ∂L/∂x_v) = (G_q W_q, G_k W_k, G_v W_v) returned.

    ``weight`` is the packed parameter ``in_proj_weight`` (3E, E), whose gradient gets the three stacked, or the
    tuple (``q_proj_weight``, ``k_proj_weight``, ``v_proj_weight``); ``bias`` the packed ``in_proj_bias`` or None.
    """
    xp = get_array_module(grads[0])
    packed = not isinstance(weight, tuple)
    if packed:
        rows = weight.data.shape[0] // 3
        arrays = tuple(weight.data[i * rows:(i + 1) * rows] for i in range(3))
    else:
        arrays = tuple(w.data for w in weight)
    weight_grads = tuple(g.T @ x for g, x in zip(grads, inputs))
    if packed:
        weight.accumulate(xp.concatenate(weight_grads, axis=0))
    else:
        for w, dw in zip(weight, weight_grads):
            w.accumulate(dw)
    if bias is not None:
        bias.accumulate(xp.concatenate([g.sum(axis=0) for g in grads]))
    return tuple(g @ w for g, w in zip(grads, arrays))
