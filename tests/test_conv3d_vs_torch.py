"""Conv3d and ConvTranspose3d against torch in float64.

``compare`` (tests/test_conv_vs_torch.py) copies our weights into torch's module and checks the forward, the input
gradient and the parameter gradients for a random upstream gradient at batch sizes 1, 2, 7 and 16, training and
evaluation, over stride, padding (int, 3-tuple, "same", "valid", and every padding_mode), dilation, groups, no
bias and unbatched inputs, output_padding for the transpose; then ``output_size``, empty batches, float32,
finite differences, torch's initialisation bounds, reprs, state_dict keys and the errors.
"""
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
    "Conv3d": (lambda m: m.Conv3d(2, 3, 2), lambda b: (b, 2, 3, 4, 3)),
    "Conv3d-strided-padded-tuple": (lambda m: m.Conv3d(2, 4, (3, 2, 3), stride=(2, 1, 2), padding=(1, 0, 2)),
                                    lambda b: (b, 2, 5, 4, 4)),
    "Conv3d-dilated-groups-nobias": (lambda m: m.Conv3d(4, 6, 2, dilation=(2, 1, 2), groups=2, bias=False),
                                     lambda b: (b, 4, 4, 3, 5)),
    "Conv3d-depthwise": (lambda m: m.Conv3d(3, 6, 3, padding=1, groups=3), lambda b: (b, 3, 3, 3, 4)),
    "Conv3d-same-even-dilated": (lambda m: m.Conv3d(2, 2, (2, 3, 4), padding="same", dilation=(1, 2, 1)),
                                 lambda b: (b, 2, 3, 4, 5)),
    "Conv3d-valid-unbatched": (lambda m: m.Conv3d(2, 3, (1, 2, 3), padding="valid"), lambda b: (2, 3, 4, b + 2)),
    "Conv3d-reflect": (lambda m: m.Conv3d(2, 3, 3, stride=2, padding=(1, 2, 1), padding_mode="reflect"),
                       lambda b: (b, 2, 3, 4, 4)),
    "Conv3d-replicate-same": (lambda m: m.Conv3d(2, 2, (2, 3, 2), padding="same", padding_mode="replicate"),
                              lambda b: (b, 2, 3, 3, 4)),
    "Conv3d-circular-groups": (lambda m: m.Conv3d(2, 4, 3, padding=(2, 1, 3), groups=2, padding_mode="circular"),
                               lambda b: (b, 2, 2, 3, 3)),
    "ConvTranspose3d": (lambda m: m.ConvTranspose3d(2, 3, 2), lambda b: (b, 2, 2, 3, 2)),
    "ConvTranspose3d-strided-padded-output-padding": (
        lambda m: m.ConvTranspose3d(2, 4, (3, 2, 3), stride=(2, 3, 2), padding=(1, 0, 1), output_padding=(1, 2, 0)),
        lambda b: (b, 2, 3, 2, 3)),
    "ConvTranspose3d-dilated-groups-nobias": (
        lambda m: m.ConvTranspose3d(4, 6, 2, stride=(1, 2, 1), dilation=(3, 1, 2), output_padding=(2, 1, 1),
                                    groups=2, bias=False), lambda b: (b, 4, 2, 3, 2)),
    "ConvTranspose3d-unbatched": (lambda m: m.ConvTranspose3d(3, 3, 3, stride=2, padding=1, groups=3),
                                  lambda b: (3, 2, 2, b + 1)),
}
PARAMS = [pytest.param(name, batch, mode, id=f"{name}-{batch}-{mode}") for name in CASES for batch in BATCHES
          for mode in ("train", "eval")]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("name,batch,mode", PARAMS)
def test_module_matches_torch(name, batch, mode, device):
    factory, shape = CASES[name]
    compare(factory(nn), factory(T), shape(batch), mode, device, f"{name} batch={batch} {mode}", seed=batch)


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name):
    factory, shape = CASES[name]
    x = np.random.default_rng(2).normal(0, 1.5, shape(1))
    assert minimlp.gradcheck(factory(nn), x)


def _copied(ours, theirs):
    ours = ours.to(dtype=np.float64)
    theirs = theirs.double()
    theirs.load_state_dict(minimlp.to_torch_state_dict(ours.state_dict()))
    return ours, theirs


@pytest.mark.parametrize("output_size", [(7, 4, 7), (2, 2, 8, 6, 9), (9, 5, 8)])
def test_transpose_output_size_is_torchs(output_size):
    rng = np.random.default_rng(4)
    ours, theirs = _copied(nn.ConvTranspose3d(3, 2, 3, stride=3, padding=1), T.ConvTranspose3d(3, 2, 3, stride=3,
                                                                                                 padding=1))
    x = rng.normal(size=(2, 3, 3, 2, 3))               # outputs from (7, 4, 7) to (9, 6, 9)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt, output_size=list(output_size))
    y = ours(x, output_size=output_size)
    g = rng.normal(size=tuple(yt.shape))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.backward(g), xt.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), atol=1e-12)
    for bad in ((6, 4, 7), (8, 6), (7, 4, 10)):        # too small, two numbers, too large: torch's ValueError
        with pytest.raises(ValueError):
            theirs(xt, output_size=list(bad))
        with pytest.raises(ValueError):
            ours(x, output_size=bad)
    one = x[1]                                          # unbatched: output_size (D, H, W) or (C, D, H, W)
    for size in (output_size[-3:], (2,) + tuple(output_size[-3:])):
        np.testing.assert_allclose(ours(one, output_size=size),
                                   theirs(torch.tensor(one), output_size=list(size)).detach().numpy(), atol=1e-12)
    with pytest.raises(ValueError):
        theirs(torch.tensor(one), output_size=[2, 2] + list(output_size[-3:]))
    with pytest.raises(ValueError):
        ours(one, output_size=(2, 2) + tuple(output_size[-3:]))


@pytest.mark.parametrize("make", [lambda m: m.Conv3d(2, 4, 2, groups=2), lambda m: m.ConvTranspose3d(2, 4, 2)])
def test_empty_batch_float32_and_initialisation(make):
    ours, theirs = make(nn), make(T)
    x = np.random.default_rng(1).normal(size=(3, 2, 3, 3, 3)).astype(np.float32)
    y = ours(x)
    assert y.dtype == np.float32 and ours.weight.data.dtype == np.float32
    assert ours.backward(np.ones_like(y)).dtype == np.float32
    assert ours.weight.grad.dtype == np.float32 and ours.bias.grad.dtype == np.float32
    ours.zero_grad()
    empty = ours(np.zeros((0, 2, 3, 3, 3), np.float32))
    assert empty.shape == tuple(theirs(torch.zeros(0, 2, 3, 3, 3)).shape)
    assert ours.backward(empty).shape == (0, 2, 3, 3, 3)
    assert not ours.weight.grad.any()
    assert ours.weight.data.shape == tuple(theirs.weight.shape)
    fan_in = int(np.prod(theirs.weight.shape[1:]))
    bound = 1 / np.sqrt(fan_in)                          # kaiming_uniform(a=√5) and the bias: both U(±1/√fan_in)
    assert np.abs(ours.weight.data).max() <= bound and np.abs(ours.weight.data).max() > 0.6 * bound
    assert np.abs(ours.bias.data).max() <= bound
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]
    assert list(make(nn).to(dtype=np.float64)(x.astype(np.float64)).shape) == list(y.shape)
    assert nn.Conv3d(2, 2, 1, dtype=np.float64).weight.data.dtype == np.float64


def test_reprs_are_torchs():
    cases = [("Conv3d", dict()), ("Conv3d", dict(padding="same", dilation=2)), ("Conv3d", dict(padding="valid")),
             ("Conv3d", dict(padding=(1, 2, 0), groups=2, bias=False, padding_mode="reflect", stride=(1, 2, 3))),
             ("ConvTranspose3d", dict(stride=3, dilation=2, output_padding=2, padding=1)),
             ("ConvTranspose3d", dict(groups=2, bias=False, kernel_size=(1, 2, 3)))]
    for name, kwargs in cases:
        kwargs = {"kernel_size": 3, **kwargs}
        assert repr(getattr(nn, name)(4, 4, **kwargs)) == repr(getattr(T, name)(4, 4, **kwargs))


@pytest.mark.parametrize("call", [
    lambda m, a: m.Conv3d(1, 1, 3)(a(np.zeros((1, 1, 2, 4, 4), np.float32))),               # kernel > input
    lambda m, a: m.Conv3d(2, 1, 3)(a(np.zeros((1, 1, 4, 4, 4), np.float32))),               # channels
    lambda m, a: m.Conv3d(1, 1, 3)(a(np.zeros((1, 4, 4), np.float32))),                     # 3-d input
    lambda m, a: m.Conv3d(1, 1, 3, padding=2, padding_mode="reflect")(a(np.zeros((1, 1, 2, 4, 4), np.float32))),
    lambda m, a: m.Conv3d(1, 1, 3, stride=0)(a(np.zeros((1, 1, 4, 4, 4), np.float32))),
    lambda m, a: m.ConvTranspose3d(1, 1, 3, output_padding=1)(a(np.zeros((1, 1, 2, 2, 2), np.float32))),
    lambda m, a: m.ConvTranspose3d(2, 1, 3)(a(np.zeros((1, 1, 2, 2, 2), np.float32))),
    lambda m, a: m.ConvTranspose3d(1, 1, 3)(a(np.zeros((1, 2, 2), np.float32))),
])
def test_errors_torch_raises_as_runtime_error_are_runtime_errors(call):
    for module, array in ((T, torch.tensor), (nn, np.asarray)):
        with pytest.raises(RuntimeError):
            call(module, array)


@pytest.mark.parametrize("call", [
    lambda m: m.Conv3d(3, 4, 3, groups=2), lambda m: m.Conv3d(2, 4, 3, groups=0),
    lambda m: m.Conv3d(2, 4, 3, padding="full"), lambda m: m.Conv3d(2, 4, 3, stride=2, padding="same"),
    lambda m: m.Conv3d(2, 4, 3, padding_mode="mirror"),
    lambda m: m.ConvTranspose3d(2, 4, 3, padding_mode="reflect"), lambda m: m.ConvTranspose3d(2, 3, 3, groups=2),
])
def test_errors_torch_raises_as_value_error_are_value_errors(call):
    for module in (T, nn):
        with pytest.raises(ValueError):
            call(module)


def test_a_kernel_of_two_numbers_is_refused_when_built():
    """torch builds Conv3d(2, 4, (3, 3)) and fails in forward; ours refuses it at once (a ValueError)."""
    with pytest.raises(RuntimeError):
        T.Conv3d(2, 4, (3, 3))(torch.zeros(1, 2, 4, 4, 4))
    with pytest.raises(ValueError, match="3-tuple"):
        nn.Conv3d(2, 4, (3, 3))


def test_float_sizes_are_type_errors():
    with pytest.raises(TypeError):
        T.Conv3d(2, 4, 3, stride=1.5)(torch.zeros(1, 2, 4, 4, 4))
    with pytest.raises(TypeError):
        nn.Conv3d(2, 4, 3, stride=1.5)
