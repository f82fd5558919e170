"""Cases found by running torch's own optimizer test inputs (``torch.testing._internal.common_optimizers``)
against minimlp: torch's implementation flags in the constructors and the groups, Adam's
``decoupled_weight_decay``, named parameters, and flags switched mid-run. Each case runs in torch too."""
import numpy as np
import pytest
import torch

from minimlp import nn, optim

SHAPES = ((3, 4), (5,), (2, 3, 2))


def _pair(make_ours, make_theirs, named=False):
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s) for s in SHAPES]
    ours = [nn.Parameter(v.copy()) for v in values]
    theirs = [torch.nn.Parameter(torch.tensor(v)) for v in values]
    if named:
        return (make_ours([(f"p{i}", p) for i, p in enumerate(ours)]), ours,
                make_theirs([(f"p{i}", p) for i, p in enumerate(theirs)]), theirs)
    return make_ours(ours), ours, make_theirs(theirs), theirs


def _step_both(opt, ours, topt, theirs, step):
    rng = np.random.default_rng(100 + step)
    for p, tp in zip(ours, theirs):
        g = rng.standard_normal(p.data.shape)
        p.grad = g.copy()
        tp.grad = torch.tensor(g)
    opt.step()
    topt.step()
    for p, tp in zip(ours, theirs):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["SGD", "RMSprop", "Adam", "AdamW"])
def test_the_groups_hold_torchs_keys_and_values(name):
    opt, _, topt, _ = _pair(getattr(optim, name), getattr(torch.optim, name))
    ours = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
    theirs = {k: v for k, v in topt.param_groups[0].items() if k != "params"}
    assert ours.keys() == theirs.keys()
    for key in theirs:
        assert ours[key] == theirs[key], key


@pytest.mark.parametrize("name,flag", [(n, f) for n in ("RMSprop", "Adam", "AdamW") for f in ("capturable",
                                                                                           "differentiable")]
                         + [("SGD", "differentiable")])
def test_capturable_and_differentiable_are_refused_with_a_reason(name, flag):
    with pytest.raises(ValueError, match=f"{flag}=True is not supported"):
        getattr(optim, name)([nn.Parameter(np.ones(2))], **{flag: True})


@pytest.mark.parametrize("foreach", [None, False, True])
def test_foreach_is_accepted_and_changes_nothing(foreach):
    opt, ours, topt, theirs = _pair(lambda p: optim.Adam(p, lr=0.01, foreach=foreach),
                                    lambda p: torch.optim.Adam(p, lr=0.01, foreach=foreach))
    for step in range(3):
        _step_both(opt, ours, topt, theirs, step)
    assert opt.param_groups[0]["foreach"] is foreach


def test_adam_with_decoupled_weight_decay_is_adamw():
    opt, ours, topt, theirs = _pair(lambda p: optim.Adam(p, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
                                    lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1))
    for step in range(5):
        _step_both(opt, ours, topt, theirs, step)


def test_named_parameters_keep_their_names_in_the_groups():
    opt, ours, topt, theirs = _pair(lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                                    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), named=True)
    for step in range(3):
        _step_both(opt, ours, topt, theirs, step)
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["p0", "p1", "p2"] == \
        topt.state_dict()["param_groups"][0]["param_names"]
    with pytest.raises(ValueError, match="all optimizer params should be with/without names"):
        optim.SGD([("w", nn.Parameter(np.ones(2))), nn.Parameter(np.ones(2))])
    with pytest.raises(ValueError, match="param groups should be with/without names"):
        optim.SGD([{"params": [("w", nn.Parameter(np.ones(2)))]}, {"params": [nn.Parameter(np.ones(2))]}])


@pytest.mark.parametrize("case", ["amsgrad off", "sgd momentum on", "sgd momentum off"])
def test_a_flag_switched_mid_run_takes_effect_as_in_torch(case):
    """The group's flag decides, not whether the state array exists: AMSGrad switched off uses v again; SGD's
    momentum switched on starts its buffer from the gradient (dampening 0.5 tells the difference), switched off
    leaves the buffer as it was."""
    if case == "amsgrad off":
        make, tmake, key, value = (lambda p: optim.Adam(p, lr=0.01, amsgrad=True),
                                   lambda p: torch.optim.Adam(p, lr=0.01, amsgrad=True), "amsgrad", False)
    elif case == "sgd momentum on":
        make, tmake, key, value = (lambda p: optim.SGD(p, lr=0.01, dampening=0.5),
                                   lambda p: torch.optim.SGD(p, lr=0.01, dampening=0.5), "momentum", 0.9)
    else:
        make, tmake, key, value = (lambda p: optim.SGD(p, lr=0.01, momentum=0.9),
                                   lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9), "momentum", 0.0)
    opt, ours, topt, theirs = _pair(make, tmake)
    for step in range(6):
        if step == 3:
            opt.param_groups[0][key] = value
            topt.param_groups[0][key] = value
        _step_both(opt, ours, topt, theirs, step)
    for i, state in topt.state_dict()["state"].items():
        for name, tensor in state.items():
            if name != "step":
                np.testing.assert_allclose(opt.state_dict()["state"][i][name], tensor.numpy(), rtol=1e-12)


def test_mixed_betas_and_a_many_element_lr_are_refused_as_torch():
    p = [nn.Parameter(np.ones(2))]
    with pytest.raises(ValueError, match="betas must be either both floats or both Tensors"):
        optim.Adam(p, betas=(0.9, np.array(0.99)))
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        optim.SGD(p, lr=np.array([0.1, 0.1]))
