"""Local response normalisation (AlexNet's): each value divided by a power of the energy of its neighbouring
channels, y[n, c] = x[n, c]·s[n, c]^(−β), s[n, c] = k + (α/n)·Σ_{c′ ∈ W(c)} x[n, c′]², W(c) the n channels
c − ⌊n/2⌋ … c + ⌊(n − 1)/2⌋ (those outside the input count as 0)."""
from ..backend import get_array_module


def _window_sum(v, before, after):
    """out[:, c] = Σ_{c′ = c − before}^{c + after} v[:, c′] along axis 1, zero outside: one shifted add per
    offset (n is small), exact in float32 where a running sum would cancel."""
    xp = get_array_module(v)
    out = xp.zeros_like(v)
    channels = v.shape[1]
    for offset in range(-before, after + 1):
        lo, hi = max(0, -offset), min(channels, channels - offset)
        if lo < hi:
            out[:, lo:hi] += v[:, lo + offset:hi + offset]
    return out


def forward(x, size, alpha, beta, k):
    """y = x·s^(−β) with s = k + (α/n)·Σ_{W(c)} x². Returns (y, (x, s))."""
    s = _window_sum(x * x, size // 2, (size - 1) // 2) * (alpha / size) + k
    return x * s ** -beta, (x, s)


def backward(g, saved, size, alpha, beta, k):
    """∂L/∂x[j] = G[j]·s[j]^(−β) − (2αβ/n)·x[j]·Σ_{c : j ∈ W(c)} G[c]·x[c]·s[c]^(−β−1); j ∈ W(c) exactly when c
    lies in j − ⌊(n − 1)/2⌋ … j + ⌊n/2⌋, the window mirrored."""
    x, s = saved
    s_beta = s ** -beta
    back = _window_sum(g * x * s_beta / s, (size - 1) // 2, size // 2)
    return g * s_beta - (2.0 * alpha * beta / size) * x * back
