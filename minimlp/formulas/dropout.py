"""Dropout: y = x ⊙ m with m = k/(1 − p) for k ~ Bernoulli(1 − p) per element; its backward is G ⊙ m."""


def scaled_mask(keep, p, dtype):
    """m = k/(1 − p) in ``dtype``, for the boolean mask k of the elements kept (p < 1)."""
    mask = keep.astype(dtype)
    mask *= 1.0 / (1.0 - p)
    return mask


def apply(x, mask):
    """y = x ⊙ m in forward; ∂L/∂x = G ⊙ m in backward."""
    return x * mask
