"""LBFGS and Adafactor against torch.optim, step by step, in float64.

LBFGS: the Rosenbrock function (its gradient written by hand and fed to both frameworks, so only the optimizers
differ) and two small regressions (least squares and logistic regression, each framework running its own
Linear, loss and backward), with and without the strong-Wolfe line search, a history short enough to wrap,
``max_iter``/``max_eval`` limits and the tolerance stops. After every ``step(closure)``: the parameters, the
returned loss, the number of closure calls and every state entry (``func_evals``, ``n_iter``, ``d``, ``t``,
the history, ``H_diag``, ``al``, ...) agree with torch's. The last bits differ (torch's dot products sum in
another order and its ``add_(alpha=)`` fuses the multiply-add), so agreement is to 1e-10, not to the bit. The
strong-Wolfe line search is also compared alone with torch's ``_strong_wolfe`` (and ``cubic_interpolate`` with
``_cubic_interpolate``) on smooth, two-minima, kinked and cusped functions, from steps too short and too long, so
that every branch of it runs (extrapolation, running out of evaluations, the zoom's moved trials and its stop on
a bracket shorter than ``tolerance_change``).

Adafactor: identical seeded random gradients into a vector, a matrix and a 3-d tensor in two groups; every
state entry (``row_var``, ``col_var``, ``variance``, ``step``) to 1e-12 over 25 steps.
"""
import numpy as np
import pytest
import torch

import minimlp
import minimlp.optim as optim
from minimlp import nn
from minimlp.nn.parameter import Parameter

RTOL = 1e-10


def _close(got, expected, what, rtol=RTOL):
    expected = np.asarray(expected)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=rtol,
                               atol=rtol * max(np.abs(expected).max(initial=0.0), 1.0), err_msg=what)


def _numpy(value):
    """A torch state value as NumPy: tensors as arrays, lists entry by entry, numbers and None as they are."""
    if isinstance(value, list):
        return [_numpy(v) for v in value]
    return value.detach().numpy() if isinstance(value, torch.Tensor) else value


# ============================================================================================ LBFGS
def _rosenbrock(x):
    """f(x) = Σᵢ 100 (xᵢ₊₁ − xᵢ²)² + (1 − xᵢ)² and its gradient."""
    f = float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))
    g = np.zeros_like(x)
    g[:-1] += -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200 * (x[1:] - x[:-1] ** 2)
    return f, g


class _Rosenbrock:
    """Six coordinates held as two parameters (shapes (2,) and (2, 2)); one hand-written gradient for both."""

    def __init__(self, seed, dtype=np.float64):
        rng = np.random.default_rng(seed)
        init = [rng.uniform(-1.5, 1.5, s).astype(dtype) for s in [(2,), (2, 2)]]
        self.ours = [Parameter(a.copy()) for a in init]
        self.theirs = [torch.tensor(a, requires_grad=True) for a in init]
        self.calls = [0, 0]

    @staticmethod
    def _evaluate(values, write):
        f, g = _rosenbrock(np.concatenate([v.reshape(-1) for v in values]))
        offset = 0
        for i, v in enumerate(values):
            write(i, g[offset:offset + v.size].reshape(v.shape))
            offset += v.size
        return f

    def closure_ours(self):
        self.calls[0] += 1

        def write(i, g):
            self.ours[i].grad = g
        return self._evaluate([p.data for p in self.ours], write)

    def closure_theirs(self):
        self.calls[1] += 1

        def write(i, g):
            self.theirs[i].grad = torch.tensor(g)
        return self._evaluate([q.detach().numpy() for q in self.theirs], write)

    def fresh_ours(self):
        self.ours = [Parameter(p.data.copy()) for p in self.ours]
        return self.ours


class _Regression:
    """Linear(5, 3) with MSE (``"least_squares"``) or Linear(5, 1) with BCE on logits (``"logistic"``) over a
    fixed batch of unevenly scaled features: each framework's own forward and backward."""

    def __init__(self, seed, kind):
        rng = np.random.default_rng(seed)
        outputs = 3 if kind == "least_squares" else 1
        self.x = rng.standard_normal((24, 5)) * [1.0, 2.0, 0.5, 1.0, 1.5]   # scaled unevenly: more iterations
        w_true = rng.standard_normal((5, outputs))
        if kind == "least_squares":
            self.y = self.x @ w_true + 0.3 * rng.standard_normal((24, outputs))
            self.loss, self.tloss = nn.MSELoss(), torch.nn.functional.mse_loss
        else:
            self.y = (self.x @ w_true + rng.standard_normal((24, 1)) > 0).astype(np.float64)
            self.loss, self.tloss = nn.BCEWithLogitsLoss(), torch.nn.functional.binary_cross_entropy_with_logits
        torch.manual_seed(seed)
        self.tmodel = torch.nn.Linear(5, outputs).double()
        self.model = self._build({k: v.detach().numpy() for k, v in self.tmodel.state_dict().items()})
        self.theirs = list(self.tmodel.parameters())
        self.calls = [0, 0]

    def _build(self, state):
        model = nn.Linear(5, self.tmodel.out_features).to(dtype=np.float64)
        model.load_state_dict(state)
        self.model, self.ours = model, list(model.parameters())
        return model

    def closure_ours(self):
        self.calls[0] += 1
        self.model.zero_grad()
        loss = self.loss(self.model(self.x), self.y)
        self.model.backward(self.loss.backward())
        return float(loss)

    def closure_theirs(self):
        self.calls[1] += 1
        self.tmodel.zero_grad()
        loss = self.tloss(self.tmodel(torch.tensor(self.x)), torch.tensor(self.y))
        loss.backward()
        return loss

    def fresh_ours(self):
        self._build(self.model.state_dict())
        return self.ours


PROBLEMS = {
    "rosenbrock": lambda: _Rosenbrock(0),
    "least_squares": lambda: _Regression(1, "least_squares"),
    "logistic": lambda: _Regression(2, "logistic"),
}

# (problem, LBFGS options, what the case must exercise)
LBFGS_CASES = [
    ("rosenbrock", dict(lr=0.1, history_size=3, max_iter=5), "wraps"),
    ("rosenbrock", dict(line_search_fn="strong_wolfe", history_size=3, max_iter=6), "wraps"),
    ("rosenbrock", dict(line_search_fn="strong_wolfe", max_iter=10, max_eval=12), "max_eval"),
    ("rosenbrock", dict(line_search_fn="strong_wolfe", tolerance_grad=1e-6), "converges"),
    ("least_squares", dict(), "converges"),
    ("least_squares", dict(history_size=3, max_iter=4), "wraps"),
    ("least_squares", dict(line_search_fn="strong_wolfe", history_size=2, tolerance_change=1e-5), "converges"),
    ("logistic", dict(lr=0.5, history_size=3, max_iter=7, max_eval=5), "max_eval"),
    ("logistic", dict(line_search_fn="strong_wolfe", history_size=3, max_iter=3), "wraps"),
    ("logistic", dict(line_search_fn="strong_wolfe", tolerance_grad=1e-4, tolerance_change=1e-7), "converges"),
    # the first trial steps far too long: the zoom's trials land near the bracket's ends and are moved off them
    ("logistic", dict(lr=300, line_search_fn="strong_wolfe", max_iter=6), "zooms"),
]
LBFGS_IDS = [f"{p}-" + ",".join(f"{k}={v}" for k, v in kw.items()) for p, kw, _ in LBFGS_CASES]
LBFGS_STEPS, LBFGS_RESUME_AT = 6, 3


def _same_lbfgs_state(ours, theirs, problem, t):
    mine, torchs = ours.state[0], theirs.state[problem.theirs[0]]
    assert set(mine) == set(torchs), (t, sorted(mine), sorted(torchs))
    assert all(not ours.state[i] for i in range(1, len(ours.state)))
    for key, value in torchs.items():
        value = _numpy(value)
        if key in ("func_evals", "n_iter"):
            assert mine[key] == value, (t, key, mine[key], value)
        elif isinstance(value, list):   # the history: y, s, ρ = 1/yᵀs, and the two-loop's α (None until set)
            assert len(mine[key]) == len(value), (t, key)
            assert [a is None for a in mine[key]] == [b is None for b in value], (t, key)
            pairs = [(a, b) for a, b in zip(mine[key], value) if b is not None]
            if key == "ro":   # yᵀs compared, to the scale of the products of y and s
                pairs = [(1 / a, 1 / b) for a, b in pairs]
            scale = max([float(np.abs(b).max()) for _, b in pairs] + [1.0])
            for j, (a, b) in enumerate(pairs):
                np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * scale, err_msg=f"step {t}: {key}[{j}]")
        else:
            _close(mine[key], value, f"step {t}: {key}")


def _run_lbfgs(name, kw, *, restart=None, steps=LBFGS_STEPS):
    """``steps`` calls of ``step(closure)`` in both frameworks, compared after each; ``restart(ours, theirs)``
    at LBFGS_RESUME_AT returns the state_dict a fresh optimizer over fresh parameters loads."""
    problem = PROBLEMS[name]()
    ours, theirs = optim.LBFGS(problem.ours, **kw), torch.optim.LBFGS(problem.theirs, **kw)
    history = []
    for t in range(steps):
        if restart is not None and t == LBFGS_RESUME_AT:
            saved = restart(ours, theirs)
            ours = optim.LBFGS(problem.fresh_ours(), **kw)
            ours.load_state_dict(saved)
        mine, torchs = ours.step(problem.closure_ours), _numpy(theirs.step(problem.closure_theirs))
        _close(mine, torchs, f"step {t}: the loss returned")
        for i, (p, q) in enumerate(zip(problem.ours, problem.theirs)):
            _close(p.data, q.detach().numpy(), f"step {t}: parameter {i}")
        assert problem.calls[0] == problem.calls[1], (t, problem.calls)
        _same_lbfgs_state(ours, theirs, problem, t)
        history.append((ours.state[0]["func_evals"], ours.state[0]["n_iter"], len(ours.state[0].get("old_dirs", ())),
                        mine))
    return ours, theirs, problem, history


@pytest.mark.parametrize("name,kw,exercises", LBFGS_CASES, ids=LBFGS_IDS)
def test_lbfgs_trajectory_and_state_match_torch(name, kw, exercises):
    _, _, _, history = _run_lbfgs(name, kw)
    evals = np.diff([0] + [h[0] for h in history])
    iters = np.diff([0] + [h[1] for h in history])
    max_iter = kw.get("max_iter", 20)
    if exercises == "wraps":       # the history is full (pairs have been dropped)
        assert max(h[2] for h in history) == kw["history_size"] and history[-1][1] > kw["history_size"] + 1
    elif exercises == "max_eval":  # steps stopped by the evaluation budget before max_iter
        assert any(e >= kw["max_eval"] and i < max_iter for e, i in zip(evals, iters)), (evals, iters)
    elif exercises == "converges":  # a tolerance stopped a step early; the last step stopped at once
        max_eval = kw.get("max_eval", max_iter * 5 // 4)
        assert any(i < max_iter and e < max_eval for e, i in zip(evals, iters)), (evals, iters)
        assert evals[-1] == 1 and iters[-1] <= 1, (evals, iters)


@pytest.mark.parametrize("name,kw,exercises", LBFGS_CASES[1::2], ids=LBFGS_IDS[1::2])
def test_lbfgs_state_dict_round_trip_continues_exactly(name, kw, exercises, tmp_path):
    """Saved to a file mid-run and loaded into a fresh optimizer over fresh parameters: the same bits as the
    run that was not interrupted (and torch's trajectory)."""
    def saved(ours, theirs):
        path = tmp_path / "lbfgs.npz"
        minimlp.save(ours.state_dict(), str(path))
        return minimlp.load(str(path))
    straight = _run_lbfgs(name, kw)[2]
    resumed = _run_lbfgs(name, kw, restart=saved)[2]
    for a, b in zip(straight.ours, resumed.ours):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("name,kw,exercises", LBFGS_CASES[::3], ids=LBFGS_IDS[::3])
def test_lbfgs_loads_torchs_state_dict_mid_run(name, kw, exercises):
    """torch's state_dict (tensors as arrays) puts ours on torch's trajectory; ours has torch's layout."""
    def restart(ours, theirs):
        mine, torchs = ours.state_dict(), theirs.state_dict()
        assert list(mine["state"]) == list(torchs["state"]) == [0]
        assert set(mine["state"][0]) == set(torchs["state"][0])
        assert mine["param_groups"] == torchs["param_groups"]
        return {"state": {k: {n: _numpy(v) for n, v in s.items()} for k, s in torchs["state"].items()},
                "param_groups": torchs["param_groups"]}
    _run_lbfgs(name, kw, restart=restart)


LINE_FUNCTIONS = {   # f(x) and its gradient, for the line search alone
    "rosenbrock": _rosenbrock,
    "quartic": lambda x: (float(np.sum(x ** 4 - 3 * x ** 2 + x)), 4 * x ** 3 - 6 * x + 1),   # two minima a coordinate
    "abs": lambda x: (float(np.abs(x).sum()), np.sign(x)),   # kinks: no point meets the curvature condition
    # a cusp at each xᵢ = 0: the zoom stops on a bracket shorter than tolerance_change
    "sqrt_abs": lambda x: (float(np.sum(np.sqrt(np.abs(x) + 1e-3))), np.sign(x) * 0.5 / np.sqrt(np.abs(x) + 1e-3)),
}


@pytest.mark.parametrize("max_ls", [12, 2])   # 2: a short step still growing when the evaluations run out
@pytest.mark.parametrize("tolerance_change", [1e-9, 1e-3])
@pytest.mark.parametrize("t", [1e-3, 0.3, 1.0, 30.0])
@pytest.mark.parametrize("function", LINE_FUNCTIONS)
def test_strong_wolfe_line_search_matches_torchs(function, t, tolerance_change, max_ls):
    """The line search alone, from steps too short (it extrapolates), about right and too long (it zooms), on
    smooth, two-minima and kinked functions: the same point, loss, gradient and number of evaluations as
    torch's ``_strong_wolfe``; and ``cubic_interpolate`` as torch's on both orders of its points."""
    from torch.optim.lbfgs import _cubic_interpolate, _strong_wolfe

    from minimlp.formulas import lbfgs as formula
    fn = LINE_FUNCTIONS[function]
    x = np.random.default_rng(1).uniform(-1.5, 1.5, 6)
    f, g = fn(x)
    d = -g
    mine = formula.strong_wolfe(lambda step: fn(x + step * d), t, d, f, g, g.dot(d), tolerance_change=tolerance_change,
                                max_ls=max_ls)

    def evaluate(x_torch, step, d_torch):
        value, grad = fn(x + float(step) * d)
        return value, torch.tensor(grad)
    theirs = _strong_wolfe(evaluate, torch.tensor(x), t, torch.tensor(d), f, torch.tensor(g),
                           torch.tensor(g).dot(torch.tensor(d)), tolerance_change=tolerance_change, max_ls=max_ls)
    assert mine[3] == theirs[3]
    for a, b, what in zip(mine[:3], theirs[:3], ("loss", "gradient", "step")):
        _close(a, _numpy(b), what)
    rng = np.random.default_rng(int(t * 1e4))
    for _ in range(20):
        x1, f1, g1, x2, f2, g2 = rng.standard_normal(6)
        bounds = None if rng.random() < 0.5 else (min(x1, x2) - 0.5, max(x1, x2) + 0.5)
        _close(formula.cubic_interpolate(x1, f1, np.float64(g1), x2, f2, np.float64(g2), bounds),
               float(_cubic_interpolate(x1, f1, torch.tensor(g1), x2, f2, torch.tensor(g2), bounds)), "cubic")


def test_lbfgs_float32_stays_float32_and_close_to_torch():
    problem = _Rosenbrock(3, dtype=np.float32)
    kw = dict(line_search_fn="strong_wolfe", history_size=3, max_iter=4)
    ours, theirs = optim.LBFGS(problem.ours, **kw), torch.optim.LBFGS(problem.theirs, **kw)
    for t in range(3):
        ours.step(problem.closure_ours)
        theirs.step(problem.closure_theirs)
        for p, q in zip(problem.ours, problem.theirs):
            assert p.data.dtype == np.float32
            _close(p.data, q.detach().numpy(), f"step {t}", rtol=1e-4)
    state = ours.state[0]
    assert all(a.dtype == np.float32 for key in ("old_dirs", "old_stps") for a in state[key])
    assert state["d"].dtype == state["prev_flat_grad"].dtype == np.float32


def test_lbfgs_groups_signature_and_errors_as_torch():
    import inspect
    ours = inspect.signature(optim.LBFGS).parameters.values()
    theirs = inspect.signature(torch.optim.LBFGS).parameters.values()
    assert [(p.name, p.kind, p.default) for p in ours] == [(p.name, p.kind, p.default) for p in theirs]
    mine = optim.LBFGS([Parameter(np.ones(3))], max_iter=8).param_groups[0]
    torchs = torch.optim.LBFGS([torch.ones(3, requires_grad=True)], max_iter=8).param_groups[0]
    assert {k: v for k, v in mine.items() if k != "params"} == {k: v for k, v in torchs.items() if k != "params"}
    makers = ((torch.optim, lambda: torch.ones(2, requires_grad=True)), (optim, lambda: Parameter(np.ones(2))))
    for module, make in makers:
        with pytest.raises(ValueError, match="Invalid learning rate: -1"):
            module.LBFGS([make()], lr=-1.0)
        with pytest.raises(ValueError, match=r"LBFGS doesn't support per-parameter options \(parameter groups\)"):
            module.LBFGS([{"params": [make()]}, {"params": [make()]}])
        p = make()
        opt = module.LBFGS([p], line_search_fn="backtracking")

        def closure():
            p.grad = np.ones(2) if isinstance(p, Parameter) else torch.ones(2)
            return 1.0
        with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported") as error:
            opt.step(closure)
        assert "\n" not in str(error.value)
        with pytest.raises(TypeError):
            opt.step()


def test_lbfgs_cannot_step_inside_backward():
    opt = optim.LBFGS([Parameter(np.ones(2))])
    assert not opt.can_step_in_backward()
    with pytest.raises(RuntimeError, match="closure"):
        with opt.step_in_backward():
            pass


def test_lbfgs_tests_catch_a_planted_bug(monkeypatch):
    """An initial inverse Hessian H₀ left at the identity (its scale yᵀs / yᵀy never taken) must fail."""
    import minimlp.optim.lbfgs as module
    right = module.formula.remember
    monkeypatch.setattr(module.formula, "remember", lambda *args: (right(*args), None)[1])
    with pytest.raises(AssertionError):
        _run_lbfgs("least_squares", dict(history_size=3, max_iter=4))


# ========================================================================================= Adafactor
SHAPES = [(7,), (4, 5), (3, 4, 6), (5,), (6, 3)]   # the first three in group 0, the others in group 1
STEPS, RESUME_AT = 25, 11
ADAFACTOR_CASES = [
    dict(),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.5, beta2_decay=-0.5, eps=(1e-20, 1e-2), d=1.5, maximize=True),   # ρₜ = 1/√t once t > 4
    dict(lr=0.02, eps=(1e-3, 0.5), d=4.0, weight_decay=0.05, maximize=True),   # ε₁ clamps, ε₂ sets the scale
]
ADAFACTOR_IDS = [",".join(f"{k}={v}" for k, v in kw.items()) or "defaults" for kw in ADAFACTOR_CASES]
SECOND_GROUP = dict(lr=0.03, beta2_decay=-0.6, d=2.0)


class _Feed:
    """Identical random parameters and gradients in both frameworks (some coordinates' gradients far larger
    than others, so that rows and columns differ); ``skip(t, i)``: parameter i has no gradient at step t."""

    def __init__(self, seed, dtype=np.float64, skip=None):
        rng = np.random.default_rng(seed)
        init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        self.ours = [Parameter(a.copy()) for a in init]
        self.theirs = [torch.tensor(a, requires_grad=True) for a in init]
        self.scales = [np.exp(rng.standard_normal(s)) for s in SHAPES]
        self.rng, self.dtype, self.skip = np.random.default_rng(seed + 1), dtype, skip

    def grads(self, t):
        for i, (p, q) in enumerate(zip(self.ours, self.theirs)):
            g = (self.scales[i] * (self.rng.standard_normal(p.shape) + 0.5)).astype(self.dtype)
            if self.skip is not None and self.skip(t, i):
                p.grad, q.grad = None, None
            else:
                p.grad, q.grad = g.copy(), torch.tensor(g)

    def fresh_ours(self):
        self.ours = [Parameter(p.data.copy()) for p in self.ours]
        return self.ours


def _adafactor_groups(params):
    return [{"params": params[:3]}, {"params": params[3:], **SECOND_GROUP}]


def _same_adafactor(ours, theirs, feed, t, rtol=1e-12):
    for i, (p, q) in enumerate(zip(feed.ours, feed.theirs)):
        _close(p.data, q.detach().numpy(), f"step {t}: parameter {i}", rtol)
        mine, torchs = ours.state[i], theirs.state.get(q, {})
        assert list(mine) == list(torchs), (t, i, list(mine), list(torchs))
        for key, value in torchs.items():
            value = value.detach().numpy()
            if key == "step":
                assert mine[key] == value, (t, i)
            else:
                assert mine[key].dtype == p.data.dtype and mine[key].shape == value.shape, (t, i, key)
                _close(mine[key], value, f"step {t}: {key} of parameter {i}", rtol)


def _run_adafactor(kw, feed, *, rtol=1e-12, restart=None):
    ours = optim.Adafactor(_adafactor_groups(feed.ours), **kw)
    theirs = torch.optim.Adafactor(_adafactor_groups(feed.theirs), **kw)
    for t in range(STEPS):
        if restart is not None and t == RESUME_AT:
            saved = restart(ours, theirs)
            ours = optim.Adafactor(_adafactor_groups(feed.fresh_ours()), **kw)
            ours.load_state_dict(saved)
            _same_adafactor(ours, theirs, feed, t, rtol)
        feed.grads(t)
        ours.step()
        with torch.no_grad():
            theirs.step()
        _same_adafactor(ours, theirs, feed, t, rtol)
    return ours, theirs


@pytest.mark.parametrize("kw", ADAFACTOR_CASES, ids=ADAFACTOR_IDS)
def test_adafactor_trajectory_and_state_match_torch_float64(kw):
    ours, _ = _run_adafactor(kw, _Feed(0, skip=lambda t, i: i == 4 and t % 3 == 0))
    assert ours.state[2]["row_var"].shape == (3, 4, 1) and ours.state[2]["col_var"].shape == (3, 1, 6)
    assert ours.state[4]["step"] == STEPS - (STEPS + 2) // 3


@pytest.mark.parametrize("foreach", [False, True])
def test_adafactor_matches_torchs_foreach_path_too(foreach):
    _run_adafactor(dict(lr=0.05, weight_decay=0.1, foreach=foreach), _Feed(1))


@pytest.mark.parametrize("kw", ADAFACTOR_CASES[:2], ids=ADAFACTOR_IDS[:2])
def test_adafactor_float32_stays_float32_and_close_to_torch(kw):
    feed = _Feed(2, dtype=np.float32)
    ours, _ = _run_adafactor(kw, feed, rtol=2e-5)
    assert all(p.data.dtype == np.float32 for p in feed.ours)
    assert all(v.dtype == np.float32 for s in ours.state for k, v in s.items() if k != "step")


@pytest.mark.parametrize("kw", ADAFACTOR_CASES, ids=ADAFACTOR_IDS)
def test_adafactor_state_dict_round_trip_continues_exactly(kw, tmp_path):
    def saved(ours, theirs):
        path = tmp_path / "adafactor.npz"
        minimlp.save(ours.state_dict(), str(path))
        return minimlp.load(str(path))
    skip = lambda t, i: i == 3 and t % 4 == 0  # noqa: E731
    straight, resumed = _Feed(4, skip=skip), _Feed(4, skip=skip)
    _run_adafactor(kw, straight)
    _run_adafactor(kw, resumed, restart=saved)
    for a, b in zip(straight.ours, resumed.ours):
        np.testing.assert_array_equal(a.data, b.data)


def test_adafactor_loads_torchs_state_dict_mid_run():
    def restart(ours, theirs):
        mine, torchs = ours.state_dict(), theirs.state_dict()
        assert {k: list(s) for k, s in mine["state"].items()} == {k: list(s) for k, s in torchs["state"].items()}
        assert mine["param_groups"] == torchs["param_groups"]
        return {"state": {k: {n: _numpy(v) for n, v in s.items()} for k, s in torchs["state"].items()},
                "param_groups": torchs["param_groups"]}
    _run_adafactor(ADAFACTOR_CASES[1], _Feed(5, skip=lambda t, i: i == 1 and t < 3), restart=restart)


def test_adafactor_groups_and_signature_as_torch():
    import inspect
    ours = inspect.signature(optim.Adafactor).parameters.values()
    theirs = inspect.signature(torch.optim.Adafactor).parameters.values()
    assert [(p.name, p.kind, p.default) for p in ours] == [(p.name, p.kind, p.default) for p in theirs]
    mine = optim.Adafactor([Parameter(np.ones(3))]).param_groups[0]
    torchs = torch.optim.Adafactor([torch.ones(3, requires_grad=True)]).param_groups[0]
    assert {k: v for k, v in mine.items() if k != "params"} == {k: v for k, v in torchs.items() if k != "params"}


ADAFACTOR_BAD = [
    (dict(lr=-1.0), "Learning rate should be >= 0 but is: -1.0"),
    (dict(beta2_decay=0.5), "beta2_decay should be <= 0 but is: 0.5"),
    (dict(eps=(-1.0, 1e-3)), "epsilon1 should be >= 0 but is: -1.0"),
    (dict(eps=(None, -1.0)), "epsilon2 should be >= 0 but is: -1.0"),
    (dict(d=0.5), "Clipping threshold d should be >= 1 but is: 0.5"),
    (dict(weight_decay=-0.1), "weight_decay should be >= 0 but is: -0.1"),
]


@pytest.mark.parametrize("kw,message", ADAFACTOR_BAD, ids=[next(iter(kw)) for kw, _ in ADAFACTOR_BAD])
def test_adafactor_bad_hyperparameters_raise_as_torch(kw, message):
    with pytest.raises(ValueError, match=message):
        torch.optim.Adafactor([torch.ones(2, requires_grad=True)], **kw)
    with pytest.raises(ValueError, match=message) as error:
        optim.Adafactor([Parameter(np.ones(2))], **kw)
    assert "\n" not in str(error.value)


def test_adafactor_refuses_complex_parameters_as_torch():
    p, q = Parameter(np.ones(2, dtype=np.complex128)), torch.ones(2, dtype=torch.complex128, requires_grad=True)
    p.grad, q.grad = np.ones(2, dtype=np.complex128), torch.ones(2, dtype=torch.complex128)
    for opt in (optim.Adafactor([p]), torch.optim.Adafactor([q])):
        with pytest.raises(RuntimeError, match="Adafactor does not support complex parameters"):
            opt.step()


def test_adafactor_tests_catch_a_planted_bug(monkeypatch):
    """An RMS taken 1% high (in the relative step size and the update clipping) must fail the comparison."""
    import minimlp.formulas.adafactor as formula
    right = formula.rms
    monkeypatch.setattr(formula, "rms", lambda x: 1.01 * right(x))
    with pytest.raises(AssertionError):
        _run_adafactor({}, _Feed(0))


def _devices():
    from minimlp.backend import gpu_available, gpu_unavailable_reason
    return [pytest.param("gpu", marks=pytest.mark.skipif(not gpu_available(),
                                                          reason=f"no GPU: {gpu_unavailable_reason()}"))]


@pytest.mark.parametrize("device", _devices())
def test_lbfgs_and_adafactor_on_cupy_agree_with_numpy(device):
    from minimlp.backend import to_device, to_numpy
    results = []
    for where in ("cpu", device):
        params = [Parameter(to_device(p.data, where)) for p in _Rosenbrock(6).ours]

        def closure():
            f, g = _rosenbrock(np.concatenate([to_numpy(p.data).reshape(-1) for p in params]))
            offset = 0
            for p in params:
                p.grad = to_device(g[offset:offset + p.size].reshape(p.shape), where)
                offset += p.size
            return f
        opt = optim.LBFGS(params, line_search_fn="strong_wolfe", history_size=3, max_iter=5)
        for _ in range(3):
            opt.step(closure)
        feed = _Feed(7)
        factored = [Parameter(to_device(p.data, where)) for p in feed.ours]
        adafactor = optim.Adafactor(_adafactor_groups(factored), lr=0.05, weight_decay=0.1)
        for t in range(5):
            feed.grads(t)
            for p, q in zip(factored, feed.ours):
                p.grad = to_device(q.grad, where)
            adafactor.step()
        results.append([to_numpy(p.data) for p in params + factored])
    for i, (a, b) in enumerate(zip(*results)):
        _close(b, a, f"parameter {i}", rtol=1e-12)
