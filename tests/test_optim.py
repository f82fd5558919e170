"""minimlp.optim against torch.optim: every optimizer and option, 60 float64 steps.

Two gradient sources drive the same trajectories in both frameworks:
``"feed"`` writes identical seeded random gradients into both sets of
parameters (isolates the optimizer), ``"net"`` trains a small network on
random batches with each framework's own forward/backward.
"""
import numpy as np
import pytest
import torch

import minimlp.optim as optim
from minimlp import nn
from minimlp.nn.parameter import Parameter
from minimlp.nn.utils import clip_grad_norm_, clip_grad_value_

STEPS, RESUME_AT, RTOL = 60, 30, 1e-8
SHAPES = [(6, 4), (6,), (3, 6), (3,)]

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, weight_decay=0.1, nesterov=True)),
    ("SGD", dict(lr=0.05, weight_decay=0.1)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.003, momentum=0.9)),
    ("RMSprop", dict(lr=0.003, centered=True)),
    ("RMSprop", dict(lr=0.003, centered=True, momentum=0.5, weight_decay=0.1, alpha=0.9)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.05)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, weight_decay=0.3)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
    ("SGD", dict(lr=0.05, maximize=True)),
    ("SGD", dict(lr=0.01, momentum=0.8, weight_decay=0.1, nesterov=True, maximize=True)),
    ("RMSprop", dict(lr=0.003, centered=True, momentum=0.5, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, maximize=True)),
]
IDS = [f"{n}-" + ",".join(f"{k}={v}" for k, v in kw.items()) for n, kw in CASES]
def _groups(params, grouped):
    """One group, or two with their own lr / weight_decay (torch's list-of-dicts form)."""
    if not grouped:
        return params
    return [{"params": params[:2], "lr": 0.02}, {"params": params[2:], "weight_decay": 0.2}]


def _assert_close(ours, theirs):
    for a, b in zip(ours, theirs):
        b = b.detach().numpy()
        scale = np.abs(b).max()
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * scale)


class _Feed:
    """Identical random parameters and gradients, straight into both frameworks."""

    def __init__(self, seed):
        rng = np.random.default_rng(seed)
        init = [rng.standard_normal(s) for s in SHAPES]
        self.ours = [Parameter(a.copy()) for a in init]
        self.theirs = [torch.tensor(a, requires_grad=True) for a in init]
        self.rng = np.random.default_rng(seed + 1)

    def grads(self, t, skip=None):
        for i, (p, q) in enumerate(zip(self.ours, self.theirs)):
            g = self.rng.standard_normal(p.shape)
            if skip is not None and skip(t, i):
                p.grad, q.grad = None, None
            else:
                p.grad, q.grad = g, torch.tensor(g)

    def fresh_ours(self):
        """New Parameters holding the current values (a 'restarted process')."""
        self.ours = [Parameter(p.data.copy()) for p in self.ours]
        return self.ours

    def values(self):
        return [p.data for p in self.ours]


class _Net:
    """Linear(5, 8) -> Tanh -> Linear(8, 3) with MSE on random batches, in both frameworks."""

    def __init__(self, seed):
        torch.manual_seed(seed)
        self.tmodel = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(),
                                          torch.nn.Linear(8, 3)).double()
        self.model = self._build()
        self.theirs = list(self.tmodel.parameters())
        self.ours = list(self.model.parameters())
        self.rng = np.random.default_rng(seed + 1)

    def _build(self, state=None):
        model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).to(dtype=np.float64)
        model.load_state_dict(state if state is not None else
                              {k: v.detach().numpy() for k, v in self.tmodel.state_dict().items()})
        return model

    def grads(self, t, skip=None):
        x, y = self.rng.standard_normal((16, 5)), self.rng.standard_normal((16, 3))
        self.model.zero_grad()
        loss = nn.MSELoss()
        loss(self.model(x), y)
        self.model.backward(loss.backward())
        self.tmodel.zero_grad()
        torch.nn.functional.mse_loss(self.tmodel(torch.tensor(x)), torch.tensor(y)).backward()

    def fresh_ours(self):
        self.model = self._build(self.model.state_dict())
        self.ours = list(self.model.parameters())
        return self.ours

    def values(self):
        return [p.data for p in self.model.parameters()]


def _roundtrip(state_dict, tmp_path):
    import minimlp
    path = tmp_path / "opt.npz"
    minimlp.save(state_dict, str(path))
    return minimlp.load(str(path))


def _trajectory(name, kw, source, grouped=False, fused=True, skip=None, resume=None):
    """Run STEPS steps in both frameworks; optionally restart ours from a state_dict mid-run."""
    ours = getattr(optim, name)(_groups(source.ours, grouped), fused=fused, **kw)
    theirs = getattr(torch.optim, name)(_groups(source.theirs, grouped), **kw)
    for t in range(STEPS):
        if resume is not None and t == RESUME_AT:
            saved = resume(ours.state_dict())
            ours = getattr(optim, name)(_groups(source.fresh_ours(), grouped), fused=fused, **kw)
            ours.load_state_dict(saved)
        source.grads(t, skip)
        ours.step()
        with torch.no_grad():
            theirs.step()
        _assert_close(source.values(), source.theirs)
    return ours


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_matches_torch_feed(name, kw, fused):
    _trajectory(name, kw, _Feed(0), fused=fused)


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_matches_torch_network(name, kw):
    _trajectory(name, kw, _Net(1))


@pytest.mark.parametrize("name,kw", CASES[::2], ids=IDS[::2])
def test_parameter_groups(name, kw):
    opt = _trajectory(name, kw, _Feed(2), grouped=True)
    assert opt.param_groups[0]["lr"] == 0.02 and opt.param_groups[1]["weight_decay"] == 0.2


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_state_dict_resume(name, kw, tmp_path):
    _trajectory(name, kw, _Feed(3), grouped=True, resume=lambda sd: _roundtrip(sd, tmp_path))


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_state_dict_resume_network(name, kw, tmp_path):
    _trajectory(name, kw, _Net(4), resume=lambda sd: _roundtrip(sd, tmp_path))


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_parameter_without_grad_is_skipped(name, kw, fused):
    # parameter 1 never has a gradient; parameter 3 misses every third step (its step count lags)
    skip = lambda t, i: i == 1 or (i == 3 and t % 3 == 0)  # noqa: E731
    feed = _Feed(5)
    before = feed.ours[1].data.copy()
    opt = _trajectory(name, kw, feed, fused=fused, skip=skip,
                      resume=lambda sd: {**sd, "state": {k: dict(v) for k, v in sd["state"].items()}})
    np.testing.assert_array_equal(feed.ours[1].data, before)
    sd = opt.state_dict()
    assert 1 not in sd["state"]
    if name != "SGD":
        assert sd["state"][3]["step"] == STEPS - len(range(0, STEPS, 3)) and sd["state"][0]["step"] == STEPS


def test_state_dict_layout_keys_by_position():
    feed = _Feed(6)
    opt = optim.Adam(_groups(feed.ours, True), amsgrad=True)
    feed.grads(0)
    opt.step()
    sd = opt.state_dict()
    assert sorted(sd["state"]) == [0, 1, 2, 3]
    assert set(sd["state"][2]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2, 3]]
    assert sd["state"][0]["exp_avg"] is not opt.state[0]["exp_avg"]  # a copy
    before = sd["state"][0]["exp_avg"].copy()
    feed.grads(1)
    opt.step()
    np.testing.assert_array_equal(sd["state"][0]["exp_avg"], before)


def test_load_state_dict_rejects_mismatched_groups():
    opt = optim.SGD(_Feed(7).ours, lr=0.1)
    other = optim.SGD(_groups(_Feed(7).ours, True), lr=0.1)
    with pytest.raises(ValueError, match="parameter groups"):
        opt.load_state_dict(other.state_dict())


def test_harness_catches_a_planted_bug(monkeypatch):
    """An Adam whose bias correction is one step off must fail the comparison."""
    right = optim.Adam._hyper
    monkeypatch.setattr(optim.Adam, "_hyper", lambda self, group, step: right(self, group, step + 1))
    with pytest.raises(AssertionError):
        _trajectory("Adam", {}, _Feed(0))


# --------------------------------------------------- fused against reference
def _devices():
    from minimlp.backend import gpu_available, gpu_unavailable_reason
    gpu = pytest.param("gpu", marks=pytest.mark.skipif(not gpu_available(), reason=f"no GPU: {gpu_unavailable_reason()}"))
    return ["cpu", gpu]


@pytest.mark.parametrize("dtype,rtol", [(np.float32, 2e-5), (np.float64, 1e-12)], ids=["f32", "f64"])
@pytest.mark.parametrize("device", _devices())
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_fused_agrees_with_reference(name, kw, device, dtype, rtol):
    """Big enough for many chunks and both threads; a parameter skipped now and then."""
    from minimlp.backend import to_device, to_numpy
    rng = np.random.default_rng(14)
    shapes = [(300, 700), (700,), (3, 5), (40_000,)]
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    sides = []
    for fused in (True, False):
        params = [Parameter(to_device(a, device)) for a in init]
        sides.append((params, getattr(optim, name)(_groups(params, True), fused=fused, **kw)))
    for t in range(8):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        for params, opt in sides:
            for i, (p, g) in enumerate(zip(params, grads)):
                p.grad = None if (i == 2 and t % 3 == 1) else to_device(g, device)
            opt.step()
    for a, b in zip(*(params for params, _ in sides)):
        a, b = to_numpy(a.data), to_numpy(b.data)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())


# ------------------------------------------------------------- bad input
@pytest.mark.parametrize("make,match", [
    (lambda p: optim.SGD(p, lr=-0.1), r"Invalid learning rate: -0.1"),
    (lambda p: optim.Adam(p, lr=-1e-3), r"Invalid learning rate: -0.001"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), r"beta parameter at index 0: 1.0"),
    (lambda p: optim.AdamW(p, betas=(0.9, -0.1)), r"beta parameter at index 1: -0.1"),
    (lambda p: optim.Adam(p, eps=-1.0), r"Invalid epsilon value: -1.0"),
    (lambda p: optim.RMSprop(p, momentum=-0.5), r"Invalid momentum value: -0.5"),
    (lambda p: optim.RMSprop(p, alpha=-0.5), r"Invalid alpha value: -0.5"),
    (lambda p: optim.SGD(p, weight_decay=-1.0), r"Invalid weight_decay value: -1.0"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), r"Nesterov momentum requires"),
    (lambda p: optim.SGD([{"params": p[:2]}, {"params": p[2:], "lr": -2.0}]), r"-2.0"),
    (lambda p: optim.SGD([], lr=0.1), r"empty parameter list"),
    (lambda p: optim.Adam([{"params": []}]), r"empty parameter list"),
    (lambda p: optim.SGD(p + p[:1]), r"more than once"),
])
def test_bad_input_is_named(make, match):
    with pytest.raises(ValueError, match=match):
        make(_Feed(8).ours)


def test_bad_parameter_types():
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(Parameter(np.zeros(3)))
    with pytest.raises(TypeError, match="ndarray"):
        optim.SGD([np.zeros(3)])


def test_step_without_any_grad_is_a_no_op():
    feed = _Feed(9)
    opt = optim.Adam(feed.ours)
    before = [p.data.copy() for p in feed.ours]
    opt.step()
    for p, b in zip(feed.ours, before):
        np.testing.assert_array_equal(p.data, b)
    assert opt.state_dict()["state"] == {}


# ----------------------------------------------------- flat buffers, dtypes
def test_parameters_share_one_flat_buffer():
    feed = _Feed(10)
    opt = optim.Adam(feed.ours)
    (bucket,) = opt._flat.buckets.values()
    for p in feed.ours:
        assert np.shares_memory(p.data, bucket.data) and np.shares_memory(p.grad_buffer(), bucket.grad)


def test_rebinding_data_is_detected():
    """model.to(...) after the optimizer: same dtype is copied back; a new dtype re-flattens."""
    net = _Net(11)
    opt = optim.Adam(net.model.parameters(), lr=0.01)
    net.grads(0)
    opt.step()
    net.model.to(dtype=np.float32)
    params = list(net.model.parameters())
    for p in params:
        p.grad = np.ones(p.shape, dtype=np.float32)
    opt.step()
    (bucket,) = opt._flat.buckets.values()
    assert bucket.dtype == np.float32 and opt.state[0]["exp_avg"].dtype == np.float32
    assert opt.state[0]["step"] == 2
    p = params[0]
    p.data = p.data.copy() + 1.0  # same shape/dtype: adopted into the flat view
    p.grad = np.ones(p.shape, dtype=np.float32)
    opt.step()
    assert np.shares_memory(p.data, bucket.data)


@pytest.mark.parametrize("name", ["SGD", "RMSprop", "Adam"])
def test_float32_stays_float32(name):
    p = Parameter(np.ones((4, 3), dtype=np.float32))
    opt = getattr(optim, name)([p], lr=0.1, weight_decay=0.01)
    p.grad = np.full((4, 3), 0.5, dtype=np.float32)
    opt.step()
    assert p.data.dtype == np.float32
    assert all(v.dtype == np.float32 for k, v in opt.state[0].items() if k != "step")


def test_add_param_group_keeps_state():
    feed = _Feed(12)
    opt = optim.Adam(feed.ours[:2], lr=0.01)
    feed.grads(0)
    opt.step()
    m = opt.state[0]["exp_avg"].copy()
    opt.add_param_group({"params": feed.ours[2:], "lr": 0.1})
    np.testing.assert_array_equal(opt.state[0]["exp_avg"], m)
    assert len(opt.param_groups) == 2 and not opt.state[2]


# ----------------------------------------------------------- clip_grad_norm_
@pytest.mark.parametrize("norm_type", [2.0, float("inf"), 1.0, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    feed = _Feed(13)
    feed.grads(0, skip=lambda t, i: i == 2)
    total = clip_grad_norm_(feed.ours, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(feed.theirs, max_norm, norm_type=norm_type)
    assert float(total) == pytest.approx(float(expected), rel=1e-12)
    for p, q in zip(feed.ours, feed.theirs):
        if q.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("clip_value", [0.0, 0.3, 1.0, 100.0])
def test_clip_grad_value_matches_torch(clip_value):
    feed = _Feed(14)
    feed.grads(0, skip=lambda t, i: i == 2)
    assert clip_grad_value_(feed.ours, clip_value) is None
    torch.nn.utils.clip_grad_value_(feed.theirs, clip_value)
    for p, q in zip(feed.ours, feed.theirs):
        if q.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_array_equal(p.grad, q.grad.numpy())
    p = Parameter(np.zeros(3, dtype=np.float32))
    p.grad = np.array([-2.0, 0.1, 5.0], dtype=np.float32)
    clip_grad_value_(p, 1.0)
    np.testing.assert_array_equal(p.grad, np.array([-1.0, 0.1, 1.0], dtype=np.float32))
    with pytest.raises(ValueError, match="clip_value must be non-negative, got -1"):
        clip_grad_value_(p, -1)


def test_clip_grad_norm_edge_cases():
    assert clip_grad_norm_([Parameter(np.zeros(3))], 1.0) == 0.0
    p = Parameter(np.zeros(2, dtype=np.float32))
    p.grad = np.array([3.0, 4.0], dtype=np.float32)
    total = clip_grad_norm_(p, 1.0)
    assert float(total) == pytest.approx(5.0) and p.grad.dtype == np.float32
    np.testing.assert_allclose(p.grad, [0.6, 0.8], rtol=1e-5)
    p.grad = np.array([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(p, 1.0, error_if_nonfinite=True)


def _as_numpy(state_dict):
    """torch's optimizer state_dict with its tensors as NumPy arrays (None and numbers kept)."""
    convert = lambda v: v.detach().numpy() if isinstance(v, torch.Tensor) else v  # noqa: E731
    return {"state": {k: {n: convert(v) for n, v in s.items()} for k, s in state_dict["state"].items()},
            "param_groups": state_dict["param_groups"]}


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_torch_state_loads_mid_run_and_ours_has_torch_layout(name, kw):
    """Restarting ours from torch's own state_dict at step RESUME_AT continues torch's trajectory (SGD's has no
    step count: a momentum buffer there means the first step is past); our state_dict has torch's keys."""
    feed = _Feed(7)
    ours = getattr(optim, name)(feed.ours, **kw)
    theirs = getattr(torch.optim, name)(feed.theirs, **kw)
    for t in range(STEPS):
        if t == RESUME_AT:
            assert {k: set(s) for k, s in ours.state_dict()["state"].items()} == \
                {k: set(s) for k, s in theirs.state_dict()["state"].items()}
            ours = getattr(optim, name)(feed.fresh_ours(), **kw)
            ours.load_state_dict(_as_numpy(theirs.state_dict()))
        feed.grads(t)
        ours.step()
        with torch.no_grad():
            theirs.step()
        _assert_close(feed.values(), feed.theirs)
