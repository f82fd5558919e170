"""Muon and swa_utils (AveragedModel, the averaging functions, update_bn, SWALR) against torch's.

Muon: the same matrices (two groups with their own hyper-parameters) and the same seeded gradients go to both
for 25 steps. The momentum buffers must agree to 1e-12 in float64. torch orthogonalises in bfloat16, and a
float32 sum inside a matrix product taken in another order can land one bfloat16 step away, so the update
matrices O are recovered from each step's parameter change (exact in float64: the change is lr'·O, O a bfloat16
matrix) and compared value by value: nearly all the same bits, the rest within a few bfloat16 steps; the
parameters then agree to the few steps those cost. The Newton–Schulz iteration is also checked alone, bit for
bit on small matrices. Then float32, skipped parameters, state_dict round trips both ways, group keys,
signature and errors.

swa_utils: torch's modules and ours hold the same weights; averages over several updates (SWA, EMA, each
function form, buffers averaged or copied), update_bn over the same batches, SWALR's rates step by step, all
to 1e-12 or exactly; state_dict keys as torch's.
"""
import inspect
import math
import warnings

import numpy as np
import pytest
import torch
from torch.optim import _muon as torch_muon

import minimlp
import minimlp.optim as optim
from minimlp import nn
from minimlp.formulas import muon as formula
from minimlp.nn.parameter import Parameter
from minimlp.optim import lr_scheduler, swa_utils

STEPS, RESUME_AT, RTOL = 25, 11, 1e-12
SHAPES = [(8, 5), (3, 8), (6, 6), (4, 7)]
SECOND_GROUP = dict(lr=0.03, momentum=0.8, nesterov=False, weight_decay=0.05, adjust_lr_fn="match_rms_adamw")
CASES = [
    dict(),
    dict(lr=0.02, nesterov=False),
    dict(lr=0.02, weight_decay=0.0, momentum=0.9, adjust_lr_fn="match_rms_adamw"),
    dict(lr=0.05, momentum=0.3, weight_decay=0.2, adjust_lr_fn="original"),
    dict(lr=0.01, ns_steps=3, ns_coefficients=(2.0, -1.5, 0.5), eps=1e-5),
    dict(lr=0.01, momentum=0.0),
]
IDS = [",".join(f"{k}={v}" for k, v in kw.items()) or "defaults" for kw in CASES]


def _groups(params, grouped=True):
    return [{"params": params[:2]}, {"params": params[2:], **SECOND_GROUP}] if grouped else params


class _Feed:
    """Identical random matrices and gradients, straight into both frameworks; ``skip(t, i)``: parameter i has
    no gradient at step t."""

    def __init__(self, seed, dtype=np.float64, skip=None):
        rng = np.random.default_rng(seed)
        init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        self.ours = [Parameter(a.copy()) for a in init]
        self.theirs = [torch.tensor(a, requires_grad=True) for a in init]
        self.rng, self.dtype, self.skip = np.random.default_rng(seed + 1), dtype, skip
        self.o_same = []   # per step and parameter: whether its O is torch's to the bit (float64)

    def grads(self, t):
        for i, (p, q) in enumerate(zip(self.ours, self.theirs)):
            g = (self.rng.standard_normal(p.shape) + 0.5).astype(self.dtype)
            if self.skip is not None and self.skip(t, i):
                p.grad, q.grad = None, None
            else:
                p.grad, q.grad = g.copy(), torch.tensor(g)

    def fresh_ours(self):
        self.ours = [Parameter(p.data.copy()) for p in self.ours]
        return self.ours


def _bf16_step(x):
    """The spacing of bfloat16 values at the magnitude of max |x| (8 significant bits)."""
    top = float(np.abs(x).max())
    return 2.0 ** (math.floor(math.log2(top)) - 7) if top > 0 else 0.0


def _orthogonal_parts(before, after, group, shape):
    """O of one step, from p_new = p_old·(1 − γλ) − γ'·O (torch's own adjusted rate γ'), rounded to bfloat16."""
    lr, wd = group["lr"], group["weight_decay"]
    scale = torch_muon._adjust_lr(lr, group["adjust_lr_fn"], shape)
    o = (before * (1 - lr * wd) - after) / scale
    return formula.bfloat16(o).astype(np.float64)


def _assert_same(ours, theirs, feed, before, t, *, atol=1e-3):
    """Momentum buffers to 1e-12 (float64); the update matrices O within two bfloat16 steps, each noted in
    ``feed.o_same`` when bit-equal; the parameters to ``atol`` (the few steps those cost); the state's keys."""
    index = {id(p): gi for gi, g in enumerate(ours.param_groups) for p in g["params"]}
    for i, (p, q) in enumerate(zip(feed.ours, feed.theirs)):
        mine, torchs = ours.state[i], theirs.state.get(q, {})
        assert set(mine) == set(torchs), (t, i, sorted(mine), sorted(torchs))
        q_now = q.detach().numpy()
        np.testing.assert_allclose(p.data, q_now, rtol=0, atol=atol, err_msg=f"step {t}: parameter {i}")
        if "momentum_buffer" in torchs:
            buf = torchs["momentum_buffer"].numpy()
            assert mine["momentum_buffer"].dtype == p.data.dtype
            tol = RTOL if p.data.dtype == np.float64 else 2e-6
            np.testing.assert_allclose(mine["momentum_buffer"], buf, rtol=tol, atol=tol * np.abs(buf).max(),
                                       err_msg=f"step {t}: momentum_buffer of parameter {i}")
        if before is None or p.data.dtype != np.float64 or p.grad is None:
            continue
        group = ours.param_groups[index[id(p)]]
        o_ours = _orthogonal_parts(before[0][i], p.data, group, p.shape)
        o_torch = _orthogonal_parts(before[1][i], q_now, group, p.shape)
        feed.o_same.append(np.array_equal(o_ours, o_torch))
        assert np.abs(o_ours - o_torch).max() <= 2 * _bf16_step(o_torch), (t, i, np.abs(o_ours - o_torch).max())


def _run(kw, feed, *, grouped=True, restart=None, schedule=None, atol=1e-3):
    """STEPS steps in both, compared after each; ``restart(ours, theirs)`` at RESUME_AT returns the state_dict a
    fresh optimizer of ours loads. In float64, at least 90% of the update matrices are torch's to the bit (a
    bfloat16 sum taken in another order, once, can spread one step's difference over the whole matrix)."""
    ours = optim.Muon(_groups(feed.ours, grouped), **kw)
    theirs = torch.optim.Muon(_groups(feed.theirs, grouped), **kw)
    schedules = (schedule(lr_scheduler, ours), schedule(torch.optim.lr_scheduler, theirs)) if schedule else ()
    for t in range(STEPS):
        if restart is not None and t == RESUME_AT:
            saved = restart(ours, theirs)
            ours = optim.Muon(_groups(feed.fresh_ours(), grouped), **kw)
            ours.load_state_dict(saved)
            _assert_same(ours, theirs, feed, None, t, atol=atol)
        feed.grads(t)
        before = ([p.data.copy() for p in feed.ours], [q.detach().numpy().copy() for q in feed.theirs])
        ours.step()
        with torch.no_grad():
            theirs.step()
        _assert_same(ours, theirs, feed, before, t, atol=atol)
        for s in schedules:
            s.step()
    if feed.dtype == np.float64:
        assert np.mean(feed.o_same) >= 0.9, np.mean(feed.o_same)
    return ours, theirs


@pytest.mark.parametrize("kw", CASES, ids=IDS)
def test_trajectory_and_state_match_torch_float64(kw):
    _run(kw, _Feed(0))


@pytest.mark.parametrize("kw", CASES[::2], ids=IDS[::2])
def test_one_group(kw):
    _run(kw, _Feed(1), grouped=False)


@pytest.mark.parametrize("kw", CASES, ids=IDS)
def test_float32_stays_float32_and_close_to_torch(kw):
    feed = _Feed(2, dtype=np.float32)
    ours, _ = _run(kw, feed, atol=2e-3)
    assert all(p.data.dtype == np.float32 for p in feed.ours)
    assert all(s["momentum_buffer"].dtype == np.float32 for s in ours.state)


def test_a_parameter_without_grad_is_skipped_as_in_torch():
    """Parameter 1 never has a gradient (no state, as torch's); parameter 3 misses every third step."""
    feed = _Feed(3, skip=lambda t, i: i == 1 or (i == 3 and t % 3 == 0))
    before = feed.ours[1].data.copy()
    ours, _ = _run(dict(lr=0.02), feed)
    np.testing.assert_array_equal(feed.ours[1].data, before)
    assert ours.state[1] == {} and 1 not in ours.state_dict()["state"]


def test_state_dict_round_trip_continues_exactly(tmp_path):
    """Saved to a file mid-run and loaded into a fresh optimizer over fresh parameters: the same bits as the run
    that was not interrupted."""
    def saved(ours, theirs):
        minimlp.save(ours.state_dict(), str(tmp_path / "opt.npz"))
        return minimlp.load(str(tmp_path / "opt.npz"))
    skip = lambda t, i: i == 3 and t % 4 == 0  # noqa: E731
    straight, resumed = _Feed(4, skip=skip), _Feed(4, skip=skip)
    a, _ = _run(CASES[3], straight)
    b, _ = _run(CASES[3], resumed, restart=saved)
    for p, q in zip(straight.ours, resumed.ours):
        np.testing.assert_array_equal(p.data, q.data)
    assert [g["ns_coefficients"] for g in b.param_groups] == [g["ns_coefficients"] for g in a.param_groups]
    assert all(isinstance(g["ns_coefficients"], tuple) for g in b.param_groups)


def _as_numpy(state_dict):
    return {"state": {k: {n: v.detach().numpy() for n, v in s.items()} for k, s in state_dict["state"].items()},
            "param_groups": state_dict["param_groups"]}


@pytest.mark.parametrize("kw", CASES[:2], ids=IDS[:2])
def test_torchs_state_dict_loads_mid_run_and_ours_has_its_layout(kw):
    def restart(ours, theirs):
        mine, torchs = ours.state_dict(), theirs.state_dict()
        assert {k: set(s) for k, s in mine["state"].items()} == {k: set(s) for k, s in torchs["state"].items()}
        assert mine["param_groups"] == torchs["param_groups"]
        theirs_back = torch.optim.Muon(_groups([torch.zeros(s, dtype=torch.float64, requires_grad=True)
                                                for s in SHAPES]), **kw)
        theirs_back.load_state_dict({"state": {k: {n: torch.tensor(v) for n, v in s.items()}
                                               for k, s in mine["state"].items()},
                                     "param_groups": mine["param_groups"]})   # ours loads into torch's too
        return _as_numpy(torchs)
    _run(kw, _Feed(5, skip=lambda t, i: i == 2 and t < 3), restart=restart)


def test_a_schedule_drives_the_rate_as_in_torch():
    ours, _ = _run(dict(lr=0.02), _Feed(6), schedule=lambda m, opt: m.StepLR(opt, step_size=4, gamma=0.5))
    assert ours.param_groups[0]["lr"] != ours.param_groups[0]["initial_lr"]


def test_the_groups_hold_torchs_keys_and_values():
    ours = optim.Muon([Parameter(np.ones((2, 3)))])
    theirs = torch.optim.Muon([torch.ones(2, 3, requires_grad=True)])
    assert {k: v for k, v in ours.param_groups[0].items() if k != "params"} == \
        {k: v for k, v in theirs.param_groups[0].items() if k != "params"}
    assert ours.defaults == theirs.defaults


def test_the_constructor_takes_torchs_arguments_in_torchs_order_with_torchs_defaults():
    ours = inspect.signature(optim.Muon).parameters.values()
    theirs = inspect.signature(torch.optim.Muon).parameters.values()
    assert [(p.name, p.kind, p.default) for p in ours] == [(p.name, p.kind, p.default) for p in theirs]


# ---------------------------------------------------------------------------------------- Newton–Schulz alone
def test_bfloat16_rounding_is_torchs():
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.standard_normal(5000) * 10.0 ** rng.uniform(-30, 30, 5000),
                        [0.0, -0.0, np.inf, -np.inf, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -30, 3e38,
                         1e-40]])
    for dtype in (np.float64, np.float32):
        ours = formula.bfloat16(x.astype(dtype))
        theirs = torch.tensor(x.astype(dtype)).bfloat16().float().numpy()
        np.testing.assert_array_equal(ours, theirs)
    assert np.isnan(formula.bfloat16(np.array([np.nan]))).all()


@pytest.mark.parametrize("coefficients,steps", [(formula.COEFFICIENTS, 5), ((2.0, -1.5, 0.5), 3),
                                                ((3.0, -3.2, 1.2), 8)])
def test_newton_schulz_is_torchs(coefficients, steps):
    """Nearly every small matrix bit for bit (a sum of products rounded once, as torch's bfloat16 ``addmm``), the
    few others (a float32 sum taken in another order, its one-step difference spread by the later iterations)
    and larger ones within a few bfloat16 steps."""
    rng = np.random.default_rng(8)
    same = []
    for trial in range(60):
        shape = tuple(int(n) for n in rng.integers(1, 6 if trial < 40 else 24, size=2))
        g = rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 3)
        theirs = torch_muon._zeropower_via_newtonschulz(torch.tensor(g), coefficients, steps, 1e-7).float().numpy()
        ours = formula.newton_schulz(g, coefficients, steps, 1e-7)
        assert ours.dtype == np.float32 and ours.shape == g.shape
        assert np.abs(ours - theirs).max() <= 4 * _bf16_step(theirs), shape
        same.append(np.array_equal(ours, theirs))
    assert np.mean(same[:40]) >= 0.9 and np.mean(same) >= 0.8, same
    s = np.linalg.svd(formula.newton_schulz(rng.standard_normal((16, 24))).astype(np.float64), compute_uv=False)
    assert 0.5 < s.min() and s.max() < 1.5   # near-orthogonal: singular values near 1


@pytest.mark.parametrize("fn", [None, "original", "match_rms_adamw"])
def test_adjusted_lr_is_torchs(fn):
    for shape in [(8, 5), (3, 8), (6, 6), (1, 100)]:
        assert formula.adjusted_lr(0.02, fn, shape) == torch_muon._adjust_lr(0.02, fn, torch.Size(shape))


def _devices():
    from minimlp.backend import gpu_available, gpu_unavailable_reason
    return [pytest.param("gpu", marks=pytest.mark.skipif(not gpu_available(),
                                                          reason=f"no GPU: {gpu_unavailable_reason()}"))]


@pytest.mark.parametrize("device", _devices())
def test_the_formula_on_cupy_agrees_with_numpy(device):
    from minimlp.backend import to_device, to_numpy
    rng = np.random.default_rng(9)
    for shape in [(3, 4), (8, 5), (64, 48)]:
        g = rng.standard_normal(shape)
        np.testing.assert_array_equal(to_numpy(formula.bfloat16(to_device(g, device))), formula.bfloat16(g))
        a, b = formula.newton_schulz(g), to_numpy(formula.newton_schulz(to_device(g, device)))
        assert np.mean(a == b) >= 0.9 and np.abs(a - b).max() <= 8 * _bf16_step(a), shape
    feed = _Feed(10)
    params = [Parameter(to_device(p.data, device)) for p in feed.ours]
    ours = optim.Muon(_groups(feed.ours), lr=0.02)
    gpu = optim.Muon(_groups(params), lr=0.02)
    for t in range(5):
        feed.grads(t)
        for p, q in zip(params, feed.ours):
            p.grad = to_device(q.grad, device)
        ours.step()
        gpu.step()
    for i, (p, q) in enumerate(zip(params, feed.ours)):
        np.testing.assert_allclose(to_numpy(p.data), q.data, rtol=0, atol=2e-3)
        np.testing.assert_allclose(to_numpy(gpu.state[i]["momentum_buffer"]), ours.state[i]["momentum_buffer"],
                                   rtol=RTOL, atol=RTOL)


# ----------------------------------------------------------------------------------------------- bad input
BAD = [
    (dict(lr=-1.0), "Learning rate should be >= 0 but is: -1.0"),
    (dict(momentum=-0.1), "momentum should be >= 0 but is: -0.1"),
    (dict(weight_decay=-0.1), "weight decay should be >= 0 but is: -0.1"),
    (dict(adjust_lr_fn="sqrt"), "Adjust learning rate function sqrt is not supported"),
]


@pytest.mark.parametrize("kw,message", BAD, ids=[f"{list(kw)[0]}={list(kw.values())[0]}" for kw, _ in BAD])
def test_bad_hyperparameters_raise_as_torch(kw, message):
    with pytest.raises(ValueError, match=message):
        torch.optim.Muon([torch.ones(2, 2, requires_grad=True)], **kw)
    with pytest.raises(ValueError, match=message) as error:
        optim.Muon([Parameter(np.ones((2, 2)))], **kw)
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match=message):   # a group's own value is checked too
        optim.Muon([{"params": [Parameter(np.ones((2, 2)))]}, {"params": [Parameter(np.ones((2, 2)))], **kw}])


@pytest.mark.parametrize("kw,message", [
    (dict(ns_steps=100), "Number of steps must be less than 100"),
    (dict(ns_coefficients=(1.0, 2.0)), "Coefficients must be a tuple of exactly 3")])
def test_bad_iteration_settings_raise_as_torch_here_when_built(kw, message):
    theirs = torch.optim.Muon([torch.ones(2, 2, requires_grad=True)], **kw)
    theirs.param_groups[0]["params"][0].grad = torch.ones(2, 2)
    with pytest.raises(ValueError, match=message):
        theirs.step()
    with pytest.raises(ValueError, match=message):
        optim.Muon([Parameter(np.ones((2, 2)))], **kw)


@pytest.mark.parametrize("shape", [(3,), (2, 3, 4), ()])
def test_only_matrices_are_taken_as_in_torch(shape):
    message = "Muon only supports 2D parameters whereas we found a parameter with size"
    with pytest.raises(ValueError, match=message):
        torch.optim.Muon([torch.ones(shape, requires_grad=True)])
    with pytest.raises(ValueError, match=message) as error:
        optim.Muon([Parameter(np.ones((2, 2))), Parameter(np.ones(shape))])
    assert "\n" not in str(error.value)
    opt = optim.Muon([Parameter(np.ones((2, 2)))])
    with pytest.raises(ValueError, match=message):   # a group added later too (torch: at its first step)
        opt.add_param_group({"params": [Parameter(np.ones(shape))]})
    assert len(opt.param_groups) == 1


def test_complex_parameters_are_refused_as_in_torch():
    theirs = torch.optim.Muon([torch.ones(2, 2, dtype=torch.complex128, requires_grad=True)])
    theirs.param_groups[0]["params"][0].grad = torch.ones(2, 2, dtype=torch.complex128)
    with pytest.raises(RuntimeError, match="Muon does not support complex parameters"):
        theirs.step()
    p = Parameter(np.ones((2, 2), dtype=np.complex128))
    ours = optim.Muon([p])
    p.grad = np.ones((2, 2), dtype=np.complex128)
    with pytest.raises(RuntimeError, match="Muon does not support complex parameters"):
        ours.step()


# ================================================================================================ swa_utils
def _models(seed, dtype=np.float64):
    """A minimlp model and torch's twin with the same weights: Linear, BatchNorm1d, ReLU, Linear, BatchNorm1d."""
    rng = np.random.default_rng(seed)
    ours = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3), nn.BatchNorm1d(3)).to(
        dtype=dtype)
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                                 torch.nn.Linear(8, 3), torch.nn.BatchNorm1d(3)).to(torch.float64)
    for _, p in ours.named_parameters():
        p.data[...] = rng.standard_normal(p.shape)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def _train_a_little(ours, theirs, rng):
    """New weights in both (as an optimizer would leave them) and a training-mode forward (new BN statistics)."""
    for (_, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        value = p.data + 0.3 * rng.standard_normal(p.shape)
        p.data[...] = value
        with torch.no_grad():
            q.copy_(torch.tensor(value))
    x = rng.standard_normal((6, 5))
    ours.train(), theirs.train()
    ours(x)
    theirs(torch.tensor(x))


def _assert_state_same(ours, theirs, rtol=RTOL):
    mine, torchs = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(torchs)
    for key, value in torchs.items():
        value = value.numpy()
        assert mine[key].dtype == value.dtype, key
        np.testing.assert_allclose(mine[key], value, rtol=rtol, atol=rtol * max(np.abs(value).max(), 1), err_msg=key)


AVERAGES = {
    "swa-default": lambda m: {},
    "swa-avg_fn": lambda m: dict(avg_fn=m.get_swa_avg_fn()),
    "swa-multi_avg_fn": lambda m: dict(multi_avg_fn=m.get_swa_multi_avg_fn()),
    "ema-avg_fn": lambda m: dict(avg_fn=m.get_ema_avg_fn(0.9)),
    "ema-multi_avg_fn": lambda m: dict(multi_avg_fn=m.get_ema_multi_avg_fn(0.7)),
    "ema-multi_avg_fn-default-decay": lambda m: dict(multi_avg_fn=m.get_ema_multi_avg_fn()),
}


@pytest.mark.parametrize("use_buffers", [False, True])
@pytest.mark.parametrize("average", AVERAGES)
def test_averaged_model_matches_torchs_over_several_updates(average, use_buffers):
    if average == "swa-multi_avg_fn" and use_buffers:
        pytest.skip("torch's swa multi_avg_fn fails on the integer num_batches_tracked (addcdiv of integers)")
    ours, theirs = _models(11)
    swa_ours = swa_utils.AveragedModel(ours, use_buffers=use_buffers, **AVERAGES[average](swa_utils))
    swa_theirs = torch.optim.swa_utils.AveragedModel(theirs, use_buffers=use_buffers,
                                                     **AVERAGES[average](torch.optim.swa_utils))
    _assert_state_same(swa_ours, swa_theirs)
    rng = np.random.default_rng(12)
    for _ in range(6):
        _train_a_little(ours, theirs, rng)
        swa_ours.update_parameters(ours)
        swa_theirs.update_parameters(theirs)
        _assert_state_same(swa_ours, swa_theirs)
    assert int(swa_ours.n_averaged) == 6 and swa_ours.n_averaged.dtype == np.int64
    x = rng.standard_normal((4, 5))
    swa_ours.eval(), swa_theirs.eval()
    np.testing.assert_allclose(swa_ours(x), swa_theirs(torch.tensor(x)).detach().numpy(), rtol=1e-12, atol=1e-12)
    assert ours.state_dict().keys() == swa_ours.module.state_dict().keys()
    assert not np.shares_memory(ours[0].weight.data, swa_ours.module[0].weight.data)


def test_the_averages_are_the_formulas():
    """SWA after n updates is the mean of the n models; EMA is d·θ̄ + (1 − d)·θ from the first model on."""
    rng = np.random.default_rng(13)
    model = nn.Linear(3, 2).to(dtype=np.float64)
    swa = swa_utils.AveragedModel(model)
    ema = swa_utils.AveragedModel(model, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.8))
    seen, expected_ema = [], None
    for _ in range(5):
        model.weight.data[...] = rng.standard_normal((2, 3))
        seen.append(model.weight.data.copy())
        swa.update_parameters(model)
        ema.update_parameters(model)
        expected_ema = seen[0] if expected_ema is None else 0.8 * expected_ema + 0.2 * seen[-1]
    np.testing.assert_allclose(swa.module.weight.data, np.mean(seen, axis=0), rtol=1e-13)
    np.testing.assert_allclose(ema.module.weight.data, expected_ema, rtol=1e-13)


def test_the_functions_on_arrays_are_torchs():
    rng = np.random.default_rng(14)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    n = np.array(2, dtype=np.int64)
    for name, args in [("get_ema_avg_fn", (0.9,)), ("get_swa_avg_fn", ())]:
        ours = getattr(swa_utils, name)(*args)(a, b, n)
        theirs = getattr(torch.optim.swa_utils, name)(*args)(torch.tensor(a), torch.tensor(b), torch.tensor(2))
        np.testing.assert_array_equal(ours, theirs.numpy())
    for name, args in [("get_ema_multi_avg_fn", (0.9,)), ("get_ema_multi_avg_fn", (0.3,)),
                       ("get_swa_multi_avg_fn", ())]:
        # n an array: torch's weight 1/(n + 1) is a float32 number (its 0-d tensor's default dtype); an int: a float
        for count in (n, 2):
            mine, torchs = [a.copy(), b.copy()], [torch.tensor(a), torch.tensor(b)]
            getattr(swa_utils, name)(*args)(mine, [b, a], count)
            getattr(torch.optim.swa_utils, name)(*args)(torchs, [torch.tensor(b), torch.tensor(a)],
                                                        torch.tensor(2) if count is n else 2)
            for x, y in zip(mine, torchs):   # torch's lerp is fused (one rounding): 1e-15
                np.testing.assert_allclose(x, y.numpy(), rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("decay", [-0.1, 1.5])
def test_a_decay_outside_0_1_is_refused_as_torch(decay):
    for module in (torch.optim.swa_utils, swa_utils):
        for name in ("get_ema_multi_avg_fn", "get_ema_avg_fn"):
            with pytest.raises(ValueError, match=f"Invalid decay value {decay} provided"):
                getattr(module, name)(decay)


def test_averaged_model_refuses_both_functions_as_torch():
    for module, model in ((torch.optim.swa_utils, torch.nn.Linear(2, 2)), (swa_utils, nn.Linear(2, 2))):
        with pytest.raises(AssertionError, match="Only one of avg_fn and multi_avg_fn should be provided"):
            module.AveragedModel(model, avg_fn=module.get_swa_avg_fn(), multi_avg_fn=module.get_swa_multi_avg_fn())


def test_averaged_model_state_dict_round_trip_and_signature():
    ours, theirs = _models(15)
    swa = swa_utils.AveragedModel(ours)
    swa.update_parameters(ours)
    swa.update_parameters(ours)
    torch_swa = torch.optim.swa_utils.AveragedModel(theirs)
    torch_swa.load_state_dict({k: torch.tensor(v) for k, v in swa.state_dict().items()})   # ours loads in torch's
    assert int(torch_swa.n_averaged) == 2
    fresh = swa_utils.AveragedModel(_models(16)[0])
    fresh.load_state_dict({k: v.numpy() for k, v in torch_swa.state_dict().items()})    # and torch's in ours
    _assert_state_same(fresh, torch_swa)
    names = lambda f: [(p.name, p.default) for p in inspect.signature(f).parameters.values()]  # noqa: E731
    for name in ("AveragedModel", "update_bn", "SWALR", "get_ema_multi_avg_fn", "get_swa_multi_avg_fn",
                 "get_ema_avg_fn", "get_swa_avg_fn"):
        assert names(getattr(swa_utils, name)) == names(getattr(torch.optim.swa_utils, name)), name
    assert sorted(swa_utils.__all__) == sorted(torch.optim.swa_utils.__all__)


def test_averaged_model_backward_goes_through_the_copy():
    """The copy's own gradients (torch's autograd goes through the averaged model too)."""
    ours, theirs = _models(17)
    swa, torch_swa = swa_utils.AveragedModel(ours), torch.optim.swa_utils.AveragedModel(theirs)
    x = np.random.default_rng(18).standard_normal((6, 5))
    xt = torch.tensor(x, requires_grad=True)
    torch_swa(xt).sum().backward()
    dx = swa.backward(np.ones_like(swa(x)))
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for (name, p), (_, q) in zip(swa.named_parameters(), torch_swa.named_parameters()):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    assert all(p.grad is None for p in ours.parameters())


# ---------------------------------------------------------------------------------------------- update_bn
@pytest.mark.parametrize("pairs", [True, False], ids=["x,y batches", "x batches"])
@pytest.mark.parametrize("training", [True, False])
def test_update_bn_matches_torchs(pairs, training):
    ours, theirs = _models(19)
    rng = np.random.default_rng(20)
    _train_a_little(ours, theirs, rng)
    ours[1].momentum, theirs[1].momentum = 0.3, 0.3
    ours.train(training), theirs.train(training)
    batches = [rng.standard_normal((n, 5)) * 2 + 1 for n in (7, 4, 9, 5)]
    labels = [rng.standard_normal(len(x)) for x in batches]
    loader = list(zip(batches, labels)) if pairs else batches
    torch_loader = [(torch.tensor(x), torch.tensor(y)) for x, y in zip(batches, labels)] if pairs else \
        [torch.tensor(x) for x in batches]
    swa_utils.update_bn(loader, ours)
    torch.optim.swa_utils.update_bn(torch_loader, theirs)
    _assert_state_same(ours, theirs, rtol=1e-12)
    assert int(ours[1].num_batches_tracked) == 4
    assert (ours[1].momentum, ours[4].momentum) == (0.3, 0.1)
    assert ours.training == training and all(m.training == training for m in ours.modules())


def test_update_bn_is_the_cumulative_average_and_moves_batches_to_device():
    model = nn.BatchNorm1d(3, momentum=0.5).to(dtype=np.float64)
    rng = np.random.default_rng(21)
    batches = [rng.standard_normal((n, 3)) for n in (4, 6, 5)]
    swa_utils.update_bn(iter(batches), model, device="cpu")
    np.testing.assert_allclose(model.running_mean, np.mean([x.mean(0) for x in batches], axis=0), rtol=1e-13)
    np.testing.assert_allclose(model.running_var, np.mean([x.var(0, ddof=1) for x in batches], axis=0), rtol=1e-13)
    assert model.momentum == 0.5


def test_update_bn_without_batchnorm_leaves_the_model_alone():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU()).eval()
    swa_utils.update_bn([np.ones((1, 3))], model)   # the wrong width: never run
    assert not model.training


# -------------------------------------------------------------------------------------------------- SWALR
SWALR_CASES = [
    dict(swa_lr=0.01),
    dict(swa_lr=[0.01, 0.2], anneal_epochs=4, anneal_strategy="linear"),
    dict(swa_lr=0.02, anneal_epochs=1),
    dict(swa_lr=0.02, anneal_epochs=0, anneal_strategy="linear"),
    dict(swa_lr=0.03, anneal_epochs=7, anneal_strategy="cos"),
]


def _sgd(module, params):
    return module.SGD([{"params": params[:1], "lr": 0.1}, {"params": params[1:], "lr": 0.05}], momentum=0.9)


@pytest.mark.parametrize("kw", SWALR_CASES, ids=[str(kw) for kw in SWALR_CASES])
def test_swalr_rates_step_for_step_as_torch(kw):
    ours = _sgd(optim, [Parameter(np.ones((2, 2))), Parameter(np.ones(2))])
    theirs = _sgd(torch.optim, [torch.ones(2, 2, requires_grad=True), torch.ones(2, requires_grad=True)])
    mine, torchs = swa_utils.SWALR(ours, **kw), torch.optim.swa_utils.SWALR(theirs, **kw)
    assert [g["swa_lr"] for g in ours.param_groups] == [g["swa_lr"] for g in theirs.param_groups]
    for t in range(15):
        assert mine.get_last_lr() == torchs.get_last_lr(), t
        assert [g["lr"] for g in ours.param_groups] == [g["lr"] for g in theirs.param_groups], t
        if t == 6:   # a rate changed from outside carries through, as torch's
            for opt in (ours, theirs):
                opt.param_groups[0]["lr"] *= 0.5
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs.step()
        mine.step(), torchs.step()
    assert math.isclose(ours.param_groups[1]["lr"], ours.param_groups[1]["swa_lr"])


def test_swalr_state_dict_has_torchs_keys_and_resumes():
    ours = _sgd(optim, [Parameter(np.ones((2, 2))), Parameter(np.ones(2))])
    theirs = _sgd(torch.optim, [torch.ones(2, 2, requires_grad=True), torch.ones(2, requires_grad=True)])
    mine, torchs = swa_utils.SWALR(ours, 0.01, 5, "linear"), torch.optim.swa_utils.SWALR(theirs, 0.01, 5, "linear")
    for _ in range(3):
        mine.step()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torchs.step()
    assert mine.state_dict() == torchs.state_dict()
    resumed = swa_utils.SWALR(ours, 0.01)   # cos, 10: the state says linear, 5
    resumed.load_state_dict(mine.state_dict())
    assert resumed.anneal_func is swa_utils.SWALR._linear_anneal and resumed.anneal_epochs == 5
    with pytest.warns(UserWarning, match="get_last_lr"):
        mine.get_lr()


@pytest.mark.parametrize("kw,message", [
    (dict(swa_lr=0.1, anneal_strategy="exp"), "anneal_strategy must be one of 'cos' or 'linear', instead got exp"),
    (dict(swa_lr=0.1, anneal_epochs=-1), "anneal_epochs must be equal or greater than 0, got -1"),
    (dict(swa_lr=0.1, anneal_epochs=2.5), "anneal_epochs must be equal or greater than 0, got 2.5"),
    (dict(swa_lr=[0.1, 0.2, 0.3]), "swa_lr must have the same length as optimizer.param_groups. swa_lr has 3 values"),
])
def test_swalr_bad_arguments_raise_as_torch(kw, message):
    theirs = _sgd(torch.optim, [torch.ones(2, 2, requires_grad=True), torch.ones(2, requires_grad=True)])
    with pytest.raises(ValueError, match=message):
        torch.optim.swa_utils.SWALR(theirs, **kw)
    with pytest.raises(ValueError, match=message) as error:
        swa_utils.SWALR(_sgd(optim, [Parameter(np.ones((2, 2))), Parameter(np.ones(2))]), **kw)
    assert "\n" not in str(error.value)
