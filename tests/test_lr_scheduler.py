"""minimlp.optim.lr_scheduler against torch.optim.lr_scheduler: equal rate sequences, 100 steps."""
import math
import warnings

import numpy as np
import pytest
import torch

import minimlp
import minimlp.optim as optim
from minimlp.nn.parameter import Parameter
from minimlp.optim import lr_scheduler as ours_sched

STEPS = 100


def _optimizers(name="SGD", **kw):
    """Ours and torch's, with two parameter groups of different rates."""
    ours_p = [Parameter(np.zeros(3)), Parameter(np.zeros(2))]
    torch_p = [torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)]
    groups = lambda p: [{"params": [p[0]], "lr": 0.1}, {"params": [p[1]], "lr": 0.03}]  # noqa: E731
    return getattr(optim, name)(groups(ours_p), **kw), getattr(torch.optim, name)(groups(torch_p), **kw)


def _extra(opt):
    """The momentum-like value each group holds (cycled by OneCycleLR)."""
    return [g.get("momentum", g.get("betas", (None,))[0]) for g in opt.param_groups]


def _run(make, opt_name="SGD", opt_kw=None, metrics=None, resume_at=None, tmp_path=None):
    opt_kw = opt_kw if opt_kw is not None else {"momentum": 0.9}
    o_opt, t_opt = _optimizers(opt_name, **opt_kw)
    o_s, t_s = make(ours_sched, o_opt), make(torch.optim.lr_scheduler, t_opt)
    seq_o, seq_t = [list(o_s.get_last_lr())], [list(t_s.get_last_lr())]
    mom_o, mom_t = [_extra(o_opt)], [_extra(t_opt)]
    for t in range(1, STEPS):
        if resume_at == t:
            path = tmp_path / "ckpt.npz"
            minimlp.save({"opt": o_opt.state_dict(), "sched": o_s.state_dict()}, str(path))
            saved = minimlp.load(str(path))
            o_opt, _ = _optimizers(opt_name, **opt_kw)
            o_s = make(ours_sched, o_opt)
            o_opt.load_state_dict(saved["opt"])
            o_s.load_state_dict(saved["sched"])
        o_opt.step()
        t_opt.step()
        if metrics is None:
            o_s.step()
            t_s.step()
        else:
            o_s.step(metrics[t])
            t_s.step(metrics[t])
        seq_o.append(list(o_s.get_last_lr()))
        seq_t.append(list(t_s.get_last_lr()))
        mom_o.append(_extra(o_opt))
        mom_t.append(_extra(t_opt))
    assert [g["lr"] for g in o_opt.param_groups] == seq_o[-1]
    return seq_o, seq_t, mom_o, mom_t


def _assert_same(seq_o, seq_t, rel=0.0):
    assert len(seq_o) == len(seq_t) == STEPS
    for t, (a, b) in enumerate(zip(seq_o, seq_t)):
        assert a == pytest.approx(b, rel=rel, abs=0.0), f"step {t}: {a} vs torch {b}"


SCHEDULES = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=7, gamma=0.5),
    "StepLR-default-gamma": lambda m, o: m.StepLR(o, step_size=30),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.95),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=100),
    "CosineAnnealingLR-restart": lambda m, o: m.CosineAnnealingLR(o, T_max=30, eta_min=1e-3),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=STEPS),
    "OneCycleLR-three-phase": lambda m, o: m.OneCycleLR(o, max_lr=0.8, total_steps=STEPS, three_phase=True),
    "OneCycleLR-linear": lambda m, o: m.OneCycleLR(o, max_lr=0.8, epochs=10, steps_per_epoch=10,
                                                   anneal_strategy="linear", pct_start=0.25),
    "OneCycleLR-linear-three-phase": lambda m, o: m.OneCycleLR(o, max_lr=0.8, total_steps=120, three_phase=True,
                                                               anneal_strategy="linear", div_factor=10.0),
    "OneCycleLR-no-momentum": lambda m, o: m.OneCycleLR(o, max_lr=0.8, total_steps=STEPS, cycle_momentum=False),
    "LambdaLR": lambda m, o: m.LambdaLR(o, lambda t: 0.97 ** t),
    "LambdaLR-per-group": lambda m, o: m.LambdaLR(o, [lambda t: 1 / (1 + t), lambda t: 0.5 if t % 10 < 5 else 1.0]),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[10, 30, 30, 75], gamma=0.3),
    "ConstantLR": lambda m, o: m.ConstantLR(o),
    "ConstantLR-factor": lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=40),
    "LinearLR": lambda m, o: m.LinearLR(o),
    "LinearLR-decay": lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=60),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, total_iters=80, power=2.0),
    "PolynomialLR-default": lambda m, o: m.PolynomialLR(o),
    "CosineAnnealingWarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=10),
    "CosineAnnealingWarmRestarts-mult": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=1e-3),
    "SequentialLR-warmup-cosine": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=10), m.CosineAnnealingLR(o, T_max=90)], milestones=[10]),
    "SequentialLR-three": lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.5, total_iters=8), m.ExponentialLR(o, gamma=0.9),
            m.StepLR(o, step_size=7, gamma=0.5), m.MultiStepLR(o, milestones=[70, 90])], milestones=[5, 40, 60]),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lambda t: 0.95 if t % 3 else 1.02),
    "MultiplicativeLR-per-group": lambda m, o: m.MultiplicativeLR(o, [lambda t: 0.9, lambda t: 1.0 / (1 + 0.01 * t)]),
    "CyclicLR": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=7),
    "CyclicLR-triangular2": lambda m, o: m.CyclicLR(o, base_lr=[0.01, 0.02], max_lr=[0.1, 0.3], step_size_up=5,
                                                    step_size_down=11, mode="triangular2", base_momentum=0.7),
    "CyclicLR-exp-range": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=6, mode="exp_range",
                                                  gamma=0.97),
    "CyclicLR-scale-fn": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4, cycle_momentum=False,
                                                 scale_fn=lambda x: 1 / (1 + x), scale_mode="iterations"),
    "ChainedScheduler": lambda m, o: m.ChainedScheduler([m.ConstantLR(o, factor=0.5, total_iters=9),
                                                         m.ExponentialLR(o, gamma=0.97)]),
    "SequentialLR-nested": lambda m, o: m.SequentialLR(
        o, [m.SequentialLR(o, [m.ConstantLR(o, factor=0.5, total_iters=4), m.ExponentialLR(o, gamma=0.9)],
                           milestones=[6]), m.LinearLR(o, start_factor=0.5, total_iters=20)], milestones=[30]),
}


@pytest.mark.parametrize("opt_name,opt_kw", [("SGD", {"momentum": 0.9}), ("Adam", {})], ids=["SGD", "Adam"])
@pytest.mark.parametrize("sched", SCHEDULES)
def test_sequence_equals_torch(sched, opt_name, opt_kw):
    seq_o, seq_t, mom_o, mom_t = _run(SCHEDULES[sched], opt_name, opt_kw)
    _assert_same(seq_o, seq_t)
    _assert_same(mom_o, mom_t)  # OneCycleLR cycles momentum / beta1; others leave it alone


def _plain(value):
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


@pytest.mark.parametrize("sched", SCHEDULES)
def test_state_dict_has_torchs_keys_and_values(sched):
    o_opt, t_opt = _optimizers("SGD", momentum=0.9)
    ours, theirs = SCHEDULES[sched](ours_sched, o_opt), SCHEDULES[sched](torch.optim.lr_scheduler, t_opt)
    for _ in range(37):
        o_opt.step()
        t_opt.step()
        ours.step()
        theirs.step()
    o_sd, t_sd = ours.state_dict(), theirs.state_dict()
    assert set(o_sd) == set(t_sd)
    for key, value in t_sd.items():
        if _plain(value):
            assert o_sd[key] == value, key


def test_get_lr_outside_step_warns_as_torch():
    o_opt, t_opt = _optimizers()
    ours, theirs = ours_sched.StepLR(o_opt, step_size=2), torch.optim.lr_scheduler.StepLR(t_opt, step_size=2)
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        theirs.get_lr()
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        assert ours.get_lr() == theirs.get_lr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours.step()


def test_one_cycle_loads_its_earlier_state_dict_name():
    o_opt, _ = _optimizers()
    saved = ours_sched.OneCycleLR(o_opt, max_lr=1.0, total_steps=10, anneal_strategy="linear").state_dict()
    saved["anneal_strategy"] = saved.pop("_anneal_func_type")
    again = ours_sched.OneCycleLR(_optimizers()[0], max_lr=1.0, total_steps=10)
    again.load_state_dict(saved)
    assert again.state_dict()["_anneal_func_type"] == "linear" and "anneal_strategy" not in again.state_dict()


@pytest.mark.parametrize("sched", ["StepLR", "CosineAnnealingLR-restart", "OneCycleLR", "OneCycleLR-three-phase",
                                   "LambdaLR", "MultiStepLR", "LinearLR-decay", "ConstantLR-factor", "PolynomialLR",
                                   "CosineAnnealingWarmRestarts-mult", "SequentialLR-warmup-cosine",
                                   "SequentialLR-three", "MultiplicativeLR", "CyclicLR-triangular2",
                                   "CyclicLR-exp-range", "ChainedScheduler"])
def test_state_dict_resume(sched, tmp_path):
    seq_o, seq_t, mom_o, mom_t = _run(SCHEDULES[sched], "Adam", {}, resume_at=41, tmp_path=tmp_path)
    _assert_same(seq_o, seq_t)
    _assert_same(mom_o, mom_t)


def _metrics(seed=0):
    """Falls, plateaus, rises and wiggles: every branch of ReduceLROnPlateau gets used."""
    rng = np.random.default_rng(seed)
    t = np.arange(STEPS)
    curve = np.where(t < 20, 1.0 - 0.03 * t, 0.43) + np.where((t > 50) & (t < 60), -0.2, 0.0)
    return [float(v) for v in curve + 1e-5 * rng.standard_normal(STEPS)]


PLATEAU = {
    "min-rel": dict(patience=3),
    "min-abs": dict(threshold_mode="abs", threshold=1e-3, patience=2),
    "max-rel": dict(mode="max", patience=4, factor=0.5),
    "max-abs": dict(mode="max", threshold_mode="abs", threshold=0.01, patience=1),
    "cooldown": dict(patience=2, cooldown=5, factor=0.7),
    "min-lr": dict(patience=1, factor=0.5, min_lr=0.01),
    "min-lr-list": dict(patience=1, factor=0.3, min_lr=[0.02, 0.001], cooldown=1),
    "eps": dict(patience=0, factor=0.9, eps=1e-3),
}


@pytest.mark.parametrize("cfg", PLATEAU)
def test_reduce_on_plateau_equals_torch(cfg):
    metrics = _metrics() if "max" not in cfg else [-m for m in _metrics()]
    make = lambda m, o: m.ReduceLROnPlateau(o, **PLATEAU[cfg])  # noqa: E731
    seq_o, seq_t, _, _ = _run(make, metrics=metrics)
    _assert_same(seq_o, seq_t)
    assert len({tuple(s) for s in seq_o}) > 1  # the rate did change


@pytest.mark.parametrize("mode", ["min", "max"])
def test_reduce_on_plateau_state_dict_and_epoch_as_torch(mode):
    o_opt, t_opt = _optimizers()
    ours = ours_sched.ReduceLROnPlateau(o_opt, mode=mode, patience=1)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, mode=mode, patience=1)
    for metric in _metrics()[:12]:
        ours.step(metric)
        theirs.step(metric)
    with pytest.warns(UserWarning, match="epoch parameter"):
        ours.step(0.5, epoch=30)
    with pytest.warns(UserWarning, match="epoch parameter"):
        theirs.step(0.5, epoch=30)
    o_sd, t_sd = ours.state_dict(), theirs.state_dict()
    assert set(o_sd) == set(t_sd)
    assert {k: v for k, v in o_sd.items() if _plain(v)} == {k: v for k, v in t_sd.items() if _plain(v)}
    assert o_sd["last_epoch"] == 30


def test_reduce_on_plateau_resume(tmp_path):
    make = lambda m, o: m.ReduceLROnPlateau(o, patience=2, cooldown=3, factor=0.5)  # noqa: E731
    seq_o, seq_t, _, _ = _run(make, metrics=_metrics(1), resume_at=25, tmp_path=tmp_path)
    _assert_same(seq_o, seq_t)


def test_bad_arguments_are_named():
    o_opt, _ = _optimizers()
    with pytest.raises(ValueError, match="Factor should be < 1.0, got 1.5"):
        ours_sched.ReduceLROnPlateau(o_opt, factor=1.5)
    with pytest.raises(ValueError, match="'median'"):
        ours_sched.ReduceLROnPlateau(o_opt, mode="median")
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 3"):
        ours_sched.ReduceLROnPlateau(o_opt, min_lr=[0.1, 0.1, 0.1])
    with pytest.raises(ValueError, match="total_steps, but got 0"):
        ours_sched.OneCycleLR(o_opt, max_lr=1.0, total_steps=0)
    with pytest.raises(ValueError, match="pct_start, but got 1.5"):
        ours_sched.OneCycleLR(o_opt, max_lr=1.0, total_steps=10, pct_start=1.5)
    with pytest.raises(TypeError, match="not an Optimizer"):
        ours_sched.StepLR(object(), step_size=3)
    sched = ours_sched.OneCycleLR(o_opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        sched.step()
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        sched.step()


def test_state_dict_is_plain():
    o_opt, _ = _optimizers("Adam")
    sd = ours_sched.OneCycleLR(o_opt, max_lr=1.0, total_steps=10).state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 0 and sd["_anneal_func_type"] == "cos"
    assert math.isclose(o_opt.param_groups[0]["initial_lr"], 0.04)


def test_lambda_lr_saves_a_callable_objects_attributes_but_not_a_function():
    class Decay:
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, t):
            return self.rate ** t

    o_opt, _ = _optimizers()
    sd = ours_sched.LambdaLR(o_opt, [Decay(0.5), lambda t: 1.0]).state_dict()
    assert sd["lr_lambdas"] == [{"rate": 0.5}, None]
    again = ours_sched.LambdaLR(_optimizers()[0], [Decay(0.9), lambda t: 1.0])
    again.load_state_dict(sd)
    assert again.lr_lambdas[0].rate == 0.5


def test_warm_restarts_take_a_fractional_epoch_as_torch():
    o_opt, t_opt = _optimizers()
    ours = ours_sched.CosineAnnealingWarmRestarts(o_opt, T_0=4, T_mult=2)
    theirs = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(t_opt, T_0=4, T_mult=2)
    for epoch in (0.5, 1.25, 3.9, 4.0, 7.5, 13.0, 2.0):
        ours.step(epoch)
        theirs.step(epoch)
        assert ours.get_last_lr() == theirs.get_last_lr(), epoch


@pytest.mark.parametrize("make,pattern", [
    (lambda o: ours_sched.LambdaLR(o, [lambda t: 1.0]), "Expected 2 lr_lambdas, but got 1"),
    (lambda o: ours_sched.ConstantLR(o, factor=1.5), "Constant multiplicative factor expected to be between 0 and 1"),
    (lambda o: ours_sched.LinearLR(o, start_factor=0), "Starting multiplicative factor expected to be greater than 0"),
    (lambda o: ours_sched.CosineAnnealingWarmRestarts(o, T_0=0), "Expected positive integer T_0, but got 0"),
    (lambda o: ours_sched.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=0), "Expected integer T_mult >= 1, but got 0"),
    (lambda o: ours_sched.SequentialLR(o, [ours_sched.StepLR(o, 3)], milestones=[4]), "number of milestones"),
    (lambda o: ours_sched.SequentialLR(o, [ours_sched.ReduceLROnPlateau(o), ours_sched.StepLR(o, 3)], [4]),
     "does not support `ReduceLROnPlateau`"),
    (lambda o: ours_sched.SequentialLR(o, [ours_sched.StepLR(_optimizers()[0], 3)], []), "same optimizer"),
])
def test_new_schedules_refuse_bad_arguments(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make(_optimizers()[0])


@pytest.mark.parametrize("make", [
    lambda o, m: m.StepLR(o, 2, 0.5), lambda o, m: m.ExponentialLR(o, 0.9), lambda o, m: m.CosineAnnealingLR(o, 10),
    lambda o, m: m.MultiStepLR(o, [2, 5], 0.1), lambda o, m: m.LinearLR(o), lambda o, m: m.PolynomialLR(o, 8, 2.0),
    lambda o, m: m.OneCycleLR(o, 0.1, total_steps=20)],
    ids=["step", "exponential", "cosine", "multistep", "linear", "polynomial", "onecycle"])
def test_step_with_an_epoch_jumps_there_as_torch_with_its_warning(make):
    """torch's deprecated ``scheduler.step(epoch)``: the closed form at that epoch where there is one."""
    ours_opt, theirs_opt = _optimizers()
    ours, theirs = make(ours_opt, ours_sched), make(theirs_opt, torch.optim.lr_scheduler)
    for epoch in (3, 5, 4, 9, 10):
        with pytest.warns(UserWarning, match="epoch parameter in `scheduler.step\\(\\)` was not necessary"):
            ours.step(epoch)
        with pytest.warns(UserWarning):
            theirs.step(epoch)
        assert ours.get_last_lr() == theirs.get_last_lr()
        assert ours.last_epoch == theirs.last_epoch == epoch
