"""Adadelta's update, as ``torch.optim.Adadelta``: running averages of squared gradients and squared steps."""
from ..backend import get_array_module


def update(p, g, square_avg, acc_delta, *, lr, rho, eps, weight_decay, maximize):
    """One step of p in place, with v = ``square_avg`` and u = ``acc_delta``:

    g ← −g (``maximize``);  g ← g + λ p;  v ← ρ v + (1 − ρ) g²;
    Δ = √(u + ε) / √(v + ε) · g;  u ← ρ u + (1 − ρ) Δ²;  p ← p − γ Δ.
    """
    xp = get_array_module(p)
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    square_avg[...] = square_avg * rho + (1 - rho) * g * g
    delta = xp.sqrt(acc_delta + eps) / xp.sqrt(square_avg + eps) * g
    acc_delta[...] = acc_delta * rho + (1 - rho) * delta * delta
    p -= lr * delta
