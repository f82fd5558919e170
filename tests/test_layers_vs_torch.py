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
from minimlp import nn
from test_conv_vs_torch import compare

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
    factory, _ = CASES[name]
    ours, theirs = factory(nn), factory(T)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(0)
    state = {k: rng.normal(size=v.shape).astype(v.dtype) for k, v in ours.state_dict().items()}
    again = factory(nn)
    again.load_state_dict(state)
    for key, value in again.state_dict().items():
        np.testing.assert_array_equal(value, state[key])
    theirs.load_state_dict(minimlp.to_torch_state_dict(ours.state_dict()))


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
