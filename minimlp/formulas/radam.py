"""RAdam's update, as ``torch.optim.RAdam``: Adam whose adaptive step is rectified, or left out while the
variance estimate is too young."""
from ..backend import get_array_module
from .adam import decayed_gradient, update_moments


def update(p, g, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay, decoupled, maximize, step):
    """One step t = ``step`` of p in place, with m = ``exp_avg`` and v = ``exp_avg_sq``:

    g ← −g (``maximize``);  g ← g + λ p (or p ← p (1 − γ λ): ``decoupled``);
    m ← m + (1 − β₁)(g − m);  v ← β₂ v + (1 − β₂) g²;  m̂ = m / (1 − β₁ᵗ);
    ρ∞ = 2/(1 − β₂) − 1,  ρₜ = ρ∞ − 2 t β₂ᵗ / (1 − β₂ᵗ);
    if ρₜ > 5:  r = √((ρₜ − 4)(ρₜ − 2) ρ∞ / ((ρ∞ − 4)(ρ∞ − 2) ρₜ)),  p ← p − γ m̂ · √(1 − β₂ᵗ) / (√v + ε) · r;
    else:  p ← p − γ m̂.
    """
    xp = get_array_module(p)
    g = decayed_gradient(p, g, lr=lr, weight_decay=weight_decay, decoupled=decoupled, maximize=maximize)
    update_moments(exp_avg, exp_avg_sq, g, beta1, beta2)
    bias_correction1, bias_correction2 = 1 - beta1 ** step, 1 - beta2 ** step
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * beta2 ** step / bias_correction2
    if rho_t > 5.0:
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        adaptive = bias_correction2 ** 0.5 / (xp.sqrt(exp_avg_sq) + eps)
        p -= exp_avg / bias_correction1 * lr * adaptive * rect
    else:
        p -= exp_avg / bias_correction1 * lr
