"""Winograd F(2x2, 3x3): its formula against the direct convolution, its float32 error bounded at the U-Net's
shapes, and what the kernel assumes about its buffers.

The compiled kernel is compared with this formula in tests/test_kernels.py (every conv2d case it takes), and
through the layers with torch in tests/test_conv_vs_torch.py (``implementation`` forces it).
"""
import numpy as np
import pytest

import minimlp
from minimlp import kernels, nn
from minimlp.formulas import winograd
from minimlp.formulas.conv import Geometry
from minimlp.kernels import ops
from minimlp.kernels.cpu.winograd import spread_width

GEOMETRIES = [   # (N, C, O, H, W, pads (top, bottom, left, right))
    (2, 3, 4, 8, 8, (1, 1, 1, 1)), (3, 2, 5, 7, 9, (1, 1, 1, 1)), (1, 2, 3, 6, 5, (0, 0, 0, 0)),
    (2, 2, 2, 5, 6, (2, 1, 0, 2)), (1, 1, 1, 3, 3, (0, 0, 0, 0)), (2, 4, 3, 1, 1, (1, 1, 1, 1)),
    (1, 3, 2, 2, 7, (2, 2, 2, 2)),
]


def direct(x, w, b, pads):
    """The direct sum, y[n, o, i, j] = b_o + Σ_{c,p,q} w[o, c, p, q] x̃[n, c, i + p, j + q], in float64."""
    pt, pb, pl, pr = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    n, c, h, wd = xp.shape
    y = np.zeros((n, w.shape[0], h - 2, wd - 2))
    for p in range(3):
        for q in range(3):
            y += np.einsum("oc,nchw->nohw", w[:, :, p, q].astype(np.float64), xp[:, :, p:p + h - 2, q:q + wd - 2])
    return y + b.reshape(1, -1, 1, 1)


def direct_backward(g, x, w, pads):
    """(∂x, ∂w, ∂b) of ``direct`` for ∂L/∂y = g, in float64."""
    pt, pb, pl, pr = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    h, wd = g.shape[2:]
    dxp = np.zeros_like(xp)
    dw = np.zeros(w.shape)
    for p in range(3):
        for q in range(3):
            dw[:, :, p, q] = np.einsum("nohw,nchw->oc", g, xp[:, :, p:p + h, q:q + wd])
            dxp[:, :, p:p + h, q:q + wd] += np.einsum("oc,nohw->nchw", w[:, :, p, q].astype(np.float64), g)
    dx = dxp[:, :, pt:pt + x.shape[2], pl:pl + x.shape[3]]
    return dx, dw, g.sum(axis=(0, 2, 3))


@pytest.mark.parametrize("n,c,o,h,w,pads", GEOMETRIES)
def test_the_formula_is_the_direct_convolution_in_float64(n, c, o, h, w, pads):
    rng = np.random.default_rng([n, c, o, h, w, *pads])
    x, wt, b = rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c, 3, 3)), rng.standard_normal(o)
    geometry = Geometry((3, 3), (1, 1), (1, 1), pads, 1)
    y = winograd.conv2d(x, wt, b, geometry)
    ref = direct(x, wt, b, pads)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    g = rng.standard_normal(y.shape)
    for got, want in zip(winograd.conv2d_backward(g, x, wt, geometry), direct_backward(g, x, wt, pads)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())


def _relative_error(got, ref):
    return float(np.abs(np.asarray(got, np.float64) - ref).max() / np.abs(ref).max())


UNET_LAYERS = [(32, 32, 32), (64, 32, 32), (32, 64, 16), (128, 64, 16), (128, 128, 8)]   # (C, O, size)


@pytest.mark.parametrize("c,o,size", UNET_LAYERS)
def test_float32_error_of_the_layer_is_bounded_against_the_direct_sum(c, o, size):
    """In float32 (the default), the layer on Winograd's kernel stays within 3e-6 of the float64 direct sum,
    relative to the largest value, and within 4x the error of the direct float32 kernel (the transforms add a
    few roundings per tile). Measured on an AMD EPYC: at most 6.2e-7 (forward 2.6e-7 to 5.2e-7), at most
    2.5x the direct kernel's."""
    minimlp.manual_seed(0)
    layer = nn.Conv2d(c, o, 3, padding=1)
    rng = np.random.default_rng([c, o, size])
    x = rng.standard_normal((4, c, size, size), dtype=np.float32)
    g = rng.standard_normal((4, o, size, size), dtype=np.float32)
    w, b = layer.weight.data.copy(), layer.bias.data.copy()
    ref = (direct(x, w, b, (1, 1, 1, 1)),) + direct_backward(g.astype(np.float64), x, w, (1, 1, 1, 1))
    errors = {}
    for name in ("cpu-winograd", "cpu-compiled"):
        layer.zero_grad()
        with kernels.use(conv2d=name), kernels.record() as log:
            y = layer(x)
            dx = layer.backward(g)
        assert ("conv2d", "forward", name) in log
        errors[name] = [_relative_error(got, want) for got, want in
                        zip((y, dx, layer.weight.grad, layer.bias.grad), ref)]
    assert max(errors["cpu-winograd"]) < 3e-6, errors
    for ours, theirs in zip(errors["cpu-winograd"], errors["cpu-compiled"]):
        assert ours <= 4 * max(theirs, 1e-7), errors


def test_the_selector_takes_winograd_for_wide_stride_1_3x3_convolutions_in_training_only():
    x = np.zeros((2, 32, 8, 8), dtype=np.float32)
    cases = [(32, {"padding": 1}, "cpu-winograd"), (32, {"padding": 1, "stride": 2}, "cpu-compiled"),
             (8, {"padding": 1}, "cpu-compiled"), (32, {"padding": 1, "groups": 2}, "cpu-compiled"),
             (32, {"padding": 1, "dilation": 2}, "cpu-compiled"),
             (32, {"padding": 1, "padding_mode": "reflect"}, "cpu-compiled")]
    for out, kwargs, expected in cases:
        layer = nn.Conv2d(32, out, 3, **kwargs)
        with kernels.record() as log:
            layer(x)
        assert log == [("conv2d", "forward", expected)], (out, kwargs, log)
    layer = nn.Conv2d(32, 32, 3, padding=1).eval()
    with kernels.record() as log:
        layer(x)
    assert log == [("conv2d", "forward", "formula")]
    big = np.zeros((1, 32, 260, 260), dtype=np.float32)   # 16·64·130² tiles > WINOGRAD_MAX_IMAGE
    with kernels.record() as log:
        nn.Conv2d(32, 32, 3, padding=1)(big)
    assert log == [("conv2d", "forward", "cpu-compiled")]
    assert ops.WINOGRAD_MIN_CHANNELS == 16


@pytest.mark.parametrize("rows,width,itemsize", [(32, 256, 4), (64, 256, 4), (128, 64, 4), (64, 1024, 8),
                                                  (1, 16, 4), (7, 100, 4)])
def test_the_16_planes_of_a_buffer_fall_in_different_cache_sets(rows, width, itemsize):
    padded = spread_width(rows, width, itemsize)
    assert width <= padded <= width + 256
    sets = [k * rows * padded * itemsize % 4096 // 64 for k in range(16)]
    assert max(sets.count(s) for s in sets) <= 2, (padded, sets)


@pytest.mark.parametrize("c,h,w,images,dtype", [(32, 32, 32, 2, np.float32), (64, 16, 16, 1, np.float64),
                                                 (3, 16, 20, 3, np.float32), (5, 18, 16, 1, np.float64)])
def test_the_row_wise_transforms_equal_the_per_tile_loops(c, h, w, images, dtype):
    """``winograd_rows`` (the U-Net's case) against ``winograd_loops``'s per-tile transforms, each of the four:
    the same values but for the order of two additions (input and scatter: rows first, then columns)."""
    from minimlp.kernels.cpu import winograd_loops as loops
    from minimlp.kernels.cpu import winograd_rows as rows
    th, tw = h // 2, w // 2
    geometry = (c, h, w, c, h, w, th, tw, 1, 1)
    assert rows.takes(geometry)
    tiles = images * th * tw
    rng = np.random.default_rng(c)
    x = rng.standard_normal((images, c, h, w)).astype(dtype)
    m = rng.standard_normal((16, c, tiles + 3)).astype(dtype)
    bias = rng.standard_normal(c).astype(dtype)
    results = []
    for module in (loops, rows):
        v, gamma = np.zeros_like(m), np.zeros_like(m)
        y, dx = np.zeros_like(x), np.zeros_like(x)
        if module is rows:
            dx[:] = np.nan   # the row-wise scatter writes every value
        module.input_transform(x, v, 0, images, geometry)
        module.output_transform(m, y, bias, 0, images, geometry)
        module.gradient_transform(x, gamma, 0, images, geometry)
        module.scatter_transform(m, dx, 0, images, geometry)
        results.append((v[:, :, :tiles], y, gamma[:, :, :tiles], dx))
    eps = np.finfo(dtype).eps
    for name, ours, theirs in zip(("input", "output", "gradient", "scatter"), results[1], results[0]):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=8 * eps * np.abs(theirs).max(), err_msg=name)


def test_the_row_wise_transforms_take_the_u_nets_convolutions_only():
    from minimlp.kernels.cpu import winograd_rows as rows

    def geometry(h, w, pad):
        ho, wo = h + 2 * pad - 2, w + 2 * pad - 2
        return (8, h, w, 8, ho, wo, -(-ho // 2), -(-wo // 2), pad, pad)
    assert rows.takes(geometry(32, 32, 1)) and rows.takes(geometry(16, 16, 1)) and rows.takes(geometry(4, 16, 1))
    assert not rows.takes(geometry(14, 14, 1))   # 7 tiles a row
    assert not rows.takes(geometry(17, 16, 1)) and not rows.takes(geometry(16, 17, 1))   # odd
    assert not rows.takes(geometry(18, 18, 0)) and not rows.takes(geometry(16, 16, 2))    # other paddings
    assert rows.MIN_TILES_PER_ROW == 8
