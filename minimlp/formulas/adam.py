"""Adam's and AdamW's update, as ``torch.optim.Adam``/``AdamW``, with optional AMSGrad."""
from ..backend import get_array_module


def update(p, g, exp_avg, exp_avg_sq, max_exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay, decoupled, maximize,
           step):
    """One step t = ``step`` of p in place, with m = ``exp_avg``, v = ``exp_avg_sq``, v̂ = ``max_exp_avg_sq``:

    g ← −g (``maximize``);  g ← g + λ p (Adam) or p ← p (1 − γ λ) (AdamW: ``decoupled``);
    m ← m + (1 − β₁)(g − m);  v ← β₂ v + (1 − β₂) g²;  v̂ ← max(v̂, v) with AMSGrad (v̂ not None), else v̂ = v;
    p ← p − γ/(1 − β₁ᵗ) · m / (√v̂ / √(1 − β₂ᵗ) + ε).
    """
    xp = get_array_module(p)
    if maximize:
        g = -g
    if weight_decay != 0:
        if decoupled:
            p *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * p
    m, v = exp_avg, exp_avg_sq
    m += (1 - beta1) * (g - m)
    v[...] = v * beta2 + (1 - beta2) * g * g
    if max_exp_avg_sq is not None:
        v = xp.maximum(max_exp_avg_sq, v, out=max_exp_avg_sq)
    step_size = lr / (1 - beta1 ** step)
    denom = xp.sqrt(v) / (1 - beta2 ** step) ** 0.5 + eps
    p -= step_size * (m / denom)
