"""EmbeddingBag, LPPool1d and LPPool2d against torch autograd in float64 (weights copied from torch): every mode,
2-d and 1-d input with offsets, include_last_offset, empty bags, padding_idx, per-sample weights, repeated
indices and ties in the max; LPPool for p in {1, 2, 3, 1.5, 0.5, −1, ±∞} with strides, ceil_mode, unbatched
input and windows of zeros (torch's edge values, NaN and ∞ included); float32 kept; gradchecks; errors of
torch's classes; reprs and state_dict keys."""
import numpy as np
import pytest
import torch
from torch_reference import assert_close

import minimlp
from minimlp import backend, kernels, nn

TOL = 1e-12
INF = float("inf")


# ---------------------------------------------------------------------------------------------------- EmbeddingBag

def _bags(layout, padding_idx):
    """(input, offsets, include_last_offset): repeated indices, empty bags, a bag of padding only, and with
    include_last_offset a last offset short of the input's end (torch's CPU kernel runs the last bag to the end)."""
    pad = 2 if padding_idx is None else padding_idx
    if layout == "2d":
        return np.array([[1, 4, 4, 7, 0, 9], [pad, pad, pad, pad, pad, pad], [3, pad, 7, 1, 1, 5],
                         [8, 8, 4, 7, 6, 2]]), None, False
    flat = np.array([1, 4, 4, 7, 0, pad, pad, 3, pad, 1, 1, 5, 8, 4, 7, 6])
    if layout == "1d":
        return flat, np.array([0, 0, 5, 7, 7, 12, 16]), False   # empty bags, a bag of padding, one at the end
    return flat, np.array([0, 0, 5, 7, 7, 12, 14]), True       # the last bag still takes positions 14, 15


def _pair(mode, padding_idx=None, dtype=torch.float64, include_last_offset=False, seed=0):
    torch.manual_seed(seed)
    theirs = torch.nn.EmbeddingBag(10, 5, mode=mode, padding_idx=padding_idx, include_last_offset=include_last_offset,
                                   dtype=dtype)
    with torch.no_grad():
        theirs.weight[7] = theirs.weight[4]            # ties in the max, between rows 4 and 7
        theirs.weight[1, :2] = theirs.weight[3, :2]
    ours = nn.EmbeddingBag(10, 5, mode=mode, padding_idx=padding_idx, include_last_offset=include_last_offset,
                           dtype=np.float64 if dtype == torch.float64 else np.float32)
    ours.load_state_dict({"weight": theirs.weight.detach().numpy().copy()})
    return ours, theirs


def _run_torch(theirs, indices, offsets, weights, g):
    w = None if weights is None else torch.tensor(weights, requires_grad=True)
    y = theirs(torch.tensor(indices), None if offsets is None else torch.tensor(offsets), w)
    y.backward(torch.tensor(g))
    return y, theirs.weight.grad, None if w is None else w.grad


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
@pytest.mark.parametrize("layout", ["2d", "1d", "1d-last-offset"])
@pytest.mark.parametrize("mode,weighted", [("sum", False), ("sum", True), ("mean", False), ("max", False)])
def test_embedding_bag_matches_torch(mode, weighted, layout, padding_idx, device):
    indices, offsets, last = _bags(layout, None if padding_idx is None else padding_idx % 10)
    ours, theirs = _pair(mode, padding_idx, include_last_offset=last)
    ours.to(device=device)
    rng = np.random.default_rng(1)
    weights = rng.normal(size=indices.shape) if weighted else None
    n_bags = indices.shape[0] if offsets is None else len(offsets) - last
    g = rng.normal(size=(n_bags, 5))
    yt, gwt, gpt = _run_torch(theirs, indices, offsets, weights, g)
    y = ours(*(None if a is None else backend.to_device(a, device) for a in (indices, offsets, weights)))
    gp = ours.backward(backend.to_device(g, device))
    where = f"EmbeddingBag({mode}, {layout}, padding_idx={padding_idx}, weighted={weighted})"
    assert_close(y, yt, TOL, where + " forward")
    assert_close(ours.weight.grad, gwt, TOL, where + " weight gradient")
    if weighted:
        assert gp.shape == weights.shape
        assert_close(gp, gpt, TOL, where + " per_sample_weights gradient")
    else:
        assert gp is None


@pytest.mark.parametrize("bag", [[0, 2], [2, 0], [1, 2, 0], [3, 3], [2, 1], [3, 0, 3]])
def test_embedding_bag_max_takes_torchs_first_maximum_and_nan_only_first(bag):
    table = np.array([[np.nan, 1.0], [2.0, np.nan], [3.0, -np.inf], [-np.inf, 0.0]])
    theirs = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(table), freeze=False, mode="max")
    ours = nn.EmbeddingBag.from_pretrained(table.copy(), freeze=False, mode="max")
    g = np.array([[10.0, 20.0]])
    yt, gwt, _ = _run_torch(theirs, np.array([bag]), None, None, g)
    np.testing.assert_array_equal(ours(np.array([bag])), yt.detach().numpy())
    ours.backward(g)
    np.testing.assert_array_equal(ours.weight.grad, gwt.numpy())


def test_embedding_bag_keeps_float32_and_matches_torch_there():
    indices, offsets, _ = _bags("1d", None)
    ours, theirs = _pair("sum", dtype=torch.float32)
    rng = np.random.default_rng(2)
    weights = rng.normal(size=indices.shape).astype(np.float32)
    g = rng.normal(size=(len(offsets), 5)).astype(np.float32)
    yt, gwt, gpt = _run_torch(theirs, indices, offsets, weights, g)
    y = ours(indices, offsets, weights)
    gp = ours.backward(g)
    assert y.dtype == ours.weight.grad.dtype == gp.dtype == np.float32
    for a, b, what in ((y, yt, "forward"), (ours.weight.grad, gwt, "weight"), (gp, gpt, "per_sample_weights")):
        assert_close(a, b, 1e-6, f"EmbeddingBag float32 {what}")
    for mode in ("mean", "max"):
        ours, _ = _pair(mode, dtype=torch.float32)
        y = ours(indices, offsets)
        ours.backward(np.ones_like(y))
        assert y.dtype == ours.weight.grad.dtype == np.float32


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_gradcheck(mode):
    minimlp.manual_seed(0)
    bag = nn.EmbeddingBag(10, 4, mode=mode, padding_idx=2, dtype=np.float64)
    indices, offsets, _ = _bags("1d", 2)
    weighted = mode == "sum"

    def forward(table, weights):
        bag.weight.data[...] = table
        return bag(indices, offsets, weights if weighted else None)

    def backward(g):
        bag.zero_grad()
        grad_weights = bag.backward(g)
        return bag.weight.grad.copy(), np.zeros_like(g, shape=indices.shape) if grad_weights is None else grad_weights

    table = np.random.default_rng(3).normal(size=(10, 4))
    assert minimlp.gradcheck((forward, backward), (table, np.random.default_rng(4).normal(size=indices.shape)))


def test_embedding_bag_empty_input_and_empty_bags_give_zeros():
    ours, theirs = _pair("mean")
    yt = theirs(torch.tensor([], dtype=torch.long), torch.tensor([0, 0]))
    np.testing.assert_array_equal(ours(np.array([], dtype=np.int64), np.array([0, 0])), yt.detach().numpy())
    np.testing.assert_array_equal(ours(np.zeros((0, 3), np.int64)), np.zeros((0, 5)))
    np.testing.assert_array_equal(ours(np.zeros((3, 0), np.int64)), np.zeros((3, 5)))   # torch 2.13 fails here
    ours.backward(np.ones((3, 5)))
    assert not np.any(ours.weight.grad)
    last = nn.EmbeddingBag(10, 5, include_last_offset=True, mode="max")
    assert last(np.array([1, 2]), np.array([0])).shape == (0, 5)                        # torch 2.13 crashes here
    last.backward(np.ones((0, 5)))
    assert not np.any(last.weight.grad)


def test_embedding_bag_in_a_sequential_trains_as_a_first_layer():
    minimlp.manual_seed(0)
    model = nn.Sequential(nn.EmbeddingBag(6, 4, mode="sum"), nn.Linear(4, 2))
    y = model(np.array([[0, 1, 1], [5, 0, 0]]))
    model.backward(np.ones_like(y), input_grad=False)
    grad = model[0].weight.grad
    assert np.all(grad[[0, 1, 5]] != 0) and not np.any(grad[2:5])
    np.testing.assert_allclose(grad[1], 2 * grad[5])


def test_embedding_bag_state_dict_init_and_from_pretrained():
    minimlp.manual_seed(0)
    bag = nn.EmbeddingBag(6, 3, padding_idx=-2)
    assert list(bag.state_dict()) == list(torch.nn.EmbeddingBag(6, 3).state_dict()) == ["weight"]
    assert bag.padding_idx == 4 and not np.any(bag.weight.data[4]) and bag.weight.dtype == np.float32
    table = np.arange(12.0).reshape(4, 3)
    frozen = nn.EmbeddingBag.from_pretrained(table, padding_idx=1, mode="sum")
    np.testing.assert_array_equal(frozen.weight.data, table)                 # the padding row kept as given
    y = frozen(np.array([[0, 1, 3]]), per_sample_weights=np.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_array_equal(y, [table[0] + 3 * table[3]])
    np.testing.assert_array_equal(frozen.backward(np.ones((1, 3))), [[3.0, 0.0, 30.0]])
    assert frozen.weight.grad is None and not frozen.weight.requires_grad
    assert nn.EmbeddingBag.from_pretrained(table, freeze=False).weight.requires_grad


@pytest.mark.parametrize("kwargs", [{}, {"mode": "sum"}, {"mode": "max", "padding_idx": -1, "norm_type": 1.0},
                                    {"padding_idx": 0, "include_last_offset": True}, {"norm_type": 3}])
def test_embedding_bag_repr_is_torchs(kwargs):
    assert repr(nn.EmbeddingBag(5, 3, **kwargs)) == repr(torch.nn.EmbeddingBag(5, 3, **kwargs))


BAG_ERRORS = [
    ("offsets[0] != 0", lambda m, a: m.EmbeddingBag(5, 2)(a([1, 2]), a([1])), RuntimeError,
     r"offsets\[0\] has to be 0"),
    ("offsets past the end", lambda m, a: m.EmbeddingBag(5, 2)(a([1, 2]), a([0, 3])), RuntimeError,
     r"offsets\[-1\] can not be greater than input's length 2"),
    ("index too large", lambda m, a: m.EmbeddingBag(5, 2)(a([1, 7]), a([0])), RuntimeError, r"found idx to be 7"),
    ("index negative", lambda m, a: m.EmbeddingBag(5, 2)(a([1, -1]), a([0])), RuntimeError, r"found idx to be -1"),
    ("negative offset", lambda m, a: m.EmbeddingBag(5, 2)(a([1, 2]), a([0, -1])), IndexError, r"index out of range"),
    ("float indices", lambda m, a: m.EmbeddingBag(5, 2)(a([1.0, 2.0]), a([0])), RuntimeError, r"expected integer"),
    ("weights' dtype", lambda m, a: m.EmbeddingBag(5, 2, mode="sum")(a([1, 2]), a([0]), a(np.ones(2, np.float64))),
     RuntimeError, r"must have the weight's dtype float32"),
    ("weights for mean", lambda m, a: m.EmbeddingBag(5, 2)(a([1, 2]), a([0]), a(np.ones(2, np.float32))),
     NotImplementedError, r"per_sample_weights is only supported for mode='sum' \(got mode='mean'\)"),
    ("weights' shape", lambda m, a: m.EmbeddingBag(5, 2, mode="sum")(a([1, 2]), a([0]), a(np.ones(3, np.float32))),
     ValueError, r"must have the same shape as the input \(\(2,\)\)"),
    ("offsets with 2-d input", lambda m, a: m.EmbeddingBag(5, 2)(a([[1, 2]]), a([0])), ValueError,
     r"if input is 2D, then offsets has to be None"),
    ("no offsets", lambda m, a: m.EmbeddingBag(5, 2)(a([1, 2])), ValueError, r"offsets has to be a 1D Tensor but got"),
    ("3-d input", lambda m, a: m.EmbeddingBag(5, 2)(a([[[1, 2]]])), ValueError, r"got Tensor of dimension 3"),
    ("2-d offsets", lambda m, a: m.EmbeddingBag(5, 2)(a([1, 2]), a([[0]])), ValueError, r"offsets has to be a 1D"),
    ("last offset, none", lambda m, a: m.EmbeddingBag(5, 2, include_last_offset=True)(a([1, 2]), a(np.zeros(0, int))),
     RuntimeError, r"number of offset should be at least 1"),
    ("padding_idx", lambda m, a: m.EmbeddingBag(5, 2, padding_idx=5), AssertionError, r"padding_idx must be within"),
    ("_weight's shape", lambda m, a: m.EmbeddingBag(5, 2, _weight=a(np.zeros((5, 3), np.float32))), AssertionError,
     r"Shape of weight"),
    ("pretrained 1-d", lambda m, a: m.EmbeddingBag.from_pretrained(a(np.zeros(3, np.float32))), AssertionError,
     r"expected to be 2-dimensional"),
]


@pytest.mark.parametrize("call,error,pattern", [case[1:] for case in BAG_ERRORS], ids=[case[0] for case in BAG_ERRORS])
def test_embedding_bag_errors_are_torchs_classes(call, error, pattern):
    with pytest.raises(error):
        call(torch.nn, torch.tensor)
    with pytest.raises(error, match=pattern) as raised:
        call(nn, np.asarray)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("make,pattern", [
    (lambda: nn.EmbeddingBag(5, 2, mode="median"), r"mode has to be one of sum, mean or max, got 'median'"),
    (lambda: nn.EmbeddingBag(5, 2, max_norm=1.0), r"EmbeddingBag: max_norm is not supported"),
    (lambda: nn.EmbeddingBag(5, 2, scale_grad_by_freq=True), r"scale_grad_by_freq and sparse are not supported"),
    (lambda: nn.EmbeddingBag(5, 2, sparse=True), r"scale_grad_by_freq and sparse are not supported"),
    (lambda: nn.EmbeddingBag(5, 2)(np.array([1, 2]), np.array([0, 2, 1])), r"offsets must be non-decreasing"),
    (lambda: nn.EmbeddingBag(5, 2)(np.array([1, 2]), np.zeros(0, np.int64)), r"offsets is empty"),
    (lambda: nn.EmbeddingBag(5, 2).backward(np.ones((1, 2))), r"backward called before forward"),
])
def test_embedding_bag_refusals_are_one_line_value_errors(make, pattern):
    with pytest.raises((ValueError, RuntimeError), match=pattern) as raised:
        make()
    assert "\n" not in str(raised.value)


# ---------------------------------------------------------------------------------------------------- LPPool

def _signal(shape, seed):
    """Mixed signs, a window of zeros at the start, a zero inside another window."""
    x = np.random.default_rng(seed).normal(size=shape)
    x[..., :2] = 0
    if x.ndim >= 3 and x.shape[-2] > 2 and shape[-1] > 3:
        x[..., :2, :2] = 0
        x[..., -1, 3] = 0
    return x


def _lp_compare(make, x, p, tol=TOL, device="cpu"):
    layer, reference = make(nn), make(torch.nn)
    xt = torch.tensor(x, requires_grad=True)
    yt = reference(xt)
    g = np.random.default_rng(5).normal(size=tuple(yt.shape)).astype(x.dtype)
    yt.backward(torch.tensor(g))
    y = backend.to_numpy(layer(backend.to_device(x, device)))
    dx = backend.to_numpy(layer.backward(backend.to_device(g, device)))
    assert y.dtype == dx.dtype == x.dtype
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=tol, atol=0, equal_nan=True, err_msg=f"p={p} forward")
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=tol, atol=1e-300, equal_nan=True, err_msg=f"p={p} gradient")
    return y, dx


@pytest.mark.parametrize("implementation", ["formula", "cpu-compiled"])
@pytest.mark.parametrize("p", [1, 2, 3, 1.5, 0.5, -1, INF, -INF])
@pytest.mark.parametrize("kernel,stride,ceil_mode,shape", [
    (2, None, False, (2, 3, 7)), (3, 2, True, (2, 3, 8)), (4, 3, True, (3, 6)), (3, 1, False, (1, 2, 5))])
def test_lppool1d_matches_torch(kernel, stride, ceil_mode, shape, p, implementation):
    with kernels.use(implementation):
        _lp_compare(lambda m: m.LPPool1d(p, kernel, stride, ceil_mode), _signal(shape, 0), p)


@pytest.mark.parametrize("implementation", ["formula", "cpu-compiled"])
@pytest.mark.parametrize("p", [1, 2, 3, 1.5, 0.5, -1, INF, -INF])
@pytest.mark.parametrize("kernel,stride,ceil_mode,shape", [
    (2, None, False, (2, 3, 6, 7)), ((2, 3), (1, 2), True, (2, 2, 5, 8)), (3, 2, True, (3, 7, 6)),
    ((3, 1), None, False, (1, 2, 6, 4))])
def test_lppool2d_matches_torch(kernel, stride, ceil_mode, shape, p, implementation, device):
    with kernels.use(implementation):
        _lp_compare(lambda m: m.LPPool2d(p, kernel, stride, ceil_mode), _signal(shape, 1), p, device=device)


@pytest.mark.parametrize("p", [1, 2, 3, INF])
def test_lppool_windows_of_zeros_get_zero_gradient_as_torch_documents(p):
    x = np.zeros((1, 2, 4, 4))
    x[0, 1, 2:, 2:] = [[1.0, 2.0], [0.0, 3.0]]
    y, dx = _lp_compare(lambda m: m.LPPool2d(p, 2), x, p)
    assert not np.any(y[0, 0]) and not np.any(dx[0, 0]) and np.all(np.isfinite(dx))


@pytest.mark.parametrize("p", [2, 3, 1.5, INF])
def test_lppool_keeps_float32_and_matches_torch_there(p):
    x = np.abs(_signal((2, 3, 6, 7), 2)).astype(np.float32) + 0.1
    for make, data in ((lambda m: m.LPPool2d(p, 3, 2, True), x), (lambda m: m.LPPool1d(p, 3, 2, True), x[0])):
        layer, reference = make(nn), make(torch.nn)
        xt = torch.tensor(data, requires_grad=True)
        yt = reference(xt)
        g = np.random.default_rng(5).normal(size=tuple(yt.shape)).astype(np.float32)
        yt.backward(torch.tensor(g))
        y = layer(data)
        dx = layer.backward(g)
        assert y.dtype == dx.dtype == np.float32
        assert_close(y, yt, 1e-6, f"{layer!r} float32 forward")
        assert_close(dx, xt.grad, 1e-6, f"{layer!r} float32 gradient")


@pytest.mark.parametrize("make", [lambda: nn.LPPool2d(2, 3, 2, True), lambda: nn.LPPool2d(3, (2, 3)),
                                  lambda: nn.LPPool2d(1.5, 2, 1), lambda: nn.LPPool1d(2, 3, 2, True),
                                  lambda: nn.LPPool1d(INF, 3, 1)])
def test_lppool_gradcheck(make):
    x = np.random.default_rng(6).uniform(0.5, 2.0, (2, 3, 7, 8))
    x = x[:, :, 0] if isinstance(make(), nn.LPPool1d) else x
    assert minimlp.gradcheck(make(), x)


@pytest.mark.parametrize("make", [lambda m: m.LPPool2d(2, 3), lambda m: m.LPPool2d(2.0, (2, 3), stride=1),
                                  lambda m: m.LPPool2d(INF, [2, 3], stride=[1, 2], ceil_mode=True),
                                  lambda m: m.LPPool1d(1.5, 3, 2), lambda m: m.LPPool1d(2, (3,))])
def test_lppool_repr_and_state_dict_are_torchs(make):
    ours, theirs = make(nn), make(torch.nn)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []


LP_ERRORS = [
    ("p = 0", lambda m, a: m.LPPool2d(0, 2)(a(np.ones((1, 1, 2, 2)))), ZeroDivisionError, r"norm_type 0"),
    ("kernel past the input", lambda m, a: m.LPPool2d(2, 4)(a(np.ones((1, 3, 3)))), RuntimeError, r"smaller than"),
    ("kernel past the input, p = ∞", lambda m, a: m.LPPool2d(INF, 4)(a(np.ones((1, 3, 3)))), RuntimeError,
     r"smaller than"),
    ("1-d input", lambda m, a: m.LPPool1d(2, 2)(a(np.ones(3))), RuntimeError, r"Expected 2D or 3D"),
    ("5-d input", lambda m, a: m.LPPool2d(2, 2)(a(np.ones((1, 1, 1, 2, 2)))), RuntimeError, r"4-D"),
]


@pytest.mark.parametrize("call,error,pattern", [case[1:] for case in LP_ERRORS], ids=[case[0] for case in LP_ERRORS])
def test_lppool_errors_are_torchs_classes(call, error, pattern):
    with pytest.raises(error):
        call(torch.nn, torch.tensor)
    with pytest.raises(error, match=pattern) as raised:
        call(nn, np.asarray)
    assert "\n" not in str(raised.value)
