"""Stride-1 3x3 convolutions on the CPU by Winograd F(2x2, 3x3) (``formulas.winograd``): runs of whole images
side by side, each transformed into tiles, multiplied by 16 gemms and transformed back while it is in cache.
"""
import functools

import numpy as np

from ... import threads
from ...formulas import winograd as formula
from . import blas, pool

# a run's transformed tiles (input's and output's): 512 KB in float32, half a core's L2 (the U-Net's step: 1 << 16
# to 1 << 18 within 2%, 1 << 20 18% slower)
RUN_ELEMENTS = 1 << 17
WEIGHT_GRAIN = 1 << 14  # weights' values per thread at least, for their transforms


def _geometry(x, weight, geometry):
    n, c, h, w = x.shape
    ho, wo, th, tw = formula.tile_counts(geometry, h, w)
    return (c, h, w, weight.shape[0], ho, wo, th, tw, geometry.pads[0], geometry.pads[2])


def _runs(x, layout):
    # (images per run, runs, parts side by side)
    c, o, tiles = layout[0], layout[3], layout[6] * layout[7]
    per_run = max(1, RUN_ELEMENTS // (16 * (c + o) * tiles))
    per_run = min(per_run, max(1, x.shape[0] // threads.get_num_threads()))
    runs = -(-x.shape[0] // per_run)
    return per_run, runs, pool.pieces(runs, 1)


@functools.lru_cache(maxsize=256)
def spread_width(rows, width, itemsize):
    """The buffers' row length: ``width`` or a little more, so that the 16 planes of (rows, width) a transform
    walks side by side start in different sets of the L1 cache (planes 4 KiB apart evict each other: the
    transforms ran 4x slower on Zen 4)."""
    for padded in range(width, width + 257):
        offsets = [k * rows * padded * itemsize % 4096 // 64 for k in range(16)]
        if max(offsets.count(s) for s in offsets) <= 2:
            return padded
    return width


def _by_outputs(serial, parallel, source, target):
    """A weight transform (``serial(source, target, lo, hi)`` over output channels lo ≤ o < hi), cut over the
    pool where the weights are many (the 128-channel layers' took 0.2-0.4 ms on one thread)."""
    parts = pool.pieces(target.size, WEIGHT_GRAIN)
    if parts == 1:
        serial(source, target, 0, target.shape[0] if target.ndim == 4 else target.shape[1])   # dw or u: O
    else:
        pool.launch(parts, parallel, parts, source, target)


def _buffers(scratch, names, parts, rows, layout, per_run, like):
    width = per_run * layout[6] * layout[7]
    return [scratch.get(name, (parts, 16, r, spread_width(r, width, like.itemsize)), like)
            for name, r in zip(names, rows)]


def conv2d(x, weight, bias, geometry, scratch):
    x = np.ascontiguousarray(x)
    layout = _geometry(x, weight, geometry)
    per_run, runs, parts = _runs(x, layout)
    v, m = _buffers(scratch, ("winograd_v", "winograd_m"), parts, (layout[0], layout[3]), layout, per_run, x)
    y = np.empty((x.shape[0], layout[3], layout[4], layout[5]), dtype=x.dtype)
    t = x.dtype.type
    from . import winograd_loops as loops   # Numba: imported at the first training step, not with minimlp
    u = scratch.get("winograd_u", (16,) + weight.shape[:2], x)
    _by_outputs(loops.weight_transform, loops.weight_transform_pieces, np.ascontiguousarray(weight, dtype=x.dtype), u)
    with blas.one_blas_thread():
        pool.launch(parts, loops.forward, parts, runs, per_run, x, u, x[0, 0, 0, :0] if bias is None else bias, y,
                    v, m, layout, *blas.gemm_address(x.dtype), t(1), t(0))
    return y, (x, u, layout)


def conv2d_backward(g, saved, weight, bias, geometry, scratch, want_dx=True):
    x, u, layout = saved
    g = np.ascontiguousarray(g)
    per_run, runs, parts = _runs(x, layout)
    v, gamma = _buffers(scratch, ("winograd_v", "winograd_m"), parts, (layout[0], layout[3]), layout, per_run, x)
    c, o = layout[0], layout[3]
    du_parts = scratch.get("winograd_du", (parts, 16) + ((c, o) if c > o else (o, c)), x)   # ∂Uᵀ where C > O
    db_parts = scratch.get("winograd_db", (parts, layout[3]), x, dtype=np.float64)
    dx = np.empty(x.shape, dtype=x.dtype) if want_dx else x[:0]
    t = x.dtype.type
    from . import winograd_loops as loops
    with blas.one_blas_thread():
        pool.launch(parts, loops.backward, parts, runs, per_run, x, u, g, dx, v, gamma, du_parts, db_parts, want_dx,
                    layout, *blas.gemm_address(x.dtype), t(1), t(0))
    dw = scratch.get("winograd_dw", weight.data.shape, x)
    du = du_parts[0] if parts == 1 else du_parts.sum(axis=0)
    _by_outputs(loops.weight_gradient_transform, loops.weight_gradient_transform_pieces,
                du.transpose(0, 2, 1) if c > o else du, dw)
    weight.accumulate(dw)
    if bias is not None:
        bias.accumulate((db_parts[0] if parts == 1 else db_parts.sum(axis=0)).astype(x.dtype))
    return dx if want_dx else None
