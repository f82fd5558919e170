"""Normalisation within each sample: LayerNorm, GroupNorm and InstanceNorm share one standardisation; RMSNorm
scales without centring (its own pair at the end).

Over a set S of M values, x̂ = (x − μ)/√(σ² + ε) with μ and the biased σ² taken over S. Its backward, for
Ĝ = ∂L/∂x̂: ∂L/∂x = (1/√(σ² + ε))·(Ĝ − mean_S Ĝ − x̂·mean_S(Ĝ·x̂)). The affine map y = γ·x̂ + β gives
Ĝ = γ·G, ∂L/∂γ = Σ G·x̂ and ∂L/∂β = Σ G, summed over every axis γ is broadcast along.
"""
from ..backend import get_array_module


def standardize(x, axes, eps):
    """(x̂, 1/√(σ² + ε), μ, σ²) over ``axes`` (kept as size-1 axes)."""
    xp = get_array_module(x)
    mean = x.mean(axis=axes, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=axes, keepdims=True)
    inv = 1.0 / xp.sqrt(var + eps)
    xc *= inv
    return xc, inv, mean, var


def standardize_backward(g_hat, xhat, inv, axes):
    """∂L/∂x = (1/√(σ² + ε))·(Ĝ − mean Ĝ − x̂·mean(Ĝ·x̂)) over ``axes``."""
    dx = g_hat - g_hat.mean(axis=axes, keepdims=True)
    dx -= xhat * (g_hat * xhat).mean(axis=axes, keepdims=True)
    dx *= inv
    return dx


def affine(xhat, weight, bias, shape):
    """y = γ·x̂ + β, with γ and β (either may be None) viewed in ``shape`` to broadcast."""
    y = xhat if weight is None else xhat * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def affine_backward(g, xhat, weight, bias, shape, axes):
    """Adds ∂L/∂γ = Σ G·x̂ and ∂L/∂β = Σ G (over ``axes``) into the parameters; returns Ĝ = γ·G."""
    if weight is not None:
        weight.accumulate((g * xhat).sum(axis=axes).reshape(weight.shape))
    if bias is not None:
        bias.accumulate(g.sum(axis=axes).reshape(bias.shape))
    return g if weight is None else g * weight.data.reshape(shape)


def layer_norm(x, weight, bias, ndim, eps):
    """(y, saved): x̂ over the last ``ndim`` axes, y = γ·x̂ + β (γ, β of those axes' shape)."""
    axes = tuple(range(x.ndim - ndim, x.ndim))
    xhat, inv, _, _ = standardize(x, axes, eps)
    return affine(xhat, weight, bias, x.shape[x.ndim - ndim:]), (xhat, inv, ndim)


def layer_norm_backward(g, saved, weight, bias, want_dx=True):
    """∂L/∂γ, ∂L/∂β summed over the leading axes; ∂L/∂x through ``standardize_backward``."""
    xhat, inv, ndim = saved
    axes = tuple(range(g.ndim - ndim, g.ndim))
    g_hat = affine_backward(g, xhat, weight, bias, g.shape[g.ndim - ndim:], tuple(range(g.ndim - ndim)))
    return standardize_backward(g_hat, xhat, inv, axes) if want_dx else None


def group_norm(x, weight, bias, groups, eps):
    """(y, saved, μ, σ²): x (N, C, …) standardised over each group of C/G channels and all positions (μ, σ²
    of shape (N, G)); y = γ_c·x̂ + β_c per channel."""
    n, c = x.shape[0], x.shape[1]
    xhat, inv, mean, var = standardize(x.reshape(n, groups, -1), (2,), eps)
    xhat = xhat.reshape(x.shape)
    shape = (c,) + (1,) * (x.ndim - 2)
    return affine(xhat, weight, bias, shape), (xhat, inv, groups), mean[..., 0], var[..., 0]


def group_norm_backward(g, saved, weight, bias, want_dx=True):
    """∂L/∂γ, ∂L/∂β per channel (summed over N and the positions); ∂L/∂x per group."""
    xhat, inv, groups = saved
    shape = (g.shape[1],) + (1,) * (g.ndim - 2)
    g_hat = affine_backward(g, xhat, weight, bias, shape, (0,) + tuple(range(2, g.ndim)))
    if not want_dx:
        return None
    n = g.shape[0]
    dx = standardize_backward(g_hat.reshape(n, groups, -1), xhat.reshape(n, groups, -1), inv, (2,))
    return dx.reshape(g.shape)


def channel_norm_eval(x, mean, var, weight, bias, eps):
    """(y, saved): x (N, C, …) standardised per channel by fixed statistics (InstanceNorm's running ones)."""
    xp = get_array_module(x)
    shape = (x.shape[1],) + (1,) * (x.ndim - 2)
    inv = 1.0 / xp.sqrt(var.reshape(shape) + eps)
    xhat = (x - mean.reshape(shape)) * inv
    return affine(xhat, weight, bias, shape), (xhat, inv)


def channel_norm_eval_backward(g, saved, weight, bias, want_dx=True):
    """∂L/∂x = γ·G/√(running_var + ε) (the statistics are constants)."""
    xhat, inv = saved
    shape = (g.shape[1],) + (1,) * (g.ndim - 2)
    g_hat = affine_backward(g, xhat, weight, bias, shape, (0,) + tuple(range(2, g.ndim)))
    return g_hat * inv if want_dx else None


def update_running_stats(running_mean, running_var, mean, var, count, momentum):
    """Per channel, from per-sample μ, σ² (N, C) over ``count`` values each: running ← (1 − m)·running +
    m·mean_N(μ), and the unbiased σ²·M/(M − 1) likewise (torch's InstanceNorm)."""
    running_mean *= 1.0 - momentum
    running_mean += momentum * mean.mean(axis=0)
    running_var *= 1.0 - momentum
    running_var += (momentum * count / max(count - 1, 1)) * var.mean(axis=0)


def rms_norm(x, weight, ndim, eps):
    """(y, saved): x̂ = x/√(mean(x²) + ε) over the last ``ndim`` axes, y = γ·x̂ (γ of those axes' shape)."""
    xp = get_array_module(x)
    axes = tuple(range(x.ndim - ndim, x.ndim))
    inv = 1.0 / xp.sqrt((x * x).mean(axis=axes, keepdims=True) + eps)
    xhat = x * inv
    return affine(xhat, weight, None, x.shape[x.ndim - ndim:]), (xhat, inv, ndim)


def rms_norm_backward(g, saved, weight, bias, want_dx=True):
    """∂L/∂γ = Σ G·x̂ over the leading axes; ∂L/∂x = (Ĝ − x̂·mean(Ĝ·x̂))/√(mean(x²) + ε) over the last ones."""
    xhat, inv, ndim = saved
    g_hat = affine_backward(g, xhat, weight, None, g.shape[g.ndim - ndim:], tuple(range(g.ndim - ndim)))
    if not want_dx:
        return None
    dx = g_hat - xhat * (g_hat * xhat).mean(axis=tuple(range(g.ndim - ndim, g.ndim)), keepdims=True)
    dx *= inv
    return dx
