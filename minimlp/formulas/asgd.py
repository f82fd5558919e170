"""ASGD's update, as ``torch.optim.ASGD``: SGD with a decaying step size and a running average of the iterates."""
import numpy as np


def update(p, g, ax, *, lr, lambd, alpha, t0, weight_decay, maximize, step, eta, mu):
    """One step t = ``step`` of p in place, with the average a = ``ax``, the step size η = ``eta`` and the
    averaging weight μ = ``mu`` (both from the step before: η₀ = γ, μ₀ = 1); returns the new ``eta`` and ``mu``:

    g ← −g (``maximize``);  g ← g + λ_wd p;  p ← p (1 − λ η) − η g;
    a ← a + μ (p − a) if μ ≠ 1, else a ← p;
    η ← γ / (1 + λ γ t)^α;  μ ← 1 / max(1, t − t₀).

    η and μ are kept, as torch keeps them, as float32 numbers (torch's default dtype).
    """
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    p *= 1 - lambd * eta
    p -= eta * g
    if mu != 1:
        ax += (p - ax) * mu
    else:
        ax[...] = p
    return {"eta": float(np.float32(lr / (1 + lambd * lr * step) ** alpha)),
            "mu": float(np.float32(1 / max(1, step - t0)))}
