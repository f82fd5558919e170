"""A module object used at two places of one forward pass: minimlp keeps one cache per module, so its backward
is refused with a one-line error instead of a silently wrong gradient; weights tied through one Parameter
train as torch's."""
import numpy as np
import pytest
import torch

from minimlp import nn

MESSAGE = "backward reached this module a second time since its last forward"


def _x():
    return np.random.default_rng(0).normal(size=(5, 4))


def _refused(model):
    model.to(dtype=np.float64)
    y = model(_x())
    with pytest.raises(RuntimeError, match=MESSAGE):
        model.backward(np.ones_like(y))


def test_a_shared_activation_is_refused():
    act = nn.ReLU()
    _refused(nn.Sequential(nn.Linear(4, 4), act, nn.Linear(4, 4), act))


def test_a_shared_linear_is_refused():
    layer = nn.Linear(4, 4)
    _refused(nn.Sequential(layer, nn.Tanh(), layer))


def test_a_shared_batch_norm_relu_pair_is_refused_fused_or_not():
    bn, act = nn.BatchNorm1d(4), nn.ReLU()
    _refused(nn.Sequential(nn.Linear(4, 4), bn, act, nn.Linear(4, 4), bn, act))


def test_a_block_shared_by_two_skip_connections_is_refused():
    block = nn.Sequential(nn.Linear(4, 4), nn.Tanh())
    _refused(nn.Sequential(nn.Residual(block), nn.Residual(block)))
    _refused(nn.Sequential(nn.Concat(block), nn.Linear(8, 4), nn.Concat(block)))


def test_a_second_backward_through_one_forward_is_refused_as_torchs():
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh()).to(dtype=np.float64)
    y = model(_x())
    model.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match=MESSAGE):
        model.backward(np.ones_like(y))
    t = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh())
    out = t(torch.zeros(5, 4)).sum()
    out.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        out.backward()


def test_forwards_without_backward_between_training_steps_are_fine():
    act = nn.ReLU()
    model = nn.Sequential(nn.Linear(4, 4), act).to(dtype=np.float64)
    for _ in range(3):
        model.eval()
        model(_x())
        model(_x())
        model.train()
        y = model(_x())
        model.backward(np.ones_like(y))


def test_weights_tied_through_one_parameter_match_torch():
    first, second = nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False)
    second.weight = first.weight
    ours = nn.Sequential(first, nn.Tanh(), second).to(dtype=np.float64)
    assert len(list(ours.parameters())) == 1
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 4, bias=False), torch.nn.Tanh(),
                                 torch.nn.Linear(4, 4, bias=False)).double()
    theirs[2].weight = theirs[0].weight
    with torch.no_grad():
        theirs[0].weight.copy_(torch.tensor(first.weight.data))
    x = _x()
    xt = torch.tensor(x, requires_grad=True)
    theirs(xt).sum().backward()
    y = ours(x)
    dx = ours.backward(np.ones_like(y))
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(first.weight.grad, theirs[0].weight.grad.numpy(), rtol=1e-12)
