"""Spectral normalisation (Miyato et al. 2018): a weight divided by its largest singular value σ, estimated by
power iteration on the weight as a matrix W (``dim`` to the front, the other axes flattened: (h, w)).

    u ← normalize(W v),  v ← normalize(Wᵀ u)   (``n_power_iterations`` times, in training; u, v kept;
                                               the older hook updates v first)
    σ = uᵀ W v,          W_SN = W / σ,          normalize(x) = x / max(‖x‖, ε)

u and v are constants of the gradient (torch's: they are updated without autograd), so for G = ∂L/∂W_SN:

    ∂L/∂W = G / σ − (⟨G, W⟩ / σ²) · u vᵀ       (u vᵀ = ∂σ/∂W, laid back out in the weight's shape)

A 1-d weight needs no estimate: W_SN = normalize(W), ∂L/∂W = G/‖W‖ − W (W·G)/‖W‖³ (G/ε where ‖W‖ ≤ ε).
"""
from ..backend import get_array_module


def to_matrix(weight, dim):
    """The weight as the matrix (h, w) of power iteration: axis ``dim`` first, the rest flattened."""
    xp = get_array_module(weight)
    return xp.moveaxis(weight, dim, 0).reshape(weight.shape[dim], -1)


def from_matrix(matrix, shape, dim):
    """``to_matrix``'s inverse: the (h, w) matrix back in the weight's ``shape``."""
    xp = get_array_module(matrix)
    moved = (shape[dim],) + tuple(s for a, s in enumerate(shape) if a != dim)
    return xp.moveaxis(matrix.reshape(moved), 0, dim)


def normalize(x, eps):
    """x / max(‖x‖, ε), on x's device (no host round trip)."""
    xp = get_array_module(x)
    return x / xp.maximum(xp.sqrt((x * x).sum()), eps)


def power_iteration(matrix, u, v, iterations, eps):
    """``iterations`` steps of u ← normalize(W v), v ← normalize(Wᵀ u), written into u and v in place."""
    for _ in range(iterations):
        u[...] = normalize(matrix @ v, eps)
        v[...] = normalize(matrix.T @ u, eps)


def power_iteration_v_first(matrix, u, v, iterations, eps):
    """The older hook's order (torch.nn.utils.spectral_norm): v ← normalize(Wᵀ u), then u ← normalize(W v)."""
    for _ in range(iterations):
        v[...] = normalize(matrix.T @ u, eps)
        u[...] = normalize(matrix @ v, eps)


def forward(weight, u, v, dim, eps):
    """(W / σ, σ) for σ = uᵀ W v; a 1-d weight: (normalize(W), ‖W‖)."""
    xp = get_array_module(weight)
    if weight.ndim == 1:
        norm = xp.sqrt((weight * weight).sum())
        return weight / xp.maximum(norm, eps), norm
    sigma = u @ (to_matrix(weight, dim) @ v)
    return weight / sigma, sigma


def backward(grad, weight, u, v, sigma, dim, eps):
    """∂L/∂W for G = ∂L/∂W_SN (module docstring)."""
    inner = (grad * weight).sum()
    if weight.ndim == 1:   # σ = ‖W‖ here; below ε the clamp passes G/ε alone
        xp = get_array_module(weight)
        clamped = xp.maximum(sigma, eps)
        return grad / clamped - (sigma > eps) * weight * (inner / clamped ** 3)
    outer = from_matrix(u[:, None] * v[None, :], weight.shape, dim)
    return grad / sigma - (inner / (sigma * sigma)) * outer
