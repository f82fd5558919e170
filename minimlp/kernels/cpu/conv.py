"""The convolutions on the CPU, image by image: a compiled gather into a per-thread buffer and one gemm per
group straight into the output (``conv_loops``); the backward gathers again. docs/kernels.md has the why.
"""
import numpy as np

from ... import threads
from . import blas, pool

MAX_COLUMNS = 1 << 18  # elements of a thread's column buffer: 1 MB in float32, about a core's L2 cache


def _layout(x, weight, geometry, transposed):
    """The loops' geometry: (C, H, W, O, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl, groups, reflect) of the
    convolution, or for a transposed one, of the convolution it is the adjoint of (input and output swapped)."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (dh, dw), g = geometry.kernel, geometry.stride, geometry.dilation, geometry.groups
    pt, pl = geometry.pads[0], geometry.pads[2]
    if transposed:
        ho, wo = geometry.transposed_output(h, w)
        return (weight.shape[1] * g, ho, wo, c, h, w, kh, kw, sh, sw, dh, dw, pt, pl, g, False)
    ho, wo = geometry.conv_output(h, w)
    return (c, h, w, weight.shape[0], ho, wo, kh, kw, sh, sw, dh, dw, pt, pl, g, geometry.padding_mode == "reflect")


def _run(pieces, serial, parallel, args):
    """One piece: ``serial(*args)``, OpenBLAS on minimlp's threads; more: ``parallel`` on the pool, OpenBLAS on one."""
    if pieces == 1:
        with blas.openblas_threads(threads.get_num_threads()):
            serial(*args)
    else:
        with blas.one_blas_thread():
            pool.launch(pieces, parallel, pieces, *args)


def _blocks(rows, ho, wo):
    """Blocks of output rows an image is cut into, so that a block's columns stay within ``MAX_COLUMNS``."""
    return min(ho, -(-rows * ho * wo // MAX_COLUMNS))


def _forward(x, weight, bias, geometry, scratch, transposed):
    x = np.ascontiguousarray(x)
    layout = _layout(x, weight, geometry, transposed)
    n = x.shape[0]
    ho, wo = layout[4:6]
    out_shape = (n, layout[3], ho, wo) if not transposed else (n, layout[0], layout[1], layout[2])
    w2 = weight.reshape(weight.shape[0], -1)
    rows = w2.shape[1] * geometry.groups
    blocks = 1 if transposed else max(min(ho, -(-threads.get_num_threads() // n)), _blocks(rows, ho, wo))
    items = n * blocks
    pieces = pool.pieces(items, 1)
    cols = scratch.get("cols", (pieces, rows, -(-ho // blocks) * wo), x)
    y = np.empty(out_shape, dtype=x.dtype)
    t = x.dtype.type
    args = (items, blocks, x, w2, x[0, 0, 0, :0] if bias is None else bias, y, cols, layout,
            *blas.gemm_address(x.dtype), t(1), t(0), transposed)
    from . import conv_loops as loops   # Numba: imported at the first training step, not with minimlp
    _run(pieces, loops.forward_serial, loops.forward_parallel, args)
    return y, (x, layout)


def _backward(g, saved, weight, bias, scratch, want_dx, transposed):
    x, layout = saved
    n, (ho, wo) = x.shape[0], layout[4:6]
    w2 = weight.data.reshape(weight.data.shape[0], -1)
    rows = w2.shape[1] * layout[14]
    pieces = pool.pieces(n, 1)
    blocks = 1 if transposed else _blocks(rows, ho, wo)
    cols = scratch.get("cols", (pieces, rows, -(-ho // blocks) * wo), x)
    dcols = scratch.get("dcols", cols.shape, x) if want_dx and not transposed else cols
    og, kg = w2.shape[0] // layout[14], w2.shape[1]
    dw_transposed = kg > og and not transposed   # the loops then sum ∂Wᵀ per group (see _backward_item)
    dw_parts = scratch.get("dw_parts", (pieces, layout[14], kg, og) if dw_transposed else (pieces,) + w2.shape, x)
    db_parts = scratch.get("db_parts", (pieces, layout[0] if transposed else layout[3]), x, dtype=np.float64)
    dx = np.empty(x.shape, dtype=x.dtype) if want_dx else x[:0]
    t = x.dtype.type
    args = (blocks, x, w2, np.ascontiguousarray(g), dx, cols, dcols, dw_parts, db_parts, want_dx, layout,
            *blas.gemm_address(x.dtype), t(1), t(0), transposed)
    from . import conv_loops as loops
    _run(pieces, loops.backward_serial, loops.backward_parallel, args)
    dw = dw_parts[0] if pieces == 1 else dw_parts.sum(axis=0)
    weight.accumulate((dw.transpose(0, 2, 1) if dw_transposed else dw).reshape(weight.data.shape))
    if bias is not None:
        bias.accumulate((db_parts[0] if pieces == 1 else db_parts.sum(axis=0)).astype(x.dtype))
    return dx if want_dx else None


def conv2d(x, weight, bias, geometry, scratch):
    return _forward(x, weight, bias, geometry, scratch, transposed=False)


def conv2d_backward(g, saved, weight, bias, geometry, scratch, want_dx=True):
    return _backward(g, saved, weight, bias, scratch, want_dx, transposed=False)


def conv_transpose2d(x, weight, bias, geometry, scratch):
    return _forward(x, weight, bias, geometry, scratch, transposed=True)


def conv_transpose2d_backward(g, saved, weight, bias, geometry, scratch, want_dx=True):
    return _backward(g, saved, weight, bias, scratch, want_dx, transposed=True)
