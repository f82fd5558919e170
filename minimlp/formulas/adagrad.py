"""Adagrad's update, as ``torch.optim.Adagrad``: a per-coordinate sum of squared gradients, lr decay, L2 decay."""
from ..backend import get_array_module


def update(p, g, state_sum, *, lr, lr_decay, weight_decay, eps, maximize, step):
    """One step t = ``step`` of p in place, with s = ``state_sum`` (it starts at ``initial_accumulator_value``):

    g ← −g (``maximize``);  g ← g + λ p;  γ̃ = γ / (1 + (t − 1) η) (lr decay η);
    s ← s + g²;  p ← p − γ̃ g / (√s + ε).
    """
    xp = get_array_module(p)
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    clr = lr / (1 + (step - 1) * lr_decay)
    state_sum += g * g
    p -= clr * (g / (xp.sqrt(state_sum) + eps))
