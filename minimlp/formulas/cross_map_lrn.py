"""torch's legacy CrossMapLRN2d (``torch/nn/modules/_functions.py``), exactly as it computes, which is not quite
``local_response_norm``:

y[n, c] = x[n, c]·s[n, c]^(−β), s[n, c] = k + (α/n)·(Σ_{c′ = c − p + 1}^{c + p − 1} x[n, c′]² + [c ≥ p]·x[n, 0]²)

with p = ⌊(n − 1)/2⌋ + 1 (c′ outside the channels count as 0). For odd n the window is LocalResponseNorm's
(c ± (n − 1)/2); for even n it holds n − 1 channels, not n; and channel 0 stays in every window past the first p
(torch's running sum never subtracts it: its test ``c > pre_pad`` skips channel c − p = 0).

backward (torch's hand-written one, which is not the gradient of this forward):

    ∂x[n, j] = G[n, j]·s[n, j]^(−β) − (2αβ/n)·x[n, j]·Σ_{c = j − q}^{j + n − 1 − q} G[n, c]·y[n, c]/s[n, c]

with q = ⌊(n + 1)/2⌋: the window is the forward's shifted one channel down for odd n (c ∈ j − (n+1)/2 …
j + (n − 3)/2 where the gradient's would be j ± (n − 1)/2), and channel 0's extra terms are left out.
"""
from .local_response_norm import _window_sum


def forward(x, size, alpha, beta, k):
    """y = x·s^(−β), s as above. Returns (y, (x, y, s))."""
    p = (size - 1) // 2 + 1
    sq = x * x
    total = _window_sum(sq, p - 1, p - 1)
    total[:, p:] += sq[:, :1]
    s = total * (alpha / size) + k
    y = x * s ** -beta
    return y, (x, y, s)


def backward(g, saved, size, alpha, beta, k):
    """torch's ∂x: G·s^(−β) − (2αβ/n)·x·Σ_{c = j − q}^{j + n − 1 − q} G·y/s, q = ⌊(n + 1)/2⌋ (size ≥ 2)."""
    x, y, s = saved
    q = (size + 1) // 2
    ratio = _window_sum(g * y / s, q, size - 1 - q)
    return g * s ** -beta - (2.0 * alpha * beta / size) * x * ratio
