"""Adagrad, Adadelta, Adamax, NAdam, RAdam, ASGD and Rprop against torch.optim, step by step.

The same parameters (a small MLP's weights and biases, in two groups with their own hyper-parameters) and the
same seeded random gradients go to both; after every step the parameters and every state entry (arrays,
``step``, and the numbers NAdam and ASGD keep) must agree to 1e-12 in float64. Then: float32, a parameter that
misses steps, state_dict round trips (ours, and torch's loaded mid-run), the groups' keys, the errors, and
schedules driving the rate.
"""
import numpy as np
import pytest
import torch

import minimlp
import minimlp.optim as optim
from minimlp.nn.parameter import Parameter
from minimlp.optim import lr_scheduler

STEPS, RESUME_AT, RTOL = 25, 11, 1e-12
SHAPES = [(8, 5), (8,), (3, 8), (3,)]          # Linear(5, 8) -> Linear(8, 3): weights and biases

CASES = [
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.5, eps=1e-6)),
    ("Adagrad", dict(lr=0.05, weight_decay=0.05, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1)),
    ("Adadelta", dict(rho=0.95, weight_decay=0.05, maximize=True)),
    ("Adamax", dict()),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-4, weight_decay=0.1)),
    ("Adamax", dict(lr=0.01, weight_decay=0.05, maximize=True)),
    ("NAdam", dict()),
    ("NAdam", dict(lr=0.01, betas=(0.8, 0.99), momentum_decay=0.05, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.01, momentum_decay=0.0, weight_decay=0.05, maximize=True)),
    ("RAdam", dict()),
    ("RAdam", dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1)),   # rho_t > 5 from step 3
    ("RAdam", dict(lr=0.01, betas=(0.9, 0.999), weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.01, betas=(0.5, 0.95), weight_decay=0.05, maximize=True)),
    ("ASGD", dict()),
    ("ASGD", dict(lr=0.05, lambd=0.01, alpha=0.5, t0=5, weight_decay=0.1)),   # averaging from step 6
    ("ASGD", dict(lr=0.05, lambd=0.1, t0=0.0, weight_decay=0.05, maximize=True)),
    ("Rprop", dict()),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2))),
    ("Rprop", dict(lr=0.02, etas=(0.6, 1.1), maximize=True)),
]
IDS = [f"{n}-" + ",".join(f"{k}={v}" for k, v in kw.items()) for n, kw in CASES]
NAMES = sorted({name for name, _ in CASES})

# the second group's own hyper-parameters (Adagrad's initial_accumulator_value there is ignored, as in torch)
SECOND_GROUP = {
    "Adagrad": dict(lr=0.03, lr_decay=0.1, initial_accumulator_value=0.3),
    "Adadelta": dict(lr=0.3, rho=0.5),
    "Adamax": dict(lr=0.05, betas=(0.5, 0.9)),
    "NAdam": dict(lr=0.03, momentum_decay=0.1, betas=(0.7, 0.95)),
    "RAdam": dict(lr=0.03, betas=(0.6, 0.8)),
    "ASGD": dict(lr=0.02, lambd=0.05, t0=3),
    "Rprop": dict(lr=0.003, etas=(0.4, 1.3)),
}


def _groups(name, params, grouped=True):
    return [{"params": params[:2]}, {"params": params[2:], **SECOND_GROUP[name]}] if grouped else params


class _Feed:
    """Identical random parameters and gradients, straight into both frameworks; ``skip(t, i)``: parameter i
    has no gradient at step t."""

    def __init__(self, seed, dtype=np.float64, skip=None):
        rng = np.random.default_rng(seed)
        init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        self.ours = [Parameter(a.copy()) for a in init]
        self.theirs = [torch.tensor(a, requires_grad=True) for a in init]
        self.rng, self.dtype, self.skip = np.random.default_rng(seed + 1), dtype, skip

    def grads(self, t):
        for i, (p, q) in enumerate(zip(self.ours, self.theirs)):
            # some coordinates keep their sign from step to step (Rprop's steps grow), some flip
            g = (self.rng.standard_normal(p.shape) + (0.8 if i % 2 else 0.0)).astype(self.dtype)
            if self.skip is not None and self.skip(t, i):
                p.grad, q.grad = None, None
            else:
                p.grad, q.grad = g.copy(), torch.tensor(g)

    def fresh_ours(self):
        """New Parameters holding the current values (a restarted process)."""
        self.ours = [Parameter(p.data.copy()) for p in self.ours]
        return self.ours


def _close(got, expected, what, rtol):
    expected = np.asarray(expected)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * max(np.abs(expected).max(), 1e-30),
                               err_msg=what)


def _assert_same(ours, theirs, feed, rtol=RTOL, t=None):
    """Parameters, and every state entry of every parameter the optimizer holds, against torch's."""
    for i, (p, q) in enumerate(zip(feed.ours[:len(ours.state)], feed.theirs)):
        _close(p.data, q.detach().numpy(), f"step {t}: parameter {i}", rtol)
        mine, torchs = ours.state[i], theirs.state.get(q, {})
        assert set(mine) == set(torchs), (t, i, sorted(mine), sorted(torchs))
        for key, value in torchs.items():
            value = value.detach().numpy()
            if key == "step":
                assert mine[key] == int(value), (t, i)
            elif value.ndim == 0:   # mu_product, eta, mu: float32 in torch, the same numbers here
                assert np.float32(mine[key]) == value and isinstance(mine[key], float), (t, i, key, mine[key], value)
            else:
                assert mine[key].dtype == p.data.dtype
                _close(mine[key], value, f"step {t}: {key} of parameter {i}", rtol)


def _run(name, kw, feed, *, grouped=True, rtol=RTOL, restart=None, schedule=None):
    """STEPS steps in both frameworks, compared after each; ``restart(ours, theirs)`` at RESUME_AT returns the
    state_dict our fresh optimizer loads."""
    ours = getattr(optim, name)(_groups(name, feed.ours, grouped), **kw)
    theirs = getattr(torch.optim, name)(_groups(name, feed.theirs, grouped), **kw)
    schedules = (schedule(lr_scheduler, ours), schedule(torch.optim.lr_scheduler, theirs)) if schedule else ()
    for t in range(STEPS):
        if restart is not None and t == RESUME_AT:
            saved = restart(ours, theirs)
            ours = getattr(optim, name)(_groups(name, feed.fresh_ours(), grouped), **kw)
            ours.load_state_dict(saved)
            _assert_same(ours, theirs, feed, rtol, t)
        feed.grads(t)
        ours.step()
        with torch.no_grad():
            theirs.step()
        for s in schedules:
            s.step()
        _assert_same(ours, theirs, feed, rtol, t)
    return ours, theirs


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_trajectory_and_state_match_torch_float64(name, kw):
    _run(name, kw, _Feed(0))


@pytest.mark.parametrize("name,kw", CASES[1::3], ids=IDS[1::3])
def test_one_group(name, kw):
    _run(name, kw, _Feed(1), grouped=False)


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_float32_stays_float32_and_close_to_torch(name, kw):
    feed = _Feed(2, dtype=np.float32)
    ours, _ = _run(name, kw, feed, rtol=2e-5)
    assert all(p.data.dtype == np.float32 for p in feed.ours)
    assert all(v.dtype == np.float32 for s in ours.state for k, v in s.items() if isinstance(v, np.ndarray))


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_a_parameter_without_grad_is_skipped_as_in_torch(name, kw):
    """Parameter 1 never has a gradient (Adagrad's state for it exists from the start, as torch's); parameter
    3 misses every third step, so its step count lags its neighbour's."""
    feed = _Feed(3, skip=lambda t, i: i == 1 or (i == 3 and t % 3 == 0))
    before = feed.ours[1].data.copy()
    _run(name, kw, feed)
    np.testing.assert_array_equal(feed.ours[1].data, before)


def _saved(ours, theirs, tmp_path):
    path = tmp_path / "opt.npz"
    minimlp.save(ours.state_dict(), str(path))
    return minimlp.load(str(path))


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_state_dict_round_trip_continues_exactly(name, kw, tmp_path):
    """Saved to a file mid-run and loaded into a fresh optimizer over fresh parameters: the same bits as the
    run that was not interrupted, and torch's trajectory."""
    skip = lambda t, i: i == 3 and t % 4 == 0  # noqa: E731
    straight = _Feed(4, skip=skip)
    _run(name, kw, straight)
    resumed = _Feed(4, skip=skip)
    _run(name, kw, resumed, restart=lambda ours, theirs: _saved(ours, theirs, tmp_path))
    for a, b in zip(straight.ours, resumed.ours):
        np.testing.assert_array_equal(a.data, b.data)


def _as_numpy(state_dict):
    convert = lambda v: v.detach().numpy() if isinstance(v, torch.Tensor) else v  # noqa: E731
    return {"state": {k: {n: convert(v) for n, v in s.items()} for k, s in state_dict["state"].items()},
            "param_groups": state_dict["param_groups"]}


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_torchs_state_dict_loads_mid_run(name, kw):
    """torch's state_dict (tensors as arrays, 0-d ones too) restarts ours on torch's trajectory, and ours has
    torch's layout: the same parameters, keys and group entries."""
    def restart(ours, theirs):
        mine, torchs = ours.state_dict(), theirs.state_dict()
        assert {k: set(s) for k, s in mine["state"].items()} == {k: set(s) for k, s in torchs["state"].items()}
        assert mine["param_groups"] == torchs["param_groups"]
        return _as_numpy(torchs)
    _run(name, kw, _Feed(5, skip=lambda t, i: i == 2 and t < 3), restart=restart)


SCHEDULES = {
    "StepLR": lambda m, opt: m.StepLR(opt, step_size=4, gamma=0.5),
    "ExponentialLR": lambda m, opt: m.ExponentialLR(opt, gamma=0.9),
}


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("name,kw", CASES[::3], ids=IDS[::3])
def test_a_schedule_drives_the_rate_as_in_torch(name, kw, schedule):
    """ASGD's step size follows the rate one step late and Rprop's ignores it after the first step, as torch's."""
    ours, _ = _run(name, kw, _Feed(6), schedule=SCHEDULES[schedule])
    assert ours.param_groups[0]["lr"] != ours.param_groups[0]["initial_lr"]


@pytest.mark.parametrize("name", NAMES)
def test_the_groups_hold_torchs_keys_and_values(name):
    ours = getattr(optim, name)([Parameter(np.ones(3))])
    theirs = getattr(torch.optim, name)([torch.ones(3, requires_grad=True)])
    mine = {k: v for k, v in ours.param_groups[0].items() if k != "params"}
    torchs = {k: v for k, v in theirs.param_groups[0].items() if k != "params"}
    assert mine == torchs


@pytest.mark.parametrize("name", NAMES)
def test_the_constructor_takes_torchs_arguments_in_torchs_order_with_torchs_defaults(name):
    import inspect
    ours = inspect.signature(getattr(optim, name)).parameters.values()
    theirs = inspect.signature(getattr(torch.optim, name)).parameters.values()
    assert [(p.name, p.kind, p.default) for p in ours] == [(p.name, p.kind, p.default) for p in theirs]


def test_adagrad_state_exists_before_the_first_step_as_in_torch():
    feed = _Feed(7)
    ours = optim.Adagrad(feed.ours, initial_accumulator_value=0.25)
    theirs = torch.optim.Adagrad(feed.theirs, initial_accumulator_value=0.25)
    _assert_same(ours, theirs, feed)
    assert sorted(ours.state_dict()["state"]) == [0, 1, 2, 3]


def test_nadam_splits_an_update_where_mu_products_differ():
    """Two neighbours at the same step count whose μ-products differ (each stepped once, under different
    β₁) must not share one update call."""
    feed = _Feed(8, skip=lambda t, i: (t == 0 and i == 1) or (t == 1 and i == 0))
    ours = optim.NAdam(feed.ours, lr=0.01)
    theirs = torch.optim.NAdam(feed.theirs, lr=0.01)
    for t in range(4):
        for opt in (ours, theirs):
            opt.param_groups[0]["betas"] = (0.9 - 0.2 * t, 0.999)
        feed.grads(t)
        ours.step()
        with torch.no_grad():
            theirs.step()
        _assert_same(ours, theirs, feed, t=t)
    assert ours.state[0]["mu_product"] != ours.state[1]["mu_product"]


def test_formula_and_default_pick_agree_and_state_lives_in_the_flat_buffers():
    feed = _Feed(9)
    a = optim.NAdam(feed.ours, lr=0.01)
    twin = [Parameter(p.data.copy()) for p in feed.ours]
    b = optim.NAdam(twin, lr=0.01)
    for t in range(3):
        feed.grads(t)
        for p, q in zip(twin, feed.ours):
            p.grad = q.grad.copy()
        with minimlp.kernels.use("formula"):
            a.step()
        b.step()
    for p, q in zip(twin, feed.ours):
        np.testing.assert_array_equal(p.data, q.data)
    (bucket,) = a._flat.buckets.values()
    assert np.shares_memory(a.state[2]["exp_avg"], bucket.state["exp_avg"])


# ---------------------------------------------------------------------------------------------- bad input
BAD = [
    ("Adagrad", dict(lr=-1.0), "Invalid learning rate: -1.0"),
    ("Adagrad", dict(lr_decay=-0.1), "Invalid lr_decay value: -0.1"),
    ("Adagrad", dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    ("Adagrad", dict(initial_accumulator_value=-0.1), "Invalid initial_accumulator_value value: -0.1"),
    ("Adagrad", dict(eps=-1e-10), "Invalid epsilon value: -1e-10"),
    ("Adadelta", dict(lr=-1.0), "Invalid learning rate: -1.0"),
    ("Adadelta", dict(rho=1.5), "Invalid rho value: 1.5"),
    ("Adadelta", dict(rho=-0.1), "Invalid rho value: -0.1"),
    ("Adadelta", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
    ("Adadelta", dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    ("Adamax", dict(lr=-1.0), "Invalid learning rate: -1.0"),
    ("Adamax", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
    ("Adamax", dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    ("Adamax", dict(betas=(0.9, -0.5)), "Invalid beta parameter at index 1: -0.5"),
    ("Adamax", dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    ("NAdam", dict(lr=-1.0), "Invalid learning rate: -1.0"),
    ("NAdam", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
    ("NAdam", dict(betas=(-0.1, 0.999)), "Invalid beta parameter at index 0: -0.1"),
    ("NAdam", dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    ("NAdam", dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    ("NAdam", dict(momentum_decay=-1.0), "Invalid momentum_decay value: -1.0"),
    ("RAdam", dict(lr=-1.0), "Invalid learning rate: -1.0"),
    ("RAdam", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
    ("RAdam", dict(betas=(1.5, 0.999)), "Invalid beta parameter at index 0: 1.5"),
    ("RAdam", dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    ("RAdam", dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    ("ASGD", dict(lr=-1.0), "Invalid learning rate: -1.0"),
    ("ASGD", dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    ("Rprop", dict(lr=-1.0), "Invalid learning rate: -1.0"),
    ("Rprop", dict(etas=(1.0, 1.2)), "Invalid eta values: 1.0, 1.2"),
    ("Rprop", dict(etas=(0.5, 1.0)), "Invalid eta values: 0.5, 1.0"),
    ("Rprop", dict(etas=(0.0, 1.2)), "Invalid eta values: 0.0, 1.2"),
]


@pytest.mark.parametrize("name,kw,message", BAD, ids=[f"{n}-{list(kw)[0]}={list(kw.values())[0]}" for n, kw, _ in BAD])
def test_bad_hyperparameters_raise_as_torch(name, kw, message):
    with pytest.raises(ValueError, match=message):
        getattr(torch.optim, name)([torch.ones(2, requires_grad=True)], **kw)
    with pytest.raises(ValueError, match=message) as error:
        getattr(optim, name)([Parameter(np.ones(2))], **kw)
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match=message):   # a group's own value is checked too
        getattr(optim, name)([{"params": [Parameter(np.ones(2))]}, {"params": [Parameter(np.ones(2))], **kw}])


@pytest.mark.parametrize("flag", ["capturable", "differentiable"])
@pytest.mark.parametrize("name", NAMES)
def test_capturable_and_differentiable_are_refused_with_a_reason(name, flag):
    if flag == "capturable" and name == "Adagrad":   # torch's Adagrad has no capturable
        with pytest.raises(TypeError):
            optim.Adagrad([Parameter(np.ones(2))], capturable=True)
        return
    with pytest.raises(ValueError, match=f"{flag}=True is not supported"):
        getattr(optim, name)([Parameter(np.ones(2))], **{flag: True})


def test_the_tests_catch_a_planted_bug(monkeypatch):
    """A NAdam whose μ-schedule is one step late must fail the comparison."""
    right = optim.NAdam._hyper
    monkeypatch.setattr(optim.NAdam, "_hyper", lambda self, group, step: {**right(self, group, step),
                                                                          "step": step + 1})
    with pytest.raises(AssertionError):
        _run("NAdam", {}, _Feed(0))


def test_adagrad_group_added_later_starts_its_state_at_its_first_step_as_in_torch():
    feed = _Feed(10)
    ours = optim.Adagrad(feed.ours[:2], lr=0.1, initial_accumulator_value=0.2)
    theirs = torch.optim.Adagrad(feed.theirs[:2], lr=0.1, initial_accumulator_value=0.2)
    for t in range(4):
        if t == 2:
            ours.add_param_group({"params": feed.ours[2:], "lr": 0.05, "initial_accumulator_value": 0.7})
            theirs.add_param_group({"params": feed.theirs[2:], "lr": 0.05, "initial_accumulator_value": 0.7})
            _assert_same(ours, theirs, feed, t=t)
        feed.grads(t)
        ours.step()
        with torch.no_grad():
            theirs.step()
        _assert_same(ours, theirs, feed, t=t)


def _devices():
    from minimlp.backend import gpu_available, gpu_unavailable_reason
    return [pytest.param("gpu", marks=pytest.mark.skipif(not gpu_available(),
                                                          reason=f"no GPU: {gpu_unavailable_reason()}"))]


@pytest.mark.parametrize("device", _devices())
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_the_formulas_on_cupy_agree_with_numpy(name, kw, device):
    from minimlp.backend import device_of, to_device, to_numpy
    sides = []
    for where in ("cpu", device):
        feed = _Feed(11, skip=lambda t, i: i == 3 and t % 3 == 0)
        params = [Parameter(to_device(p.data, where)) for p in feed.ours]
        sides.append((feed, params, getattr(optim, name)(_groups(name, params), **kw)))
    for t in range(STEPS):
        for feed, params, opt in sides:
            feed.grads(t)
            for p, q in zip(params, feed.ours):
                p.grad = None if q.grad is None else to_device(q.grad, device_of(p.data))
            opt.step()
    (_, cpu, cpu_opt), (_, gpu, gpu_opt) = sides
    for i, (a, b) in enumerate(zip(cpu, gpu)):
        _close(to_numpy(b.data), a.data, f"parameter {i}", RTOL)
        for key, value in cpu_opt.state[i].items():
            if isinstance(value, np.ndarray):
                _close(to_numpy(gpu_opt.state[i][key]), value, f"{key} of parameter {i}", RTOL)
            else:
                assert gpu_opt.state[i][key] == value, (i, key)


@pytest.mark.parametrize("name", NAMES)
def test_one_cycle_cycles_beta1_where_there_is_one_as_torch(name):
    """OneCycleLR moves β₁ of Adamax, NAdam and RAdam; the others have no momentum to cycle: refused, as torch."""
    def schedule(module, opt):
        return module.OneCycleLR(opt, max_lr=[0.05, 0.02], total_steps=STEPS)
    if name not in ("Adamax", "NAdam", "RAdam"):
        for module, params in ((torch.optim, _Feed(12).theirs), (optim, _Feed(12).ours)):
            with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
                schedule(module.lr_scheduler, getattr(module, name)(_groups(name, params)))
        return
    ours, theirs = _run(name, {}, _Feed(12), schedule=schedule)
    assert [g["betas"] for g in ours.param_groups] == [g["betas"] for g in theirs.param_groups]
