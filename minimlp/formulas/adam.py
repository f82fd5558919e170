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
    g = decayed_gradient(p, g, lr=lr, weight_decay=weight_decay, decoupled=decoupled, maximize=maximize)
    m, v = exp_avg, exp_avg_sq
    update_moments(m, v, g, beta1, beta2)
    if max_exp_avg_sq is not None:
        v = xp.maximum(max_exp_avg_sq, v, out=max_exp_avg_sq)
    step_size = lr / (1 - beta1 ** step)
    denom = xp.sqrt(v) / (1 - beta2 ** step) ** 0.5 + eps
    p -= step_size * (m / denom)


def decayed_gradient(p, g, *, lr, weight_decay, decoupled, maximize):
    """The gradient the Adam family steps with: g ← −g (``maximize``); then g ← g + λ p (L2, into the gradient)
    or p ← p (1 − γ λ) in place (``decoupled``, AdamW's). Returns g (a new array where it changed)."""
    if maximize:
        g = -g
    if weight_decay != 0:
        if decoupled:
            p *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * p
    return g


def update_moments(m, v, g, beta1, beta2):
    """The moving averages, in place: m ← m + (1 − β₁)(g − m);  v ← β₂ v + (1 − β₂) g²."""
    m += (1 - beta1) * (g - m)
    v[...] = v * beta2 + (1 - beta2) * g * g
