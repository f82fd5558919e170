"""Cross-entropy against sparse soft targets: each pixel's target is k (class, weight) pairs on the class axis."""
from ..backend import get_array_module


def soft_cross_entropy(z, idx, w):
    """(L, s) for logits z (N, Q, P) with classes on axis 1, and each of the N·P pixels' k target classes
    idx (N, P, k) with their weights w (N, P, k) (the target's mass times any per-pixel weight):

        L = (1/(N·P)) Σ_{n,p} Σ_j w[n,p,j] · (log Σ_q exp z[n,q,p] − z[n, idx[n,p,j], p])

    log Σ exp z is taken as m + log Σ exp(z − m), m = max_q z. s = softmax(z) over axis 1, kept for the
    backward. L is a 0-d array of z's dtype.
    """
    xp = get_array_module(z)
    shifted = z - z.max(axis=1, keepdims=True)
    picked = xp.take_along_axis(shifted, xp.moveaxis(idx, 2, 1), axis=1)
    xp.exp(shifted, out=shifted)
    total = shifted.sum(axis=1, keepdims=True)
    shifted /= total
    value = (xp.moveaxis(w, 2, 1) * (xp.log(total) - picked)).sum() / (z.shape[0] * z.shape[2])
    return value, shifted


def soft_cross_entropy_backward(s, idx, w):
    """∂L/∂z[n,q,p] = (s[n,q,p] · Σ_j w[n,p,j] − Σ_{j: idx[n,p,j] = q} w[n,p,j]) / (N·P), from the forward's
    softmax s (N, Q, P), which it may overwrite (the compiled kernel does)."""
    xp = get_array_module(s)
    n, _, pixels = s.shape
    grad = s * w.sum(axis=2)[:, None, :]
    rows = xp.arange(n)[:, None, None]
    cols = xp.arange(pixels)[None, :, None]
    grad[rows, idx, cols] -= w          # a pixel's k classes are distinct: no index repeats
    grad *= 1.0 / (n * pixels)
    return grad
