"""NAdam's update, as ``torch.optim.NAdam``: Adam with Nesterov momentum and a momentum schedule."""
import numpy as np

from ..backend import get_array_module
from .adam import decayed_gradient, update_moments


def update(p, g, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay, momentum_decay, decoupled, maximize,
           step, mu_product):
    """One step t = ``step`` of p in place, with m = ``exp_avg``, v = ``exp_avg_sq`` and Π = ``mu_product``
    (the product of the μ so far); returns the new ``mu_product``:

    g ← −g (``maximize``);  g ← g + λ p (or p ← p (1 − γ λ): ``decoupled``);
    μₜ = β₁ (1 − ½ · 0.96^(t ψ)), μₜ₊₁ likewise (momentum decay ψ);  Π ← Π μₜ;
    m ← m + (1 − β₁)(g − m);  v ← β₂ v + (1 − β₂) g²;  d = √(v / (1 − β₂ᵗ)) + ε;
    p ← p − γ (1 − μₜ)/(1 − Π) · g/d − γ μₜ₊₁/(1 − Π μₜ₊₁) · m/d.

    Π is kept, as torch keeps it, as a float32 number (torch's default dtype), multiplied in float32.
    """
    xp = get_array_module(p)
    g = decayed_gradient(p, g, lr=lr, weight_decay=weight_decay, decoupled=decoupled, maximize=maximize)
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * momentum_decay))
    mu_product = float(np.float32(mu_product) * np.float32(mu))
    update_moments(exp_avg, exp_avg_sq, g, beta1, beta2)
    denom = xp.sqrt(exp_avg_sq / (1 - beta2 ** step)) + eps
    p -= lr * (1.0 - mu) / (1.0 - mu_product) * (g / denom)
    p -= lr * mu_next / (1.0 - mu_product * mu_next) * (exp_avg / denom)
    return {"mu_product": mu_product}
