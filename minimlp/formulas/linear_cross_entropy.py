"""Cross-entropy of the logits z = x Wᵀ + b, computed a chunk of rows at a time so that the whole (N, C·P)
logits are never held at once.

x is (N, in); W is the flat (C·P, in) weight (P = d₁·…·d_K positions per sample, 1 without them) and b the flat
(C·P,) bias or None. Each chunk of rows [s, e) takes z = ``linear.forward`` of its rows, viewed as
(e − s, C, d₁, …, d_K), and ``cross_entropy.forward`` of that against the chunk's targets; the backward gives
∂L/∂z of the chunk by ``cross_entropy.backward`` and passes it through ``linear.backward``:
∂L/∂x[s:e] = G W, ∂L/∂W += Gᵀ x[s:e], ∂L/∂b += Σ G. Summed over the chunks this is the whole batch's gradient,
since each row's losses depend on its own row of x alone.
"""
from ..backend import get_array_module
from . import cross_entropy


def bounds(n, size):
    """The chunks [s, e) of ``size`` rows covering n rows (one empty chunk for n = 0)."""
    return [(s, min(s + size, n)) for s in range(0, max(n, 1), size)]


def chunk_forward(x, weight, bias, target, tail, class_weight, label_smoothing, ignore_index, run_linear):
    """(ℓ, saved, D, shape) of one chunk: its logits z = x Wᵀ + b (``run_linear("forward", …)``: the linear
    op's formula or a kernel) viewed as ``shape`` = (n, C, d₁, …) with ``tail`` = (d₁, …), then cross-entropy's
    losses ℓ per position, what its backward needs, and its divisor D."""
    z = run_linear("forward", x, weight, bias)
    positions = 1
    for d in tail:
        positions *= d
    shape = (x.shape[0], z.shape[1] // positions) + tuple(tail)
    losses, saved, divisor = cross_entropy.forward(z.reshape(shape), target, class_weight, label_smoothing,
                                                   ignore_index)
    return losses, saved, divisor, shape


def forward(x, weight, bias, target, tail, class_weight, label_smoothing, ignore_index, size, run_linear,
            keep=False):
    """(ℓ, D, saved): the loss at every position (N·P,) and the divisor D of the mean (summed over the chunks),
    chunk by chunk of ``size`` rows. ``saved`` is (cross-entropy's saved, logits shape) of the last chunk where
    ``keep`` (the unchunked path, one chunk, keeps its softmax for the backward), else None: nothing of
    (rows, C) outlives its chunk."""
    xp = get_array_module(x)
    parts, divisor, saved = [], 0.0, None
    for s, e in bounds(x.shape[0], size):
        losses, kept, d, shape = chunk_forward(x[s:e], weight, bias, target[s:e], tail, class_weight,
                                               label_smoothing, ignore_index, run_linear)
        parts.append(losses)
        divisor += d
        saved = (kept, shape) if keep else None
    return (parts[0] if len(parts) == 1 else xp.concatenate(parts)), divisor, saved


def backward(scale, x, weight, bias, target, tail, class_weight, label_smoothing, ignore_index, size, run_linear,
             saved=None, want_dx=True):
    """∂L/∂x (None unless ``want_dx``), adding ∂L/∂W and ∂L/∂b into the parameters ``weight`` and ``bias``
    (None: no bias), chunk by chunk of ``size`` rows. Each chunk's logits are computed again (or taken from
    ``saved``, the unchunked forward's), G = ``cross_entropy.backward`` of them with ``scale`` (a number, 1/D
    or 1 times the outer gradient, or the column (N·P, 1) of the outer gradient per position), then
    ``run_linear("backward", G, …)``."""
    xp = get_array_module(x)
    chunks = bounds(x.shape[0], size)
    dx = xp.empty_like(x) if want_dx and len(chunks) > 1 else None
    per_position = getattr(scale, "ndim", 0) == 2
    positions = 1
    for d in tail:
        positions *= d
    for s, e in chunks:
        if saved is None:
            _, kept, _, shape = chunk_forward(x[s:e], weight.data, None if bias is None else bias.data, target[s:e],
                                              tail, class_weight, label_smoothing, ignore_index, run_linear)
        else:
            kept, shape = saved
        g = cross_entropy.backward(kept, scale[s * positions:e * positions] if per_position else scale, shape)
        part = run_linear("backward", g.reshape(e - s, weight.data.shape[0]), x[s:e], weight, bias, want_dx)
        if len(chunks) == 1:
            return part
        if want_dx:
            dx[s:e] = part
    return dx
