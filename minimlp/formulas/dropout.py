"""Dropout: y = x ⊙ m with m = k/(1 − p) for k ~ Bernoulli(1 − p) per element; its backward is G ⊙ m."""


def scaled_mask(keep, p, dtype):
    """m = k/(1 − p) in ``dtype``, for the boolean mask k of the elements kept (p < 1)."""
    mask = keep.astype(dtype)
    mask *= 1.0 / (1.0 - p)
    return mask


def apply(x, mask):
    """y = x ⊙ m in forward; ∂L/∂x = G ⊙ m in backward."""
    return x * mask


SELU_NEGATIVE_SATURATION = 1.7580993408473766   # α′ = λα of SELU: SELU(x) → −α′ as x → −∞


def alpha_scale_and_shift(keep, p, dtype):
    """Alpha dropout's y = x·s + t for the boolean mask k of the values kept (0 < p < 1), with α′ = λα of SELU:
    a = 1/√((α′²p + 1)(1 − p)), s = a·k, t = α′·a·(k − 1 + p): a dropped value becomes −α′ (SELU's floor), and
    an input of zero mean and unit variance keeps both. Its backward is G·s."""
    alpha = SELU_NEGATIVE_SATURATION
    a = 1.0 / ((alpha * alpha * p + 1.0) * (1.0 - p)) ** 0.5
    k = keep.astype(dtype)
    return k * a, (k - 1.0 + p) * (alpha * a)
