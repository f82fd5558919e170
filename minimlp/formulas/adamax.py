"""Adamax's update, as ``torch.optim.Adamax``: Adam with the infinity norm in place of the second moment."""
from ..backend import get_array_module


def update(p, g, exp_avg, exp_inf, *, lr, beta1, beta2, eps, weight_decay, maximize, step):
    """One step t = ``step`` of p in place, with m = ``exp_avg`` and u = ``exp_inf``:

    g ← −g (``maximize``);  g ← g + λ p;  m ← m + (1 − β₁)(g − m);  u ← max(β₂ u, |g| + ε);
    p ← p − γ/(1 − β₁ᵗ) · m / u.
    """
    xp = get_array_module(p)
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    exp_avg += (1 - beta1) * (g - exp_avg)
    exp_inf *= beta2
    xp.maximum(exp_inf, xp.abs(g) + eps, out=exp_inf)
    p -= lr / (1 - beta1 ** step) * (exp_avg / exp_inf)
