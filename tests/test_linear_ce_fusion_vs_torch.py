"""nn.LinearCrossEntropyLoss against torch 2.13's autograd in float64 (the loss, ∂L/∂x and the gradients of
``linear.weight`` and ``linear.bias``, every reduction, class weights, ignore_index, label smoothing, probability and
K-dimensional targets, one sample and batches), its chunked path (minimlp's and torch's options) giving the same
numbers without ever building the whole logits (a spy on the products' shapes, and the peak memory), finite
differences, float32 kept, torch's errors, reprs and state_dict both ways. Then nn.utils.fuse_conv_bn_eval /
fuse_linear_bn_eval / their *_weights and skip_init against torch and against the unfused minimlp pair."""
import math
import tracemalloc

import numpy as np
import pytest
import torch
from torch_reference import assert_close, assert_state_dict_round_trips, reduced_loss_value

import minimlp
from minimlp import backend, nn
from minimlp.formulas import cross_entropy as ce_formula

TOL = 1e-10
IN, C = 4, 6


def _weights(n=C):
    return np.linspace(0.3, 2.0, n)


# id -> (constructor kwargs, target kind)
CASES = {
    "plain": ({}, "index"),
    "bias-kdim": ({"bias": True, "out_features": (3, 2)}, "index"),
    "weight-smoothing-ignore": ({"bias": True, "weight": _weights(), "label_smoothing": 0.2, "ignore_index": 2},
                                "index"),
    "weight-default-ignore": ({"weight": _weights()}, "index"),
    "probabilities-kdim": ({"bias": True, "out_features": (2,)}, "probability"),
    "probabilities-weight-smoothing": ({"weight": _weights(), "label_smoothing": 0.3}, "probability"),
}
OPTIONS = {"unchunked": None, "chunk3": {"batch_chunk_size": 3}, "chunk1": {"batch_chunk_size": 1},
           "auto": {}, "aspect": {"chunking_method": "aspect_ratio:1"}}


def targets(rng, kind, n, tail, ignore=None):
    if kind == "index":
        t = rng.integers(0, C, (n,) + tail)
        if n > 2:
            t[1] = -100 if ignore is None else ignore   # an ignored row (a whole sample of positions)
        return t
    return np.moveaxis(rng.dirichlet(np.ones(C), (n,) + tail), -1, 1).copy()


def pair(kwargs, reduction, options, dtype=np.float64, device="cpu"):
    """The same loss in minimlp (on ``device``) and torch (float64), with minimlp's weights copied into torch's."""
    ours_kwargs = dict(kwargs)
    if "weight" in ours_kwargs:
        ours_kwargs["weight"] = backend.to_device(ours_kwargs["weight"].astype(dtype), device)
    opts = None if options is None else nn.LinearCrossEntropyOptions(**options)
    ours = nn.LinearCrossEntropyLoss(IN, C, dtype=dtype, device=device, reduction=reduction, options=opts,
                                     **ours_kwargs)
    theirs_kwargs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    theirs = torch.nn.LinearCrossEntropyLoss(IN, C, dtype=torch.float64, reduction=reduction, **theirs_kwargs)
    with torch.no_grad():
        theirs.linear.weight.copy_(torch.tensor(backend.to_numpy(ours.linear.weight.data)))
        if ours.linear.bias is not None:
            theirs.linear.bias.copy_(torch.tensor(backend.to_numpy(ours.linear.bias.data)))
    return ours, theirs


def compare(case, reduction, option, n, device="cpu", seed=0):
    kwargs, kind = CASES[case]
    tail = kwargs.get("out_features", ())
    rng = np.random.default_rng(seed + (0 if n is None else n))
    ours, theirs = pair(kwargs, reduction, OPTIONS[option], device=device)
    x = rng.normal(size=(IN,) if n is None else (n, IN))
    t = targets(rng, kind, 1 if n is None else n, tail, kwargs.get("ignore_index"))
    t = t[0] if n is None else t
    tx = torch.tensor(x, requires_grad=True)
    expected = theirs(tx, torch.tensor(t))
    xp = backend.xp_for(device)
    value = ours(xp.asarray(x), xp.asarray(t))
    where = f"{case}({reduction}, {option}) batch {n}"
    if reduction == "none":
        assert_close(value, expected.detach(), TOL, f"{where} values")
        g = rng.normal(size=tuple(expected.shape))
        expected.backward(torch.tensor(g))
        dx = ours.backward(xp.asarray(g))
    else:
        value = reduced_loss_value(value, device)
        assert abs(value - expected.item()) <= TOL * abs(expected.item()), (where, value, expected)
        expected.backward(torch.tensor(1.7, dtype=torch.float64))
        dx = ours.backward(1.7)
    assert dx.shape == x.shape and dx.dtype == np.float64, where
    assert_close(dx, tx.grad, TOL, f"{where} ∂L/∂x")
    assert_close(ours.linear.weight.grad, theirs.linear.weight.grad, TOL, f"{where} ∂L/∂W")
    if ours.linear.bias is not None:
        assert_close(ours.linear.bias.grad, theirs.linear.bias.grad, TOL, f"{where} ∂L/∂b")


@pytest.mark.parametrize("option", list(OPTIONS))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case,n", [(c, n) for c in CASES for n in (1, 7, 16, None)
                                    if n is not None or not CASES[c][0].get("out_features")],   # K-dim: batched only
                         ids=[f"{c}-{'unbatched' if n is None else f'N{n}'}" for c in CASES for n in (1, 7, 16, None)
                              if n is not None or not CASES[c][0].get("out_features")])
def test_matches_torch(case, reduction, option, n, device):
    compare(case, reduction, option, n, device)


def test_torchs_options_object_is_taken_and_its_chunked_path_agrees():
    rng = np.random.default_rng(3)
    x, t = rng.normal(size=(11, IN)), rng.integers(0, C, 11)
    t[4] = -100
    for reduction in ("mean", "sum", "none"):
        opts = torch.nn.LinearCrossEntropyOptions(batch_chunk_size=4)
        ours = nn.LinearCrossEntropyLoss(IN, C, bias=True, dtype=np.float64, reduction=reduction, options=opts,
                                         weight=_weights())
        theirs = torch.nn.LinearCrossEntropyLoss(IN, C, bias=True, dtype=torch.float64, reduction=reduction,
                                                 options=opts, weight=torch.tensor(_weights()))
        theirs.load_state_dict(minimlp.to_torch_state_dict(ours.state_dict()))
        tx = torch.tensor(x, requires_grad=True)
        expected = theirs(tx, torch.tensor(t))   # torch's chunked custom op
        value = ours(x, t)
        g = np.ones(11) if reduction == "none" else 1.0
        expected.backward(torch.tensor(g))
        dx = ours.backward(g)
        np.testing.assert_allclose(value, expected.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(ours.linear.weight.grad, theirs.linear.weight.grad.numpy(), rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(ours.linear.bias.grad, theirs.linear.bias.grad.numpy(), rtol=1e-10, atol=1e-15)
        assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("rows,in_features,width", [(7, 4, 6), (100, 8, 1000), (1, 3, 50), (64, 64, 64),
                                                   (1000, 16, 32000), (0, 4, 6), (33, 5, 10)])
@pytest.mark.parametrize("fields", [{}, {"batch_chunk_size": 5}, {"batch_chunk_size": 10 ** 6},
                                    {"chunking_method": "aspect_ratio"}, {"chunking_method": "aspect_ratio:4"},
                                    {"chunking_method": None}, {"chunking_method": None, "batch_chunk_size": 3}])
def test_chunk_size_is_torchs(rows, in_features, width, fields):
    theirs = torch.nn.LinearCrossEntropyOptions(**fields)._adjust(rows, in_features, width, torch.float32,
                                                                   torch.device("cpu")).batch_chunk_size
    assert nn.LinearCrossEntropyOptions(**fields).chunk_size(rows, in_features, width) == theirs


def test_a_chunk_size_that_disagrees_with_the_method_and_bad_fields_are_torchs_value_errors():
    fields = {"batch_chunk_size": 3, "chunking_method": "aspect_ratio"}
    with pytest.raises(ValueError, match="give different chunk sizes"):
        torch.nn.LinearCrossEntropyOptions(**fields)._adjust(7, 4, 6, torch.float32, torch.device("cpu"))
    with pytest.raises(ValueError, match=r"batch_chunk_size \(=3\) and chunking_method \('aspect_ratio'\) give"):
        nn.LinearCrossEntropyLoss(IN, C, options=nn.LinearCrossEntropyOptions(**fields))(
            np.zeros((7, IN), np.float32), np.zeros(7, np.int64))
    for bad, words in [({"batch_chunk_size": 0}, "batch_chunk_size must be positive int or None, got 0"),
                       ({"batch_chunk_size": 2.0}, "batch_chunk_size must be positive int"),
                       ({"chunking_method": "foo"}, "invalid chunking_method: 'foo'"),
                       ({"chunking_method": "aspect_ratio:0"}, "invalid chunking_method"),
                       ({"acc_policy": "fast"}, "invalid acc_policy: 'fast'"),
                       ({"acc_dtype": np.int32}, "acc_dtype must be one of")]:
        with pytest.raises(ValueError):
            torch.nn.LinearCrossEntropyOptions(**{k: (torch.int32 if v is np.int32 else v) for k, v in bad.items()})
        with pytest.raises(ValueError, match=words):
            nn.LinearCrossEntropyOptions(**bad)
    for fine in (np.float32, "float64", torch.bfloat16, None):
        nn.LinearCrossEntropyOptions(acc_dtype=fine)
    assert repr(nn.LinearCrossEntropyOptions(batch_chunk_size=3)) == repr(
        torch.nn.LinearCrossEntropyOptions(batch_chunk_size=3))


# ---- chunking: same numbers, never the whole logits ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_every_chunk_size_gives_the_unchunked_numbers(case, reduction, dtype, device):
    kwargs, kind = CASES[case]
    xp = backend.xp_for(device)
    rng = np.random.default_rng(5)
    n = 13
    x = xp.asarray(rng.normal(size=(n, IN)).astype(dtype))
    t = xp.asarray(targets(rng, kind, n, kwargs.get("out_features", ()), kwargs.get("ignore_index")))
    t = t.astype(dtype) if kind == "probability" else t
    g = xp.asarray(rng.normal(size=(n,) + kwargs.get("out_features", ())).astype(dtype))
    results = []
    for size in (None, 1, 2, 5, 12, 13, 100):
        loss, _ = pair(kwargs, reduction, None if size is None else {"batch_chunk_size": size}, dtype, device)
        if results:
            loss.load_state_dict(results[0][0].state_dict())
        value = loss(x, t)
        dx = loss.backward(g if reduction == "none" else 1.0)
        grads = [dx, loss.linear.weight.grad] + ([] if loss.linear.bias is None else [loss.linear.bias.grad])
        assert all(a.dtype == dtype for a in grads)
        assert reduction != "none" or value.dtype == dtype
        results.append((loss, value, grads))
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for loss, value, grads in results[1:]:
        np.testing.assert_allclose(backend.to_numpy(xp.asarray(value)), backend.to_numpy(xp.asarray(results[0][1])),
                                   rtol=tol, atol=tol)
        for a, b in zip(grads, results[0][2]):
            np.testing.assert_allclose(backend.to_numpy(a), backend.to_numpy(b), rtol=tol, atol=tol)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_the_chunked_path_never_computes_more_than_a_chunk_of_logits(reduction, monkeypatch):
    seen = []
    original = ce_formula.forward

    def spy(logits, *args):
        seen.append(tuple(logits.shape))
        return original(logits, *args)

    monkeypatch.setattr(ce_formula, "forward", spy)
    rng = np.random.default_rng(0)
    n = 23
    loss = nn.LinearCrossEntropyLoss(IN, C, out_features=(2,), bias=True, reduction=reduction,
                                     options=nn.LinearCrossEntropyOptions(batch_chunk_size=5))
    value = loss(rng.normal(size=(n, IN)).astype(np.float32), rng.integers(0, C, (n, 2)))
    assert seen == [(5, C, 2)] * 4 + [(3, C, 2)]           # rows 0-4, 5-9, 10-14, 15-19, 20-22
    loss.backward(np.ones(np.shape(value), np.float32) if reduction == "none" else None)
    assert seen[5:] == [(5, C, 2)] * 4 + [(3, C, 2)]       # the backward computes them again, chunk by chunk
    seen.clear()
    unchunked = nn.LinearCrossEntropyLoss(IN, C, out_features=(2,), reduction=reduction)
    value = unchunked(rng.normal(size=(n, IN)).astype(np.float32), rng.integers(0, C, (n, 2)))
    unchunked.backward(np.ones(np.shape(value), np.float32) if reduction == "none" else None)
    assert seen == [(n, C, 2)]                              # once, kept for the backward


def _peak(loss, x, t):
    tracemalloc.start()
    try:
        loss(x, t)
        loss.backward()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_chunked_peak_memory_is_a_fraction_of_the_logits():
    rng = np.random.default_rng(0)
    n, classes, width = 4096, 512, 8
    x, t = rng.normal(size=(n, width)), rng.integers(0, classes, n)
    logits_bytes = n * classes * 8                        # 16 MiB of float64 logits
    whole = nn.LinearCrossEntropyLoss(width, classes, dtype=np.float64)
    chunked = nn.LinearCrossEntropyLoss(width, classes, dtype=np.float64,
                                        options=nn.LinearCrossEntropyOptions(batch_chunk_size=32))
    chunked.load_state_dict(whole.state_dict())
    peak_whole, peak_chunked = _peak(whole, x, t), _peak(chunked, x, t)
    assert peak_whole > logits_bytes                      # the reference path holds them (and more)
    assert peak_chunked < logits_bytes / 6, (peak_chunked, logits_bytes)
    np.testing.assert_allclose(chunked.linear.weight.grad, whole.linear.weight.grad, rtol=1e-10, atol=1e-16)


# ---- finite differences, float32, module behaviour ---------------------------------------------------------------

class _Bound(nn.Module):
    """The loss with its target fixed, as a module of one input (gradcheck also checks linear's parameters)."""

    def __init__(self, loss, target):
        super().__init__()
        self.loss, self.target = loss, target

    def forward(self, x):
        value = self.loss(x, self.target)
        return np.asarray(value) if isinstance(value, float) else value

    def backward(self, g):
        return self.loss.backward(g if self.loss.reduction == "none" else float(g))


@pytest.mark.parametrize("options", [None, {"batch_chunk_size": 2}])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", list(CASES))
def test_gradcheck(case, reduction, options):
    kwargs, kind = CASES[case]
    rng = np.random.default_rng(11)
    loss, _ = pair(kwargs, reduction, options)
    t = targets(rng, kind, 5, kwargs.get("out_features", ()), kwargs.get("ignore_index"))
    assert minimlp.gradcheck(_Bound(loss, t), rng.normal(size=(5, IN)))


@pytest.mark.parametrize("case", list(CASES))
def test_float32_stays_float32_and_matches_torch(case):
    kwargs, kind = CASES[case]
    rng = np.random.default_rng(4)
    ours, theirs = pair(kwargs, "none", {"batch_chunk_size": 2}, dtype=np.float32)
    x = rng.normal(size=(6, IN)).astype(np.float32)
    t = targets(rng, kind, 6, kwargs.get("out_features", ()), kwargs.get("ignore_index"))
    t = t.astype(np.float32) if kind == "probability" else t
    value = ours(x, t)
    assert value.dtype == np.float32 and ours.linear.weight.data.dtype == np.float32
    np.testing.assert_allclose(value, theirs(torch.tensor(x, dtype=torch.float64), torch.tensor(t)).detach().numpy(),
                               rtol=2e-5, atol=2e-6)
    assert ours.backward(np.ones(value.shape, np.float32)).dtype == np.float32
    assert ours.linear.weight.grad.dtype == np.float32


def test_parameters_init_state_dict_and_repr_are_torchs():
    ours = nn.LinearCrossEntropyLoss(5, 10, out_features=(4, 3), bias=True, weight=np.ones(10))
    theirs = torch.nn.LinearCrossEntropyLoss(5, 10, out_features=(4, 3), bias=True, weight=torch.ones(10))
    assert [(k, tuple(p.data.shape)) for k, p in ours.named_parameters()] == \
           [(k, tuple(p.shape)) for k, p in theirs.named_parameters()] == [("linear.weight", (120, 5)),
                                                                          ("linear.bias", (120,))]
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "linear.weight", "linear.bias"]
    assert repr(ours) == repr(theirs)
    bound = 1 / math.sqrt(5)
    for p in (ours.linear.weight.data, ours.linear.bias.data):
        assert p.dtype == np.float32 and np.abs(p).max() <= bound and np.abs(p).max() > 0.8 * bound
    for args in [dict(reduction="sum", ignore_index=3, label_smoothing=0.1),
                 dict(options=torch.nn.LinearCrossEntropyOptions(batch_chunk_size=7))]:
        assert repr(nn.LinearCrossEntropyLoss(3, 4, **args)) == repr(torch.nn.LinearCrossEntropyLoss(3, 4, **args))
    assert ours.ignore_index is None and ours.num_classes == 10 and ours.out_features == (4, 3)

    def factory(m):
        w = np.linspace(0.5, 1.5, 4)
        return m.LinearCrossEntropyLoss(3, 4, out_features=(2,), bias=True,
                                        weight=torch.tensor(w, dtype=torch.float32) if m is torch.nn
                                        else w.astype(np.float32))
    assert_state_dict_round_trips(factory)
    assert_state_dict_round_trips(lambda m: m.LinearCrossEntropyLoss(3, 4))


def test_backward_parameters_twice_and_before_forward():
    rng = np.random.default_rng(1)
    x, t = rng.normal(size=(6, IN)).astype(np.float32), rng.integers(0, C, 6)
    loss = nn.LinearCrossEntropyLoss(IN, C, bias=True, options=nn.LinearCrossEntropyOptions(batch_chunk_size=4))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        loss.backward()
    loss(x, t)
    dx = loss.backward()
    w, b = loss.linear.weight.grad.copy(), loss.linear.bias.grad.copy()
    with pytest.raises(RuntimeError, match="second time since its last forward"):
        loss.backward()
    loss.zero_grad()
    loss(x, t)
    assert loss.backward_parameters() is None
    np.testing.assert_array_equal(loss.linear.weight.grad, w)
    np.testing.assert_array_equal(loss.linear.bias.grad, b)
    assert dx.shape == x.shape
    none = nn.LinearCrossEntropyLoss(IN, C, reduction="none")
    none(x, t)
    with pytest.raises(ValueError, match="backward needs grad_output of the loss's shape"):
        none.backward()


@pytest.mark.parametrize("options", [None, {"batch_chunk_size": 2}])
def test_every_row_ignored_and_an_empty_batch_as_torch(options):
    for reduction in ("mean", "sum", "none"):
        for x, t in [(np.zeros((3, IN)), np.full(3, -100)), (np.zeros((0, IN)), np.zeros(0, np.int64))]:
            ours, theirs = pair({}, reduction, options)
            tx = torch.tensor(x, requires_grad=True)
            expected = theirs(tx, torch.tensor(t))
            value = ours(x, t)
            np.testing.assert_array_equal(np.asarray(value), expected.detach().numpy())
            expected.sum().backward()
            dx = ours.backward(np.ones(np.shape(value)) if reduction == "none" else 1.0)
            if reduction != "mean":   # torch's mean over nothing is NaN, and so its gradient
                np.testing.assert_array_equal(dx, tx.grad.numpy())
                np.testing.assert_array_equal(ours.linear.weight.grad, theirs.linear.weight.grad.numpy())


# ---- errors --------------------------------------------------------------------------------------------------------

def _loss(m, **kwargs):
    return m.LinearCrossEntropyLoss(5, 10, **kwargs)


def _long(a, values):
    return a(np.asarray(values, dtype=np.int64))


ERRORS = [  # (call on a namespace and an array maker, torch's class, minimlp's message)
    ("3d-input", lambda m, a: _loss(m)(a(np.zeros((2, 3, 5))), _long(a, np.zeros((2, 3)))), RuntimeError,
     r"^expected input with dimensionality 1 or 2, got 3$"),
    ("in-features", lambda m, a: _loss(m)(a(np.zeros((2, 4))), _long(a, [0, 1])), RuntimeError,
     r"^expected equal input and linear_weight last dimensions \(in_features\), got 4 and 5, respectively$"),
    ("batch-size", lambda m, a: _loss(m)(a(np.zeros((2, 5))), _long(a, [0, 1, 2])), ValueError,
     r"^Expected input batch_size \(2\) to match target batch_size \(3\)\.$"),
    ("target-size", lambda m, a: _loss(m, out_features=(3,))(a(np.zeros((2, 5))), _long(a, [0, 1])), RuntimeError,
     r"Expected target size \[2, 3\], got \[2\]"),
    ("out-of-bounds", lambda m, a: _loss(m)(a(np.zeros((2, 5))), _long(a, [0, 10])), IndexError,
     r"^Target 10 is out of bounds\.$"),
    ("negative-target", lambda m, a: _loss(m)(a(np.zeros((2, 5))), _long(a, [0, -1])), IndexError,
     r"^Target -1 is out of bounds\.$"),
    ("kdim-unbatched", lambda m, a: _loss(m, out_features=(3,))(a(np.zeros(5)), _long(a, [0, 1, 2])), RuntimeError,
     r"^K-dimensional loss defined by linear_weight shape \(10, 3, 5\) requires batched input, \(N, 5\), got "
     r"unbatched input with shape \(5,\)$"),
    ("ignore-index-probabilities", lambda m, a: _loss(m, ignore_index=-100)(a(np.zeros((2, 5))), a(np.zeros((2, 10)))),
     RuntimeError, r"^ignore_index cannot be specified when target contains probabilities$"),
    ("integer-probabilities", lambda m, a: _loss(m)(a(np.zeros((2, 5))), _long(a, np.zeros((2, 10)))), RuntimeError,
     r"^Expected floating point type for target with class probabilities, got int64$"),
    ("float-indices", lambda m, a: _loss(m)(a(np.zeros((2, 5))), a(np.zeros(2))), RuntimeError,
     r"expected target dtype to be an integer"),
    ("weight-shape", lambda m, a: _loss(m, weight=a(np.ones(9))), RuntimeError,
     r"^expected weight shape to be \(10,\), got \(9,\)$"),
    ("label-smoothing", lambda m, a: _loss(m, label_smoothing=1.5), RuntimeError,
     r"^expected label_smoothing to be in range \[0, 1\], got 1.5$"),
    ("reduction", lambda m, a: _loss(m, reduction="bad")(a(np.zeros((2, 5), np.float32)), _long(a, [0, 1])),
     ValueError, r"reduction must be 'mean', 'sum' or 'none', got 'bad'"),
    ("dtype", lambda m, a: _loss(m)(a(np.zeros((2, 5), np.float16)), _long(a, [0, 1])), RuntimeError,
     r"input dtype float16 does not match the layer's float32"),
]


@pytest.mark.parametrize("call,error,pattern", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_are_torchs_class_in_one_line(call, error, pattern):
    def single(a):   # the loss's float32 (float16 stays, to meet the dtype check)
        return a.astype(np.float32) if a.dtype == np.float64 else a
    with pytest.raises(error):
        call(torch.nn, lambda a: torch.tensor(single(a)))
    with pytest.raises(error, match=pattern) as caught:
        call(nn, single)
    assert "\n" not in str(caught.value)


# ---- nn.utils: BatchNorm folded into the layer before it ---------------------------------------------------------

def _random_bn(bn, rng, affine=True):
    bn.running_mean[...] = rng.normal(size=bn.running_mean.shape)
    bn.running_var[...] = rng.uniform(0.3, 2.0, bn.running_var.shape)
    if affine:
        bn.weight.data[...] = rng.normal(size=bn.weight.data.shape)
        if bn.bias is not None:
            bn.bias.data[...] = rng.normal(size=bn.bias.data.shape)
    return bn


# id -> (layer constructor on a namespace, BatchNorm constructor, input shape, transpose)
FUSIONS = {
    "Conv1d": (lambda m: m.Conv1d(3, 4, 3, padding=1), lambda m: m.BatchNorm1d(4), (2, 3, 7), False),
    "Conv2d-no-bias": (lambda m: m.Conv2d(3, 4, 3, bias=False), lambda m: m.BatchNorm2d(4), (2, 3, 6, 5), False),
    "Conv2d-groups": (lambda m: m.Conv2d(4, 6, 3, groups=2, stride=2), lambda m: m.BatchNorm2d(6), (2, 4, 7, 7),
                      False),
    "Conv2d-bn-no-affine": (lambda m: m.Conv2d(3, 4, 1), lambda m: m.BatchNorm2d(4, affine=False), (2, 3, 4, 4),
                            False),
    "Conv2d-bn-no-bias": (lambda m: m.Conv2d(3, 4, 1), lambda m: m.BatchNorm2d(4, bias=False, eps=0.1),
                          (2, 3, 4, 4), False),
    "Conv3d": (lambda m: m.Conv3d(2, 3, 2), lambda m: m.BatchNorm3d(3), (2, 2, 4, 4, 4), False),
    "ConvTranspose1d": (lambda m: m.ConvTranspose1d(3, 4, 3, stride=2), lambda m: m.BatchNorm1d(4), (2, 3, 5), True),
    "ConvTranspose2d": (lambda m: m.ConvTranspose2d(3, 4, 3), lambda m: m.BatchNorm2d(4), (2, 3, 4, 4), True),
    "ConvTranspose3d": (lambda m: m.ConvTranspose3d(2, 3, 2), lambda m: m.BatchNorm3d(3), (1, 2, 3, 3, 3), True),
    "Linear": (lambda m: m.Linear(5, 4), lambda m: m.BatchNorm1d(4), (6, 5), None),
    "Linear-no-bias": (lambda m: m.Linear(5, 4, bias=False), lambda m: m.BatchNorm1d(4), (6, 5), None),
    "Linear-one-feature-bn": (lambda m: m.Linear(5, 3), lambda m: m.BatchNorm1d(1), (2, 1, 5), None),
}


def _both_pairs(case, dtype=np.float64):
    make_layer, make_bn, shape, transpose = FUSIONS[case]
    rng = np.random.default_rng(len(case))
    layer, bn = make_layer(nn).to(dtype=dtype), make_bn(nn).to(dtype=dtype)
    _random_bn(bn, rng, affine=bn.weight is not None)
    torch_dtype = torch.float64 if dtype == np.float64 else torch.float32
    t_layer, t_bn = make_layer(torch.nn).to(torch_dtype), make_bn(torch.nn).to(torch_dtype)
    t_layer.load_state_dict(minimlp.to_torch_state_dict(layer.state_dict()))
    t_bn.load_state_dict(minimlp.to_torch_state_dict(bn.state_dict()))
    return layer.eval(), bn.eval(), t_layer.eval(), t_bn.eval(), rng.normal(size=shape).astype(dtype), transpose


def _fuse(m, layer, bn, transpose):
    if transpose is None:
        return m.utils.fuse_linear_bn_eval(layer, bn)
    return m.utils.fuse_conv_bn_eval(layer, bn, transpose=transpose)


@pytest.mark.parametrize("case", list(FUSIONS))
def test_fused_layer_gives_the_pairs_eval_output_as_torchs(case, device):
    layer, bn, t_layer, t_bn, x, transpose = _both_pairs(case)
    originals = [p.data.copy() for p in layer.parameters()]
    layer.to(device=device), bn.to(device=device)
    xp = backend.xp_for(device)
    fused = _fuse(nn, layer, bn, transpose)
    t_fused = _fuse(torch.nn, t_layer, t_bn, transpose)
    assert type(fused) is type(layer) and not fused.training
    assert list(fused.state_dict()) == list(t_fused.state_dict())
    for (key, ours), theirs in zip(fused.state_dict().items(), t_fused.state_dict().values()):
        assert_close(ours, theirs, 1e-13, f"{case} fused {key}")
    assert_close(fused(xp.asarray(x)), t_fused(torch.tensor(x)).detach(), 1e-12, f"{case} fused output vs torch's")
    assert_close(fused(xp.asarray(x)), backend.to_numpy(bn(layer(xp.asarray(x)))), 1e-12, f"{case} vs the pair")
    for p, original in zip(layer.parameters(), originals):   # the originals untouched and not shared
        np.testing.assert_array_equal(backend.to_numpy(p.data), original)
    if device == "cpu":
        assert not any(np.shares_memory(p.data, q.data) for p in fused.parameters() for q in layer.parameters())
    fused.weight.data[...] += 1.0
    np.testing.assert_array_equal(backend.to_numpy(layer.weight.data), originals[0])


def test_a_float32_layer_stays_float32_with_a_float64_bn():
    layer = nn.Conv2d(2, 3, 1)
    bn = _random_bn(nn.BatchNorm2d(3, dtype=np.float64), np.random.default_rng(0)).eval()
    fused = nn.utils.fuse_conv_bn_eval(layer.eval(), bn)
    assert fused.weight.data.dtype == fused.bias.data.dtype == np.float32
    t_w, t_b = torch.nn.utils.fuse_conv_bn_weights(torch.tensor(layer.weight.data), torch.tensor(layer.bias.data),
                                                    *(torch.tensor(a) for a in (bn.running_mean, bn.running_var)),
                                                    bn.eps, torch.tensor(bn.weight.data), torch.tensor(bn.bias.data))
    np.testing.assert_allclose(fused.weight.data, t_w.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(fused.bias.data, t_b.detach().numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("transpose", [False, True])
def test_the_weights_functions_are_torchs(transpose):
    rng = np.random.default_rng(2)
    w, b = rng.normal(size=(4, 4, 3, 3)), rng.normal(size=4)
    rm, rv, gamma, beta = rng.normal(size=4), rng.uniform(0.5, 2, 4), rng.normal(size=4), rng.normal(size=4)
    for args in [(w, b, rm, rv, 1e-3, gamma, beta), (w, None, rm, rv, 1e-5, None, None)]:
        ours = nn.utils.fuse_conv_bn_weights(*args, transpose=transpose)
        theirs = torch.nn.utils.fuse_conv_bn_weights(*(torch.tensor(a) if isinstance(a, np.ndarray) else a
                                                       for a in args), transpose=transpose)
        for o, t in zip(ours, theirs):
            assert isinstance(o, nn.Parameter) and o.requires_grad == t.requires_grad
            np.testing.assert_allclose(o.data, t.detach().numpy(), rtol=1e-14, atol=1e-15)
    lw = rng.normal(size=(4, 5))
    for lb in (rng.normal(size=4), None):
        ours = nn.utils.fuse_linear_bn_weights(lw, lb, rm, rv, 1e-5, gamma, beta)
        theirs = torch.nn.utils.fuse_linear_bn_weights(torch.tensor(lw), None if lb is None else torch.tensor(lb),
                                                       *(torch.tensor(a) for a in (rm, rv)), 1e-5,
                                                       torch.tensor(gamma), torch.tensor(beta))
        for o, t in zip(ours, theirs):
            np.testing.assert_allclose(o.data, t.detach().numpy(), rtol=1e-14, atol=1e-15)
    frozen = nn.Parameter(w.copy(), requires_grad=False)
    assert not nn.utils.fuse_conv_bn_weights(frozen, None, rm, rv, 1e-5, gamma, beta)[0].requires_grad


FUSION_ERRORS = [
    ("conv-training", lambda m: m.utils.fuse_conv_bn_eval(m.Conv2d(2, 3, 1), m.BatchNorm2d(3).eval()),
     r"^Fusion only for eval!$"),
    ("bn-training", lambda m: m.utils.fuse_conv_bn_eval(m.Conv2d(2, 3, 1).eval(), m.BatchNorm2d(3)),
     r"^Fusion only for eval!$"),
    ("linear-training", lambda m: m.utils.fuse_linear_bn_eval(m.Linear(2, 3), m.BatchNorm1d(3).eval()),
     r"^Fusion only for eval!$"),
    ("untracked", lambda m: m.utils.fuse_conv_bn_eval(m.Conv2d(2, 3, 1).eval(),
                                                      m.BatchNorm2d(3, track_running_stats=False).eval()),
     r"^bn.running_mean and bn.running_var must not be None$"),
    ("features", lambda m: m.utils.fuse_linear_bn_eval(m.Linear(2, 3).eval(), m.BatchNorm1d(4).eval()),
     r"^To fuse, linear.out_features == bn.num_features or bn.num_features == 1, got linear.out_features=3 and "
     r"bn.num_features=4$"),
]


@pytest.mark.parametrize("call,pattern", [e[1:] for e in FUSION_ERRORS], ids=[e[0] for e in FUSION_ERRORS])
def test_fusion_refuses_what_torch_refuses(call, pattern):
    with pytest.raises(AssertionError, match=pattern):
        call(torch.nn)
    with pytest.raises(AssertionError, match=pattern):
        call(nn)


# ---- nn.utils.skip_init ------------------------------------------------------------------------------------------

def test_skip_init_builds_the_module_without_drawing_its_initialisation():
    minimlp.manual_seed(0)
    state = minimlp.random.get_rng_state()
    m = nn.utils.skip_init(nn.Linear, 5, out_features=3, bias=False, dtype=np.float64)
    assert type(m) is nn.Linear and m.weight.data.shape == (3, 5) and m.bias is None
    assert m.weight.data.dtype == np.float64 and "reset_parameters" not in vars(m)
    after = minimlp.random.get_rng_state()
    minimlp.random.set_rng_state(state)
    drawn = nn.Linear(5, 3)   # a normal construction draws from the generator; skip_init did not
    assert repr(after) == repr(state) and repr(minimlp.random.get_rng_state()) != repr(state)
    m.reset_parameters()     # the class's own, still there
    assert np.abs(m.weight.data).max() <= 1 / math.sqrt(5) and drawn.weight.data.shape == (3, 5)
    conv = nn.utils.skip_init(nn.Conv3d, 2, 3, 2, device="cpu")   # a class that takes device
    assert conv.weight.data.shape == (3, 2, 2, 2, 2)
    assert repr(nn.utils.skip_init(nn.Linear, 5, 3, device="cpu")) == repr(torch.nn.utils.skip_init(torch.nn.Linear,
                                                                                                     5, 3))


def test_skip_init_refuses_what_is_not_a_module_class():
    for thing in (int, torch.nn.Linear(2, 2), nn.Linear(2, 2)):
        with pytest.raises(RuntimeError, match=r"^Expected a Module; got "):
            nn.utils.skip_init(thing, 2, 2)
    with pytest.raises(RuntimeError, match=r"^Expected a Module; got "):
        torch.nn.utils.skip_init(int)
