"""The 3-d padding and pooling layers (ZeroPad3d, ConstantPad3d, ReflectionPad3d, ReplicationPad3d, CircularPad3d,
MaxPool3d, AvgPool3d, AdaptiveAvgPool3d, AdaptiveMaxPool3d, MaxUnpool3d, LPPool3d) against torch in float64.

``compare`` (tests/test_conv_vs_torch.py) checks the forward and the input gradient for a random upstream
gradient at batch sizes 1, 2, 7 and 16, training and evaluation; then the max pools' ties and NaNs on
integer-valued inputs with their indices, every AvgPool3d option, unbatched and empty inputs, float32,
finite differences, reprs and the one-line errors.
"""
import re

import numpy as np
import pytest
import torch
from test_conv_vs_torch import compare

import minimlp
from minimlp import nn

T = torch.nn
BATCHES = [1, 2, 7, 16]

# name -> (factory of the module from nn or torch.nn, input shape for a batch size)
CASES = {
    "ZeroPad3d": (lambda m: m.ZeroPad3d(1), lambda b: (b, 2, 3, 4, 2)),
    "ZeroPad3d-crop-unbatched": (lambda m: m.ZeroPad3d((-1, 2, 0, -2, 1, -1)), lambda b: (2, 3, b + 2, 4)),
    "ConstantPad3d": (lambda m: m.ConstantPad3d((1, 0, 2, 1, 0, 3), 2.5), lambda b: (b, 2, 2, 3, 3)),
    "ConstantPad3d-3d": (lambda m: m.ConstantPad3d(1, -1.0), lambda b: (b + 1, 3, 2)),
    "ConstantPad3d-6d": (lambda m: m.ConstantPad3d((0, 1, 1, 0, 2, 0), 0.5), lambda b: (b, 2, 1, 2, 3, 2)),
    "ReflectionPad3d": (lambda m: m.ReflectionPad3d((1, 2, 2, 0, 1, 1)), lambda b: (b, 2, 3, 3, 4)),
    "ReflectionPad3d-unbatched-crop": (lambda m: m.ReflectionPad3d((2, -1, 1, 1, -1, 2)), lambda b: (2, 4, 3, b + 2)),
    "ReplicationPad3d": (lambda m: m.ReplicationPad3d((3, 1, 0, 2, 4, 1)), lambda b: (b, 2, 2, 3, 2)),
    "ReplicationPad3d-crop": (lambda m: m.ReplicationPad3d((-1, 2, 1, -1, 0, 1)), lambda b: (b, 1, 3, 3, 3)),
    "CircularPad3d": (lambda m: m.CircularPad3d((1, 2, 3, 0, 2, 2)), lambda b: (b, 2, 2, 3, 3)),
    "CircularPad3d-crop-then-wrap": (lambda m: m.CircularPad3d((2, -1, -1, 1, 1, 0)), lambda b: (b, 1, 3, 4, 4)),
    "MaxPool3d": (lambda m: m.MaxPool3d(2), lambda b: (b, 2, 4, 4, 5)),
    "MaxPool3d-strided-padded-dilated": (lambda m: m.MaxPool3d((3, 2, 3), stride=(1, 2, 2), padding=(1, 1, 0),
                                                               dilation=(1, 2, 1)), lambda b: (b, 2, 4, 5, 6)),
    "MaxPool3d-ceil-unbatched": (lambda m: m.MaxPool3d(3, stride=2, padding=1, ceil_mode=True),
                                 lambda b: (2, 5, 4, b + 3)),
    "AvgPool3d": (lambda m: m.AvgPool3d(2), lambda b: (b, 2, 4, 4, 5)),
    "AvgPool3d-padded": (lambda m: m.AvgPool3d((3, 2, 3), stride=(2, 1, 2), padding=(1, 1, 1)),
                         lambda b: (b, 2, 5, 3, 6)),
    "AvgPool3d-padded-excluded": (lambda m: m.AvgPool3d(3, stride=2, padding=1, count_include_pad=False),
                                  lambda b: (b, 2, 5, 4, 6)),
    "AvgPool3d-ceil": (lambda m: m.AvgPool3d(2, stride=2, ceil_mode=True), lambda b: (b, 2, 5, 3, 4)),
    "AvgPool3d-ceil-padded-excluded": (lambda m: m.AvgPool3d((3, 2, 2), stride=2, padding=1, ceil_mode=True,
                                                             count_include_pad=False), lambda b: (b, 2, 6, 5, 4)),
    "AvgPool3d-ceil-padded-included": (lambda m: m.AvgPool3d(3, stride=2, padding=1, ceil_mode=True),
                                       lambda b: (b, 1, 6, 5, 4)),
    "AvgPool3d-divisor-unbatched": (lambda m: m.AvgPool3d(2, stride=1, padding=1, divisor_override=3),
                                    lambda b: (2, 3, 2, b + 1)),
    "AdaptiveAvgPool3d": (lambda m: m.AdaptiveAvgPool3d((2, 3, 4)), lambda b: (b, 2, 5, 7, 9)),
    "AdaptiveAvgPool3d-up-keep-unbatched": (lambda m: m.AdaptiveAvgPool3d((None, 5, 2)), lambda b: (2, 3, 3, b + 1)),
    "AdaptiveMaxPool3d": (lambda m: m.AdaptiveMaxPool3d((3, 2, 4)), lambda b: (b, 2, 7, 5, 6)),
    "AdaptiveMaxPool3d-global": (lambda m: m.AdaptiveMaxPool3d(1), lambda b: (b, 3, 3, 4, 2)),
    "AdaptiveMaxPool3d-up-keep-unbatched": (lambda m: m.AdaptiveMaxPool3d((4, None, 3)), lambda b: (2, 3, 3, b + 1)),
    "LPPool3d": (lambda m: m.LPPool3d(2, 2), lambda b: (b, 2, 4, 4, 5)),
    "LPPool3d-ceil-unbatched": (lambda m: m.LPPool3d(4, (3, 2, 2), stride=(2, 1, 2), ceil_mode=True),
                                lambda b: (2, 6, 3, b + 2)),
    "LPPool3d-inf": (lambda m: m.LPPool3d(float("inf"), (2, 1, 3), stride=1), lambda b: (b, 2, 3, 2, 4)),
}
PARAMS = [pytest.param(name, batch, mode, id=f"{name}-{batch}-{mode}") for name in CASES for batch in BATCHES
          for mode in ("train", "eval")]


@pytest.mark.parametrize("name,batch,mode", PARAMS)
def test_module_matches_torch(name, batch, mode, device):
    factory, shape = CASES[name]
    compare(factory(nn), factory(T), shape(batch), mode, device, f"{name} batch={batch} {mode}", seed=batch)


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name):
    factory, shape = CASES[name]
    x = np.random.default_rng(2).normal(0, 1.5, shape(2))
    assert minimlp.gradcheck(factory(nn), x)


def _with_indices(ours, theirs, x, g):
    """Run ours and torch's (return_indices=True) on x and upstream g; compare y, the indices and ∂L/∂x exactly."""
    y, idx = ours(x)
    xt = torch.tensor(x, requires_grad=True)
    yt, idxt = theirs(xt)
    yt.backward(torch.tensor(g))
    np.testing.assert_array_equal(y, yt.detach().numpy())        # NaN where torch's is NaN
    np.testing.assert_array_equal(idx, idxt.numpy())
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(ours.backward(g), xt.grad.numpy())
    return y, idx


MAX_POOLS = [
    lambda m: m.MaxPool3d(2, return_indices=True),
    lambda m: m.MaxPool3d(3, stride=1, padding=1, return_indices=True),
    lambda m: m.MaxPool3d((2, 3, 2), stride=(1, 2, 1), padding=(1, 1, 0), dilation=(2, 1, 2), return_indices=True),
    lambda m: m.MaxPool3d(3, stride=2, padding=1, ceil_mode=True, return_indices=True),
    lambda m: m.AdaptiveMaxPool3d((3, 2, 4), return_indices=True),
    lambda m: m.AdaptiveMaxPool3d((5, 6, 7), return_indices=True),
]


@pytest.mark.parametrize("make", MAX_POOLS)
@pytest.mark.parametrize("unbatched", [False, True])
def test_max_pools_ties_nans_and_indices_are_torchs(make, unbatched):
    """Integer-valued inputs (many ties in every window), then NaNs and −∞ among them: the values, the indices
    (the first maximum in kernel order, the last NaN) and the routed gradient equal torch's exactly."""
    rng = np.random.default_rng(5)
    shape = (2, 3, 5, 6, 7)[1:] if unbatched else (2, 3, 5, 6, 7)
    x = rng.integers(0, 3, shape).astype(np.float64)
    ours, theirs = make(nn), make(T)
    g = rng.normal(size=tuple(ours(x)[0].shape))
    _with_indices(ours, theirs, x, g)
    x[rng.random(shape) < 0.08] = np.nan
    _with_indices(ours, theirs, x, g)
    x = np.full(shape, -np.inf)                 # every window all −∞: torch's first inside position
    x[rng.random(shape) < 0.1] = np.nan
    _with_indices(ours, theirs, x, g)


def test_max_unpool3d_matches_torch_with_its_indices_and_output_size():
    rng = np.random.default_rng(3)
    for kernel, stride, padding, shape, size in [(2, None, 0, (2, 3, 4, 4, 6), None),
                                                 (3, 2, 1, (1, 2, 5, 6, 7), (5, 6, 7)),
                                                 (2, 2, 0, (3, 5, 4, 5), (5, 5, 5)),
                                                 (2, 2, 0, (2, 1, 5, 4, 5), (2, 1, 5, 5, 5))]:
        x = rng.normal(size=shape)
        y, idx = nn.MaxPool3d(kernel, stride, padding, return_indices=True)(x)
        unpool, tunpool = nn.MaxUnpool3d(kernel, stride, padding), T.MaxUnpool3d(kernel, stride, padding)
        assert repr(unpool) == repr(tunpool)
        yt = torch.tensor(y, requires_grad=True)
        zt = tunpool(yt, torch.tensor(idx), output_size=size)
        z = unpool(y, idx, size)
        np.testing.assert_array_equal(z, zt.detach().numpy())
        g = rng.normal(size=z.shape)
        zt.backward(torch.tensor(g))
        np.testing.assert_array_equal(unpool.backward(g), yt.grad.numpy())
    assert minimlp.gradcheck((lambda v: unpool(v, idx, size), unpool.backward), y)
    for shape in ((0, 2, 4, 4, 4), (2, 4, 4, 4)):                 # an empty batch, and float32 kept
        y, idx = nn.MaxPool3d(2, return_indices=True)(rng.normal(size=shape).astype(np.float32))
        z = nn.MaxUnpool3d(2)(y, idx)
        assert z.shape == tuple(T.MaxUnpool3d(2)(torch.tensor(y), torch.tensor(idx)).shape)
        assert z.dtype == np.float32 and z.shape == shape


def test_avg_pool3d_takes_every_option_as_torch():
    """Every combination of padding, ceil_mode, count_include_pad and divisor_override, on sizes where the last
    ceil_mode window is cut by the input, by the padding, or dropped."""
    rng = np.random.default_rng(7)
    for padding in (0, 1, (1, 0, 1)):
        for ceil_mode in (False, True):
            for include in (False, True):
                for divisor in (None, 1, 5):
                    args = dict(kernel_size=(3, 2, 3), stride=(2, 2, 1), padding=padding, ceil_mode=ceil_mode,
                                count_include_pad=include, divisor_override=divisor)
                    ours, theirs = nn.AvgPool3d(**args), T.AvgPool3d(**args)
                    assert repr(ours) == repr(theirs)
                    x = rng.normal(size=(2, 2, 6, 5, 7))
                    xt = torch.tensor(x, requires_grad=True)
                    yt = theirs(xt)
                    g = rng.normal(size=tuple(yt.shape))
                    yt.backward(torch.tensor(g))
                    np.testing.assert_allclose(ours(x), yt.detach().numpy(), rtol=1e-13, atol=1e-14)
                    np.testing.assert_allclose(ours.backward(g), xt.grad.numpy(), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("name", list(CASES))
def test_float32_stays_float32_and_an_empty_batch_works(name):
    factory, shape = CASES[name]
    full = shape(3)
    if len(full) == 4 and not name.startswith("ConstantPad3d"):
        full = (1,) + full
    x = np.random.default_rng(0).normal(size=full).astype(np.float32)
    ours, theirs = factory(nn), factory(T)
    y = ours(x)
    g = np.ones_like(y)
    assert y.dtype == np.float32 and ours.backward(g).dtype == np.float32
    np.testing.assert_allclose(y, theirs(torch.tensor(x)).numpy(), rtol=1e-6, atol=1e-6)
    if name.startswith("ConstantPad3d") and len(full) != 5:
        return
    empty = np.zeros((0,) + full[1:], dtype=np.float32)
    y0 = ours(empty)
    assert y0.shape == tuple(theirs(torch.tensor(empty)).shape)
    assert ours.backward(np.zeros_like(y0)).shape == empty.shape


INF = float("inf")


@pytest.mark.parametrize("p", [1, 2, 3, 1.5, 0.5, -1, INF, -INF])
@pytest.mark.parametrize("kernel,stride,ceil_mode,shape", [
    (2, None, False, (2, 2, 4, 4, 5)), ((2, 3, 2), (1, 2, 2), True, (2, 2, 5, 5, 3)), (3, 2, True, (2, 5, 6, 7))])
def test_lppool3d_matches_torch_for_every_p_with_zeros_and_negative_sums(kernel, stride, ceil_mode, shape, p):
    """Mixed signs (an odd or fractional p gives NaN where torch's does), a window of zeros (gradient 0, as torch
    documents) and a zero inside another window (∞ or NaN for p < 1, as torch)."""
    x = np.random.default_rng(4).normal(size=shape)
    x[..., :2, :2, :2] = 0
    x[..., -1, -1, 1] = 0
    ours, theirs = nn.LPPool3d(p, kernel, stride, ceil_mode), T.LPPool3d(p, kernel, stride, ceil_mode)
    assert repr(ours) == repr(theirs)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    g = np.random.default_rng(5).normal(size=tuple(yt.shape))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(ours(x), yt.detach().numpy(), rtol=1e-12, atol=0, equal_nan=True)
    np.testing.assert_allclose(ours.backward(g), xt.grad.numpy(), rtol=1e-12, atol=1e-300, equal_nan=True)


def test_reprs_and_attributes_are_torchs():
    for make in (lambda m: m.ZeroPad3d(2), lambda m: m.ZeroPad3d((1, 2, 3, 4, 5, 6)), lambda m: m.ConstantPad3d(1, 3.5),
                 lambda m: m.ReflectionPad3d([1, 0, 2, 1, 0, 1]), lambda m: m.ReplicationPad3d(3),
                 lambda m: m.CircularPad3d(1), lambda m: m.MaxPool3d(2), lambda m: m.MaxPool3d((2, 3, 1), 1, 0, 2),
                 lambda m: m.MaxPool3d(3, padding=1, ceil_mode=True, return_indices=True),
                 lambda m: m.AvgPool3d(2), lambda m: m.AvgPool3d((1, 2, 3), (1, 1, 2), 0, True, False, 2),
                 lambda m: m.AdaptiveAvgPool3d((2, None, 3)), lambda m: m.AdaptiveAvgPool3d(4),
                 lambda m: m.AdaptiveMaxPool3d(2), lambda m: m.AdaptiveMaxPool3d((1, 2, None), True),
                 lambda m: m.MaxUnpool3d(2), lambda m: m.MaxUnpool3d((1, 2, 3), 2, 1), lambda m: m.LPPool3d(2, 3),
                 lambda m: m.LPPool3d(1.5, (1, 2, 3), 2, True)):
        ours, theirs = make(nn), make(T)
        assert repr(ours) == repr(theirs)
        for attribute in ("padding", "kernel_size", "stride", "dilation", "ceil_mode", "return_indices",
                          "count_include_pad", "divisor_override", "output_size", "value", "norm_type"):
            assert getattr(ours, attribute, None) == getattr(theirs, attribute, None), (repr(theirs), attribute)


@pytest.mark.parametrize("call,error,words", [
    (lambda: nn.ReflectionPad3d(3)(np.zeros((1, 2, 3, 3, 3))), RuntimeError,
     "Padding size should be less than the corresponding input dimension, but got: padding (3, 3) at dimension 4"),
    (lambda: nn.CircularPad3d(4)(np.zeros((1, 2, 3, 3, 3))), RuntimeError, "wrapping around more than once"),
    (lambda: nn.ReplicationPad3d(1)(np.zeros((2, 3, 4))), NotImplementedError, "Padding size 6 is not supported"),
    (lambda: nn.ReflectionPad3d(1)(np.zeros((1, 1, 2, 3, 4, 4))), NotImplementedError, "for 6D input"),
    (lambda: nn.ConstantPad3d(1, 0.0)(np.zeros((2, 3))), NotImplementedError, "for 2D input"),
    (lambda: nn.ZeroPad3d(-2)(np.zeros((1, 1, 3, 3, 3))), RuntimeError, "empty output"),
    (lambda: nn.ZeroPad3d((1, 2, 3)), ValueError, "6-tuple"),
    (lambda: nn.ZeroPad3d(1.5), TypeError, "padding"),
    (lambda: nn.ZeroPad3d(1)(np.zeros((2, 3, 4), dtype=np.int64)), TypeError, "floating"),
    (lambda: nn.MaxPool3d(2, padding=2)(np.zeros((1, 1, 4, 4, 4))), RuntimeError, "pad should be at most half"),
    (lambda: nn.AvgPool3d(2, padding=2), RuntimeError, "pad should be at most half"),
    (lambda: nn.MaxPool3d(3)(np.zeros((1, 1, 2, 4, 4))), RuntimeError, "Output size is too small"),
    (lambda: nn.AvgPool3d(3)(np.zeros((1, 2, 4, 4))), RuntimeError, "Output size is too small"),
    (lambda: nn.MaxPool3d(2)(np.zeros((1, 4, 4))), RuntimeError, "non-empty 4D or 5D (batch mode) tensor expected"),
    (lambda: nn.AvgPool3d(2)(np.zeros((1, 0, 4, 4, 4))), RuntimeError, "non-empty 4D or 5D"),
    (lambda: nn.AdaptiveMaxPool3d(2)(np.zeros((4, 4))), RuntimeError, "4D or 5D"),
    (lambda: nn.AdaptiveAvgPool3d((1, 2)), ValueError, "output_size"),
    (lambda: nn.MaxPool3d(0), RuntimeError, "must be positive"),
    (lambda: nn.MaxPool3d((2, 2)), ValueError, "3-tuple"),
    (lambda: nn.AvgPool3d(2, divisor_override=0), RuntimeError, "divisor must be not zero"),
    (lambda: nn.MaxPool3d(2)(np.zeros((1, 2, 2, 2, 2), dtype=np.int32)), TypeError, "floating"),
    (lambda: nn.LPPool3d(0, 2)(np.ones((1, 1, 2, 2, 2))), ZeroDivisionError, "norm_type 0"),
    (lambda: nn.LPPool3d(2, 3)(np.ones((1, 2, 2, 3, 3))), RuntimeError, "Output size is too small"),
    (lambda: nn.LPPool3d(2, 2)(np.ones((2, 2, 2))), RuntimeError, "4D or 5D"),
    (lambda: nn.MaxUnpool3d(2)(np.zeros((1, 1, 2, 2, 2)), np.full((1, 1, 2, 2, 2), 64)), RuntimeError,
     "invalid max index"),
    (lambda: nn.MaxUnpool3d(2)(np.zeros((1, 1, 2, 2, 2)), np.zeros((1, 1, 2, 2, 2))), ValueError, "integer indices"),
    (lambda: nn.MaxUnpool3d(2)(np.zeros((1, 1, 2, 2, 2)), np.zeros((1, 1, 2, 2, 2), np.int64), (9, 4, 4)),
     ValueError, "invalid output_size"),
])
def test_bad_input_is_a_one_line_error(call, error, words):
    with pytest.raises(error, match=re.escape(words)) as info:
        call()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("make", [lambda: nn.ZeroPad3d(1), lambda: nn.MaxPool3d(2), lambda: nn.AvgPool3d(2),
                                  lambda: nn.AdaptiveMaxPool3d(2)])
def test_backward_checks_the_gradient(make):
    module = make()
    with pytest.raises(RuntimeError, match="before forward"):
        module.backward(np.zeros((1, 1, 2, 2, 2)))
    module(np.zeros((1, 1, 4, 4, 4)))
    with pytest.raises(ValueError, match="shape"):
        module.backward(np.zeros((1, 1, 3, 3, 3)))
