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


def channel_shuffle(x, groups):
    """y[n, k·g + i] = x[n, i·(C/g) + k] for x (N, C, …) and g = ``groups``: the channels read as a (g, C/g)
    table, transposed. Its inverse (and backward) is the shuffle with C/g groups."""
    n, c = x.shape[:2]
    rest = x.shape[2:]
    return x.reshape(n, groups, c // groups, *rest).swapaxes(1, 2).reshape(x.shape)


def channel_unshuffle(g, groups):
    """∂L/∂x of ``channel_shuffle``: G shuffled with C/g groups."""
    return channel_shuffle(g, g.shape[1] // groups)
