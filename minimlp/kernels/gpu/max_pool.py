"""MaxPool2d on the GPU: one kernel forward, one back (the formula takes about 40 launches for a 2x2 window).

Forward: one thread per output reads its kh·kw window (offsets unrolled, one kernel per window size, up to
``ops.GPU_POOL_MAX_WINDOW`` offsets) and writes
the maximum and the offset k = i·kw + j it came from: the first in row-major order on ties, the last NaN where
the maximum is NaN, never the padding (as ``formulas.pooling``, as torch's CPU kernel). Backward: one thread per
input pixel gathers G from the windows whose kept offset points at it, adding in offset order as the formula's
scatter does, with no atomics. Keeps (the input's shape, the offsets) instead of the padded input and y. The
maths is ``minimlp.formulas.pooling``; these are tested against it on ``tests/fake_cupy``.
"""
from functools import lru_cache

import numpy as np

from ...backend import cupy_module

_GEOMETRY = ("int64 H, int64 W, int64 Ho, int64 Wo, int64 sh, int64 sw, int64 dh, int64 dw, int64 pt, int64 pl")


def _offsets(kh, kw):
    return [(k, i, j) for k, (i, j) in enumerate((i, j) for i in range(kh) for j in range(kw))]


@lru_cache(maxsize=None)
def _kernel(name, kh, kw):
    cp = cupy_module()
    if name == "forward":
        body = ["ptrdiff_t plane = i / (Ho * Wo); ptrdiff_t oh = i / Wo % Ho; ptrdiff_t ow = i % Wo",
                "ptrdiff_t base = plane * H * W", "T best = lowest; int found = -1; int last_nan = -1; T nan_value = 0"]
        for k, a, b in _offsets(kh, kw):
            body += [f"ptrdiff_t h{k} = oh * sh + {a} * dh - pt; ptrdiff_t w{k} = ow * sw + {b} * dw - pl",
                     f"bool in{k} = h{k} >= 0 && h{k} < H && w{k} >= 0 && w{k} < W",
                     f"T v{k} = in{k} ? x[base + h{k} * W + w{k}] : lowest",
                     f"bool up{k} = in{k} && (v{k} > best || (found < 0 && v{k} == best))",
                     f"if (up{k}) best = v{k}", f"if (up{k}) found = {k}",
                     f"if (in{k} && isnan(v{k})) nan_value = v{k}", f"if (in{k} && isnan(v{k})) last_nan = {k}"]
        body += ["y = last_nan >= 0 ? nan_value : best", "arg = last_nan >= 0 ? last_nan : found"]
        return cp.ElementwiseKernel(f"raw T x, {_GEOMETRY}, T lowest", "T y, int32 arg", ";\n".join(body),
                                    f"minimlp_max_pool_{kh}x{kw}")
    if name == "backward":
        body = ["ptrdiff_t plane = i / (H * W); ptrdiff_t h = i / W % H; ptrdiff_t w = i % W",
                "ptrdiff_t base = plane * Ho * Wo", "dx = 0"]
        for k, a, b in _offsets(kh, kw):
            body += [f"ptrdiff_t th{k} = h + pt - {a} * dh; ptrdiff_t tw{k} = w + pl - {b} * dw",
                     f"bool ok{k} = th{k} >= 0 && tw{k} >= 0 && th{k} % sh == 0 && tw{k} % sw == 0"
                     f" && th{k} / sh < Ho && tw{k} / sw < Wo",
                     f"ptrdiff_t o{k} = base + th{k} / sh * Wo + tw{k} / sw",
                     f"if (ok{k} && arg[o{k}] == {k}) dx += g[o{k}]"]
        return cp.ElementwiseKernel(f"raw T g, raw int32 arg, {_GEOMETRY}", "T dx", ";\n".join(body),
                                    f"minimlp_max_pool_backward_{kh}x{kw}")
    if name == "indices":
        return cp.ElementwiseKernel(
            f"int32 arg, {_GEOMETRY}, int64 kw", "int64 index",
            "ptrdiff_t oh = i / Wo % Ho; ptrdiff_t ow = i % Wo;"
            "index = (oh * sh + arg / kw * dh - pt) * W + ow * sw + arg % kw * dw - pl", "minimlp_max_pool_indices")
    raise KeyError(name)


def _layout(in_shape, out_shape, geometry):
    (sh, sw), (dh, dw), (pt, _, pl, _) = geometry.stride, geometry.dilation, geometry.pads
    return (in_shape[2], in_shape[3], out_shape[2], out_shape[3], sh, sw, dh, dw, pt, pl)


def max_pool2d(x, geometry, scratch):
    """(y, (input shape, offsets)): y and the offset of each window's maximum in one launch."""
    xp = cupy_module()
    n, c = x.shape[:2]
    out_shape = (n, c, *geometry.conv_output(x.shape[2], x.shape[3]))
    y, arg = xp.empty(out_shape, x.dtype), xp.empty(out_shape, np.int32)
    _kernel("forward", *geometry.kernel)(x, *_layout(x.shape, out_shape, geometry),
                                         x.dtype.type(-np.inf), y, arg)
    return y, (tuple(x.shape), arg)


def max_pool2d_backward(g, saved, geometry, scratch):
    """∂L/∂x: G gathered per input pixel from the windows whose maximum it is."""
    xp = cupy_module()
    in_shape, arg = saved
    dx = xp.empty(in_shape, g.dtype)
    _kernel("backward", *geometry.kernel)(g, arg, *_layout(in_shape, arg.shape, geometry), dx)
    return dx


def max_pool2d_indices(saved, geometry):
    """torch's ``return_indices`` from the kept offsets: h·W + w of each maximum in the input plane (int64)."""
    in_shape, arg = saved
    return _kernel("indices", 0, 0)(arg, *_layout(in_shape, arg.shape, geometry), geometry.kernel[1])


KERNELS = [("forward", 2, 2), ("backward", 2, 2), ("forward", 3, 3), ("backward", 3, 3), ("indices", 0, 0)]
