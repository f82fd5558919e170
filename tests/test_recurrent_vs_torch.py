"""RNNCell, LSTMCell, GRUCell, RNN, LSTM, GRU against torch 2.13: weights loaded from torch's state_dict, float64,
random upstream gradients on every output (the sequence and the final states), every gradient (input, initial
state, each parameter) to 1e-10; float32; finite differences (dropout's mask held fixed); the state_dict,
repr, arguments and errors; dropout between layers; a small LSTM that learns."""
import functools
import re

import numpy as np
import pytest
import torch

import minimlp
from minimlp import backend, nn, optim

TOL = dict(rtol=1e-10, atol=1e-10)
SEQUENCE = ["RNN", "RNN-relu", "LSTM", "GRU"]
CELLS = ["RNNCell", "RNNCell-relu", "LSTMCell", "GRUCell"]
SEQUENCE_CLASSES = (nn.RNN, nn.LSTM, nn.GRU)


def make(name, module, *args, **kwargs):
    """``module``'s layer for a test name ("RNN-relu": an RNN with ReLU)."""
    base, _, variant = name.partition("-")
    if variant == "relu":
        kwargs["nonlinearity"] = "relu"
    return getattr(module, base)(*args, **kwargs)


def pair(name, *args, device="cpu", **kwargs):
    """(ours in float64 on ``device``, torch's in float64) with torch's weights loaded into ours."""
    theirs = make(name, torch.nn, *args, **kwargs).double()
    ours = make(name, nn, *args, dtype=np.float64, **kwargs).to(device=device)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def tensors(*arrays):
    return [torch.tensor(a, requires_grad=True) for a in arrays]


def as_tuple(value):
    return tuple(value) if isinstance(value, tuple) else (value,)


def close(ours, theirs, what, **tol):
    np.testing.assert_allclose(backend.to_numpy(ours), theirs.detach().numpy(), err_msg=what, **(tol or TOL))


def check_gradients(ours, theirs, **tol):
    ours_named, theirs_named = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert list(ours_named) == list(theirs_named)
    for name, p in ours_named.items():
        close(p.grad, theirs_named[name].grad, f"grad {name}", **tol)


# ------------------------------------------------------------------ sequence layers against torch
SHAPES = {"T1-N1": (1, 1), "T6-N7": (6, 7), "T5-unbatched": (5, None)}


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("batch_first,bias", [(False, True), (True, False)], ids=["seq-first-bias", "batch-first"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["one-way", "bidirectional"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("name", SEQUENCE)
def test_sequence_layer_matches_torch(name, num_layers, bidirectional, batch_first, bias, shape, device):
    """output, h_n (c_n), ∂L/∂x, ∂L/∂h_0 (∂L/∂c_0) and every parameter's gradient, for random upstream
    gradients on the output and on each final state; hx given (T > 1) or left to its zeros default (T = 1)."""
    T, N = SHAPES[shape]
    ours, theirs = pair(name, 3, 4, num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional,
                        device=device)
    rng = np.random.default_rng(0)
    D = 2 if bidirectional else 1
    x = rng.standard_normal(((N, T, 3) if batch_first else (T, N, 3)) if N else (T, 3))
    hx = None
    if T > 1:
        hx = tuple(rng.standard_normal((num_layers * D, N, 4) if N else (num_layers * D, 4))
                   for _ in range(2 if name == "LSTM" else 1))
    xt, *hxt = tensors(x, *(hx or ()))
    out_t, final_t = theirs(xt, None if hx is None else hxt[0] if len(hxt) == 1 else tuple(hxt))
    to = functools.partial(backend.to_device, device=device)
    out, final = ours(to(x), None if hx is None else to(hx[0]) if len(hx) == 1 else tuple(map(to, hx)))
    close(out, out_t, "output")
    for k, (a, b) in enumerate(zip(as_tuple(final), as_tuple(final_t))):
        close(a, b, f"final state {k}")
    g_out = rng.standard_normal(out.shape)
    g_final = [rng.standard_normal(a.shape) for a in as_tuple(final)]
    torch.autograd.backward([out_t, *as_tuple(final_t)], [torch.tensor(g) for g in [g_out, *g_final]])
    dx = ours.backward(to(g_out), *map(to, g_final))
    assert dx.shape == x.shape and out.shape == tuple(out_t.shape)
    close(dx, xt.grad, "input gradient")
    for k, grad in enumerate(as_tuple(ours.grad_hx)):
        if hx is None:
            assert grad.shape == tuple(as_tuple(final_t)[k].shape)
        else:
            close(grad, hxt[k].grad, f"initial state {k} gradient")
    check_gradients(ours, theirs)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_with_projection_matches_torch(bidirectional):
    ours, theirs = pair("LSTM", 3, 6, 2, proj_size=2, bidirectional=bidirectional, batch_first=True)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    rng = np.random.default_rng(1)
    D = 2 if bidirectional else 1
    x, h0, c0 = rng.standard_normal((7, 5, 3)), rng.standard_normal((2 * D, 7, 2)), rng.standard_normal((2 * D, 7, 6))
    xt, h0t, c0t = tensors(x, h0, c0)
    out_t, (h_t, c_t) = theirs(xt, (h0t, c0t))
    out, (h, c) = ours(x, (h0, c0))
    g = [rng.standard_normal(a.shape) for a in (out, h, c)]
    torch.autograd.backward([out_t, h_t, c_t], [torch.tensor(a) for a in g])
    for a, b, what in [(out, out_t, "output"), (h, h_t, "h_n"), (c, c_t, "c_n"), (ours.backward(*g), xt.grad, "dx"),
                       (ours.grad_hx[0], h0t.grad, "dh_0"), (ours.grad_hx[1], c0t.grad, "dc_0")]:
        close(a, b, what)
    check_gradients(ours, theirs)


@pytest.mark.parametrize("name", SEQUENCE)
def test_only_the_final_state_or_only_the_output_may_carry_a_gradient(name):
    """backward(None, grad_h_n) (a classifier reading h_n) and backward(grad_output) (None: zero), as torch
    differentiating one of the two; ``backward_parameters`` gives the same parameter gradients."""
    ours, theirs = pair(name, 3, 4, 2)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 2, 3))
    for use_output in (False, True):
        ours.zero_grad()
        theirs.zero_grad()
        xt, = tensors(x)
        out_t, final_t = theirs(xt)
        out, final = ours(x)
        h_t, h = as_tuple(final_t)[0], as_tuple(final)[0]
        g = rng.standard_normal(out.shape if use_output else h.shape)
        (out_t if use_output else h_t).backward(torch.tensor(g))
        dx = ours.backward(g) if use_output else ours.backward(None, g)
        close(dx, xt.grad, "input gradient")
        check_gradients(ours, theirs)
        ours.zero_grad()
        ours(x)
        assert (ours.backward_parameters(g) if use_output else ours.backward_parameters(None, g)) is None
        check_gradients(ours, theirs)


@pytest.mark.parametrize("name", SEQUENCE + CELLS)
def test_an_empty_batch_gives_empty_outputs_and_zero_gradients_as_torch(name):
    cell = name in CELLS
    ours, theirs = pair(name, 3, 4) if cell else pair(name, 3, 4, 2, bidirectional=True)
    x = np.zeros((0, 3) if cell else (5, 0, 3))
    out_t = as_tuple(theirs(torch.tensor(x)))
    out = as_tuple(ours(x))
    parts = list(out) if cell else [out[0], *as_tuple(out[1])]
    parts_t = list(out_t) if cell else [out_t[0], *as_tuple(out_t[1])]
    assert [a.shape for a in parts] == [tuple(a.shape) for a in parts_t]
    assert ours.backward(*[np.zeros_like(a) for a in parts]).shape == x.shape
    assert all(not p.grad.any() for p in ours.parameters())


def test_the_step_functions_unroll_by_hand_as_a_course_lab_does():
    """``formulas.lstm_cell.step``/``step_backward``, called in a loop with their caches (a CS231n-style unrolled
    LSTM), give nn.LSTM's last state and its input and weight gradients."""
    from minimlp.formulas import lstm_cell
    layer = nn.LSTM(3, 4, dtype=np.float64)
    rng = np.random.default_rng(12)
    x, g = rng.standard_normal((6, 2, 3)), rng.standard_normal((1, 2, 4))
    W_ih, W_hh, b_ih, b_hh = (p.data for p in layer.parameters())
    state, caches, hs = (np.zeros((2, 4)), np.zeros((2, 4))), [], []
    for t in range(6):
        hs.append(state[0])
        state, cache = lstm_cell.step(x[t] @ W_ih.T + b_ih, state, W_hh, b_hh)
        caches.append(cache)
    _, (h_n, _) = layer(x)
    np.testing.assert_allclose(state[0], h_n[0], **TOL)
    grad, dx, dW_hh = (g[0], np.zeros((2, 4))), np.zeros_like(x), np.zeros_like(W_hh)
    for t in reversed(range(6)):
        da, _, grad = lstm_cell.step_backward(grad, caches[t], W_hh)
        dx[t], dW_hh = da @ W_ih, dW_hh + da.T @ hs[t]
    np.testing.assert_allclose(layer.backward(None, g), dx, **TOL)
    np.testing.assert_allclose(layer.weight_hh_l0.grad, dW_hh, **TOL)
    np.testing.assert_allclose(layer.grad_hx[1][0], grad[1], **TOL)


def test_input_and_hx_may_be_passed_by_torchs_keywords():
    layer = nn.GRU(3, 4, dtype=np.float64)
    x, h0 = np.ones((2, 1, 3)), np.full((1, 1, 4), 0.5)
    np.testing.assert_array_equal(layer(input=x, hx=h0)[0], layer(x, h0)[0])


def test_gradients_accumulate_over_backward_calls_as_torch():
    ours, theirs = pair("GRU", 3, 4)
    x = np.random.default_rng(3).standard_normal((4, 2, 3))
    g = np.random.default_rng(4).standard_normal((4, 2, 4))
    for _ in range(2):
        ours(x)
        ours.backward(g)
        theirs(torch.tensor(x))[0].backward(torch.tensor(g))
    check_gradients(ours, theirs)


# ------------------------------------------------------------------ cells against torch
@pytest.mark.parametrize("with_hx", [False, True], ids=["zeros", "hx"])
@pytest.mark.parametrize("batch", [1, 7, None], ids=["N1", "N7", "unbatched"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name", CELLS)
def test_cell_matches_torch(name, bias, batch, with_hx, device):
    ours, theirs = pair(name, 3, 5, bias=bias, device=device)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((batch, 3) if batch else (3,))
    hx = tuple(rng.standard_normal((batch, 5) if batch else (5,)) for _ in range(2 if name == "LSTMCell" else 1))
    xt, *hxt = tensors(x, *hx)
    given = (tuple(hxt) if name == "LSTMCell" else hxt[0]) if with_hx else None
    out_t = as_tuple(theirs(xt, given))
    to = functools.partial(backend.to_device, device=device)
    out = as_tuple(ours(to(x), (tuple(map(to, hx)) if name == "LSTMCell" else to(hx[0])) if with_hx else None))
    g = [rng.standard_normal(a.shape) for a in out]
    for k, (a, b) in enumerate(zip(out, out_t)):
        close(a, b, f"output {k}")
    torch.autograd.backward(list(out_t), [torch.tensor(a) for a in g])
    close(ours.backward(*map(to, g)), xt.grad, "input gradient")
    if with_hx:
        for k, grad in enumerate(as_tuple(ours.grad_hx)):
            close(grad, hxt[k].grad, f"hx {k} gradient")
    check_gradients(ours, theirs)


def test_lstm_cell_backward_takes_either_gradient_alone():
    ours, theirs = pair("LSTMCell", 3, 4)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3))
    for k in (0, 1):
        ours.zero_grad()
        theirs.zero_grad()
        out = ours(x)
        out_t = theirs(torch.tensor(x))
        g = rng.standard_normal(out[k].shape)
        out_t[k].backward(torch.tensor(g))
        ours.backward(*((g, None) if k == 0 else (None, g)))
        check_gradients(ours, theirs)


# ------------------------------------------------------------------ float32
@pytest.mark.parametrize("name", SEQUENCE + CELLS)
def test_float32_stays_float32_and_is_close_to_torch(name):
    cell = name in CELLS
    args = (3, 8) if cell else (3, 8, 2)
    kwargs = {} if cell else dict(bidirectional=True)
    theirs = make(name, torch.nn, *args, **kwargs)
    ours = make(name, nn, *args, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    x = np.random.default_rng(7).standard_normal((4, 3) if cell else (6, 4, 3)).astype(np.float32)
    xt, = tensors(x)
    out_t = as_tuple(theirs(xt)) if cell else (theirs(xt)[0],)
    out = as_tuple(ours(x)) if cell else (ours(x)[0],)
    g = [np.random.default_rng(8).standard_normal(a.shape).astype(np.float32) for a in out]
    torch.autograd.backward(list(out_t), [torch.tensor(a) for a in g])
    dx = ours.backward(*g)
    assert all(a.dtype == np.float32 for a in (*out, dx, *as_tuple(ours.grad_hx)))
    assert all(p.grad.dtype == np.float32 for p in ours.parameters())
    for a, b in zip(out, out_t):
        close(a, b, "output", rtol=1e-5, atol=1e-5)
    close(dx, xt.grad, "input gradient", rtol=1e-5, atol=1e-5)
    check_gradients(ours, theirs, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ finite differences
class Flat(nn.Module):
    """A recurrent layer seen as one function (x, *hx) → every output in one vector, for ``gradcheck``."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x, *hx):
        given = None if not hx else hx[0] if len(hx) == 1 else hx
        outputs = self.layer(x, given)
        parts = [outputs[0], *as_tuple(outputs[1])] if isinstance(self.layer, SEQUENCE_CLASSES) else \
            list(as_tuple(outputs))
        self._shapes = [a.shape for a in parts]
        return backend.get_array_module(x).concatenate([a.ravel() for a in parts])

    def backward(self, g):
        parts, start = [], 0
        for shape in self._shapes:
            size = int(np.prod(shape))
            parts.append(g[start:start + size].reshape(shape))
            start += size
        dx = self.layer.backward(*parts)
        return (dx, *as_tuple(self.layer.grad_hx))


GRADCHECK = {
    "RNN": lambda: nn.RNN(3, 4, 2, bidirectional=True),
    "RNN-relu-no-bias": lambda: nn.RNN(3, 4, nonlinearity="relu", bias=False, batch_first=True),
    "LSTM": lambda: nn.LSTM(3, 4, 2, bidirectional=True, batch_first=True),
    "LSTM-projection": lambda: nn.LSTM(3, 4, 2, proj_size=2),
    "GRU": lambda: nn.GRU(3, 4, 2, bidirectional=True),
    "GRU-no-bias": lambda: nn.GRU(3, 4, bias=False),
    "RNN-dropout": lambda: nn.RNN(3, 4, 3, dropout=0.4),
    "LSTM-dropout": lambda: nn.LSTM(3, 4, 2, dropout=0.5, bidirectional=True),
    "GRU-dropout": lambda: nn.GRU(3, 4, 2, dropout=0.3),
    "RNNCell": lambda: nn.RNNCell(3, 4),
    "LSTMCell": lambda: nn.LSTMCell(3, 4),
    "GRUCell": lambda: nn.GRUCell(3, 4),
}


@pytest.mark.parametrize("name", list(GRADCHECK))
def test_gradcheck(name, device):
    """Finite differences along random directions, for x, hx and every parameter (dropout in training: gradcheck
    restores minimlp's generator before each forward, so every forward draws the same mask)."""
    minimlp.manual_seed(0)
    layer = GRADCHECK[name]()
    rng = np.random.default_rng(9)
    cell = "Cell" in name
    if cell:
        x, width = rng.standard_normal((2, 3)), 4
        hx = [rng.standard_normal((2, 4)) for _ in range(2 if name == "LSTMCell" else 1)]
    else:
        x = rng.standard_normal((2, 5, 3) if layer.batch_first else (5, 2, 3))
        D = 2 if layer.bidirectional else 1
        width = layer.proj_size or 4
        hx = [rng.standard_normal((layer.num_layers * D, 2, width))]
        if isinstance(layer, nn.LSTM):
            hx.append(rng.standard_normal((layer.num_layers * D, 2, 4)))
    to = functools.partial(backend.to_device, device=device)
    module = Flat(layer).to(device=device)
    assert minimlp.gradcheck(module, tuple(map(to, [x, *hx])))


@pytest.mark.parametrize("name", SEQUENCE)
def test_dropout_between_layers_in_training_only(name):
    """Eval: no dropout (the output of a dropout=0 twin); training: masks of 0 and 1/(1 − p) on each layer's
    output but the last's, a fraction p of zeros, fresh each forward, the same for the same seed."""
    minimlp.manual_seed(0)
    layer = make(name, nn, 3, 16, 3, dropout=0.25, dtype=np.float64)
    twin = make(name, nn, 3, 16, 3, dtype=np.float64)
    twin.load_state_dict(layer.state_dict())
    x = np.random.default_rng(10).standard_normal((20, 30, 3))
    layer.eval()
    np.testing.assert_array_equal(layer(x)[0], twin(x)[0])
    assert all(mask is None for mask in layer._masks)
    layer.train()
    minimlp.manual_seed(1)
    first = layer(x)[0]
    masks = list(layer._masks)
    assert masks[-1] is None and not np.allclose(first, twin(x)[0])
    for mask in masks[:-1]:
        assert set(np.unique(mask)) == {0.0, 1 / 0.75}
        assert abs(np.mean(mask == 0) - 0.25) < 0.02            # 9600 draws: 5 standard deviations
    assert not np.array_equal(layer(x)[0], first)
    minimlp.manual_seed(1)
    np.testing.assert_array_equal(layer(x)[0], first)


@pytest.mark.parametrize("name", SEQUENCE)
def test_dropout_between_layers_matches_torch_given_the_same_masks(name):
    """Training with dropout: torch's layers run one at a time with minimlp's masks put between them by hand give
    the same output, final states and every gradient (to 1e-10)."""
    minimlp.manual_seed(4)
    layers, D = 3, 2
    ours, _ = pair(name, 3, 4, layers, dropout=0.5, bidirectional=True)
    singles = [make(name, torch.nn, 3 if k == 0 else 4 * D, 4, bidirectional=True).double() for k in range(layers)]
    state = ours.state_dict()
    for k, single in enumerate(singles):
        single.load_state_dict({key: torch.tensor(state[key.replace("_l0", f"_l{k}")]) for key in single.state_dict()})
    rng = np.random.default_rng(11)
    x = rng.standard_normal((6, 5, 3))
    out, final = ours(x)
    assert all(mask is not None for mask in ours._masks[:-1])
    xt, = tensors(x)
    h, finals_t = xt, []
    for k, single in enumerate(singles):
        h, last = single(h)
        finals_t.append(as_tuple(last))
        if k < layers - 1:
            h = h * torch.tensor(ours._masks[k])
    final_t = [torch.cat([f[e] for f in finals_t]) for e in range(len(finals_t[0]))]
    g = [rng.standard_normal(a.shape) for a in (out, *as_tuple(final))]
    for a, b, what in zip((out, *as_tuple(final)), (h, *final_t), ("output", "h_n", "c_n")):
        close(a, b, what)
    torch.autograd.backward([h, *final_t], [torch.tensor(a) for a in g])
    close(ours.backward(*g), xt.grad, "input gradient")
    grads_t = {key.replace("_l0", f"_l{k}"): p.grad for k, single in enumerate(singles)
               for key, p in single.named_parameters()}
    for key, p in ours.named_parameters():
        close(p.grad, grads_t[key], f"grad {key}")


def test_dropout_warns_for_one_layer_and_refuses_a_bad_probability_as_torch():
    for module in (torch.nn, nn):
        with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
            module.GRU(3, 4, dropout=0.5)
        with pytest.raises(ValueError, match="dropout should be a number in range"):
            module.LSTM(3, 4, 2, dropout=1.5)


# ------------------------------------------------------------------ state, repr, arguments
@pytest.mark.parametrize("name,args,kwargs", [
    ("RNN", (3, 4, 2), dict(bidirectional=True)), ("LSTM", (3, 4, 3), dict(bias=False)),
    ("LSTM", (3, 5, 2), dict(proj_size=2, bidirectional=True)), ("GRU", (2, 3), {}),
    ("RNNCell", (3, 4), {}), ("LSTMCell", (3, 4), dict(bias=False)), ("GRUCell", (3, 4), {})])
def test_state_dict_and_parameters_are_torchs(name, args, kwargs):
    """Keys, shapes and order of state_dict() and named_parameters(); torch's state_dict loads, and ours into torch;
    the initial values are U(−1/√H, 1/√H), as torch draws them."""
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert [(k, v.shape, v.dtype) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape), np.float32) for k, v in theirs.state_dict().items()]
    assert [k for k, _ in ours.named_parameters()] == [k for k, _ in theirs.named_parameters()]
    bound = 1 / np.sqrt(args[1])
    values = np.concatenate([p.data.ravel() for p in ours.parameters()])
    assert values.min() >= -bound and values.max() < bound and values.std() > bound / 2
    ours.load_state_dict(theirs.state_dict())
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    if name[-4:] != "Cell":
        assert [[p.shape for p in ws] for ws in ours.all_weights] == [[tuple(p.shape) for p in ws]
                                                                       for ws in theirs.all_weights]
        assert ours._flat_weights_names == theirs._flat_weights_names


def test_initialisation_follows_minimlps_seed():
    minimlp.manual_seed(3)
    a = nn.LSTM(3, 4, 2).state_dict()
    minimlp.manual_seed(3)
    b = nn.LSTM(3, 4, 2).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("make_layer", [
    lambda m: m.LSTM(10, 20, num_layers=2, batch_first=True), lambda m: m.RNN(3, 4, 2, "relu", False, True, 0.5, True),
    lambda m: m.GRU(3, 4, bias=False, bidirectional=True), lambda m: m.LSTM(4, 5, proj_size=3),
    lambda m: m.RNN(3, 4, dropout=0.0), lambda m: m.RNNCell(3, 4, False, "relu"), lambda m: m.LSTMCell(3, 4),
    lambda m: m.GRUCell(3, 4, bias=False)])
def test_repr_and_attributes_are_torchs(make_layer):
    ours, theirs = make_layer(nn), make_layer(torch.nn)
    assert repr(ours) == repr(theirs)
    for name in ("mode", "input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional",
                 "proj_size", "nonlinearity"):
        if hasattr(theirs, name):
            assert getattr(ours, name) == getattr(theirs, name), name


def test_arguments_are_checked_as_torch():
    for module in (torch.nn, nn):
        with pytest.raises(ValueError, match="Unknown nonlinearity 'sigmoid'"):
            module.RNN(3, 4, nonlinearity="sigmoid")
        with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
            module.LSTM(3, 4, proj_size=4)
        with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
            module.GRU(3, 0)
        with pytest.raises(TypeError, match="batch_first should be of type bool"):
            module.LSTM(3, 4, batch_first=1)
        with pytest.raises(TypeError):
            module.GRU(3.0, 4)


# ------------------------------------------------------------------ errors
def _both(call, error, message):
    """torch and minimlp raise ``error`` with a message matching ``message`` (a regular expression)."""
    for module, array in ((torch.nn, torch.tensor), (nn, np.asarray)):
        with pytest.raises(error, match=message):
            call(module, array)


def f32(*shape):
    return np.zeros(shape, dtype=np.float32)


@pytest.mark.parametrize("call,error,message", [
    (lambda m, a: m.LSTM(4, 5)(a(f32(3, 2, 6))), RuntimeError,
     re.escape("input.size(-1) must be equal to input_size. Expected 4, got 6")),
    (lambda m, a: m.GRU(4, 5)(a(f32(3, 2, 4)), a(f32(2, 2, 5))), RuntimeError,
     re.escape("Expected hidden size (1, 2, 5), got [2, 2, 5]")),
    (lambda m, a: m.RNN(4, 5)(a(f32(3, 2, 4)), a(f32(1, 5))), RuntimeError,
     "For batched 3-D input, hx should also be 3-D but got 2-D tensor"),
    (lambda m, a: m.RNN(4, 5)(a(f32(3, 4)), a(f32(1, 2, 5))), RuntimeError,
     "For unbatched 2-D input, hx should also be 2-D but got 3-D tensor"),
    (lambda m, a: m.LSTM(4, 5, 2)(a(f32(3, 2, 4)), (a(f32(2, 2, 5)), a(f32(2, 3, 5)))), RuntimeError,
     re.escape("Expected hidden[1] size (2, 2, 5), got [2, 3, 5]")),
    (lambda m, a: m.LSTM(4, 5)(a(f32(3, 2, 4)), (a(f32(1, 5)), a(f32(1, 5)))), RuntimeError,
     re.escape("For batched 3-D input, hx and cx should also be 3-D but got (2-D, 2-D) tensors")),
    (lambda m, a: m.LSTM(4, 5)(a(f32(3, 2, 2, 4))), ValueError, "LSTM: Expected input to be 2D or 3D, got 4D"),
    (lambda m, a: m.LSTM(4, 5)(a(f32(0, 2, 4))), RuntimeError, "Expected sequence length to be larger than 0"),
    (lambda m, a: m.RNNCell(4, 5)(a(f32(3, 6))), RuntimeError, "input has inconsistent input_size: got 6 expected 4"),
    (lambda m, a: m.GRUCell(4, 5)(a(f32(3, 4)), a(f32(2, 5))), RuntimeError,
     "Input batch size 3 doesn't match hidden0 batch size 2"),
    (lambda m, a: m.LSTMCell(4, 5)(a(f32(3, 4)), (a(f32(3, 5)), a(f32(3, 6)))), RuntimeError,
     "hidden1 has inconsistent hidden_size: got 6, expected 5"),
    (lambda m, a: m.RNNCell(4, 5)(a(f32(2, 3, 4))), ValueError, "RNNCell: Expected input to be 1D or 2D, got 3D"),
    (lambda m, a: m.LSTMCell(4, 5)(a(f32(3, 4)), a(f32(3, 5))), TypeError, "tuple"),
], ids=["input-size", "hx-shape", "hx-dims", "hx-dims-unbatched", "cx-shape", "lstm-dims", "4d", "empty-sequence",
        "cell-input-size", "cell-batch", "cell-hidden-size", "cell-3d", "lstm-cell-hx"])
def test_errors_as_torch(call, error, message):
    _both(call, error, message)


def test_refusals_are_one_line_and_name_the_layer():
    with pytest.raises(TypeError, match="the input is torch's PackedSequence; pack NumPy or CuPy arrays with "
                                        "minimlp.nn.utils.rnn.pack_padded_sequence") as info:
        nn.LSTM(4, 5)(torch.nn.utils.rnn.pack_sequence([torch.zeros(3, 4)]))
    assert "\n" not in str(info.value)
    with pytest.raises(TypeError, match=r"or a PackedSequence \(minimlp.nn.utils.rnn\) as the input, got list"):
        nn.GRU(4, 5)([[0.0] * 4])
    with pytest.raises(TypeError, match=r"GRU\(4, 5\): input dtype float64 does not match the layer's float32"):
        nn.GRU(4, 5)(np.zeros((3, 2, 4)))
    with pytest.raises(ValueError, match="does not match the layer's float32"):   # torch's class for it
        nn.LSTM(4, 5)(np.zeros((3, 2, 4)))
    layer = nn.RNN(4, 5)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(f32(3, 2, 5))
    layer(f32(3, 2, 4))
    with pytest.raises(ValueError, match=r"backward expected a gradient of shape \(3, 2, 5\), got \(3, 5\)"):
        layer.backward(f32(3, 5))
    with pytest.raises(ValueError, match="backward needs grad_output or the gradient of the final state"):
        layer.backward()


# ------------------------------------------------------------------ learning
def test_an_lstm_learns_to_recall_the_first_element():
    """LSTM + Linear on h_n, Adam, 300 steps: predict x_0 after 8 steps of noise; the mean squared error falls
    from about the target's variance (1/3) to a small fraction of it."""
    minimlp.manual_seed(0)
    rng = np.random.default_rng(0)
    lstm, head = nn.LSTM(1, 16, batch_first=True), nn.Linear(16, 1)
    loss_fn = nn.MSELoss()
    optimizer = optim.Adam(list(lstm.parameters()) + list(head.parameters()), lr=0.01)
    losses = []
    for _ in range(300):
        x = rng.uniform(-1, 1, (32, 8, 1)).astype(np.float32)
        _, (h_n, _) = lstm(x)
        loss = loss_fn(head(h_n[-1]), x[:, 0])
        optimizer.zero_grad()
        lstm.backward_parameters(None, head.backward(loss_fn.backward())[None])
        optimizer.step()
        losses.append(float(loss))
    assert np.mean(losses[:10]) > 0.2 and np.mean(losses[-20:]) < 0.02, (losses[:10], losses[-20:])

