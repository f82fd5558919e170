"""Attributes and methods torch users reach for: None running statistics when not tracked, ``inplace``,
``reset_parameters``/``reset_running_stats``, a state_dict without ``num_batches_tracked``,
``Embedding.from_pretrained``; each as torch's."""
import numpy as np
import pytest
import torch

import minimlp
from minimlp import nn


@pytest.mark.parametrize("make", [lambda m: m.BatchNorm1d(3, track_running_stats=False),
                                  lambda m: m.BatchNorm2d(3, affine=False, track_running_stats=False),
                                  lambda m: m.InstanceNorm2d(3), lambda m: m.InstanceNorm1d(3, affine=True)])
def test_untracked_running_statistics_are_none_as_torchs(make):
    ours, theirs = make(nn), make(torch.nn)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        assert getattr(ours, name) is None and getattr(theirs, name) is None, name
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert list(dict(ours.named_buffers())) == list(dict(theirs.named_buffers())) == []


@pytest.mark.parametrize("name", ["ReLU", "LeakyReLU", "ELU", "Hardtanh", "SiLU", "SELU", "CELU", "Mish",
                                  "ReLU6", "Hardswish", "Hardsigmoid", "Dropout", "Dropout2d"])
def test_inplace_is_an_attribute_as_torchs(name):
    assert getattr(nn, name)().inplace is False and getattr(torch.nn, name)().inplace is False


@pytest.mark.parametrize("make", [lambda: nn.Linear(5, 3), lambda: nn.Linear(4, 2, bias=False),
                                  lambda: nn.Conv2d(2, 4, 3), lambda: nn.ConvTranspose2d(3, 2, 2, stride=2),
                                  lambda: nn.Embedding(6, 3, padding_idx=2), lambda: nn.Conv1d(3, 4, 3, groups=1),
                                  lambda: nn.PReLU(3, 0.2)])
def test_reset_parameters_draws_as_construction_does(make):
    minimlp.manual_seed(7)
    fresh = make()
    again = make()
    for p in again.parameters():
        p.data[...] = 5.0
    minimlp.manual_seed(7)
    again.reset_parameters()
    for (name, a), (_, b) in zip(fresh.named_parameters(), again.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)


@pytest.mark.parametrize("make", [lambda m: m.BatchNorm1d(3), lambda m: m.BatchNorm2d(3),
                                  lambda m: m.InstanceNorm2d(3, affine=True, track_running_stats=True),
                                  lambda m: m.LayerNorm(3), lambda m: m.GroupNorm(1, 3), lambda m: m.RMSNorm(3)])
def test_normalisation_resets_as_torchs(make):
    ours, theirs = make(nn).to(dtype=np.float64), make(torch.nn).double()
    x = np.random.default_rng(0).normal(2.0, 3.0, (4, 3, 5, 5) if "2d" in repr(ours) else (4, 3))
    for module, value in ((ours, x), (theirs, torch.tensor(x))):
        module(value)
        for p in module.parameters():
            p.data[...] = 0.3 if isinstance(p.data, np.ndarray) else torch.full_like(p.data, 0.3)
        module.reset_parameters()
    o_sd, t_sd = ours.state_dict(), theirs.state_dict()
    assert list(o_sd) == list(t_sd)
    for key in o_sd:
        np.testing.assert_array_equal(o_sd[key], t_sd[key].numpy(), err_msg=key)


def test_reset_running_stats_leaves_the_affine_parameters():
    bn = nn.BatchNorm1d(2).to(dtype=np.float64)
    bn(np.array([[1.0, 2.0], [3.0, 5.0]]))
    bn.weight.data[...] = 2.0
    bn.reset_running_stats()
    np.testing.assert_array_equal(bn.running_mean, 0.0)
    np.testing.assert_array_equal(bn.running_var, 1.0)
    assert int(bn.num_batches_tracked) == 0 and np.all(bn.weight.data == 2.0)


def test_a_state_dict_without_num_batches_tracked_loads_as_torchs():
    ours, theirs = nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    for _ in range(2):
        ours(np.ones((2, 3), np.float32))
        theirs(torch.ones(2, 3))
    sd = nn.BatchNorm1d(3).state_dict()
    del sd["num_batches_tracked"]
    o_result = ours.load_state_dict(sd)
    t_result = theirs.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    assert (o_result.missing_keys, o_result.unexpected_keys) == (t_result.missing_keys, t_result.unexpected_keys) \
        == ([], [])
    assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == 2
    with pytest.raises(RuntimeError, match='Missing key.*"running_var"'):
        del sd["running_var"]
        ours.load_state_dict(sd)


@pytest.mark.parametrize("freeze", [True, False])
def test_embedding_from_pretrained_as_torchs(freeze):
    table = np.arange(12.0).reshape(4, 3)
    ours = nn.Embedding.from_pretrained(table.copy(), freeze=freeze, padding_idx=1)
    theirs = torch.nn.Embedding.from_pretrained(torch.tensor(table), freeze=freeze, padding_idx=1)
    assert repr(ours) == repr(theirs)
    assert ours.weight.requires_grad == theirs.weight.requires_grad == (not freeze)
    idx = np.array([[1, 3], [0, 1]])
    np.testing.assert_array_equal(ours(idx), theirs(torch.tensor(idx)).detach().numpy())
    ours.backward(np.ones((2, 2, 3)))
    if freeze:
        assert ours.weight.grad is None and theirs.weight.grad is None
    else:
        theirs(torch.tensor(idx)).sum().backward()
        np.testing.assert_array_equal(ours.weight.grad, theirs.weight.grad.numpy())
    with pytest.raises(ValueError, match="expected to be 2-dimensional"):
        nn.Embedding.from_pretrained(np.zeros(3))
