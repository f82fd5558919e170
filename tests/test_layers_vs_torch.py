"""Issue 28's modules and options against torch in float64, once per registered implementation.

Each case is one factory called with ``nn`` and with ``torch.nn`` (torch's names, arguments and defaults, so one
line builds both) and the input shape for a batch size. ``compare`` (tests/test_conv_vs_torch.py) randomises the
parameters and buffers, copies them into torch through the state dict (torch's keys), and checks the forward,
the input gradient for a random upstream gradient, every parameter gradient and every buffer, ≤ 1e-7 relative;
batch sizes 1, 2, 7 and 16, training and evaluation. Then the gradchecks, ``state_dict`` round trips, and what
each option does that a comparison of one call does not show.
"""
import numpy as np
import pytest
import torch

import minimlp
from minimlp import backend, nn
from test_conv_vs_torch import compare
from torch_reference import assert_close, assert_state_dict_round_trips

T = torch.nn
BATCHES = [1, 2, 7, 16]

# name -> (factory of the module from nn or torch.nn, input shape for a batch size)
CASES = {
    "BatchNorm1d-nobias": (lambda m: m.BatchNorm1d(6, bias=False), lambda b: (b, 6)),
    "BatchNorm1d-NCL": (lambda m: m.BatchNorm1d(4), lambda b: (b, 4, 5)),
    "BatchNorm1d-NCL-nobias-cumulative": (lambda m: m.BatchNorm1d(4, momentum=None, bias=False), lambda b: (b, 4, 3)),
    "BatchNorm1d-NCL-noaffine-nostats": (lambda m: m.BatchNorm1d(4, affine=False, track_running_stats=False),
                                         lambda b: (b, 4, 6)),
    "BatchNorm2d-nobias": (lambda m: m.BatchNorm2d(3, bias=False), lambda b: (b, 3, 4, 5)),
    # inputs without a batch axis, and any number of leading axes for Linear
    "Linear-1d": (lambda m: m.Linear(5, 4), lambda b: (5,)),
    "Linear-3d": (lambda m: m.Linear(5, 4), lambda b: (b, 3, 5)),
    "Linear-4d-nobias": (lambda m: m.Linear(5, 4, bias=False), lambda b: (2, b, 3, 5)),
    "Conv2d-unbatched": (lambda m: m.Conv2d(3, 4, 3, padding=1, stride=2), lambda b: (3, 6, 4 + b)),
    "ConvTranspose2d-unbatched": (lambda m: m.ConvTranspose2d(3, 2, 3, stride=2, padding=1), lambda b: (3, 4, 2 + b)),
    "MaxPool2d-unbatched": (lambda m: m.MaxPool2d(3, stride=2, padding=1), lambda b: (3, 7, 4 + b)),
    "AvgPool2d-unbatched": (lambda m: m.AvgPool2d(2), lambda b: (3, 6, 4 + b)),
    "AdaptiveAvgPool2d-unbatched": (lambda m: m.AdaptiveAvgPool2d((3, 2)), lambda b: (3, 7, 4 + b)),
    # padding modes
    "Conv2d-replicate": (lambda m: m.Conv2d(3, 4, 3, padding=2, padding_mode="replicate"), lambda b: (b, 3, 6, 5)),
    "Conv2d-replicate-same": (lambda m: m.Conv2d(2, 3, 4, padding="same", padding_mode="replicate", dilation=2),
                              lambda b: (b, 2, 5, 6)),
    "Conv2d-circular": (lambda m: m.Conv2d(3, 4, (3, 5), padding=(1, 2), stride=2, padding_mode="circular"),
                        lambda b: (b, 3, 5, 7)),
    "Conv2d-circular-whole-input": (lambda m: m.Conv2d(2, 4, 3, padding=4, dilation=2, groups=2,
                                                        padding_mode="circular"), lambda b: (b, 2, 4, 5)),
    # ceil_mode
    "MaxPool2d-ceil": (lambda m: m.MaxPool2d(3, stride=2, ceil_mode=True), lambda b: (b, 3, 8, 7)),
    "MaxPool2d-ceil-pad-dilation": (lambda m: m.MaxPool2d(3, stride=2, padding=1, dilation=2, ceil_mode=True),
                                    lambda b: (b, 2, 9, 8)),
    "AvgPool2d-ceil": (lambda m: m.AvgPool2d(3, stride=2, ceil_mode=True), lambda b: (b, 3, 8, 7)),
    "AvgPool2d-ceil-pad": (lambda m: m.AvgPool2d(3, stride=2, padding=1, ceil_mode=True), lambda b: (b, 3, 8, 7)),
    "AvgPool2d-ceil-pad-nocount": (lambda m: m.AvgPool2d((3, 2), stride=(2, 3), padding=1, ceil_mode=True,
                                                         count_include_pad=False), lambda b: (b, 3, 8, 7)),
    "AvgPool2d-ceil-divisor": (lambda m: m.AvgPool2d(2, stride=3, ceil_mode=True, divisor_override=3),
                               lambda b: (b, 2, 8, 6)),
}


def _valid(name, batch, mode):
    """torch refuses a training batch norm with one value per channel."""
    if name.startswith("BatchNorm1d") and batch == 1 and (mode == "train" or "nostats" in name):
        return len(CASES[name][1](batch)) > 2
    return True


PARAMS = [pytest.param(name, batch, mode, id=f"{name}-{batch}-{mode}") for name in CASES for batch in BATCHES
          for mode in ("train", "eval") if _valid(name, batch, mode)]


@pytest.mark.parametrize("name,batch,mode", PARAMS)
def test_module_matches_torch(name, batch, mode, device, implementation):
    factory, shape = CASES[name]
    minimlp.manual_seed(0)
    torch.manual_seed(0)
    compare(factory(nn), factory(T), shape(batch), mode, device, f"{name} batch={batch} {mode}", seed=batch)


@pytest.mark.parametrize("name", list(CASES))
def test_state_dict_has_torchs_keys_and_round_trips(name):
    assert_state_dict_round_trips(CASES[name][0])


# --------------------------------------------------------------------------------------- BatchNorm
@pytest.mark.parametrize("factory,shape", [(lambda m: m.BatchNorm2d(3), (0, 3, 4, 4)),
                                           (lambda m: m.BatchNorm1d(3, momentum=None, bias=False), (0, 3)),
                                           (lambda m: m.BatchNorm1d(3), (0, 3, 5))])
def test_batch_norm_on_an_empty_batch_returns_an_empty_output_as_torch(factory, shape, implementation):
    """Issue 28: training on (0, C, H, W) raised, naming the internal (0, C) shape. torch returns an empty output,
    counts the batch, leaves the running statistics and gives zero parameter gradients."""
    ours, theirs = factory(nn).to(dtype=np.float64), factory(T).double()
    ours.running_mean[...] = 0.3
    theirs.running_mean.fill_(0.3)
    xt = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    yt = theirs(xt)
    yt.sum().backward()
    y = ours(np.zeros(shape))
    assert y.shape == tuple(yt.shape) == shape
    dx = ours.backward(np.ones(shape))
    assert dx.shape == shape
    for key, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[key], value.numpy(), err_msg=key)
    for pname, p in theirs.named_parameters():
        np.testing.assert_array_equal(getattr(ours, pname).grad, p.grad.numpy())


def test_batch_norm_shape_errors_name_the_layer_and_the_shape():
    with pytest.raises(ValueError, match=r"BatchNorm1d\(4.*expected input of shape \(N, 4\) or \(N, 4, L\), got "
                                         r"\(2, 4, 3, 3\)"):
        nn.BatchNorm1d(4)(np.zeros((2, 4, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected 4 input channels, got input of shape \(2, 3, 5, 5\)"):
        nn.BatchNorm2d(4)(np.zeros((2, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"more than 1 value per channel when training, got input of shape "
                                         r"\(1, 4, 1\)"):
        nn.BatchNorm1d(4)(np.zeros((1, 4, 1), np.float32))


# ----------------------------------------------------------------------------- MaxPool2d indices, MaxUnpool2d
UNPOOL = [(dict(kernel_size=2), (2, 3, 6, 7)), (dict(kernel_size=3, stride=2, padding=1), (1, 2, 7, 6)),
          (dict(kernel_size=3, stride=1), (2, 2, 5, 5)),                    # overlapping windows: repeated indices
          (dict(kernel_size=3, stride=2, ceil_mode=True), (2, 3, 8, 7)), (dict(kernel_size=2), (3, 6, 5))]


@pytest.mark.parametrize("output_size", [None, "input"])
@pytest.mark.parametrize("kwargs,shape", UNPOOL, ids=[f"unpool{i}" for i in range(len(UNPOOL))])
def test_max_pool_indices_and_max_unpool_match_torch(kwargs, shape, output_size, device, implementation):
    """MaxPool2d(return_indices=True): torch's indices (h·W + w in the input plane); MaxUnpool2d's output and
    input gradient for a random upstream gradient, with torch's default size or the pooled input's."""
    x = np.random.default_rng(1).integers(0, 5, shape).astype(np.float64)      # ties: the first maximum wins
    pool_kw = {k: v for k, v in kwargs.items()}
    unpool_kw = {k: v for k, v in kwargs.items() if k in ("kernel_size", "stride", "padding")}
    xt = torch.tensor(x)
    yt, it = T.MaxPool2d(**pool_kw, return_indices=True)(xt)
    y, indices = nn.MaxPool2d(**pool_kw, return_indices=True)(backend.to_device(x, device))
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(backend.to_numpy(indices), it.numpy())
    assert_close(y, yt, 1e-15, f"MaxPool2d{kwargs} forward")
    size = None if output_size is None else shape[-2:]
    ut_in = yt.clone().requires_grad_(True)
    unpool = nn.MaxUnpool2d(**unpool_kw)
    try:
        ut = T.MaxUnpool2d(**unpool_kw)(ut_in, it, output_size=size)
    except RuntimeError as error:              # the default size is too small for an index: both refuse
        assert "invalid max index" in str(error)
        with pytest.raises(ValueError, match="invalid max index"):
            unpool(y, indices, output_size=size)
        return
    G = np.random.default_rng(2).normal(size=tuple(ut.shape))
    ut.backward(torch.tensor(G))
    u = unpool(y, indices, output_size=size)
    assert_close(u, ut, 1e-15, f"MaxUnpool2d{kwargs} forward")
    assert_close(unpool.backward(backend.to_device(G, device)), ut_in.grad, 1e-15, f"MaxUnpool2d{kwargs} gradient")


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                    dict(kernel_size=3, stride=1)], ids=["2x2", "3x3-padded", "3x3-overlapping"])
def test_max_pool_indices_and_gradient_with_nan_and_minus_infinity_match_torch(kwargs, device, implementation):
    """A window whose maximum is NaN points at its last NaN (torch's CPU kernel takes each NaN it meets), in the
    indices as in the gradient; a window of −∞ inputs points at its first input, never at the padding."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, (2, 2, 7, 6)).astype(np.float64)
    x.reshape(-1)[rng.choice(x.size, 9, replace=False)] = np.nan
    x[:, :, 0, :3] = x[:, :, :3, 0] = -np.inf                   # a corner of −∞ beside the padding
    xt = torch.tensor(x, requires_grad=True)
    yt, it = T.MaxPool2d(**kwargs, return_indices=True)(xt)
    G = rng.normal(size=tuple(yt.shape))
    yt.backward(torch.tensor(G))
    pool = nn.MaxPool2d(**kwargs, return_indices=True)
    y, indices = pool(backend.to_device(x, device))
    np.testing.assert_array_equal(backend.to_numpy(indices), it.numpy())
    np.testing.assert_array_equal(backend.to_numpy(y), yt.detach().numpy())
    assert_close(pool.backward(backend.to_device(G, device)), xt.grad, 1e-15, f"MaxPool2d{kwargs} gradient")


def test_max_unpool_refuses_bad_indices_and_sizes():
    y, indices = nn.MaxPool2d(2, return_indices=True)(np.random.default_rng(0).normal(size=(1, 2, 4, 4)))
    unpool = nn.MaxUnpool2d(2)
    with pytest.raises(ValueError, match=r"invalid max index 1\d\d \(or a negative one\) for an output of 4x4"):
        unpool(y, indices + 90)
    with pytest.raises(ValueError, match=r"MaxUnpool2d.*expected integer indices of the input's shape \(1, 2, 2, 2\)"):
        unpool(y, indices.astype(np.float64))
    with pytest.raises(ValueError, match=r"MaxUnpool2d.*invalid output_size \(7, 4\)"):
        unpool(y, indices, output_size=(7, 4))


# ----------------------------------------------------------------------------------- errors and refusals
@pytest.mark.parametrize("make,shape,pattern", [
    (lambda: nn.Conv2d(3, 4, 3), (2, 3, 5), (r"Conv2d\(3, 4.*expected a 3-D \(C, H, W\) or 4-D \(N, C, H, W\) input "
                                             r"with C = 3, got a 3-D input of shape \(2, 3, 5\)|expected 3 input")),
    (lambda: nn.Conv2d(3, 4, 3), (5, 5), r"expected a 3-D \(C, H, W\) or 4-D \(N, C, H, W\) input"),
    (lambda: nn.MaxPool2d(2), (2, 3, 4, 5, 6), r"MaxPool2d.*got a 5-D input of shape \(2, 3, 4, 5, 6\)"),
    (lambda: nn.Linear(5, 4), (3, 4), r"Linear\(in_features=5.*expected input of shape \(\*, 5\), got \(3, 4\)"),
    (lambda: nn.Linear(5, 4), (), r"expected input of shape \(\*, 5\), got \(\)"),
    (lambda: nn.Conv2d(2, 3, 3, padding=3, padding_mode="circular"), (1, 2, 2, 5),
     r"\(1, 2, 2, 5\) is too small for circular padding \(3, 3, 3, 3\)"),
    (lambda: nn.Upsample(scale_factor=2), (3, 4, 4), r"Upsample.*4-D input \(N, C, H, W\)"),
])
def test_shape_errors_name_the_module_and_the_shape(make, shape, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()(np.zeros(shape, np.float32))


def test_conv_padding_modes_take_the_formula_where_the_compiled_gather_has_none():
    """The compiled convolution pads with zeros or by reflection only: replicate and circular take the formula,
    even where the compiled kernel is forced."""
    from minimlp import kernels
    x = np.random.default_rng(0).normal(size=(2, 3, 6, 6)).astype(np.float32)
    for mode, expected in (("zeros", "cpu-compiled"), ("reflect", "cpu-compiled"), ("replicate", "formula"),
                           ("circular", "formula")):
        conv = nn.Conv2d(3, 4, 3, padding=1, padding_mode=mode)
        with kernels.use(conv2d="cpu-compiled"), kernels.record() as picked:
            conv.backward(np.ones_like(conv(x)))
        assert {name for op, _, name in picked if op == "conv2d"} == {expected}, mode


GRADCHECK = {
    "Conv2d-replicate": (lambda: nn.Conv2d(2, 3, 3, padding=2, padding_mode="replicate"), (2, 2, 4, 5)),
    "Conv2d-circular": (lambda: nn.Conv2d(2, 3, 3, padding=(2, 1), padding_mode="circular"), (2, 2, 4, 5)),
    "Conv2d-unbatched": (lambda: nn.Conv2d(2, 3, 3, padding=1), (2, 4, 5)),
    "AvgPool2d-ceil-pad": (lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                           (2, 2, 6, 7)),
    "MaxPool2d-ceil-unbatched": (lambda: nn.MaxPool2d(3, stride=2, ceil_mode=True), (2, 6, 7)),
    "Linear-3d": (lambda: nn.Linear(4, 3), (2, 5, 4)),
    "BatchNorm1d-NCL-nobias": (lambda: nn.BatchNorm1d(3, bias=False), (4, 3, 5)),
}


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("name", list(GRADCHECK))
def test_gradcheck(name, mode, implementation):
    make, shape = GRADCHECK[name]
    minimlp.manual_seed(1)
    module = make().train(mode == "train")
    assert minimlp.gradcheck(module, np.random.default_rng(2).normal(size=shape))


def test_gradcheck_of_max_unpool():
    """Windows that do not overlap (overlapping ones repeat an index, whose value only one input can set)."""
    pool, unpool = nn.MaxPool2d(2, ceil_mode=True, return_indices=True), nn.MaxUnpool2d(2)
    _, indices = pool(np.random.default_rng(0).normal(size=(2, 3, 8, 7)))

    def forward(x):
        return unpool(x, indices, output_size=(8, 7))
    assert minimlp.gradcheck((forward, unpool.backward), np.random.default_rng(1).normal(size=indices.shape))
