"""Hardshrink, Softshrink, RReLU, the 1-d padding layers, adaptive max pooling, BatchNorm3d, LocalResponseNorm,
ChannelShuffle, the Upsampling layers, Dropout3d, the alpha dropouts, Unfold, Fold and ConvTranspose1d against torch
in float64.

``compare`` (tests/test_conv_vs_torch.py) checks the forward and the input gradient for a random upstream
gradient at batch sizes 1, 2, 7 and 16, training and evaluation; then finite differences, RReLU's random slopes
by their statistics, the corners and the one-line errors.
"""
import re

import numpy as np
import pytest
import torch
from test_conv_vs_torch import compare
from torch_reference import assert_state_dict_round_trips

import minimlp
from minimlp import nn

T = torch.nn
BATCHES = [1, 2, 7, 16]

# name -> (factory of the module from nn or torch.nn, input shape for a batch size)
CASES = {
    "Hardshrink": (lambda m: m.Hardshrink(), lambda b: (b, 17)),
    "Hardshrink-lambd": (lambda m: m.Hardshrink(1.2), lambda b: (b, 3, 6)),
    "Softshrink": (lambda m: m.Softshrink(), lambda b: (b, 2, 9)),
    "Softshrink-zero": (lambda m: m.Softshrink(0.0), lambda b: (b, 11)),
    "Softshrink-lambd-unbatched": (lambda m: m.Softshrink(0.8), lambda b: (b + 3,)),
    "RReLU-fixed-slope": (lambda m: m.RReLU(0.2, 0.2), lambda b: (b, 3, 5)),
    "RReLU-eval": (lambda m: m.RReLU(0.1, 0.3), lambda b: (b, 13)),
    "ZeroPad1d": (lambda m: m.ZeroPad1d(2), lambda b: (b, 3, 5)),
    "ZeroPad1d-crop-unbatched": (lambda m: m.ZeroPad1d((-1, 3)), lambda b: (3, b + 2)),
    "ConstantPad1d": (lambda m: m.ConstantPad1d((1, 3), 2.5), lambda b: (b, 2, 4)),
    "ConstantPad1d-4d": (lambda m: m.ConstantPad1d(2, -1.0), lambda b: (b, 2, 3, 5)),
    "ConstantPad1d-1d": (lambda m: m.ConstantPad1d((0, 2), 0.5), lambda b: (b + 1,)),
    "ReflectionPad1d": (lambda m: m.ReflectionPad1d((3, 1)), lambda b: (b, 2, 5)),
    "ReflectionPad1d-unbatched": (lambda m: m.ReflectionPad1d(2), lambda b: (2, b + 3)),
    "ReplicationPad1d": (lambda m: m.ReplicationPad1d(4), lambda b: (b, 3, 3)),
    "CircularPad1d": (lambda m: m.CircularPad1d((5, 2)), lambda b: (b, 2, 5)),
    "CircularPad1d-crop-then-wrap": (lambda m: m.CircularPad1d((2, -1)), lambda b: (b, 2, 6)),
    "AdaptiveMaxPool2d": (lambda m: m.AdaptiveMaxPool2d((3, 4)), lambda b: (b, 3, 7, 9)),
    "AdaptiveMaxPool2d-global": (lambda m: m.AdaptiveMaxPool2d(1), lambda b: (b, 4, 8, 8)),
    "AdaptiveMaxPool2d-up-keep-unbatched": (lambda m: m.AdaptiveMaxPool2d((None, 7)), lambda b: (2, b + 1, 3)),
    "AdaptiveMaxPool1d": (lambda m: m.AdaptiveMaxPool1d(4), lambda b: (b, 2, 11)),
    "AdaptiveMaxPool1d-unbatched": (lambda m: m.AdaptiveMaxPool1d(3), lambda b: (3, b + 5)),
    "BatchNorm3d": (lambda m: m.BatchNorm3d(3), lambda b: (b, 3, 2, 3, 4)),
    "BatchNorm3d-momentum-noaffine": (lambda m: m.BatchNorm3d(2, momentum=0.3, affine=False),
                                      lambda b: (b, 2, 3, 2, 2)),
    "BatchNorm3d-untracked": (lambda m: m.BatchNorm3d(4, track_running_stats=False), lambda b: (b, 4, 2, 2, 3)),
    "LocalResponseNorm": (lambda m: m.LocalResponseNorm(3), lambda b: (b, 7, 4, 5)),
    "LocalResponseNorm-even-strong": (lambda m: m.LocalResponseNorm(4, alpha=0.5, beta=0.6, k=2.0),
                                      lambda b: (b, 6, 5)),
    "LocalResponseNorm-wide-5d": (lambda m: m.LocalResponseNorm(9, alpha=0.3), lambda b: (b, 5, 2, 2, 3)),
    "ChannelShuffle": (lambda m: m.ChannelShuffle(3), lambda b: (b, 6, 3, 2)),
    "ChannelShuffle-1d": (lambda m: m.ChannelShuffle(2), lambda b: (b, 8, 3)),
    "UpsamplingNearest2d": (lambda m: m.UpsamplingNearest2d(scale_factor=2), lambda b: (b, 3, 4, 5)),
    "UpsamplingNearest2d-size": (lambda m: m.UpsamplingNearest2d(size=(7, 3)), lambda b: (b, 2, 4, 5)),
    "UpsamplingBilinear2d": (lambda m: m.UpsamplingBilinear2d(scale_factor=3), lambda b: (b, 2, 4, 5)),
    "UpsamplingBilinear2d-size": (lambda m: m.UpsamplingBilinear2d(size=(7, 9)), lambda b: (b, 3, 4, 5)),
    "Dropout3d-eval": (lambda m: m.Dropout3d(0.4), lambda b: (b, 3, 2, 2, 2)),
    "AlphaDropout-eval": (lambda m: m.AlphaDropout(0.3), lambda b: (b, 9)),
    "AlphaDropout-p0": (lambda m: m.AlphaDropout(0.0), lambda b: (b, 9)),
    "FeatureAlphaDropout-eval": (lambda m: m.FeatureAlphaDropout(0.3), lambda b: (b, 4, 3)),
    "Unfold": (lambda m: m.Unfold(3), lambda b: (b, 3, 5, 6)),
    "Unfold-dilated-padded-strided": (lambda m: m.Unfold((2, 3), dilation=2, padding=1, stride=(2, 1)),
                                      lambda b: (b, 3, 7, 6)),
    "Unfold-unbatched": (lambda m: m.Unfold(2, stride=2), lambda b: (3, b + 3, 6)),
    "Fold": (lambda m: m.Fold((4, 5), (2, 3)), lambda b: (b, 12, 9)),
    "Fold-overlapping-padded": (lambda m: m.Fold(7, 3, dilation=2, padding=2, stride=2), lambda b: (b, 18, 16)),
    "Fold-unbatched": (lambda m: m.Fold(6, 2, stride=2), lambda b: (8, 9)),
    "ConvTranspose1d": (lambda m: m.ConvTranspose1d(2, 3, 3), lambda b: (b, 2, 5)),
    "ConvTranspose1d-strided-grouped-dilated": (
        lambda m: m.ConvTranspose1d(2, 4, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=2),
        lambda b: (b, 2, 6)),
    "ConvTranspose1d-unbatched-nobias": (lambda m: m.ConvTranspose1d(3, 2, 2, stride=3, bias=False),
                                         lambda b: (3, b + 2)),
}

RANDOM_IN_TRAINING = {"RReLU-eval", "Dropout3d-eval", "AlphaDropout-eval", "FeatureAlphaDropout-eval"}
PARAMS = [pytest.param(name, batch, mode, id=f"{name}-{batch}-{mode}") for name in CASES for batch in BATCHES
          for mode in ("train", "eval") if not (mode == "train" and name in RANDOM_IN_TRAINING)]


@pytest.mark.parametrize("name,batch,mode", PARAMS)
def test_module_matches_torch(name, batch, mode, device):
    factory, shape = CASES[name]
    compare(factory(nn), factory(T), shape(batch), mode, device, f"{name} batch={batch} {mode}", seed=batch)


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name):
    factory, shape = CASES[name]
    x = np.random.default_rng(2).normal(0, 1.5, shape(3))
    module = factory(nn)
    assert minimlp.gradcheck(module.eval() if name in RANDOM_IN_TRAINING else module, x)


@pytest.mark.parametrize("make", [lambda m: m.Hardshrink(0.5), lambda m: m.Softshrink(0.5),
                                  lambda m: m.RReLU(0.1, 0.3).eval(), lambda m: m.RReLU(0.25, 0.25)])
def test_shrinks_and_rrelu_at_their_corners_match_torch(make):
    """x exactly at ±λ and at 0 (where torch's sides are chosen), far out, and a 0-d input."""
    x = np.array([-1e300, -3.0, -0.5, -0.2, -0.0, 0.0, 0.2, 0.5, 0.7, 3.0, 1e300])
    ours, theirs = make(nn).to(dtype=np.float64), make(T).double()
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    g = np.linspace(-1, 1, x.size)
    yt.backward(torch.tensor(g))
    np.testing.assert_array_equal(ours(x), yt.detach().numpy())
    np.testing.assert_array_equal(ours.backward(g), xt.grad.numpy())
    scalar = ours(np.array(-0.9))
    assert scalar.shape == () and ours.backward(np.array(2.0)).shape == ()
    np.testing.assert_array_equal(np.isnan(ours(np.array([np.nan, 1.0]))), [True, False])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rrelu_draws_each_negative_slope_uniformly_and_backward_uses_the_same_slope(dtype):
    minimlp.manual_seed(3)
    m = nn.RReLU(0.1, 0.4)
    x = np.random.default_rng(0).normal(size=(64, 300)).astype(dtype)
    y = m(x)
    assert y.dtype == dtype
    slopes = (y / x)[x < 0]
    assert slopes.min() >= 0.1 - 1e-6 and slopes.max() <= 0.4 + 1e-6
    assert abs(slopes.mean() - 0.25) < 0.005 and abs(slopes.std() - 0.3 / np.sqrt(12)) < 0.005
    np.testing.assert_array_equal(y[x > 0], x[x > 0])
    g = np.random.default_rng(1).normal(size=x.shape).astype(dtype)
    dx = m.backward(g)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx[x < 0], (g * y / x)[x < 0], rtol=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_array_equal(dx[x > 0], g[x > 0])
    minimlp.manual_seed(3)
    np.testing.assert_array_equal(nn.RReLU(0.1, 0.4)(x), y)        # seeded: the same slopes again
    assert not np.array_equal(m(x), y)                               # a new forward draws new slopes


def test_reprs_and_attributes_are_torchs():
    for make in (lambda m: m.Hardshrink(), lambda m: m.Softshrink(1), lambda m: m.RReLU(),
                 lambda m: m.RReLU(0.2, 0.3), lambda m: m.ZeroPad1d(2), lambda m: m.ConstantPad1d((1, 2), 3.5),
                 lambda m: m.ReflectionPad1d([1, 0]), lambda m: m.ReplicationPad1d(3), lambda m: m.CircularPad1d(1),
                 lambda m: m.LocalResponseNorm(3), lambda m: m.ChannelShuffle(2), lambda m: m.Dropout3d(0.1),
                 lambda m: m.AlphaDropout(), lambda m: m.FeatureAlphaDropout(0.2), lambda m: m.BatchNorm3d(4),
                 lambda m: m.UpsamplingNearest2d(size=3), lambda m: m.UpsamplingBilinear2d(scale_factor=2),
                 lambda m: m.AdaptiveMaxPool2d((2, None)), lambda m: m.AdaptiveMaxPool1d(5),
                 lambda m: m.Unfold((2, 3), padding=1), lambda m: m.Fold(5, 2, stride=(1, 2)),
                 lambda m: m.ConvTranspose1d(2, 4, 3, stride=2, groups=2, bias=False)):
        ours, theirs = make(nn), make(T)
        assert repr(ours) == repr(theirs)
        assert getattr(ours, "padding", None) == getattr(theirs, "padding", None)
    assert nn.RReLU().inplace is False and nn.RReLU().lower == 0.125


@pytest.mark.parametrize("call,error,words", [
    (lambda: nn.Softshrink(-1.0)(np.zeros(3)), RuntimeError, "lambda must be in range"),
    (lambda: nn.Softshrink()(np.zeros(3, dtype=np.int64)), TypeError, "expected a floating-point input"),
    (lambda: nn.ReflectionPad1d(3)(np.zeros((1, 2, 3))), RuntimeError, "Padding size should be less"),
    (lambda: nn.CircularPad1d(4)(np.zeros((1, 2, 3))), RuntimeError, "wrapping around more than once"),
    (lambda: nn.ReplicationPad1d(1)(np.zeros(3)), NotImplementedError, "2D (C, L) or 3D (N, C, L)"),
    (lambda: nn.ReflectionPad1d(1)(np.zeros((1, 2, 3, 4))), NotImplementedError, "2D (C, L) or 3D (N, C, L)"),
    (lambda: nn.ZeroPad1d((1, 2, 3)), ValueError, "2-tuple"),
    (lambda: nn.ZeroPad1d(1.5), TypeError, "padding"),
    (lambda: nn.ZeroPad1d(1)(np.zeros((2, 3), dtype=np.int64)), TypeError, "floating"),
    (lambda: nn.RReLU(inplace=True), ValueError, "inplace"),
    (lambda: nn.AdaptiveMaxPool2d((1, 2, 3)), ValueError, "output_size"),
    (lambda: nn.AdaptiveMaxPool2d(2)(np.zeros((2, 3))), RuntimeError, "3-D"),
    (lambda: nn.AdaptiveMaxPool1d(2)(np.zeros((1, 2, 3, 4))), RuntimeError, "Expected 2D or 3D"),
    (lambda: nn.AdaptiveMaxPool2d(2)(np.zeros((1, 2, 0, 4))), RuntimeError, "non-empty"),
    (lambda: nn.BatchNorm3d(2)(np.zeros((2, 2, 3, 4))), ValueError, "expected 5D input"),
    (lambda: nn.BatchNorm3d(2)(np.zeros((2, 3, 3, 4, 1))), RuntimeError, "expected 5D input (N, 2"),
    (lambda: nn.LocalResponseNorm(2)(np.zeros((2, 3))), ValueError, "Expected 3D or higher"),
    (lambda: nn.LocalResponseNorm(0)(np.zeros((2, 3, 4))), RuntimeError, "kernel size should be greater than zero"),
    (lambda: nn.LocalResponseNorm(-1)(np.zeros((2, 3, 4))), RuntimeError, "kernel size should be greater than zero"),
    (lambda: nn.RReLU(0.5, 0.1)(np.zeros(3)), RuntimeError, "Lower bound should be less than or equal to the upper"),
    (lambda: nn.RReLU(0.5, 0.1).eval()(np.zeros(3)), RuntimeError, "Lower bound should be less than or equal to"),
    (lambda: nn.ChannelShuffle(2)(np.zeros((2, 5, 4))), RuntimeError, "divisible by groups"),
    (lambda: nn.ChannelShuffle(2)(np.zeros((1, 6))), RuntimeError, "> 2 dims"),
    (lambda: nn.ChannelShuffle(0)(np.zeros((1, 6, 2))), RuntimeError, "must be positive"),
    (lambda: nn.Dropout3d()(np.zeros((2, 3, 4))), ValueError, "4-D"),
    (lambda: nn.FeatureAlphaDropout()(np.zeros(3)), RuntimeError, "at least 2 dimensions"),
    (lambda: nn.UpsamplingNearest2d(), ValueError, "exactly one of size and scale_factor"),
    (lambda: nn.Unfold(2)(np.zeros((2, 3))), RuntimeError, "3-D (C, H, W) or 4-D"),
    (lambda: nn.Unfold(5)(np.zeros((1, 2, 3, 3))), RuntimeError, "must be at least one"),
    (lambda: nn.Unfold(2, stride=0)(np.zeros((1, 2, 3, 3))), RuntimeError, "stride should be at least 1"),
    (lambda: nn.Fold((4, 5), 2)(np.zeros((1, 5, 12))), RuntimeError, "divisible by the product of kernel_size"),
    (lambda: nn.Fold((4, 5), 2)(np.zeros((1, 4, 11))), RuntimeError, "sliding blocks 3 * 4 = 12"),
    (lambda: nn.Fold((4, 5), 2)(np.zeros(4)), RuntimeError, "Expected 2D or 3D"),
    (lambda: nn.ConvTranspose1d(2, 3, 3)(np.zeros((1, 2, 3, 4), np.float32)), RuntimeError, "Expected 2D (unbatched)"),
    (lambda: nn.ConvTranspose1d(2, 3, 3, stride=2)(np.zeros((1, 2, 3), np.float32), [9]), ValueError,
     "valid sizes range from [7] to [8]"),
])
def test_bad_input_is_a_one_line_error(call, error, words):
    with pytest.raises(error, match=re.escape(words)) as info:
        call()
    assert "\n" not in str(info.value)


def test_a_gradient_of_the_wrong_shape_is_refused_by_a_1d_pad():
    pad = nn.ZeroPad1d(1)
    pad(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="shape"):
        pad.backward(np.zeros((3, 2, 6)))


@pytest.mark.parametrize("make,shape", [(lambda m: m.AdaptiveMaxPool2d((3, 4), return_indices=True), (2, 3, 7, 9)),
                                        (lambda m: m.AdaptiveMaxPool2d((5, 2), True), (3, 4, 6)),
                                        (lambda m: m.AdaptiveMaxPool1d(4, return_indices=True), (2, 3, 9))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adaptive_max_pool_ties_nans_and_indices_are_torchs(make, shape, dtype):
    """Integer-valued inputs tie often; a NaN in a bin is its maximum (its last NaN takes the gradient)."""
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, shape).astype(dtype)
    x.flat[rng.choice(x.size, 4, replace=False)] = np.nan
    ours, theirs = make(nn), make(T)
    y, indices = ours(x)
    xt = torch.tensor(x, requires_grad=True)
    yt, it = theirs(xt)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(indices, it.numpy())
    assert y.dtype == dtype and indices.dtype == np.int64
    g = rng.normal(size=y.shape).astype(dtype)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.backward(g), xt.grad.numpy(), rtol=1e-6)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("name", [n for n in CASES if n.startswith("BatchNorm3d")])
def test_batch_norm_3d_state_dict_has_torchs_keys_and_round_trips(name):
    assert_state_dict_round_trips(CASES[name][0])


@pytest.mark.parametrize("make,shape,per_channel", [(lambda m: m.AlphaDropout(0.2), (4000, 25), False),
                                                     (lambda m: m.FeatureAlphaDropout(0.3), (400, 50, 5), True)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_alpha_dropout_keeps_zero_mean_unit_variance_with_torchs_two_values(make, shape, per_channel, dtype):
    """On zeros, torch's output takes exactly two values (kept: α′·a·p; dropped: α′·a·(p − 1)); ours the same
    two, in the right proportion, one per channel for the feature variant; a standard input keeps mean 0 and
    variance 1; backward scales G by what forward multiplied x by."""
    minimlp.manual_seed(0)
    ours, theirs = make(nn), make(T)
    zeros = np.zeros(shape, dtype=dtype)
    values = np.unique(ours(zeros))
    np.testing.assert_allclose(values, np.unique(theirs(torch.tensor(zeros)).numpy()), rtol=1e-6)
    assert len(values) == 2
    dropped = (ours(zeros) == values[0])
    assert abs(dropped.mean() - ours.p) < 0.02
    if per_channel:   # one draw per sample and channel: constant along the rest, not shared by a sample's channels
        assert (dropped == dropped[:, :, :1]).all()
        assert not (dropped == dropped[:, :1]).all()
    x = np.random.default_rng(1).normal(size=shape).astype(dtype)
    y = ours(x)
    assert y.dtype == dtype and abs(float(y.mean())) < 0.02 and abs(float(y.std()) - 1) < 0.02
    g = np.random.default_rng(2).normal(size=shape).astype(dtype)
    scale = ours.backward(g) / g
    np.testing.assert_allclose(y, x * scale + (y - x * scale), rtol=1e-6)
    kept = scale != 0
    np.testing.assert_allclose((y - x * scale)[kept], values[1], rtol=1e-5)
    np.testing.assert_allclose(y[~kept], values[0], rtol=1e-5)


def test_dropout_3d_drops_whole_channels_of_a_volume_or_one_sample():
    minimlp.manual_seed(4)
    layer = nn.Dropout3d(0.5)
    for shape in ((6, 8, 2, 3, 2), (8, 2, 3, 2)):
        y = layer(np.ones(shape))
        lead = len(shape) - 3
        flat = y.reshape(shape[:lead] + (-1,))
        assert set(np.unique(flat)) <= {0.0, 2.0} and (flat == flat[..., :1]).all()
        np.testing.assert_array_equal(layer.backward(np.ones(shape)), y)


def test_fold_of_unfold_counts_how_many_blocks_hold_each_pixel():
    """Fold is Unfold's adjoint: folding the unfolded ones gives each pixel's number of blocks (torch's example)."""
    ones = np.ones((1, 2, 5, 6))
    cols = nn.Unfold(3, padding=1, stride=2)(ones)
    counts = nn.Fold((5, 6), 3, padding=1, stride=2)(cols)
    expected = T.Fold((5, 6), 3, padding=1, stride=2)(T.Unfold(3, padding=1, stride=2)(torch.ones(1, 2, 5, 6)))
    np.testing.assert_array_equal(counts, expected.numpy())
    assert counts.max() == 4 and counts.min() == 1


@pytest.mark.parametrize("output_size", [[7], [8], (2, 3, 8)])
def test_conv_transpose_1d_output_size_picks_the_length_as_torch(output_size):
    theirs = T.ConvTranspose1d(2, 3, 3, stride=2).double()
    ours = nn.ConvTranspose1d(2, 3, 3, stride=2).to(dtype=np.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).normal(size=(2, 2, 3))
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt, output_size=list(output_size))
    y = ours(x, output_size)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    g = np.random.default_rng(1).normal(size=y.shape)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.backward(g), xt.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("args,shape1,shape2", [((3, 4, 5), (7, 3), (7, 4)), ((2, 3, 4, False), (2, 6, 2), (2, 6, 3)),
                                                ((3, 2, 1), (3,), (2,)), ((16, 8, 12), (1, 16), (1, 8))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bilinear_matches_torch(args, shape1, shape2, dtype):
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    theirs = T.Bilinear(*args).to(tdtype)
    ours = nn.Bilinear(*args, dtype=dtype)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=shape1).astype(dtype), rng.normal(size=shape2).astype(dtype)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    yt = theirs(ta, tb)
    y = ours(a, b)
    g = rng.normal(size=y.shape).astype(dtype)
    yt.backward(torch.tensor(g))
    da, db = ours.backward(g)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for mine, ref in ((y, yt), (da, ta.grad), (db, tb.grad), (ours.weight.grad, theirs.weight.grad)) + (
            () if theirs.bias is None else ((ours.bias.grad, theirs.bias.grad),)):
        assert mine.dtype == dtype
        np.testing.assert_allclose(mine, ref.detach().numpy(), rtol=tol, atol=tol)
    assert repr(ours) == repr(theirs)


def test_bilinear_gradcheck_init_and_errors():
    assert minimlp.gradcheck(nn.Bilinear(3, 4, 2), (np.random.default_rng(0).normal(size=(5, 3)),
                                                      np.random.default_rng(1).normal(size=(5, 4))))
    layer = nn.Bilinear(9, 2, 3)
    assert np.abs(layer.weight.data).max() <= 1 / 3 and layer.weight.shape == (3, 9, 2)
    for call, words in ((lambda: layer(np.zeros((2, 9), np.float32), np.zeros((3, 2), np.float32)),
                         "batch dimensions do not match"),
                        (lambda: layer(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32)),
                         "input1 size does not match weight size: got 2 but expected 9"),
                        (lambda: nn.Bilinear(0, 2, 3), "in1_features must be > 0")):
        with pytest.raises(ValueError, match=re.escape(words)):
            call()


@pytest.mark.parametrize("make,shape", [(lambda m: m.AdaptiveMaxPool2d(2), (0, 3, 4, 4)),
                                        (lambda m: m.AdaptiveMaxPool1d(3), (0, 2, 5)),
                                        (lambda m: m.LocalResponseNorm(2), (0, 3, 4)),
                                        (lambda m: m.ChannelShuffle(2), (0, 4, 3)),
                                        (lambda m: m.Unfold(2), (0, 2, 3, 3)),
                                        (lambda m: m.ZeroPad1d(2), (0, 3, 5)),
                                        (lambda m: m.ConstantPad1d((1, 2), 0.5), (4, 0, 5)),
                                        (lambda m: m.ReflectionPad1d((2, 1)), (0, 3, 5)),
                                        (lambda m: m.ReplicationPad1d(2), (0, 3, 5)),
                                        (lambda m: m.CircularPad1d(1), (0, 3, 5))])
def test_an_empty_batch_gives_an_empty_output_and_gradient_as_torch(make, shape):
    layer = make(nn)
    y = layer(np.zeros(shape))
    assert y.shape == tuple(make(T)(torch.zeros(shape)).shape)
    assert layer.backward(np.zeros(y.shape)).shape == shape


@pytest.mark.parametrize("kernel,stride,padding,output_size,shape", [
    (2, None, 0, None, (2, 3, 9)), (3, 2, 1, None, (2, 3, 9)), (2, 2, 0, [9], (2, 3, 9)), (3, 1, 0, None, (3, 7)),
    (2, 2, 0, (2, 3, 9), (2, 3, 8))])
def test_max_unpool_1d_inverts_max_pool_1d_as_torch(kernel, stride, padding, output_size, shape):
    pooled, indices = T.MaxPool1d(kernel, stride, padding, return_indices=True)(
        torch.tensor(np.random.default_rng(0).normal(size=shape)))
    theirs, ours = T.MaxUnpool1d(kernel, stride, padding), nn.MaxUnpool1d(kernel, stride, padding)
    xt = pooled.detach().clone().requires_grad_(True)
    yt = theirs(xt, indices, output_size=output_size)
    y = ours(pooled.numpy(), indices.numpy(), output_size)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    g = np.random.default_rng(1).normal(size=y.shape)
    yt.backward(torch.tensor(g))
    np.testing.assert_array_equal(ours.backward(g), xt.grad.numpy())
    assert repr(ours) == repr(theirs)
    with pytest.raises(ValueError, match="invalid output_size"):
        ours(pooled.numpy(), indices.numpy(), [y.shape[-1] + 5])


@pytest.mark.parametrize("make,shape", [(lambda m: m.ZeroPad2d(2), (1, 2, 3, 0)), (lambda m: m.ZeroPad1d(2), (6, 0)),
                                        (lambda m: m.ConstantPad2d(1, 3.0), (1, 2, 0, 0)),
                                        (lambda m: m.ConstantPad1d((1, 2), 3.0), (2, 3, 0))])
def test_a_constant_pad_of_an_empty_axis_is_all_padding_as_torch(make, shape):
    layer = make(nn)
    y = layer(np.zeros(shape, np.float32))
    np.testing.assert_array_equal(y, make(T)(torch.zeros(shape)).numpy())
    assert layer.backward(np.ones(y.shape, np.float32)).shape == shape


@pytest.mark.parametrize("make,shape", [(lambda m: m.ReplicationPad1d(1), (2, 3, 0)),
                                        (lambda m: m.ReflectionPad2d(1), (1, 2, 0, 3)),
                                        (lambda m: m.CircularPad2d(1), (1, 2, 3, 0))])
def test_the_other_pads_refuse_an_empty_axis_as_torch(make, shape):
    with pytest.raises(RuntimeError):
        make(T)(torch.zeros(shape))
    with pytest.raises(RuntimeError, match="non-empty|should be less"):
        make(nn)(np.zeros(shape, np.float32))


def test_nll_loss_2d_is_nll_loss_under_its_deprecated_name_as_torchs():
    probabilities = np.random.default_rng(0).dirichlet(np.ones(4), size=(2, 3, 5))
    x = np.ascontiguousarray(np.log(probabilities).transpose(0, 3, 1, 2))
    y = np.random.default_rng(1).integers(0, 4, (2, 3, 5))
    with pytest.warns(FutureWarning, match="NLLLoss2d"):
        ours = nn.NLLLoss2d(ignore_index=2)
    with pytest.warns(FutureWarning):
        theirs = T.NLLLoss2d(ignore_index=2)
    xt = torch.tensor(x, requires_grad=True)
    value = theirs(xt, torch.tensor(y))
    value.backward()
    np.testing.assert_allclose(ours(x, y), value.item(), rtol=1e-12)
    np.testing.assert_allclose(ours.backward(), xt.grad.numpy(), rtol=1e-12)
    assert repr(ours) == repr(theirs) == "NLLLoss2d()"
