"""Separable linear maps of images: y = A_h x A_wᵀ per plane, with one (out, in) matrix per axis.

Adaptive average pooling and nearest, bilinear or bicubic resampling are all of this form. Along an axis, output o
reads a few inputs, its taps: index[o, k] with weight[o, k] where used[o, k] (``AxisTaps``; A is their
(out, in) matrix). The forward sums the taps, so a NaN or an infinity reaches only the outputs that read it,
as in torch (a product with the whole matrix would spread it through 0·inf). The backward is
∂L/∂x = A_hᵀ G A_w (each input pixel collects the gradient of every output that read it, with the same
weights): the columns as one (N·C·H_out, W_out) @ (W_out, W) product, then the rows as a stacked product.
The taps are built in NumPy, once per input size.
"""
import numpy as np

from ..backend import get_array_module


class AxisTaps:
    """Output o of an axis of ``size`` inputs: Σ_k weight[o, k]·x[index[o, k]] over the k where used[o, k]
    (``index``, ``weight``, ``used``: (out, K) NumPy arrays)."""

    def __init__(self, index, weight, used, size):
        self.index, self.weight, self.used, self.size = index, weight, used, size


def matrix(taps):
    """A[o, i] = Σ weight[o, k] over the used k with index[o, k] = i: the (out, size) matrix of the taps."""
    a = np.zeros((taps.index.shape[0], taps.size))
    rows = np.broadcast_to(np.arange(taps.index.shape[0])[:, None], taps.index.shape)
    np.add.at(a, (rows[taps.used], taps.index[taps.used]), taps.weight[taps.used])
    return a


def along(x, index, weight, used, axis):
    """Σ_k weight[:, k]·x[index[:, k]] along ``axis`` (−1 or −2) over the used taps; ``used`` None: all are."""
    xp = get_array_module(x)
    if x.shape[axis] == 0:   # an empty axis: every output reads nothing (a constant pad then fills it)
        out = list(x.shape)
        out[axis] = index.shape[0]
        return xp.zeros(out, dtype=x.dtype)
    shape = (-1,) if axis == -1 else (-1, 1)
    y = None
    with np.errstate(invalid="ignore"):   # inf·0 on a tap of weight 0 is NaN in torch too; unused taps are dropped
        for k in range(index.shape[1]):
            term = xp.take(x, index[:, k], axis=axis) * weight[:, k].reshape(shape)
            if used is not None:
                term = xp.where(used[:, k].reshape(shape), term, 0)
            y = term if y is None else y + term
    return y


def separable_map(x, taps_h, taps_w):
    """y[n, c] = A_h x[n, c] A_wᵀ as sums of taps, ``taps_*`` = (index, weight, used) on x's device."""
    return along(along(x, *taps_w, axis=-1), *taps_h, axis=-2)


def separable_map_backward(g, a_h, a_w):
    """∂L/∂x[n, c] = A_hᵀ G[n, c] A_w."""
    n, c, ho, wo = g.shape
    t = (g.reshape(n * c * ho, wo) @ a_w).reshape(n * c, ho, a_w.shape[1])
    return (a_h.T @ t).reshape(n, c, a_h.shape[1], a_w.shape[1])


def adaptive_average(size, out):
    """Output i averages torch's bin h₀(i) = ⌊i·size/out⌋ ≤ h < h₁(i) = ⌈(i + 1)·size/out⌉: weight 1/(h₁ − h₀)."""
    i = np.arange(out)
    lo, hi = (i * size) // out, -((-(i + 1) * size) // out)
    k = np.arange(int((hi - lo).max()))
    index = np.minimum(lo[:, None] + k, hi[:, None] - 1)
    weight = np.broadcast_to(1.0 / (hi - lo)[:, None], index.shape)
    return AxisTaps(index, weight, k < (hi - lo)[:, None], size)


def nearest(size, out, scale):
    """Output o reads input ⌊o·r⌋ with r = ``scale`` (1/scale_factor, or in/out), computed in float32 as torch,
    clamped; as torch's CPU kernel, an output as large as the input reads o, and one twice as large ⌊o/2⌋,
    whatever the scale factor."""
    o = np.arange(out)
    if out == size or out == 2 * size:
        return AxisTaps((o // (out // size))[:, None], np.ones((out, 1)), np.ones((out, 1), bool), size)
    src = np.minimum(np.floor(o.astype(np.float32) * np.float32(scale)).astype(np.int64), size - 1)
    return AxisTaps(src[:, None], np.ones((out, 1)), np.ones((out, 1), bool), size)


def bilinear(size, out, scale, align_corners):
    """Source coordinate u = (o + ½)·r − ½ clamped at 0 (r = ``scale``), or u = o·(in − 1)/(out − 1) with
    ``align_corners``; output o reads ⌊u⌋ with weight 1 − λ and ⌊u⌋ + 1 with weight λ, λ = u − ⌊u⌋ (indices
    clamped to in − 1; both taps are read, as torch reads them, even where λ = 0)."""
    o = np.arange(out)
    if align_corners:
        u = o * ((size - 1) / (out - 1) if out > 1 else 0.0)
    else:
        u = np.maximum((o + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(u).astype(np.int64), size - 1)
    i1 = np.minimum(i0 + 1, size - 1)
    lam = u - i0
    return AxisTaps(np.stack([i0, i1], 1), np.stack([1.0 - lam, lam], 1), np.ones((out, 2), bool), size)


def nearest_exact(size, out, scale):
    """Output o reads input ⌊(o + ½)·r⌋ with r = ``scale`` rounded to float32 and the product too (torch's
    ``floorf``), clamped to in − 1."""
    o = np.arange(out)
    src = np.minimum(np.floor(((o + 0.5) * float(np.float32(scale))).astype(np.float32)).astype(np.int64), size - 1)
    return AxisTaps(src[:, None], np.ones((out, 1)), np.ones((out, 1), bool), size)


CUBIC_A = -0.75  # torch's (and OpenCV's) cubic convolution constant


def cubic_weights(t):
    """Keys' cubic convolution weights of the taps at ⌊u⌋ − 1, ⌊u⌋, ⌊u⌋ + 1, ⌊u⌋ + 2 for t = u − ⌊u⌋ (a = −0.75):
    w(d) = (a + 2)|d|³ − (a + 3)|d|² + 1 for |d| ≤ 1, a|d|³ − 5a|d|² + 8a|d| − 4a for 1 < |d| < 2."""
    a = CUBIC_A

    def near(d):
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], 1)


def bicubic(size, out, scale, align_corners):
    """Source coordinate u = (o + ½)·r − ½, not clamped (r = ``scale``), or u = o·(in − 1)/(out − 1) with
    ``align_corners``; output o reads the four inputs ⌊u⌋ − 1 … ⌊u⌋ + 2, each clamped to [0, in − 1], with
    ``cubic_weights`` of t = u − ⌊u⌋ (⌊u⌋ at most in − 1, t clamped to [0, 1], as torch)."""
    o = np.arange(out)
    if align_corners:
        u = o * ((size - 1) / (out - 1) if out > 1 else 0.0)
    else:
        u = (o + 0.5) * scale - 0.5
    i0 = np.minimum(np.floor(u).astype(np.int64), size - 1)
    t = np.clip(u - i0, 0.0, 1.0)
    index = np.clip(i0[:, None] + np.arange(-1, 3), 0, size - 1)
    return AxisTaps(index, cubic_weights(t), np.ones((out, 4), bool), size)


def pad(size, before, after, mode):
    """Output o of before + size + after reads input o − before; outside the input it reads nothing
    ("constant": the padding value is added afterwards), its mirror image without the edge ("reflect", for
    paddings under ``size``), the edge ("replicate") or the other side ("circular", for paddings up to
    ``size``). A negative ``before`` or ``after`` crops ("circular" wraps within what is left, as torch)."""
    o = np.arange(before + size + after)
    i = o - before
    if mode == "circular":
        lo, kept = max(-before, 0), size - max(-before, 0) - max(-after, 0)
        i = lo + (o - max(before, 0)) % kept
    elif mode == "reflect":
        i = np.abs(i)
        i = np.where(i >= size, 2 * (size - 1) - i, i)
    elif mode == "replicate":
        i = np.clip(i, 0, size - 1)
    used = (i >= 0) & (i < size)
    return AxisTaps(np.clip(i, 0, size - 1)[:, None], np.ones((i.size, 1)), used[:, None], size)


def upsample_size(size, scale_factor):
    """⌊size·scale_factor⌋, torch's output size for a scale factor."""
    return int(np.floor(size * scale_factor))
