"""FractionalMaxPool2d/3d, CrossMapLRN2d and AdaptiveLogSoftmaxWithLoss against torch.

The fractional pools get torch's ``_random_samples`` on both sides, so values, indices and input gradients must be
torch's exactly (float64 and float32: the window starts are computed in the input's dtype); their own draws are
checked for reproducibility. CrossMapLRN2d is torch's legacy function, quirks included (its backward is not the
gradient of its forward: shown here on torch itself). The adaptive softmax is compared in float64 for every
parameter gradient, with random gradients of both the loss and the per-row output.
"""
import re

import numpy as np
import pytest
import torch
from test_conv_vs_torch import compare
from torch_reference import assert_close, assert_state_dict_round_trips

import minimlp
from minimlp import backend, nn

T = torch.nn
TOL = 1e-10
BATCHES = [1, 2, 7, 16]

# name -> (module namespace, samples) -> module; input shape for a batch size (first axis the batch)
POOLS = {
    "2d-square": (lambda m, s: m.FractionalMaxPool2d(3, output_size=4, return_indices=True, _random_samples=s),
                  lambda b: (b, 3, 9, 11)),
    "2d-rect-odd": (lambda m, s: m.FractionalMaxPool2d((2, 3), output_size=(5, 3), return_indices=True,
                                                       _random_samples=s), lambda b: (b, 2, 7, 13)),
    "2d-ratio": (lambda m, s: m.FractionalMaxPool2d(2, output_ratio=(0.5, 0.7), return_indices=True,
                                                    _random_samples=s), lambda b: (b, 4, 10, 9)),
    "2d-stride-one-edge": (lambda m, s: m.FractionalMaxPool2d(2, output_size=(6, 1), return_indices=True,
                                                              _random_samples=s), lambda b: (b, 1, 7, 5)),
    "2d-kernel-1": (lambda m, s: m.FractionalMaxPool2d(1, output_size=(3, 4), return_indices=True,
                                                       _random_samples=s), lambda b: (b, 2, 8, 9)),
    "3d-cube": (lambda m, s: m.FractionalMaxPool3d(2, output_size=3, return_indices=True, _random_samples=s),
                lambda b: (b, 2, 5, 6, 7)),
    "3d-rect-ratio": (lambda m, s: m.FractionalMaxPool3d((1, 2, 3), output_ratio=(0.5, 0.6, 0.4),
                                                         return_indices=True, _random_samples=s),
                      lambda b: (b, 3, 6, 5, 11)),
}
UNBATCHED = {
    "2d-unbatched": (lambda m, s: m.FractionalMaxPool2d((3, 2), output_size=(3, 4), return_indices=True,
                                                        _random_samples=s), (3, 8, 7), 2),
    "3d-unbatched": (lambda m, s: m.FractionalMaxPool3d(2, output_size=(2, 3, 2), return_indices=True,
                                                        _random_samples=s), (2, 4, 6, 5), 3),
}


def _pool_pair(make, samples, dtype):
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    return make(nn, samples.astype(dtype)), make(T, torch.tensor(samples.astype(dtype), dtype=tdtype))


def _run_both(ours, theirs, x, g_seed, device="cpu"):
    """y, indices, ∂L/∂x from both for a random upstream gradient; ours moved to ``device``."""
    ours.to(device=device)
    xt = torch.tensor(x, requires_grad=True)
    yt, it = theirs(xt)
    g = np.random.default_rng(g_seed).normal(size=tuple(yt.shape)).astype(x.dtype)
    yt.backward(torch.tensor(g))
    y, i = ours(backend.to_device(x, device))
    dx = ours.backward(backend.to_device(g, device))
    return (backend.to_numpy(y), backend.to_numpy(i), backend.to_numpy(dx)), (yt.detach().numpy(), it.numpy(),
                                                                           xt.grad.numpy())


@pytest.mark.parametrize("name", list(POOLS))
@pytest.mark.parametrize("batch", BATCHES)
def test_fractional_max_pool_matches_torch_exactly_given_its_samples(name, batch, device):
    make, shape = POOLS[name]
    rng = np.random.default_rng(batch)
    x = rng.normal(size=shape(batch))
    samples = rng.random((batch, x.shape[1], x.ndim - 2))
    ours, theirs = _pool_pair(make, samples, np.float64)
    (y, i, dx), (yt, it, dxt) = _run_both(ours, theirs, x, batch + 1, device)
    np.testing.assert_array_equal(y, yt)
    np.testing.assert_array_equal(i, it)
    assert i.dtype == np.int64
    assert_close(dx, dxt, TOL, f"{name} batch={batch} input gradient")


@pytest.mark.parametrize("name", list(POOLS) + list(UNBATCHED))
def test_fractional_max_pool_keeps_float32_and_rounds_its_starts_as_torch(name):
    """float32 starts: α and (i + u)·α rounded in float32 (u near the values where float64 would step elsewhere)."""
    if name in UNBATCHED:
        make, shape, d = UNBATCHED[name]
        x = np.random.default_rng(4).normal(size=shape).astype(np.float32)
        samples = np.random.default_rng(5).random((1, shape[0], d))
    else:
        make, shape = POOLS[name]
        x = np.random.default_rng(4).normal(size=shape(5)).astype(np.float32)
        samples = np.random.default_rng(5).random((5, x.shape[1], x.ndim - 2))
    samples.flat[::3] = np.float32(1) - np.float32(2.0 ** -24)    # the largest float32 below 1
    samples.flat[1::3] = 1 / 3
    ours, theirs = _pool_pair(make, samples, np.float32)
    (y, i, dx), (yt, it, dxt) = _run_both(ours, theirs, x, 3)
    assert y.dtype == np.float32 and dx.dtype == np.float32
    np.testing.assert_array_equal(y, yt)
    np.testing.assert_array_equal(i, it)
    np.testing.assert_allclose(dx, dxt, rtol=1e-6)


@pytest.mark.parametrize("cls,shape", [("FractionalMaxPool2d", (2, 3, 11, 11)),
                                       ("FractionalMaxPool3d", (1, 2, 11, 11, 11))])
def test_fractional_max_pool_float32_starts_round_where_float64_would_not(cls, shape):
    """n = 11, k = 2, out = 4 (α = 3), u = 1 − 2⁻²³: (2 + u)·α is 9 in float32 (8.99999964 in float64), so torch's
    float32 kernel starts the third window at 7, not 6."""
    x = np.random.default_rng(12).normal(size=shape).astype(np.float32)
    samples = np.full(shape[:2] + (len(shape) - 2,), 1 - 2.0 ** -23)
    make = lambda m, s: getattr(m, cls)(2, output_size=4, return_indices=True, _random_samples=s)  # noqa: E731
    ours, theirs = _pool_pair(make, samples, np.float32)
    (y, i, dx), (yt, it, dxt) = _run_both(ours, theirs, x, 13)
    np.testing.assert_array_equal(i, it)
    np.testing.assert_array_equal(y, yt)
    np.testing.assert_array_equal(dx, dxt)


@pytest.mark.parametrize("name", list(UNBATCHED))
def test_fractional_max_pool_takes_one_sample_as_torch(name):
    make, shape, d = UNBATCHED[name]
    x = np.random.default_rng(6).normal(size=shape)
    samples = np.random.default_rng(7).random((2, shape[0], d))   # torch reads the first row only
    ours, theirs = _pool_pair(make, samples, np.float64)
    (y, i, dx), (yt, it, dxt) = _run_both(ours, theirs, x, 8)
    assert y.shape == yt.shape and dx.shape == shape
    np.testing.assert_array_equal(y, yt)
    np.testing.assert_array_equal(i, it)
    assert_close(dx, dxt, TOL, f"{name} input gradient")


@pytest.mark.parametrize("make,shape", [
    (lambda m, s: m.FractionalMaxPool2d(3, output_size=(4, 5), return_indices=True, _random_samples=s), (3, 2, 9, 9)),
    (lambda m, s: m.FractionalMaxPool3d((2, 2, 3), output_size=(3, 2, 3), return_indices=True, _random_samples=s),
     (2, 3, 5, 4, 6))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fractional_max_pool_ties_nans_and_minus_infinity_are_torchs(make, shape, dtype):
    """Integer-valued inputs tie often (the first maximum in row-major order wins); a NaN is its window's maximum
    (the last NaN); a window of −∞ points at its first position."""
    rng = np.random.default_rng(9)
    x = rng.integers(0, 3, shape).astype(dtype)
    x.flat[rng.choice(x.size, x.size // 5, replace=False)] = np.nan   # windows with several NaNs
    x[-1, -1] = -np.inf
    samples = rng.random(shape[:2] + (len(shape) - 2,))
    ours, theirs = _pool_pair(make, samples, dtype)
    (y, i, dx), (yt, it, dxt) = _run_both(ours, theirs, x, 10)
    np.testing.assert_array_equal(y, yt)
    np.testing.assert_array_equal(i, it)
    np.testing.assert_allclose(dx, dxt, rtol=1e-6)


@pytest.mark.parametrize("cls,shape,kwargs", [("FractionalMaxPool2d", (3, 2, 9, 8), dict(output_size=(4, 3))),
                                              ("FractionalMaxPool3d", (2, 2, 6, 5, 7), dict(output_ratio=0.5))])
def test_fractional_max_pool_draws_its_samples_from_minimlps_generator_in_training_and_eval(cls, shape, kwargs):
    """Without ``_random_samples`` each forward draws u ~ U[0, 1) (N, C, d) in x's dtype: the seed's first draw,
    reproducible, new at each call, in eval too (as torch)."""
    x = np.random.default_rng(11).normal(size=shape)
    ours = getattr(nn, cls)(2, return_indices=True, **kwargs)
    minimlp.manual_seed(123)
    y, i = ours.eval()(x)
    expected = np.random.default_rng(123).random(shape[:2] + (len(shape) - 2,))
    theirs = getattr(T, cls)(2, return_indices=True, _random_samples=torch.tensor(expected), **kwargs)
    yt, it = theirs(torch.tensor(x))
    np.testing.assert_array_equal(y, yt.numpy())
    np.testing.assert_array_equal(i, it.numpy())
    minimlp.manual_seed(123)
    np.testing.assert_array_equal(ours.train()(x)[0], y)
    later = [ours(x)[1] for _ in range(4)]
    assert any(not np.array_equal(other, i) for other in later)


@pytest.mark.parametrize("make,shape", [
    (lambda m: m.FractionalMaxPool2d(2, output_size=(3, 4), _random_samples=np.random.default_rng(1).random((3, 2, 2))),
     (3, 2, 7, 8)),
    (lambda m: m.FractionalMaxPool3d(2, output_size=2, _random_samples=np.random.default_rng(1).random((1, 2, 3))),
     (2, 5, 4, 5))])
def test_fractional_max_pool_gradcheck(make, shape):
    x = np.random.default_rng(2).normal(size=shape)   # no ties: the maxima stay put under the steps
    assert minimlp.gradcheck(make(nn), x)


def test_fractional_max_pool_empty_batch_and_output_as_torch():
    for make, shape in ((lambda m: m.FractionalMaxPool2d(2, output_size=3), (0, 2, 5, 5)),
                        (lambda m: m.FractionalMaxPool2d(2, output_size=(0, 3)), (2, 2, 5, 5)),
                        (lambda m: m.FractionalMaxPool2d(2, output_ratio=0.1), (2, 2, 5, 5)),
                        (lambda m: m.FractionalMaxPool3d(2, output_size=2), (0, 2, 4, 4, 4))):
        ours = make(nn)
        y = ours(np.ones(shape))
        assert y.shape == tuple(make(T)(torch.ones(shape)).shape)
        np.testing.assert_array_equal(ours.backward(np.ones(y.shape)), np.zeros(shape))


def test_fractional_max_pool_reprs_attributes_and_state_dict_are_torchs():
    for make in (lambda m: m.FractionalMaxPool2d(3, output_ratio=0.5), lambda m: m.FractionalMaxPool2d((2, 3), 4),
                 lambda m: m.FractionalMaxPool3d(2, output_size=(3, 2, 3), return_indices=True),
                 lambda m: m.FractionalMaxPool3d((1, 2, 2), output_ratio=(0.5, 0.25, 0.75))):
        ours, theirs = make(nn), make(T)
        assert repr(ours) == repr(theirs)
        for attribute in ("kernel_size", "output_size", "output_ratio", "return_indices"):
            assert getattr(ours, attribute) == getattr(theirs, attribute), attribute
        assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    assert_state_dict_round_trips(lambda m: m.FractionalMaxPool2d(
        2, output_size=3, _random_samples=np.full((2, 3, 2), 0.5, np.float32) if m is nn
        else torch.full((2, 3, 2), 0.5)))
    assert_state_dict_round_trips(lambda m: m.FractionalMaxPool3d(
        2, output_size=3, _random_samples=np.full((1, 2, 3), 0.5, np.float32) if m is nn
        else torch.full((1, 2, 3), 0.5)))


@pytest.mark.parametrize("call,error,words", [
    (lambda m, t: m.FractionalMaxPool2d(2), ValueError, "requires specifying either an output size, or a pooling"),
    (lambda m, t: m.FractionalMaxPool3d(2, 3, 0.5), ValueError, "only one of output_size and output_ratio"),
    (lambda m, t: m.FractionalMaxPool2d(2, output_ratio=1.0), ValueError, "output_ratio must be between 0 and 1"),
    (lambda m, t: m.FractionalMaxPool2d(2, output_ratio=(0.5, 0)), ValueError, "output_ratio must be between 0 and 1"),
    (lambda m, t: m.FractionalMaxPool3d(2, output_ratio=(0.5, 0.5, 1.5)), ValueError, "must be between 0 and 1"),
    (lambda m, t: m.FractionalMaxPool3d(0, output_size=2), ValueError, "kernel_size must be greater than 0"),
    (lambda m, t: m.FractionalMaxPool2d(3, output_size=(6, 2))(t(np.zeros((2, 3, 7, 8)))), RuntimeError,
     "fractional_max_pool2d(): pool height 3 too large relative to input height 7"),
    (lambda m, t: m.FractionalMaxPool2d(3, output_size=(2, 7))(t(np.zeros((2, 3, 7, 8)))), RuntimeError,
     "pool width 3 too large relative to input width 8"),
    (lambda m, t: m.FractionalMaxPool3d(2, output_size=(1, 4, 1))(t(np.zeros((1, 2, 5, 5, 5)))), RuntimeError,
     "fractional_max_pool3d_out(): pool height 2 too large relative to input height 5"),
    (lambda m, t: m.FractionalMaxPool2d(2, output_size=2)(t(np.zeros((1, 1, 4, 5, 5)))), RuntimeError,
     "Expected 3D or 4D tensor, but got: [1, 1, 4, 5, 5]"),
    (lambda m, t: m.FractionalMaxPool2d(2, output_size=2)(t(np.zeros((4, 5)))), IndexError, "out of range"),
    (lambda m, t: m.FractionalMaxPool2d(2, output_size=2)(t(np.zeros((2, 0, 5, 5)))), RuntimeError,
     "Expected input to have non-zero size for non-batch dimensions"),
    (lambda m, t: m.FractionalMaxPool3d(2, output_size=2)(t(np.zeros((1, 2, 0, 5, 5)))), RuntimeError,
     "Expected input to have non-zero size for non-batch dimensions"),
])
def test_fractional_max_pool_errors_are_torchs_in_one_line(call, error, words):
    for m, t in ((T, torch.tensor), (nn, np.asarray)):
        with pytest.raises(error, match=re.escape(words)) as info:
            call(m, t)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("samples,error,words", [
    (np.full((2, 3), 0.5), RuntimeError, "Expect _random_samples to have 3 dimensions, got 2"),
    (np.full((1, 3, 2), 0.5), RuntimeError, "Expect _random_samples.size(0) no less then input batch size."),
    (np.full((2, 2, 2), 0.5), RuntimeError, "Expect _random_samples.size(1) equals to input channel size."),
    (np.full((2, 3, 3), 0.5), RuntimeError, "Expect _random_samples.size(2) equals to 2; got 3."),
    (np.full((2, 3, 2), 0.5, np.float32), RuntimeError, "Expect _random_samples to have the same dtype as input"),
])
def test_fractional_max_pool_checks_its_samples_as_torch(samples, error, words):
    x = np.zeros((2, 3, 7, 8))
    with pytest.raises(error, match=re.escape(words)):
        T.FractionalMaxPool2d(2, output_size=3, _random_samples=torch.tensor(samples))(torch.tensor(x))
    with pytest.raises(error, match=re.escape(words)):
        nn.FractionalMaxPool2d(2, output_size=3, _random_samples=samples)(x)


def test_fractional_max_pool_refuses_samples_outside_the_unit_interval():
    """torch reads outside the input for them (no check); minimlp says so."""
    with pytest.raises(ValueError, match=re.escape("_random_samples must lie in [0, 1)")):
        nn.FractionalMaxPool2d(2, output_size=3, _random_samples=np.full((1, 1, 2), 1.5))(np.zeros((1, 1, 7, 7)))


# ---- CrossMapLRN2d -------------------------------------------------------------------------------------------------

LRN = {
    "size3": (lambda m: m.CrossMapLRN2d(3), lambda b: (b, 7, 4, 5)),
    "size5-strong": (lambda m: m.CrossMapLRN2d(5, alpha=0.5, beta=0.6, k=2.0), lambda b: (b, 9, 3, 3)),
    "size2": (lambda m: m.CrossMapLRN2d(2, alpha=0.3, beta=1.1), lambda b: (b, 5, 2, 3)),
    "size4-few-channels": (lambda m: m.CrossMapLRN2d(4, alpha=0.9, beta=0.5, k=0.5), lambda b: (b, 3, 3, 2)),
    "size7-wide": (lambda m: m.CrossMapLRN2d(7, alpha=0.7, beta=0.75), lambda b: (b, 11, 2, 2)),
    "one-channel": (lambda m: m.CrossMapLRN2d(3, alpha=0.4), lambda b: (b, 1, 3, 4)),
}


@pytest.mark.parametrize("name", list(LRN))
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_cross_map_lrn_matches_torch(name, batch, mode, device):
    factory, shape = LRN[name]
    compare(factory(nn), factory(T), shape(batch), mode, device, f"CrossMapLRN2d {name} batch={batch}", seed=batch)


@pytest.mark.parametrize("name", list(LRN))
def test_cross_map_lrn_keeps_float32(name):
    factory, shape = LRN[name]
    x = np.random.default_rng(3).normal(size=shape(3)).astype(np.float32)
    g = np.random.default_rng(4).normal(size=x.shape).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    yt = factory(T)(xt)
    yt.backward(torch.tensor(g))
    ours = factory(nn)
    y = ours(x)
    dx = ours.backward(g)
    assert y.dtype == np.float32 and dx.dtype == np.float32
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("size,channels", [(3, 2), (5, 3), (7, 4), (1, 1)])
def test_cross_map_lrn_is_local_response_norm_for_odd_sizes_while_channel_0_stays_in_its_window(size, channels):
    """For odd n the window is LocalResponseNorm's; they agree exactly where every channel c < p = (n + 1)/2."""
    x = np.random.default_rng(5).normal(size=(2, channels, 3, 3))
    np.testing.assert_allclose(nn.CrossMapLRN2d(size, 0.6, 0.8, 1.3)(x), nn.LocalResponseNorm(size, 0.6, 0.8, 1.3)(x),
                               rtol=1e-14)


def test_cross_map_lrn_keeps_torchs_quirks_channel_0_and_its_backward():
    """torch's running sum never drops channel 0, an even n sums n − 1 channels, and torch's hand-written backward
    is not the gradient of its forward: minimlp computes the same (its backward matches torch's, not finite
    differences of the forward; LocalResponseNorm is the exact one)."""
    x = np.zeros((1, 6, 1, 1))
    x[0, 0] = 1.0
    for size in (3, 4):
        y = nn.CrossMapLRN2d(size, alpha=1.0, beta=1.0, k=1.0)(x)
        np.testing.assert_allclose(y, T.CrossMapLRN2d(size, 1.0, 1.0, 1.0)(torch.tensor(x)).numpy(), rtol=1e-15)
        assert float(y[0, 0, 0, 0]) == pytest.approx(1 / (1 + 1 / size))   # x₀ = 1, its own window
    x = np.random.default_rng(6).normal(size=(2, 5, 2, 2))
    layer = nn.CrossMapLRN2d(3, alpha=0.7, beta=0.6, k=1.5)
    assert not minimlp.gradcheck(layer, x, raise_exception=False)
    theirs = torch.autograd.gradcheck(T.CrossMapLRN2d(3, 0.7, 0.6, 1.5), torch.tensor(x, requires_grad=True),
                                      raise_exception=False)
    assert not theirs
    assert minimlp.gradcheck(nn.LocalResponseNorm(3, 0.7, 0.6, 1.5), x)


@pytest.mark.parametrize("call,error,words", [
    (lambda m, t: m.CrossMapLRN2d(3)(t(np.zeros((2, 3, 4)))), ValueError, "CrossMapLRN2d: Expected input to be 4D, "
                                                                          "got 3D instead."),
    (lambda m, t: m.CrossMapLRN2d(3)(t(np.zeros((1, 2, 3, 4, 1)))), ValueError, "Expected input to be 4D, got 5D"),
])
def test_cross_map_lrn_errors_are_torchs(call, error, words):
    for m, t in ((T, torch.tensor), (nn, np.asarray)):
        with pytest.raises(error, match=re.escape(words)) as info:
            call(m, t)
        assert "\n" not in str(info.value)


def test_cross_map_lrn_size_one_backward_fails_as_torchs_and_reprs_match():
    x = np.random.default_rng(7).normal(size=(2, 4, 2, 2))
    xt = torch.tensor(x, requires_grad=True)
    yt = T.CrossMapLRN2d(1)(xt)
    with pytest.raises(RuntimeError, match="exceeds dimension size"):
        yt.sum().backward()
    ours = nn.CrossMapLRN2d(1)
    np.testing.assert_allclose(ours(x), yt.detach().numpy(), rtol=1e-14)
    with pytest.raises(RuntimeError, match=re.escape("start (1) + length (4) exceeds dimension size (4)")):
        ours.backward(np.ones(x.shape))
    with pytest.raises(ValueError, match="size must be a positive integer"):
        nn.CrossMapLRN2d(0)(x)
    for args in ((3,), (4, 1e-3, 0.5, 2), (5, 0.1)):
        assert repr(nn.CrossMapLRN2d(*args)) == repr(T.CrossMapLRN2d(*args))
    assert list(nn.CrossMapLRN2d(3).state_dict()) == []


# ---- AdaptiveLogSoftmaxWithLoss -----------------------------------------------------------------------------------

ASM = {
    "three-clusters": ((16, 30, [5, 12, 20]), {}),
    "one-cluster-bias": ((9, 8, [3]), dict(div_value=2.0, head_bias=True)),
    "narrow-projection": ((6, 12, [2, 4, 9]), dict(div_value=1.5)),
    "zero-width-tail": ((3, 10, [4, 7]), dict(head_bias=True)),       # ⌊3/16⌋ = 0: an empty projection
}


def _asm_pair(args, kwargs, dtype=np.float64):
    torch.manual_seed(0)
    with pytest.warns(UserWarning) if args[0] // kwargs.get("div_value", 4.0) ** len(args[2]) < 1 else _nothing():
        theirs = T.AdaptiveLogSoftmaxWithLoss(*args, **kwargs).to(torch.float64 if dtype == np.float64
                                                                   else torch.float32)
        ours = nn.AdaptiveLogSoftmaxWithLoss(*args, **kwargs, dtype=dtype)
    sd = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    ours.load_state_dict(sd)
    return ours, theirs


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _targets(rng, n, n_classes, cutoffs):
    """Targets that reach the shortlist and every cluster where n allows."""
    bounds = [0] + list(cutoffs) + [n_classes]
    fixed = [int(rng.integers(lo, hi)) for lo, hi in zip(bounds[:-1], bounds[1:])]
    t = rng.integers(0, n_classes, n)
    t[:min(n, len(fixed))] = fixed[:n]
    return rng.permutation(t)


def test_adaptive_log_softmax_trains_with_adam_as_torchs_when_a_batch_misses_clusters():
    """A cluster no target of the batch reaches gets no gradient (None, as torch's), so Adam leaves it where it
    is: six steps on batches that each miss a cluster follow torch's (they drifted with zero gradients)."""
    from minimlp import optim
    ours, theirs = _asm_pair((8, 40, [5, 15, 30]), dict(div_value=2.0))
    opt, t_opt = optim.Adam(ours.parameters(), lr=1e-2), torch.optim.Adam(theirs.parameters(), lr=1e-2)
    rng = np.random.default_rng(7)
    for targets in ([0, 1, 20, 3], [7, 2, 4, 1], [31, 35, 0, 2], [0, 1, 20, 3], [6, 9, 12, 1], [0, 2, 3, 4]):
        x = rng.normal(size=(4, 8))
        out = ours(x, np.array(targets))
        out_t = theirs(torch.tensor(x), torch.tensor(targets))
        assert out.loss == pytest.approx(out_t.loss.item(), rel=1e-12)
        ours.backward()
        out_t.loss.backward()
        opt.step(), t_opt.step()
        opt.zero_grad(), t_opt.zero_grad()
    for key, value in theirs.state_dict().items():
        assert_close(ours.state_dict()[key], value, 1e-12, key)


@pytest.mark.parametrize("name", list(ASM))
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("grads", ["loss", "output", "both"])
def test_adaptive_log_softmax_matches_torch(name, batch, grads):
    args, kwargs = ASM[name]
    ours, theirs = _asm_pair(args, kwargs)
    rng = np.random.default_rng(batch)
    x = rng.normal(0, 1.3, (batch, args[0]))
    t = _targets(rng, batch, args[1], args[2])
    xt = torch.tensor(x, requires_grad=True)
    out_t = theirs(xt, torch.tensor(t))
    grad_loss = None if grads == "output" else float(rng.normal())
    grad_output = None if grads == "loss" else rng.normal(size=batch)
    roots = [(out_t.loss, 1.0 if grad_loss is None else grad_loss)] if grads != "output" else []
    roots += [(out_t.output, grad_output)] if grad_output is not None else []
    torch.autograd.backward([r for r, _ in roots], [torch.tensor(g, dtype=torch.float64) for _, g in roots])
    out = ours(x, t)
    assert isinstance(out, tuple) and out._fields == ("output", "loss") and type(out).__name__ == "_ASMoutput"
    assert_close(out.output, out_t.output, TOL, f"{name} output")
    assert out.loss == pytest.approx(out_t.loss.item(), rel=TOL) and isinstance(out.loss, float)
    dx = ours.backward(grad_loss, grad_output)
    assert_close(dx, xt.grad, TOL, f"{name} input gradient")
    ours_params = dict(ours.named_parameters())
    assert list(ours_params) == [k for k, _ in theirs.named_parameters()]
    for key, p in theirs.named_parameters():
        assert (ours_params[key].grad is None) == (p.grad is None), key   # a cluster no target reached: None
        if p.grad is not None:
            assert_close(ours_params[key].grad, p.grad, TOL, f"{name} grad {key}")


@pytest.mark.parametrize("name", list(ASM))
def test_adaptive_log_softmax_log_prob_predict_and_unbatched_input_match_torch(name):
    args, kwargs = ASM[name]
    ours, theirs = _asm_pair(args, kwargs)
    rng = np.random.default_rng(3)
    x = rng.normal(0, 2.0, (23, args[0]))
    if theirs.head.bias is not None:   # push some rows' head argmax onto a cluster entry: predict reads the tails
        with torch.no_grad():
            theirs.head.bias[args[2][0]:] += 3.0
        ours.head.bias.data[args[2][0]:] += 3.0
    xt = torch.tensor(x)
    assert_close(ours.log_prob(x), theirs.log_prob(xt).detach(), TOL, f"{name} log_prob")
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(xt).numpy())
    assert ours.predict(x).dtype == np.int64
    np.testing.assert_allclose(np.exp(ours.log_prob(x)).sum(axis=1), 1.0, rtol=1e-12)
    one = rng.normal(size=args[0])
    target = np.array(args[1] - 1)
    onet = torch.tensor(one, requires_grad=True)
    out_t = theirs(onet, torch.tensor(target))
    out_t.loss.backward()
    out = ours(one, target)
    assert out.output.shape == () and out.loss == pytest.approx(out_t.loss.item(), rel=TOL)
    dx = ours.backward()
    assert dx.shape == one.shape
    assert_close(dx, onet.grad, TOL, f"{name} unbatched input gradient")


def test_adaptive_log_softmax_gradient_is_the_loss_derivative_by_finite_differences():
    ours = nn.AdaptiveLogSoftmaxWithLoss(7, 11, [3, 6], div_value=2.0, head_bias=True, dtype=np.float64)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 7))
    t = np.array([0, 4, 7, 10, 2])
    ours(x, t)
    dx = ours.backward()
    grads = {k: p.grad.copy() for k, p in ours.named_parameters()}
    eps = 1e-6
    for _ in range(6):
        d = rng.normal(size=x.shape)
        numeric = (ours(x + eps * d, t).loss - ours(x - eps * d, t).loss) / (2 * eps)
        assert numeric == pytest.approx(float((dx * d).sum()), rel=1e-6, abs=1e-9)
    for key, p in ours.named_parameters():
        d = rng.normal(size=p.data.shape)
        p.data += eps * d
        up = ours(x, t).loss
        p.data -= 2 * eps * d
        down = ours(x, t).loss
        p.data += eps * d
        assert (up - down) / (2 * eps) == pytest.approx(float((grads[key] * d).sum()), rel=1e-6, abs=1e-9), key


def test_adaptive_log_softmax_float32_init_and_state_dict_are_torchs():
    args, kwargs = ASM["three-clusters"]
    ours, theirs = _asm_pair(args, kwargs, np.float32)
    x = np.random.default_rng(5).normal(size=(6, args[0])).astype(np.float32)
    t = np.array([0, 6, 13, 21, 29, 4])
    out = ours(x, t)
    out_t = theirs(torch.tensor(x), torch.tensor(t))
    assert out.output.dtype == np.float32 and ours.backward().dtype == np.float32
    np.testing.assert_allclose(out.output, out_t.output.detach().numpy(), rtol=1e-5)
    fresh = nn.AdaptiveLogSoftmaxWithLoss(40, 100, [10, 50], head_bias=True)
    assert [tuple(p.shape) for _, p in fresh.named_parameters()] == [
        tuple(p.shape) for _, p in T.AdaptiveLogSoftmaxWithLoss(40, 100, [10, 50], head_bias=True).named_parameters()]
    for key, p in fresh.named_parameters():
        bound = 1 / np.sqrt(p.data.shape[1]) if key != "head.bias" else 1 / np.sqrt(40)
        assert np.abs(p.data).max() <= bound and np.abs(p.data).max() > 0.8 * bound, key
    assert repr(fresh) == repr(T.AdaptiveLogSoftmaxWithLoss(40, 100, [10, 50], head_bias=True))
    assert fresh.cutoffs == [10, 50, 100] and fresh.shortlist_size == 10 and fresh.head_size == 12
    assert_state_dict_round_trips(lambda m: m.AdaptiveLogSoftmaxWithLoss(8, 20, [4, 9], head_bias=True))


def test_adaptive_log_softmax_backward_parameters_and_untouched_clusters():
    ours = nn.AdaptiveLogSoftmaxWithLoss(8, 20, [4, 9], 2.0, dtype=np.float64)
    x = np.random.default_rng(6).normal(size=(4, 8))
    ours(x, np.array([0, 1, 2, 3]))                # only the shortlist: the tails get no gradient, as torch's
    ours.backward_parameters()
    assert all(p.grad is None for k, p in ours.named_parameters() if k.startswith("tail"))
    assert ours.head.weight.grad.any()
    with pytest.raises(ValueError, match="grad_output must have the output's shape"):
        ours(x, np.array([0, 1, 2, 3]))
        ours.backward(grad_output=np.ones(3))


@pytest.mark.parametrize("call,error,words", [
    (lambda m, t: m.AdaptiveLogSoftmaxWithLoss(8, 20, []), ValueError, "cutoffs should be a sequence of length"),
    (lambda m, t: m.AdaptiveLogSoftmaxWithLoss(8, 20, [9, 4]), ValueError, "cutoffs should be a sequence of unique"),
    (lambda m, t: m.AdaptiveLogSoftmaxWithLoss(8, 20, [4, 20]), ValueError, "between 1 and n_classes-1"),
    (lambda m, t: m.AdaptiveLogSoftmaxWithLoss(8, 20, [4, 4]), ValueError, "unique, positive integers"),
    (lambda m, t: m.AdaptiveLogSoftmaxWithLoss(8, 20, [0, 4]), ValueError, "unique, positive integers"),
    (lambda m, t: _asm(m)(t(np.zeros((3, 8))), t(np.array([1, 2]))), RuntimeError,
     "Input and target should have the same size in the batch dimension."),
    (lambda m, t: _asm(m)(t(np.zeros((2, 3, 8))), t(np.array([1, 2]))), RuntimeError,
     "1D target tensor expects 2D input tensors"),
    (lambda m, t: _asm(m)(t(np.zeros((2, 8))), t(np.array(1))), RuntimeError, "0D target tensor expects 1D input"),
    (lambda m, t: _asm(m)(t(np.zeros((2, 8))), t(np.zeros((2, 1), np.int64))), RuntimeError,
     "0D or 1D target tensor expected, multi-target not supported"),
    (lambda m, t: _asm(m)(t(np.zeros((2, 8))), t(np.array([3, 20]))), RuntimeError,
     "Target values should be in [0, 19], but values in range [3, 20] were found."),
    (lambda m, t: _asm(m)(t(np.zeros((2, 8))), t(np.array([-1, 2]))), RuntimeError,
     "Target values should be in [0, 19], but values in range [-1, 2] were found."),
    (lambda m, t: _asm(m)(t(np.zeros((2, 7))), t(np.array([1, 2]))), RuntimeError,
     "mat1 and mat2 shapes cannot be multiplied (2x7 and 8x6)"),
])
def test_adaptive_log_softmax_errors_are_torchs_in_one_line(call, error, words):
    for m, t in ((T, torch.tensor), (nn, np.asarray)):
        with pytest.raises(error, match=re.escape(words)) as info:
            call(m, t)
        assert "\n" not in str(info.value)


def _asm(m):
    """A float64 module of 8 features, 20 classes, cutoffs [4, 9] (head of 6 rows), in ``m``'s framework."""
    return m.AdaptiveLogSoftmaxWithLoss(8, 20, [4, 9], 2.0, dtype=np.float64) if m is nn else \
        m.AdaptiveLogSoftmaxWithLoss(8, 20, [4, 9], 2.0).double()


def test_new_modules_are_exported_in_nn():
    for name in ("FractionalMaxPool2d", "FractionalMaxPool3d", "CrossMapLRN2d", "AdaptiveLogSoftmaxWithLoss"):
        assert name in nn.__all__ and hasattr(T, name)
