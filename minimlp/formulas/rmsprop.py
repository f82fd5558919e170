"""RMSprop's update, as ``torch.optim.RMSprop``: plain or centered, with momentum and L2 weight decay."""
from ..backend import get_array_module


def update(p, g, square_avg, grad_avg, momentum_buffer, *, lr, alpha, eps, weight_decay, momentum, maximize):
    """One step of p in place, with v = ``square_avg``, ḡ = ``grad_avg`` (None unless centered) and
    b = ``momentum_buffer`` (None without momentum):

    g ← −g (``maximize``);  g ← g + λ p;  v ← α v + (1 − α) g²;  ṽ ← v − ḡ² with ḡ ← ḡ + (1 − α)(g − ḡ) (centered), else ṽ ← v;
    b ← μ b + g/(√ṽ + ε), p ← p − γ b (momentum), else p ← p − γ g/(√ṽ + ε).
    """
    xp = get_array_module(p)
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    v = square_avg
    v[...] = v * alpha + (1 - alpha) * g * g
    if grad_avg is not None:
        grad_avg += (1 - alpha) * (g - grad_avg)
        avg = xp.sqrt(v - grad_avg * grad_avg) + eps
    else:
        avg = xp.sqrt(v) + eps
    if momentum_buffer is not None:
        b = momentum_buffer
        b[...] = b * momentum + g / avg
        p -= lr * b
    else:
        p -= lr * (g / avg)
