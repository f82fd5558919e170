"""Pixel shuffle: channels traded for resolution and back, a fixed permutation of the values (so each one's
backward is the other)."""


def pixel_shuffle(x, r):
    """y[…, c, h·r + i, w·r + j] = x[…, c·r² + i·r + j, h, w] for x (…, C·r², H, W)."""
    *lead, c, h, w = x.shape
    k = len(lead)
    y = x.reshape(*lead, c // (r * r), r, r, h, w).transpose(*range(k), k, k + 3, k + 1, k + 4, k + 2)
    return y.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(x, r):
    """The inverse: y[…, c·r² + i·r + j, h, w] = x[…, c, h·r + i, w·r + j] for x (…, C, H·r, W·r)."""
    *lead, c, h, w = x.shape
    k = len(lead)
    y = x.reshape(*lead, c, h // r, r, w // r, r).transpose(*range(k), k, k + 2, k + 4, k + 1, k + 3)
    return y.reshape(*lead, c * r * r, h // r, w // r)
