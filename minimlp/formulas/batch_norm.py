"""Batch normalisation of (N, C) rows, per feature: y = γ·(x − μ)/√(σ² + ε) + β.

The per-feature sums (μ, σ², Σₙ G, Σₙ G·x̂) accumulate in float64 and are rounded once to x's dtype, as
torch's CPU kernels do: on the chroma network at batch 1000 that makes float32 gradients 10-25x closer
to float64 than float32 sums did (benchmarks/float32_accuracy.py).
"""
import numpy as np

from ..backend import get_array_module


def forward_train(x, weight, bias, eps):
    """Batch statistics: μ = Σₙ x/N, σ² = Σₙ (x − μ)²/N, x̂ = (x − μ)/√(σ² + ε), y = γ x̂ + β.

    ``weight``/``bias`` (γ, β) may be None (no affine map). Returns (y, (x̂, 1/√(σ² + ε)), μ, σ²).
    """
    xp = get_array_module(x)
    mean = x.mean(axis=0, dtype=np.float64).astype(x.dtype)
    xc = x - mean
    var = (xp.einsum("ij,ij->j", xc, xc, dtype=np.float64) * (1.0 / x.shape[0])).astype(x.dtype)
    inv_std = 1.0 / xp.sqrt(var + eps)
    xhat = xc
    xhat *= inv_std
    return _affine(xhat, weight, bias), (xhat, inv_std), mean, var


def backward_train(g, saved, weight, bias, want_dx=True):
    """∂L/∂γ = Σₙ G·x̂,  ∂L/∂β = Σₙ G,  ∂L/∂x = γ/√(σ² + ε) · (G − Σₙ G/N − x̂·Σₙ(G·x̂)/N)."""
    xhat, inv_std = saved
    sum_g, sum_gx = _sums(g, xhat)
    gamma = _gamma(weight, bias, sum_g, sum_gx)
    if not want_dx:
        return None
    inv_n = 1.0 / g.shape[0]
    dx = xhat * (sum_gx * inv_n)
    dx += sum_g * inv_n
    get_array_module(g).subtract(g, dx, out=dx)
    dx *= gamma * inv_std
    return dx


def forward_eval(x, running_mean, running_var, weight, bias, eps):
    """Running statistics: x̂ = (x − running_mean)/√(running_var + ε), y = γ x̂ + β. Returns (y, (x̂, 1/√(·)))."""
    inv_std = 1.0 / get_array_module(x).sqrt(running_var + eps)
    xhat = x - running_mean
    xhat *= inv_std
    return _affine(xhat, weight, bias), (xhat, inv_std)


def backward_eval(g, saved, weight, bias, want_dx=True):
    """∂L/∂γ = Σₙ G·x̂,  ∂L/∂β = Σₙ G,  ∂L/∂x = γ·G/√(running_var + ε) (the statistics are constants)."""
    xhat, inv_std = saved
    gamma = _gamma(weight, bias, *_sums(g, xhat))
    return g * (gamma * inv_std) if want_dx else None


def update_running_stats(running_mean, running_var, mean, var, count, momentum):
    """running ← (1 − m)·running + m·batch, in place; the variance's batch value is unbiased: σ²·M/(M − 1)."""
    running_mean *= 1.0 - momentum
    running_mean += momentum * mean
    running_var *= 1.0 - momentum
    running_var += (momentum * count / (count - 1)) * var


def _affine(xhat, weight, bias):
    if weight is None:
        return xhat
    y = xhat * weight
    y += bias
    return y


def _sums(g, xhat):
    """(Σₙ G, Σₙ G·x̂) per feature, summed in float64 (one pass each, no temporary)."""
    xp = get_array_module(g)
    return (g.sum(axis=0, dtype=np.float64).astype(g.dtype),
            xp.einsum("ij,ij->j", g, xhat, dtype=np.float64).astype(g.dtype))


def _gamma(weight, bias, sum_g, sum_gx):
    """Add ∂L/∂γ and ∂L/∂β to the parameters (when there are any); return γ (1 without them)."""
    if weight is None:
        return 1.0
    weight.accumulate(sum_gx)
    bias.accumulate(sum_g)
    return weight.data
