"""Optimizer.step_in_backward(): the same training as backward-then-step, with the Linear weights updated inside backward."""
import numpy as np
import pytest

import minimlp
from minimlp import nn, optim
from minimlp.kernels import record
from minimlp.kernels.in_backward import pending
from minimlp.kernels.cpu import blas, linear_adam


def _network(dtype):
    minimlp.manual_seed(0)
    return nn.Sequential(nn.Linear(40, 64, dtype=dtype), nn.BatchNorm1d(64, dtype=dtype), nn.Sigmoid(),
                         nn.Linear(64, 200, dtype=dtype), nn.BatchNorm1d(200, dtype=dtype), nn.Tanh())


def _train(in_backward, make_opt, dtype=np.float32, steps=6, batch=16, input_grad=False):
    model = _network(dtype)
    opt = make_opt(model.parameters())
    loss_fn = nn.MSELoss()
    rng = np.random.default_rng(1)
    updated = []
    for _ in range(steps):
        x = rng.standard_normal((batch, 40)).astype(dtype)
        y = np.tanh(rng.standard_normal((batch, 200))).astype(dtype)
        opt.zero_grad()
        loss_fn(model(x), y)
        if in_backward:
            with opt.step_in_backward(), record() as log:
                model.backward(loss_fn.backward(), input_grad=input_grad)
            updated.append(_linear_backwards(log))
        else:
            model.backward(loss_fn.backward(), input_grad=input_grad)
            opt.step()
    return model, opt, updated


def _linear_backwards(log):
    """For each Linear's backward in a recorded step (last layer first): whether the update ran inside it."""
    return [impl == "cpu-adam-in-backward" for op, role, impl in log if (op, role) == ("linear", "backward")]


OPTIMIZERS = {
    "Adam": lambda ps: optim.Adam(ps, lr=1e-2),
    "Adam-amsgrad-wd": lambda ps: optim.Adam(ps, lr=1e-2, amsgrad=True, weight_decay=0.1),
    "AdamW": lambda ps: optim.AdamW(ps, lr=1e-2, weight_decay=0.05),
    "SGD-nesterov": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    "RMSprop": lambda ps: optim.RMSprop(ps, lr=1e-3),
}


# Biases just before a training-mode BatchNorm (parameters "0.bias", "3.bias"; positions 1 and 5) have a
# gradient of zero in exact arithmetic: what they hold is rounding noise, which Adam scales up to full steps.
# Their values (and the running means, which include them) depend on the order of summation; in training the
# network's function does not, since BatchNorm subtracts them again.
NOISE = ("0.bias", "3.bias")
NOISE_POSITIONS = (1, 5)
TOL = {np.float32: 1e-4, np.float64: 1e-9}


def rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def _probe(model, dtype):
    model.eval()
    out = model(np.random.default_rng(5).standard_normal((10, 40)).astype(dtype))
    model.train()
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_same_training_as_backward_then_step(name, dtype, split_products):
    """Same weights, gradients, optimizer state and evaluated outputs as ``backward(); step()``.

    Bit for bit where nothing is updated inside backward; where Adam is, ∂L/∂x is summed over chunks of
    rows (not in BLAS's order), so to rounding.
    """
    plain_model, plain_opt, _ = _train(False, OPTIMIZERS[name], dtype)
    model, opt, updated = _train(True, OPTIMIZERS[name], dtype)
    supported = name.startswith("Adam") and blas.gemm_address(dtype) is not None  # (conftest: split_products)
    # the two Linear weights are updated inside backward where supported
    assert all(u == [supported, supported] for u in updated)
    tol = TOL[dtype] if supported else 0.0
    for (key, a), b in zip(plain_model.state_dict().items(), model.state_dict().values()):
        if key not in NOISE and "running_mean" not in key:
            assert rel(b, a) <= tol, key
    for (key, p), q in zip(plain_model.named_parameters(), model.parameters()):
        if key not in NOISE:
            assert rel(q.grad, p.grad) <= tol, key
    saved, ours = plain_opt.state_dict(), opt.state_dict()
    for i in saved["state"]:
        for k, v in saved["state"][i].items():
            if i not in NOISE_POSITIONS:
                assert (v == ours["state"][i][k]) if k == "step" else rel(ours["state"][i][k], v) <= tol, (i, k)
    if dtype == np.float64:  # (in float32 the noise biases, via the running means, reach the evaluated output)
        assert rel(_probe(model, dtype), _probe(plain_model, dtype)) <= tol


def test_groups_with_different_learning_rates():
    def make(ps):
        ps = list(ps)
        return optim.AdamW([{"params": ps[:4], "lr": 3e-3}, {"params": ps[4:], "weight_decay": 0.2}], lr=1e-2)
    a, _, _ = _train(False, make, np.float64)
    b, _, _ = _train(True, make, np.float64)
    for (key, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        if key not in NOISE and "running_mean" not in key:
            assert rel(y, x) <= TOL[np.float64], key


def test_large_batches_and_accumulated_gradients_take_the_plain_path():
    model, opt, updated = _train(True, OPTIMIZERS["Adam"], batch=linear_adam.MAX_BATCH + 1, steps=2)
    assert not any(any(u) for u in updated)
    model = _network(np.float32)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.MSELoss()
    x = np.ones((8, 40), np.float32)
    y = np.zeros((8, 200), np.float32)
    loss_fn(model(x), y)
    model.backward(loss_fn.backward())  # a gradient is pending: the weight must not be updated twice
    loss_fn(model(x), y)
    with opt.step_in_backward(), record() as log:
        model.backward(loss_fn.backward())
    assert _linear_backwards(log) == [False, False]
    assert all(s["step"] == 1 for s in opt.state)


def test_backward_error_inside_the_block_steps_nothing_more():
    model = _network(np.float32)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.MSELoss()
    loss_fn(model(np.ones((4, 40), np.float32)), np.zeros((4, 200), np.float32))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError):
        with opt.step_in_backward():
            model.backward(np.ones((4, 7), np.float32))
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert all(pending(p) is None for p in model.parameters())   # nothing is offered after the block


def test_input_gradient_uses_the_weights_before_the_update():
    x = np.random.default_rng(2).standard_normal((16, 40))
    y = np.tanh(np.random.default_rng(3).standard_normal((16, 200)))
    results = []
    for in_backward in (False, True):
        model = _network(np.float64)
        opt = optim.Adam(model.parameters(), lr=1e-2)
        loss_fn = nn.MSELoss()
        loss_fn(model(x), y)
        if in_backward:
            with opt.step_in_backward():
                dx = model.backward(loss_fn.backward())
        else:
            dx = model.backward(loss_fn.backward())
            opt.step()
        results.append((dx, model.state_dict()))
    assert rel(results[1][0], results[0][0]) <= 1e-12  # the input's gradient, from the weights before the update
    for key in results[0][1]:
        if key not in NOISE and "running_mean" not in key:
            assert rel(results[1][1][key], results[0][1][key]) <= 1e-12, key


def test_without_compiled_kernels_it_is_backward_then_step(monkeypatch):
    """MINIMLP_CPU_KERNELS=numpy (or Numba missing): no in-backward update, the same result as the plain path."""
    monkeypatch.setenv("MINIMLP_CPU_KERNELS", "numpy")
    plain_model, _, _ = _train(False, OPTIMIZERS["AdamW"], np.float64, steps=3)
    model, _, updated = _train(True, OPTIMIZERS["AdamW"], np.float64, steps=3)
    assert not any(any(u) for u in updated)
    for (key, a), b in zip(plain_model.state_dict().items(), model.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=key)


def test_a_weight_shared_between_layers_is_refused_and_fit_takes_the_plain_path():
    from minimlp.train.fit import _backward_and_step
    minimlp.manual_seed(0)
    first, second = nn.Linear(8, 8, dtype=np.float64), nn.Linear(8, 8, dtype=np.float64)
    second.weight = first.weight
    model = nn.Sequential(first, nn.Tanh(), second)
    opt = optim.Adam(list({id(p): p for p in model.parameters()}.values()), lr=1e-2)
    x = np.random.default_rng(0).standard_normal((4, 8))
    loss_fn = nn.MSELoss()
    loss_fn(model(x), np.zeros((4, 8)))
    with pytest.raises(RuntimeError, match="already updated"):
        with opt.step_in_backward():
            model.backward(loss_fn.backward())
    # fit's step sees the sharing and goes backward-then-step: the same as doing that by hand
    results = []
    for by_hand in (True, False):
        minimlp.manual_seed(0)
        a, b = nn.Linear(8, 8, dtype=np.float64), nn.Linear(8, 8, dtype=np.float64)
        b.weight = a.weight
        m = nn.Sequential(a, nn.Tanh(), b)
        o = optim.Adam(list({id(p): p for p in m.parameters()}.values()), lr=1e-2)
        loss_fn(m(x), np.zeros((4, 8)))
        if by_hand:
            m.backward(loss_fn.backward())
            o.step()
        else:
            _backward_and_step(m, loss_fn.backward(), o)
        results.append(a.weight.data.copy())
    np.testing.assert_array_equal(results[0], results[1])


def test_fit_calls_an_overridden_step():
    from minimlp.train.fit import _backward_and_step
    calls = []

    class Logged(optim.SGD):
        def step(self, closure=None):
            calls.append(1)
            return super().step(closure)

    model = _network(np.float32)
    opt = Logged(model.parameters(), lr=0.1)
    loss_fn = nn.MSELoss()
    loss_fn(model(np.ones((4, 40), np.float32)), np.zeros((4, 200), np.float32))
    _backward_and_step(model, loss_fn.backward(), opt)
    assert calls == [1]
