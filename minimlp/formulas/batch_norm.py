"""Batch normalisation per channel: y = γ·(x − μ)/√(σ² + ε) + β, for x of shape (N, C), (N, C, L) or (N, C, H, W).

The channel is axis 1; μ and σ² are taken over the other axes, M = N (or N·L, N·H·W) values per channel. The
per-channel sums (μ, σ², Σ G, Σ G·x̂) accumulate in float64 and are rounded once to x's dtype, as torch's
CPU kernels do: on the chroma network at batch 1000 that makes float32 gradients 10-25x closer to float64
than float32 sums did (benchmarks/float32_accuracy.py).
"""
import numpy as np

from ..backend import get_array_module
from . import activation


def forward_train(x, weight, bias, eps, running=None, shift=None):
    """Batch statistics: μ = Σ x/M, σ² = Σ (x − μ)²/M, x̂ = (x − μ)/√(σ² + ε), y = γ x̂ + β.

    ``weight``/``bias`` (γ, β) may be None (no affine map; β alone may be None: no shift). ``running``, where the
    layer tracks running statistics, is (running_mean, running_var, momentum, num_batches_tracked), moved by
    ``update_running_stats``. ``shift``, per channel, is the bias of the layer before, added here instead of
    there (``nn.fusion``): x is x + shift. Returns (y, (x̂, 1/√(σ² + ε)), μ, σ²).
    """
    xp = get_array_module(x)
    x = shifted(x, shift)
    mean = x.mean(axis=_others(x), dtype=np.float64).astype(x.dtype)
    xc = x - _channel(mean, x)
    var = (xp.einsum(_sum_subscripts(x), xc, xc, dtype=np.float64) * (mean.size / x.size)).astype(x.dtype)
    inv_std = 1.0 / xp.sqrt(var + eps)
    xhat = xc
    xhat *= _channel(inv_std, x)
    update_running_stats(running, mean, var, x.size // mean.size)
    return _affine(xhat, weight, bias), (xhat, inv_std), mean, var


def backward_train(g, saved, weight, bias, want_dx=True):
    """∂L/∂γ = Σ G·x̂,  ∂L/∂β = Σ G,  ∂L/∂x = γ/√(σ² + ε) · (G − Σ G/M − x̂·Σ(G·x̂)/M)."""
    xhat, inv_std = saved
    sum_g, sum_gx = _sums(g, xhat)
    gamma = _gamma(weight, bias, sum_g, sum_gx)
    if not want_dx:
        return None
    inv_m = inv_std.size / g.size
    dx = xhat * _channel(sum_gx * inv_m, g)
    dx += _channel(sum_g * inv_m, g)
    get_array_module(g).subtract(g, dx, out=dx)
    dx *= _channel(gamma * inv_std, g)
    return dx


def forward_train_relu(x, weight, bias, eps, running=None, shift=None):
    """BatchNorm in training followed by ReLU: y = max(γ x̂ + β, 0). Returns (y, (x̂, 1/√(σ² + ε)), μ, σ²): the
    same saved values as ``forward_train``, from which the backward finds the ReLU's mask again."""
    y, saved, mean, var = forward_train(x, weight, bias, eps, running, shift)
    return activation.relu(y)[0], saved, mean, var


def backward_train_relu(g, saved, weight, bias, want_dx=True):
    """``backward_train`` of G·[γ x̂ + β > 0]: the ReLU's gradient (0 where γ x̂ + β ≤ 0, G elsewhere, NaN
    included), then BatchNorm's."""
    pre = _affine(saved[0], None if weight is None else weight.data, None if bias is None else bias.data)
    return backward_train(activation.relu_backward(g, pre), saved, weight, bias, want_dx)


def forward_train_sigmoid(x, weight, bias, eps, running=None, shift=None):
    """BatchNorm in training followed by the sigmoid: y = σ(γ x̂ + β). Returns (y, (x̂, 1/√(σ² + ε), y), μ, σ²):
    the backward reads the sigmoid's derivative y(1 − y) from y."""
    return _then(activation.sigmoid, forward_train(x, weight, bias, eps, running, shift))


def backward_train_sigmoid(g, saved, weight, bias, want_dx=True):
    """``backward_train`` of G·y(1 − y): the sigmoid's gradient, then BatchNorm's."""
    return backward_train(activation.sigmoid_backward(g, saved[2]), saved[:2], weight, bias, want_dx)


def forward_train_tanh(x, weight, bias, eps, running=None, shift=None):
    """BatchNorm in training followed by tanh: y = tanh(γ x̂ + β). Returns (y, (x̂, 1/√(σ² + ε), y), μ, σ²)."""
    return _then(activation.tanh, forward_train(x, weight, bias, eps, running, shift))


def backward_train_tanh(g, saved, weight, bias, want_dx=True):
    """``backward_train`` of G·(1 − y²): tanh's gradient, then BatchNorm's."""
    return backward_train(activation.tanh_backward(g, saved[2]), saved[:2], weight, bias, want_dx)


def _then(f, forward):
    """``forward_train``'s (y, saved, μ, σ²) with the activation ``f`` applied to y, its output kept in saved."""
    y, saved, mean, var = forward
    y = f(y)[0]
    return y, saved + (y,), mean, var


def forward_eval(x, running_mean, running_var, weight, bias, eps):
    """Running statistics: x̂ = (x − running_mean)/√(running_var + ε), y = γ x̂ + β. Returns (y, (x̂, 1/√(·)))."""
    inv_std = 1.0 / get_array_module(x).sqrt(running_var + eps)
    xhat = x - _channel(running_mean, x)
    xhat *= _channel(inv_std, x)
    return _affine(xhat, weight, bias), (xhat, inv_std)


def backward_eval(g, saved, weight, bias, want_dx=True):
    """∂L/∂γ = Σ G·x̂,  ∂L/∂β = Σ G,  ∂L/∂x = γ·G/√(running_var + ε) (the statistics are constants)."""
    xhat, inv_std = saved
    gamma = _gamma(weight, bias, *_sums(g, xhat))
    return g * _channel(gamma * inv_std, g) if want_dx else None


def update_running_stats(running, mean, var, count):
    """running ← (1 − m)·running + m·batch, in place, for ``running`` = (running_mean, running_var, m,
    num_batches_tracked) (None: nothing to track); the variance's batch value is unbiased: σ²·M/(M − 1), M =
    ``count`` values per channel. ``num_batches_tracked`` (a 0-d integer array) counts this batch, in place."""
    if running is None:
        return
    running_mean, running_var, momentum, batches = running
    batches += 1
    running_mean *= 1.0 - momentum
    running_mean += momentum * mean
    running_var *= 1.0 - momentum
    running_var += (momentum * count / (count - 1)) * var


def shifted(x, shift):
    """x + shift per channel (x itself where ``shift`` is None): the input a BatchNorm normalises when the layer
    before left it its bias."""
    return x if shift is None else x + _channel(shift, x)


def _others(x):
    """Every axis but the channel's (axis 1)."""
    return (0,) + tuple(range(2, x.ndim))


def _channel(values, x):
    """Per-channel values shaped to broadcast against x: (C,) for (N, C), (C, 1) for (N, C, L), (C, 1, 1) for …"""
    return values.reshape((-1,) + (1,) * (x.ndim - 2))


def _sum_subscripts(x):
    """einsum's Σ over every axis but the channel's of a product of two arrays shaped like x: "nc,nc->c", …"""
    axes = "nc" + "defghijk"[:x.ndim - 2]
    return f"{axes},{axes}->c"


def _affine(xhat, weight, bias):
    if weight is None:
        return xhat
    y = xhat * _channel(weight, xhat)
    if bias is not None:
        y += _channel(bias, xhat)
    return y


def _sums(g, xhat):
    """(Σ G, Σ G·x̂) per channel, summed in float64 (one pass each, no temporary)."""
    xp = get_array_module(g)
    return (g.sum(axis=_others(g), dtype=np.float64).astype(g.dtype),
            xp.einsum(_sum_subscripts(g), g, xhat, dtype=np.float64).astype(g.dtype))


def _gamma(weight, bias, sum_g, sum_gx):
    """Add ∂L/∂γ and ∂L/∂β to the parameters (when there are any); return γ (1 without them)."""
    if weight is None:
        return 1.0
    weight.accumulate(sum_gx)
    if bias is not None:
        bias.accumulate(sum_g)
    return weight.data
