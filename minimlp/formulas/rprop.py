"""Rprop's update, as ``torch.optim.Rprop``: steps of a per-coordinate size, grown while the gradient keeps its
sign and shrunk when it flips; only the gradient's sign is used."""
from ..backend import get_array_module


def update(p, g, prev, step_size, *, etaminus, etaplus, step_size_min, step_size_max, maximize):
    """One step of p in place, with the previous (kept) gradient g' = ``prev`` and the step sizes Δ = ``step_size``
    (they start at the learning rate):

    g ← −g (``maximize``);  s = sign(g g');  Δ ← clip(Δ · (η₊ if s > 0, η₋ if s < 0, 1 if s = 0), Δmin, Δmax);
    g ← 0 where s < 0;  p ← p − sign(g) Δ;  g' ← g.
    """
    xp = get_array_module(p)
    if maximize:
        g = -g
    sign = xp.sign(g * prev)
    factor = xp.ones_like(step_size)
    factor[sign > 0] = etaplus
    factor[sign < 0] = etaminus
    step_size *= factor
    xp.clip(step_size, step_size_min, step_size_max, out=step_size)
    g = xp.where(sign < 0, 0, g)
    p -= xp.sign(g) * step_size
    prev[...] = g
