"""Issue 28's new layers against torch in float64: activations, Softmax and LogSoftmax.

Each case is one factory called with ``nn`` and with ``torch.nn`` and the input shape for a batch size;
``compare`` (tests/test_conv_vs_torch.py) checks the forward, the input gradient for a random upstream
gradient, every parameter gradient and buffer, ≤ 1e-7 relative, at batch sizes 1, 2, 7 and 16, training and
evaluation. Then finite differences along random directions, and the one-line errors for bad arguments.
"""
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
    "GELU": (lambda m: m.GELU(), lambda b: (b, 33)),
    "GELU-tanh": (lambda m: m.GELU(approximate="tanh"), lambda b: (b, 4, 9)),
    "SiLU": (lambda m: m.SiLU(), lambda b: (b, 3, 5, 4)),
    "ELU": (lambda m: m.ELU(), lambda b: (b, 17)),
    "ELU-alpha": (lambda m: m.ELU(alpha=0.3), lambda b: (b, 2, 8)),
    "Softplus": (lambda m: m.Softplus(), lambda b: (b, 19)),
    "Softplus-beta-threshold": (lambda m: m.Softplus(beta=2.5, threshold=1.5), lambda b: (b, 3, 7)),
    "Hardtanh": (lambda m: m.Hardtanh(), lambda b: (b, 21)),
    "Hardtanh-range": (lambda m: m.Hardtanh(-0.5, 2.0), lambda b: (b, 2, 3, 4)),
    "SELU": (lambda m: m.SELU(), lambda b: (b, 13)),
    "CELU": (lambda m: m.CELU(), lambda b: (b, 2, 6)),
    "CELU-alpha": (lambda m: m.CELU(alpha=0.4), lambda b: (b, 11)),
    "Mish": (lambda m: m.Mish(), lambda b: (b, 3, 5)),
    "LogSigmoid": (lambda m: m.LogSigmoid(), lambda b: (b, 15)),
    "Softsign": (lambda m: m.Softsign(), lambda b: (b, 4, 4)),
    "Tanhshrink": (lambda m: m.Tanhshrink(), lambda b: (b, 9)),
    "ReLU6": (lambda m: m.ReLU6(), lambda b: (b, 3, 7)),
    "Hardswish": (lambda m: m.Hardswish(), lambda b: (b, 23)),
    "Hardsigmoid": (lambda m: m.Hardsigmoid(), lambda b: (b, 2, 11)),
    "Threshold": (lambda m: m.Threshold(0.3, -2.0), lambda b: (b, 14)),
    "PReLU": (lambda m: m.PReLU(), lambda b: (b, 3, 6)),
    "PReLU-per-channel": (lambda m: m.PReLU(4, init=0.1), lambda b: (b, 4, 3, 5)),
    "PReLU-per-channel-2d": (lambda m: m.PReLU(5), lambda b: (b, 5)),
    "PReLU-unbatched": (lambda m: m.PReLU(), lambda b: (b + 3,)),
    "Softmin": (lambda m: m.Softmin(dim=1), lambda b: (b, 7)),
    "Softmin-last": (lambda m: m.Softmin(dim=-1), lambda b: (b, 3, 5)),
    "Softmax2d": (lambda m: m.Softmax2d(), lambda b: (b, 4, 3, 2)),
    "Softmax2d-unbatched": (lambda m: m.Softmax2d(), lambda b: (3, b + 1, 2)),
    "GLU": (lambda m: m.GLU(), lambda b: (b, 8)),
    "GLU-dim1": (lambda m: m.GLU(dim=1), lambda b: (b, 6, 3)),
    "PixelShuffle": (lambda m: m.PixelShuffle(2), lambda b: (b, 8, 3, 5)),
    "PixelShuffle-unbatched-3": (lambda m: m.PixelShuffle(3), lambda b: (9 * b, 2, 1)),
    "PixelShuffle-5d": (lambda m: m.PixelShuffle(2), lambda b: (b, 2, 4, 2, 3)),
    "PixelUnshuffle": (lambda m: m.PixelUnshuffle(2), lambda b: (b, 3, 4, 6)),
    "PixelUnshuffle-unbatched-3": (lambda m: m.PixelUnshuffle(3), lambda b: (b, 3, 6)),
    "ZeroPad2d": (lambda m: m.ZeroPad2d(1), lambda b: (b, 2, 3, 4)),
    "ZeroPad2d-crop": (lambda m: m.ZeroPad2d((-1, 2, 0, -1)), lambda b: (b, 2, 3, 4)),
    "ZeroPad2d-plane": (lambda m: m.ZeroPad2d((1, 0, 2, 1)), lambda b: (b + 1, 3)),
    "ConstantPad2d": (lambda m: m.ConstantPad2d((1, 2, 0, 3), 0.5), lambda b: (b, 3, 2, 2)),
    "ConstantPad2d-plane": (lambda m: m.ConstantPad2d((1, 0, 2, 1), -1.5), lambda b: (b + 1, 3)),
    "ReflectionPad2d": (lambda m: m.ReflectionPad2d(2), lambda b: (b, 2, 3, 4)),
    "ReflectionPad2d-uneven": (lambda m: m.ReflectionPad2d((3, 1, 2, 0)), lambda b: (b, 1, 4, 5)),
    "ReplicationPad2d": (lambda m: m.ReplicationPad2d((1, 0, 2, 3)), lambda b: (b, 2, 3, 3)),
    "ReplicationPad2d-unbatched": (lambda m: m.ReplicationPad2d(2), lambda b: (b, 2, 3)),
    "CircularPad2d": (lambda m: m.CircularPad2d((5, 1, 4, 0)), lambda b: (b, 2, 4, 5)),
    "CircularPad2d-crop-then-wrap": (lambda m: m.CircularPad2d((-1, 2, 1, -1)), lambda b: (b, 2, 4, 5)),
    "Conv1d": (lambda m: m.Conv1d(3, 5, 3), lambda b: (b, 3, 11)),
    "Conv1d-same-dilated": (lambda m: m.Conv1d(4, 4, 4, padding="same", dilation=2), lambda b: (b, 4, 9)),
    "Conv1d-strided-grouped": (lambda m: m.Conv1d(4, 6, 3, stride=2, padding=1, groups=2, bias=False),
                               lambda b: (b, 4, 10)),
    "Conv1d-reflect": (lambda m: m.Conv1d(2, 3, 5, padding=2, padding_mode="reflect"), lambda b: (b, 2, 7)),
    "Conv1d-circular-unbatched": (lambda m: m.Conv1d(2, 3, 3, padding=1, padding_mode="circular"),
                                  lambda b: (2, 4 + b)),
    "Conv1d-replicate-wide": (lambda m: m.Conv1d(16, 24, 3, padding=1, padding_mode="replicate"),
                              lambda b: (b, 16, 33)),
    "MaxPool1d": (lambda m: m.MaxPool1d(3), lambda b: (b, 2, 11)),
    "MaxPool1d-padded-dilated-ceil": (lambda m: m.MaxPool1d(3, 2, 1, 2, ceil_mode=True), lambda b: (b, 3, 12)),
    "MaxPool1d-unbatched": (lambda m: m.MaxPool1d(2, 1), lambda b: (3, b + 4)),
    "AvgPool1d": (lambda m: m.AvgPool1d(3), lambda b: (b, 2, 11)),
    "AvgPool1d-padded-exclusive-ceil": (lambda m: m.AvgPool1d(3, 2, 1, True, False), lambda b: (b, 3, 10)),
    "AdaptiveAvgPool1d": (lambda m: m.AdaptiveAvgPool1d(4), lambda b: (b, 2, 11)),
    "AdaptiveAvgPool1d-up-unbatched": (lambda m: m.AdaptiveAvgPool1d(7), lambda b: (2, b + 2)),
    "Softmax-1": (lambda m: m.Softmax(dim=1), lambda b: (b, 10)),
    "Softmax-last": (lambda m: m.Softmax(dim=-1), lambda b: (b, 3, 7)),
    "Softmax-0": (lambda m: m.Softmax(dim=0), lambda b: (b, 5)),
    "Softmax-channels": (lambda m: m.Softmax(dim=1), lambda b: (b, 4, 3, 5)),
    "LogSoftmax-1": (lambda m: m.LogSoftmax(dim=1), lambda b: (b, 10)),
    "LogSoftmax-last": (lambda m: m.LogSoftmax(dim=-1), lambda b: (b, 6, 8)),
    "LogSoftmax-middle": (lambda m: m.LogSoftmax(dim=-2), lambda b: (b, 6, 3, 2)),
    "LogSoftmax-unbatched": (lambda m: m.LogSoftmax(dim=0), lambda b: (b + 2,)),
    # normalisation
    "LayerNorm": (lambda m: m.LayerNorm(8), lambda b: (b, 8)),
    "LayerNorm-sequence": (lambda m: m.LayerNorm(16), lambda b: (b, 12, 16)),
    "LayerNorm-2d-shape": (lambda m: m.LayerNorm((3, 5), eps=1e-3), lambda b: (b, 4, 3, 5)),
    "LayerNorm-nobias": (lambda m: m.LayerNorm(6, bias=False), lambda b: (b, 6)),
    "LayerNorm-noaffine": (lambda m: m.LayerNorm([2, 7], elementwise_affine=False), lambda b: (b, 2, 7)),
    "LayerNorm-unbatched": (lambda m: m.LayerNorm(5), lambda b: (5,)),
    "GroupNorm": (lambda m: m.GroupNorm(2, 6), lambda b: (b, 6, 4, 5)),
    "GroupNorm-one-group": (lambda m: m.GroupNorm(1, 4), lambda b: (b, 4, 3)),
    "GroupNorm-per-channel-noaffine": (lambda m: m.GroupNorm(4, 4, affine=False, eps=1e-3), lambda b: (b, 4, 6)),
    "GroupNorm-2d-input": (lambda m: m.GroupNorm(3, 6), lambda b: (b, 6)),
    "InstanceNorm2d": (lambda m: m.InstanceNorm2d(3), lambda b: (b, 3, 5, 4)),
    "InstanceNorm2d-affine": (lambda m: m.InstanceNorm2d(4, affine=True), lambda b: (b, 4, 6, 6)),
    "InstanceNorm2d-tracked": (lambda m: m.InstanceNorm2d(3, affine=True, track_running_stats=True, momentum=0.3),
                               lambda b: (b, 3, 4, 5)),
    "InstanceNorm2d-unbatched": (lambda m: m.InstanceNorm2d(2, affine=True), lambda b: (2, 3 + b, 4)),
    "InstanceNorm1d": (lambda m: m.InstanceNorm1d(3), lambda b: (b, 3, 7)),
    "InstanceNorm1d-affine-tracked": (lambda m: m.InstanceNorm1d(4, affine=True, track_running_stats=True),
                                      lambda b: (b, 4, 5)),
    "InstanceNorm1d-unbatched": (lambda m: m.InstanceNorm1d(2, affine=True), lambda b: (2, 3 + b)),
    "InstanceNorm3d": (lambda m: m.InstanceNorm3d(2, affine=True), lambda b: (b, 2, 3, 4, 2)),
    "InstanceNorm3d-tracked-nobias": (lambda m: m.InstanceNorm3d(3, affine=True, bias=False, track_running_stats=True,
                                                                 momentum=0.25), lambda b: (b, 3, 2, 2, 3)),
    "RMSNorm": (lambda m: m.RMSNorm(8), lambda b: (b, 8)),
    "RMSNorm-sequence-eps": (lambda m: m.RMSNorm(16, eps=1e-3), lambda b: (b, 5, 16)),
    "RMSNorm-2d-shape": (lambda m: m.RMSNorm([3, 4]), lambda b: (b, 2, 3, 4)),
    "RMSNorm-noaffine": (lambda m: m.RMSNorm(6, elementwise_affine=False), lambda b: (b, 6)),
    "RMSNorm-unbatched": (lambda m: m.RMSNorm(5), lambda b: (5,)),
}

PARAMS = [pytest.param(name, batch, mode, id=f"{name}-{batch}-{mode}") for name in CASES for batch in BATCHES
          for mode in ("train", "eval")]


@pytest.mark.parametrize("name,batch,mode", PARAMS)
def test_module_matches_torch(name, batch, mode, device):
    factory, shape = CASES[name]
    minimlp.manual_seed(0)
    torch.manual_seed(0)
    compare(factory(nn), factory(T), shape(batch), mode, device, f"{name} batch={batch} {mode}", seed=batch)


@pytest.mark.parametrize("name", list(CASES))
def test_state_dict_has_torchs_keys_and_round_trips(name):
    assert_state_dict_round_trips(CASES[name][0])


@pytest.mark.parametrize("momentum", [0.1, 0.4])
def test_instance_norm_running_statistics_follow_torch_over_many_steps(momentum):
    ours = nn.InstanceNorm2d(3, momentum=momentum, track_running_stats=True).to(dtype=np.float64)
    theirs = T.InstanceNorm2d(3, momentum=momentum, track_running_stats=True).double()
    rng = np.random.default_rng(4)
    for _ in range(12):
        x = rng.normal(1.0, 2.0, (int(rng.integers(1, 9)), 3, int(rng.integers(2, 6)), 4))
        ours(x)
        theirs(torch.tensor(x))
    sd = ours.state_dict()
    for key in ("running_mean", "running_var"):
        np.testing.assert_allclose(sd[key], getattr(theirs, key).numpy(), rtol=1e-12, err_msg=key)
    assert int(sd["num_batches_tracked"]) == int(theirs.num_batches_tracked)


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name):
    factory, shape = CASES[name]
    minimlp.manual_seed(1)
    assert minimlp.gradcheck(factory(nn), np.random.default_rng(2).normal(0, 1.5, shape(3)))


def test_activations_at_their_corners_and_extremes_match_torch():
    """x at 0, at Hardtanh's corners, at Softplus's threshold, and far out (no overflow, no NaN)."""
    x = np.array([-800.0, -40.0, -20.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 6.0, 20.0, 21.0, 40.0, 800.0])
    for factory in (lambda m: m.GELU(), lambda m: m.GELU(approximate="tanh"), lambda m: m.SiLU(),
                    lambda m: m.ELU(), lambda m: m.Softplus(), lambda m: m.Softplus(beta=0.5, threshold=10),
                    lambda m: m.Hardtanh(-0.5, 1.0), lambda m: m.Softmax(dim=0), lambda m: m.LogSoftmax(dim=0),
                    lambda m: m.SELU(), lambda m: m.CELU(alpha=0.5), lambda m: m.Mish(), lambda m: m.LogSigmoid(),
                    lambda m: m.Softsign(), lambda m: m.Tanhshrink(), lambda m: m.ReLU6(), lambda m: m.Hardswish(),
                    lambda m: m.Hardsigmoid(), lambda m: m.Threshold(1.0, 7.0), lambda m: m.PReLU()):
        ours, theirs = factory(nn).to(dtype=np.float64), factory(T).double()
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt)
        g = np.linspace(-1, 1, x.size)
        yt.backward(torch.tensor(g))
        y = ours(x)
        assert np.all(np.isfinite(y)), ours
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-300, err_msg=repr(ours))
        np.testing.assert_allclose(ours.backward(g), xt.grad.numpy(), rtol=1e-12, atol=1e-300, err_msg=repr(ours))


def test_erf_matches_the_c_library_to_rounding():
    import math

    from minimlp.formulas.special import erf
    x = np.concatenate([np.linspace(-7, 7, 20001), [0.0, -0.0, 1e-300, 1e-8, -3e-5, 5.999, 6.0, 6.2, np.inf, -np.inf]])
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(erf(x), expected, rtol=2e-15, atol=1e-300)
    assert np.isnan(erf(np.array([np.nan])))[0]
    assert erf(x.astype(np.float32)).dtype == np.float32


def test_rms_norm_default_eps_is_the_dtypes_machine_epsilon_as_torchs():
    for dtype, torch_dtype, value in ((np.float32, torch.float32, 1e-5), (np.float64, torch.float64, 1e-9)):
        x = np.full((2, 3), value)
        ours = nn.RMSNorm(3, dtype=dtype)(x.astype(dtype))
        theirs = T.RMSNorm(3, dtype=torch_dtype)(torch.tensor(x, dtype=torch_dtype)).detach().numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-6 if dtype == np.float32 else 1e-14)
        assert abs(float(ours[0, 0]) - 1.0) > 1e-3   # x² is below ε here: ε is the dtype's, not a constant


def test_float32_stays_float32():
    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    for module in (nn.GELU(), nn.GELU("tanh"), nn.SiLU(), nn.ELU(), nn.Softplus(), nn.Hardtanh(), nn.Softmax(1),
                   nn.LogSoftmax(1), nn.LayerNorm(5), nn.GroupNorm(1, 5), nn.SELU(), nn.CELU(), nn.Mish(),
                   nn.LogSigmoid(), nn.Softsign(), nn.Tanhshrink(), nn.ReLU6(), nn.Hardswish(), nn.Hardsigmoid(),
                   nn.Threshold(0.0, 1.0), nn.PReLU(5), nn.RMSNorm(5)):
        assert module(x).dtype == np.float32, module
        assert module.backward(np.ones_like(x)).dtype == np.float32, module


def test_inplace_false_is_accepted_where_torch_has_it():
    x = np.array([-1.0, 2.0])
    for module in (nn.ReLU(inplace=False), nn.LeakyReLU(0.1, False), nn.ELU(1.0, False), nn.SiLU(inplace=False),
                   nn.Hardtanh(-1, 1, False), nn.Dropout(0.5, False), nn.Dropout2d(0.5, inplace=False),
                   nn.SELU(False), nn.CELU(1.0, False), nn.Mish(False), nn.ReLU6(False), nn.Hardswish(False),
                   nn.Hardsigmoid(False), nn.Threshold(0.0, 0.0, False)):
        module.eval()
        assert module(x[None, :, None] if isinstance(module, nn.Dropout2d) else x) is not None


def test_softmax_without_dim_takes_torchs_implicit_axis_and_warns():
    x = np.random.default_rng(0).normal(size=(3, 4))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        np.testing.assert_allclose(nn.Softmax()(x).sum(axis=1), 1.0, rtol=1e-14)
    x3 = np.random.default_rng(0).normal(size=(3, 4, 5))
    with pytest.warns(UserWarning, match="Implicit dimension choice for log_softmax"):
        np.testing.assert_allclose(np.exp(nn.LogSoftmax()(x3)).sum(axis=0), 1.0, rtol=1e-14)


@pytest.mark.parametrize("make,call,error,pattern", [
    (lambda: nn.GELU(approximate="erf"), None, ValueError, r"GELU: approximate must be 'none' or 'tanh', got 'erf'"),
    (lambda: nn.Hardtanh(1.0, -1.0), None, ValueError, r"Hardtanh: max_val \(-1.0\) must be greater than min_val"),
    (lambda: nn.Softplus(beta=0), None, ValueError, r"Softplus: beta must be non-zero"),
    (lambda: nn.Softmax(dim=2), np.zeros((3, 4)), IndexError,
     r"Softmax\(dim=2\): dim 2 is out of range for a 2-D input of shape \(3, 4\)"),
    (lambda: nn.LogSoftmax(dim=-3), np.zeros((3, 4)), IndexError, r"dim -3 is out of range"),
    (lambda: nn.GELU(), np.zeros(3, dtype=np.int64), TypeError, r"GELU.*floating-point input"),
    (lambda: nn.ReLU(inplace=True), None, ValueError,
     r"ReLU: inplace=True is not supported \(minimlp keeps the input for backward\); leave it False"),
    (lambda: nn.ELU(1.0, True), None, ValueError, r"ELU: inplace=True is not supported"),
    (lambda: nn.Dropout2d(0.2, inplace=True), None, ValueError, r"Dropout2d: inplace=True is not supported"),
    (lambda: nn.Mish(inplace=True), None, ValueError, r"Mish: inplace=True is not supported"),
    (lambda: nn.CELU(alpha=0.0), None, ValueError, r"CELU: alpha cannot be 0"),
    (lambda: nn.PReLU(3), np.zeros((2, 4), np.float32), ValueError,
     r"PReLU\(num_parameters=3\): Mismatch of parameter numbers and input channel size. Found parameter numbers = 3 "
     r"and channel size = 4"),
    (lambda: nn.PReLU(3), np.zeros(3, np.float32), ValueError, r"Found parameter numbers = 3 and channel size = 1"),
    (lambda: nn.PReLU(0), None, ValueError, r"PReLU: num_parameters must be at least 1, got 0"),
    (lambda: nn.LayerNorm((3, 4)), np.zeros((2, 4, 3), np.float32), ValueError,
     r"LayerNorm\(\(3, 4\).*expected an input whose last 2 axes are \(3, 4\), got input of shape \(2, 4, 3\)"),
    (lambda: nn.LayerNorm(0), None, ValueError, r"LayerNorm: normalized_shape must be one or more positive sizes"),
    (lambda: nn.LayerNorm(3), np.zeros((2, 3)), TypeError, r"LayerNorm.*input dtype float64 does not match"),
    (lambda: nn.GroupNorm(4, 6), None, ValueError, r"GroupNorm: num_channels \(6\) must be divisible by num_groups"),
    (lambda: nn.GroupNorm(2, 6), np.zeros((2, 4, 3), np.float32), ValueError,
     r"GroupNorm\(2, 6.*expected input of shape \(N, 6, ...\), got \(2, 4, 3\)"),
    (lambda: nn.InstanceNorm2d(3), np.zeros((2, 4, 3, 3), np.float32), ValueError,
     r"InstanceNorm2d\(3.*expected 3 input channels, got input of shape \(2, 4, 3, 3\)"),
    (lambda: nn.InstanceNorm2d(3), np.zeros((2, 3, 1, 1), np.float32), ValueError,
     r"expected more than 1 spatial element when training"),
    (lambda: nn.InstanceNorm1d(3), np.zeros((2, 3, 4, 5), np.float32), ValueError,
     r"InstanceNorm1d\(3.*expected a 2-D \(C, L\) or 3-D \(N, C, L\) input with C = 3, got a 4-D input"),
    (lambda: nn.InstanceNorm3d(2), np.zeros((2, 3, 4, 5, 2), np.float32), ValueError,
     r"expected 2 input channels, got input of shape \(2, 3, 4, 5, 2\) with 3 channels"),
    (lambda: nn.RMSNorm(5), np.zeros((2, 4), np.float32), ValueError,
     r"RMSNorm\(\(5,\), eps=None, elementwise_affine=True\): expected an input whose last 1 axes are \(5,\)"),
    (lambda: nn.RMSNorm(0), None, ValueError, r"RMSNorm: normalized_shape must be one or more positive sizes"),
    (lambda: nn.GLU(), np.zeros((2, 3)), RuntimeError,
     r"GLU\(dim=-1\): Halving dimension must be even, but dimension 1 is size 3"),
    (lambda: nn.Softmax2d(), np.zeros((2, 3)), ValueError, r"Softmax2d: expected input to be 3D or 4D, got 2D instead"),
    (lambda: nn.PixelShuffle(2), np.zeros((1, 5, 2, 2)), RuntimeError,
     r"'channel' dimension to be divisible by the square of upscale_factor, but input.size\(-3\)=5 is not divisible"),
    (lambda: nn.PixelShuffle(2), np.zeros((4, 2)), RuntimeError, r"at least 3 dimensions, but got input with 2"),
    (lambda: nn.PixelUnshuffle(2), np.zeros((1, 1, 3, 4)), RuntimeError,
     r"pixel_unshuffle expects height to be divisible by downscale_factor, but input.size\(-2\)=3"),
    (lambda: nn.PixelShuffle(0), np.zeros((1, 4, 2, 2)), RuntimeError, r"expects a positive upscale_factor, but got 0"),
    (lambda: nn.ReflectionPad2d(2), np.zeros((1, 1, 2, 3)), RuntimeError,
     r"Padding size should be less than the corresponding input dimension"),
    (lambda: nn.CircularPad2d(4), np.zeros((1, 1, 2, 3)), RuntimeError, r"wrapping around more than once"),
    (lambda: nn.ZeroPad2d((1, 2)), None, ValueError, r"padding must be an int or a 4-tuple"),
    (lambda: nn.Conv1d(2, 3, 3), np.zeros((1, 2, 3, 4), np.float32), RuntimeError,
     r"Expected 2D \(unbatched\) or 3D \(batched\) input to conv1d, but got input of size: \[1, 2, 3, 4\]"),
    (lambda: nn.Conv1d(2, 3, 3), np.zeros((1, 4, 5), np.float32), RuntimeError, r"expected input with 2 channels"),
    (lambda: nn.Conv1d(2, 3, 5), np.zeros((1, 2, 3), np.float32), RuntimeError, r"smaller than the dilated kernel 5"),
    (lambda: nn.Conv1d(2, 3, 3, stride=2, padding="same"), None, ValueError, r"not supported for strided"),
    (lambda: nn.MaxPool1d(2), np.zeros((1, 1, 2, 3)), RuntimeError, r"Expected 2D or 3D \(batch mode\) tensor"),
    (lambda: nn.AvgPool1d(4), np.zeros((1, 2, 3)), RuntimeError, r"smaller than the kernel"),
])
def test_bad_arguments_get_one_line_errors(make, call, error, pattern):
    with pytest.raises(error, match=pattern):
        module = make()
        module(call)


@pytest.mark.parametrize("name,args", [
    ("ELU", ()), ("ELU", (2,)), ("LeakyReLU", ()), ("LeakyReLU", (1,)), ("Hardtanh", ()), ("Hardtanh", (-2, 2)),
    ("Softplus", ()), ("Softplus", (2, 10)), ("CELU", ()), ("CELU", (2,)), ("Threshold", (1, 2)),
    ("Threshold", (0.5, -1.0)), ("PReLU", ()), ("PReLU", (3, 0.1)), ("ReLU6", ()), ("SELU", ()), ("Mish", ()),
    ("Hardswish", ()), ("Hardsigmoid", ()), ("LogSigmoid", ()), ("Softsign", ()), ("Tanhshrink", ()),
    ("GELU", ("tanh",)), ("SiLU", ()), ("RMSNorm", (4,)), ("RMSNorm", ((2, 3), 1e-4, False)),
    ("InstanceNorm1d", (3,)), ("InstanceNorm3d", (3, 1e-3, None, True)), ("LayerNorm", (3,)), ("GroupNorm", (1, 3)),
    ("Dropout", ()), ("Dropout2d", (1,)), ("Softmin", (1,)), ("Softmax2d", ()), ("GLU", ()), ("GLU", (1,)),
    ("PixelShuffle", (2,)), ("PixelUnshuffle", (3,)), ("ZeroPad2d", (1,)), ("ConstantPad2d", ((1, 2, 0, 3), 0.5)),
    ("ReflectionPad2d", (2,)), ("ReplicationPad2d", ((1, 0, 2, 0),)), ("CircularPad2d", (1,)),
    ("Conv1d", (2, 3, 3)), ("Conv1d", (4, 4, 2, 2, "valid", 3, 2, False, "reflect")), ("Conv1d", (2, 2, 3, 1, "same")),
    ("MaxPool1d", (3, 2, 1, 2, False, True)), ("AvgPool1d", (3,)), ("AvgPool1d", (3, 2, 1, True, False)),
    ("AdaptiveAvgPool1d", (4,)), ("AdaptiveAvgPool1d", ((3,),)),
])
def test_repr_is_torchs(name, args):
    assert repr(getattr(nn, name)(*args)) == repr(getattr(T, name)(*args))


def test_relu6_is_a_hardtanh_from_0_to_6_as_torchs():
    ours = nn.ReLU6()
    assert isinstance(ours, nn.Hardtanh) and (ours.min_val, ours.max_val) == (0.0, 6.0)
    assert isinstance(T.ReLU6(), T.Hardtanh)


def test_prelu_slopes_learn_with_an_optimizer_as_torchs():
    rng = np.random.default_rng(3)
    ours, theirs = nn.PReLU(3).to(dtype=np.float64), T.PReLU(3).double()
    o_opt, t_opt = minimlp.optim.SGD(ours.parameters(), lr=0.5), torch.optim.SGD(theirs.parameters(), lr=0.5)
    for _ in range(5):
        x = rng.normal(size=(4, 3, 5))
        o_opt.zero_grad()
        ours.backward(ours(x) - 1.0)
        o_opt.step()
        t_opt.zero_grad()
        yt = theirs(torch.tensor(x))
        (0.5 * ((yt - 1.0) ** 2).sum()).backward()
        t_opt.step()
    np.testing.assert_allclose(ours.weight.data, theirs.weight.detach().numpy(), rtol=1e-12)
    assert not np.allclose(ours.weight.data, 0.25)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_of_huge_inputs_is_the_input_not_inf(approximate):
    x = np.array([1e308, 1e103, -1e308])
    with np.errstate(over="ignore"):
        y = nn.GELU(approximate).eval()(x)
    np.testing.assert_array_equal(y, T.GELU(approximate)(torch.tensor(x)).numpy())


@pytest.mark.parametrize("shape", [(3, 2, 9), (2, 9)])
def test_max_pool1d_indices_are_torchs(shape):
    x = np.random.default_rng(1).integers(0, 4, shape).astype(np.float64)   # ties: the first maximum
    y, indices = nn.MaxPool1d(3, 2, 1, return_indices=True)(x)
    yt, it = T.MaxPool1d(3, 2, 1, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(y, yt.numpy())
    np.testing.assert_array_equal(indices, it.numpy())
    assert indices.dtype == np.int64

