"""MultiLabelSoftMarginLoss, MultiLabelMarginLoss, MarginRankingLoss, CosineEmbeddingLoss, TripletMarginLoss,
TripletMarginWithDistanceLoss, GaussianNLLLoss, PairwiseDistance and CosineSimilarity against torch's autograd in
float64: the value and the gradient of every differentiable input, for every reduction ("none" with a random
upstream gradient, "mean"/"sum" with a scalar one), batches of 1, 2, 7 and 16 and unbatched inputs, each option;
the edge values torch defines (ties at a margin, zero vectors, variances below eps, -1 padding); float32 kept;
finite differences; and torch's errors, one line each."""
import math
import warnings

import numpy as np
import pytest
import torch
from torch_reference import assert_close

import minimlp
from minimlp import nn

TOL = 1e-10
BATCHES = [1, 2, 7, 16, None]   # None: unbatched
C = 5


def labels(r, n):
    return r.choice([-1.0, 1.0], () if n is None else (n,))


def shape(n, *rest):
    return tuple(rest) if n is None else (n,) + tuple(rest)


def padded_targets(r, n):
    """MultiLabelMarginLoss targets: some labels, then -1, then anything in range (ignored)."""
    rows = []
    for _ in range(1 if n is None else n):
        k = r.integers(0, C + 1)
        row = list(r.choice(C, k, replace=False)) + ([-1] if k < C else [])
        row += list(r.integers(-1, C, C - len(row)))
        rows.append(row)
    t = np.array(rows, dtype=np.int64)
    return t[0] if n is None else t


def variances(r, s):
    return r.uniform(0.05, 3.0, s)


# id -> (name, kwargs (arrays go to torch as tensors; ("Module", {...}) builds a module in each library),
#        draw(rng, n) -> forward's arguments, the indices of the differentiable ones, whether it takes a reduction)
CASES = {
    "MultiLabelSoftMargin": ("MultiLabelSoftMarginLoss", {},
                             lambda r, n: [r.normal(0, 3, shape(n, C)), (r.uniform(size=shape(n, C)) > 0.5) * 1.0],
                             (0,), True),
    "MultiLabelSoftMargin-weight": ("MultiLabelSoftMarginLoss", {"weight": np.linspace(0.2, 2.0, C)},
                                    lambda r, n: [r.normal(0, 3, shape(n, C)), r.uniform(size=shape(n, C))], (0,),
                                    True),
    "MultiLabelMargin": ("MultiLabelMarginLoss", {}, lambda r, n: [r.normal(0, 1, shape(n, C)), padded_targets(r, n)],
                         (0,), True),
    "MarginRanking": ("MarginRankingLoss", {}, lambda r, n: [r.normal(size=shape(n)), r.normal(size=shape(n)),
                                                             labels(r, n)], (0, 1), True),
    "MarginRanking-margin": ("MarginRankingLoss", {"margin": 0.7},
                             lambda r, n: [r.normal(size=shape(n, 3)), r.normal(size=shape(n, 3)),
                                           r.choice([-1.0, 1.0], shape(n, 3))], (0, 1), True),
    "CosineEmbedding": ("CosineEmbeddingLoss", {}, lambda r, n: [r.normal(size=shape(n, 4)), r.normal(size=shape(n, 4)),
                                                                 labels(r, n)], (0, 1), True),
    "CosineEmbedding-margin": ("CosineEmbeddingLoss", {"margin": -0.3},
                               lambda r, n: [r.normal(size=shape(n, 4)), r.normal(size=shape(n, 4)), labels(r, n)],
                               (0, 1), True),
    "Triplet": ("TripletMarginLoss", {}, lambda r, n: [r.normal(size=shape(n, 4)) for _ in range(3)], (0, 1, 2), True),
    "Triplet-p1-margin-swap": ("TripletMarginLoss", {"p": 1.0, "margin": 2.5, "swap": True},
                               lambda r, n: [r.normal(size=shape(n, 4)) for _ in range(3)], (0, 1, 2), True),
    "Triplet-p3-eps": ("TripletMarginLoss", {"p": 3.0, "eps": 0.1, "margin": 1.5},
                       lambda r, n: [r.normal(size=shape(n, 4)) for _ in range(3)], (0, 1, 2), True),
    "Triplet-p1.5-swap": ("TripletMarginLoss", {"p": 1.5, "swap": True, "margin": 2.0},
                          lambda r, n: [r.normal(size=shape(n, 4)) for _ in range(3)], (0, 1, 2), True),
    "Triplet-p0.5": ("TripletMarginLoss", {"p": 0.5, "margin": 5.0},
                     lambda r, n: [r.normal(size=shape(n, 4)) for _ in range(3)], (0, 1, 2), True),
    "Triplet-pinf": ("TripletMarginLoss", {"p": math.inf, "margin": 2.0},
                     lambda r, n: [r.normal(size=shape(n, 4)) for _ in range(3)], (0, 1, 2), True),
    "TripletWithDistance": ("TripletMarginWithDistanceLoss", {},
                            lambda r, n: [r.normal(size=shape(n, 4)) for _ in range(3)], (0, 1, 2), True),
    "TripletWithDistance-cosine-swap": ("TripletMarginWithDistanceLoss",
                                        {"distance_function": ("CosineSimilarity", {"dim": -1}), "swap": True,
                                         "margin": 0.5},
                                        lambda r, n: [r.normal(size=shape(n, 4)) for _ in range(3)], (0, 1, 2), True),
    "TripletWithDistance-p1": ("TripletMarginWithDistanceLoss",
                               {"distance_function": ("PairwiseDistance", {"p": 1.0}), "margin": 3.0},
                               lambda r, n: [r.normal(size=shape(n, 4)) for _ in range(3)], (0, 1, 2), True),
    "GaussianNLL": ("GaussianNLLLoss", {}, lambda r, n: [r.normal(size=shape(n, 3)), r.normal(size=shape(n, 3)),
                                                         variances(r, shape(n, 3))], (0, 2), True),
    "GaussianNLL-full-var-one-axis-fewer": ("GaussianNLLLoss", {"full": True},
                                            lambda r, n: [r.normal(size=shape(n, 3)), r.normal(size=shape(n, 3)),
                                                          variances(r, shape(n))], (0, 2), True),
    "GaussianNLL-var-last-axis-1": ("GaussianNLLLoss", {"eps": 0.1},
                                    lambda r, n: [r.normal(size=shape(n, 3)), r.normal(size=shape(n, 3)),
                                                  variances(r, shape(n, 1))], (0, 2), True),
    "GaussianNLL-float-var": ("GaussianNLLLoss", {},
                              lambda r, n: [r.normal(size=shape(n, 3)), r.normal(size=shape(n, 3)), 0.7], (0,), True),
    "PairwiseDistance": ("PairwiseDistance", {}, lambda r, n: [r.normal(size=shape(n, 4)), r.normal(size=shape(n, 4))],
                         (0, 1), False),
    "PairwiseDistance-p1-keepdim": ("PairwiseDistance", {"p": 1.0, "keepdim": True},
                                    lambda r, n: [r.normal(size=shape(n, 4)), r.normal(size=shape(n, 4))], (0, 1),
                                    False),
    "PairwiseDistance-p-1.5-eps": ("PairwiseDistance", {"p": 1.5, "eps": 0.01},
                                   lambda r, n: [r.normal(size=shape(n, 4)), r.normal(size=shape(n, 4))], (0, 1),
                                   False),
    "PairwiseDistance-p4": ("PairwiseDistance", {"p": 4.0},
                            lambda r, n: [r.normal(size=shape(n, 4)), r.normal(size=shape(n, 4))], (0, 1), False),
    "PairwiseDistance-p-neg1": ("PairwiseDistance", {"p": -1.0},
                                lambda r, n: [r.normal(size=shape(n, 4)), r.normal(size=shape(n, 4))], (0, 1), False),
    "PairwiseDistance-p-inf": ("PairwiseDistance", {"p": -math.inf},
                               lambda r, n: [r.normal(size=shape(n, 4)), r.normal(size=shape(n, 4))], (0, 1), False),
    "PairwiseDistance-p0": ("PairwiseDistance", {"p": 0.0},
                            lambda r, n: [r.normal(size=shape(n, 4)), r.normal(size=shape(n, 4))], (0, 1), False),
    "PairwiseDistance-broadcast": ("PairwiseDistance", {},
                                   lambda r, n: [r.normal(size=shape(n, 4)), r.normal(size=(4,))], (0, 1), False),
    "CosineSimilarity": ("CosineSimilarity", {}, lambda r, n: [r.normal(size=shape(n, 4, 3)),
                                                               r.normal(size=shape(n, 4, 3))], (0, 1), False),
    "CosineSimilarity-dim-last-eps": ("CosineSimilarity", {"dim": -1, "eps": 0.5},
                                      lambda r, n: [r.normal(0, 0.2, shape(n, 4)), r.normal(size=shape(n, 4))],
                                      (0, 1), False),
    "CosineSimilarity-dim0-broadcast": ("CosineSimilarity", {"dim": 0},
                                        lambda r, n: [r.normal(size=(3,) if n is None else (3, n)),
                                                      r.normal(size=(3, 1))], (0, 1), False),
}
REDUCTIONS = ["mean", "sum", "none"]


def build(module, name, kwargs, reduction):
    made = {}
    for k, v in kwargs.items():
        if isinstance(v, np.ndarray):
            v = torch.tensor(v) if module is torch.nn else v
        elif isinstance(v, tuple):
            v = getattr(module, v[0])(**v[1])
        made[k] = v
    if reduction is not None:
        made["reduction"] = reduction
    return getattr(module, name)(**made)


def torch_args(args, wrt):
    return [torch.tensor(a, requires_grad=i in wrt and a.dtype.kind == "f") if isinstance(a, np.ndarray) else a
            for i, a in enumerate(args)]


def compare(case, reduction, n, seed=0):
    name, kwargs, draw, wrt, is_loss = CASES[case]
    rng = np.random.default_rng(seed + (0 if n is None else n))
    args = draw(rng, n)
    ours, theirs = build(nn, name, kwargs, reduction), build(torch.nn, name, kwargs, reduction)
    targs = torch_args(args, wrt)
    expected = theirs(*targs)
    value = ours(*args)
    where = f"{case}({reduction}) batch {n}"
    if reduction in ("mean", "sum"):
        assert isinstance(value, float), where
        assert abs(value - expected.item()) <= TOL * max(abs(expected.item()), 1e-300), (where, value, expected)
        g = 1.7
        (expected * g).backward()
        grads = ours.backward(g)
    else:
        assert_close(value, expected.detach(), TOL, f"{where} values")
        g = rng.normal(size=tuple(expected.shape))
        expected.backward(torch.tensor(g))
        grads = ours.backward(g)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(wrt) if name != "GaussianNLLLoss" else len(grads) == 2, where
    for grad, i in zip(grads, wrt):
        assert grad.shape == args[i].shape, where
        if targs[i].grad is None:   # torch's p = 0 norm has no gradient; minimlp's is zero
            assert not np.any(grad), where
            continue
        assert_close(grad, targs[i].grad, TOL, f"{where} gradient of argument {i}")
    if name == "GaussianNLLLoss" and not isinstance(args[2], np.ndarray):
        assert grads[1] is None


@pytest.mark.parametrize("n", BATCHES, ids=lambda n: "unbatched" if n is None else f"N{n}")
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", [c for c in CASES if CASES[c][4]])
def test_loss_matches_torch(case, reduction, n):
    compare(case, reduction, n)


@pytest.mark.parametrize("n", BATCHES, ids=lambda n: "unbatched" if n is None else f"N{n}")
@pytest.mark.parametrize("case", [c for c in CASES if not CASES[c][4]])
def test_distance_module_matches_torch(case, n):
    compare(case, None, n)


# torch's gradient where a norm is below eps is not the derivative (its clamp passes the gradient through)
NOT_DERIVATIVES = {"CosineSimilarity-dim-last-eps"}


@pytest.mark.parametrize("case", list(CASES))
def test_gradcheck(case):
    name, kwargs, draw, wrt, is_loss = CASES[case]
    args = draw(np.random.default_rng(11), 3)
    module = build(nn, name, kwargs, "none" if is_loss else None)

    def forward(*values):
        full = list(args)
        for i, v in zip(wrt, values):
            full[i] = v
        return module(*full)

    def backward(g):
        grads = module.backward(g)
        return tuple(d for d in grads if d is not None) if isinstance(grads, tuple) else grads

    inputs = tuple(args[i] for i in wrt)
    if case in NOT_DERIVATIVES:
        assert not minimlp.gradcheck((forward, backward), inputs, raise_exception=False)
        module.eps = 1e-8
    assert minimlp.gradcheck((forward, backward), inputs)


@pytest.mark.parametrize("case", list(CASES))
def test_float32_stays_float32(case):
    name, kwargs, draw, wrt, is_loss = CASES[case]
    args = [a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
            for a in draw(np.random.default_rng(4), 6)]
    kwargs = {k: v.astype(np.float32) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    module = build(nn, name, kwargs, "none" if is_loss else None)
    value = module(*args)
    assert value.dtype == np.float32, case
    expected = build(torch.nn, name, kwargs, "none" if is_loss else None)(*torch_args(args, ()))
    np.testing.assert_allclose(value, expected.numpy(), rtol=2e-5, atol=2e-6)
    grads = module.backward(np.ones(value.shape, np.float32))
    for grad in grads if isinstance(grads, tuple) else (grads,):
        assert grad is None or grad.dtype == np.float32, case


# ---- edge values torch defines ----------------------------------------------------------------------------------

def both(name, kwargs, args, wrt, reduction="sum"):
    """Value and gradients of minimlp and torch for one call with upstream gradient 1."""
    ours, theirs = build(nn, name, kwargs, reduction), build(torch.nn, name, kwargs, reduction)
    targs = torch_args(args, wrt)
    expected = theirs(*targs)
    value = ours(*args)
    expected.backward(torch.ones_like(expected))
    grads = ours.backward() if reduction in ("mean", "sum") else ours.backward(np.ones(np.shape(value)))
    grads = grads if isinstance(grads, tuple) else (grads,)
    np.testing.assert_allclose(value, expected.detach().numpy(), rtol=1e-12, atol=1e-300)
    for grad, i in zip(grads, wrt):
        if targs[i].grad is None:
            assert not np.any(grad)
            continue
        np.testing.assert_allclose(grad, targs[i].grad.numpy(), rtol=1e-12, atol=1e-300, err_msg=f"{name} arg {i}")
    return grads


def test_a_margin_ranking_tie_passes_the_gradient_as_torchs_clamp():
    grads = both("MarginRankingLoss", {"margin": 0.5}, [np.array([0.5, 0.2]), np.array([0.0, 0.0]),
                                                        np.array([1.0, 1.0])], (0, 1))
    assert grads[0][0] == -1.0


def test_a_cosine_embedding_tie_and_labels_other_than_plus_minus_one_as_torch():
    x1 = np.array([[1.0, 0.0], [1.0, 2.0], [0.0, 0.0], [3.0, 1.0], [1.0, 1.0]])
    x2 = np.array([[0.0, 1.0], [2.0, 1.0], [1.0, 1.0], [0.0, 0.0], [1.0, -1.0]])
    grads = both("CosineEmbeddingLoss", {}, [x1, x2, np.array([-1, 0, 1, -1, 2])], (0, 1))
    np.testing.assert_allclose(grads[0][0], [0.0, 1.0], atol=1e-11)   # cos = margin = 0, y = -1: torch's clamp
    # lets the gradient through
    assert not np.any(grads[0][[1, 4]])              # labels 0 and 2 cost nothing


@pytest.mark.parametrize("swap", [False, True])
def test_triplet_ties_at_the_margin_and_in_the_swap_as_torch(swap):
    a = np.array([[0.0, 0.0], [1.0, 1.0]])
    p = np.array([[1.0, 0.0], [1.0, 1.0]])       # second row: anchor = positive, so d(a, n) = d(p, n) exactly
    n = np.array([[3.0, 0.0], [2.0, 3.0]])
    both("TripletMarginLoss", {"margin": 2.0, "p": 1.0, "eps": 0.0, "swap": swap}, [a, p, n], (0, 1, 2))
    both("TripletMarginLoss", {"margin": 5.0, "swap": swap}, [a, p, n], (0, 1, 2))


@pytest.mark.parametrize("p", [2.0, 1.0, 1.5, 3.0, 0.5, math.inf, 0.0])
def test_pairwise_distance_of_equal_vectors_and_zero_differences_as_torch(p):
    x1 = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0], [1.0, 1.0, 1.0]])
    x2 = np.array([[1.0, 2.0, 3.0], [0.5, 0.0, 2.0], [0.0, 0.0, 0.0]])   # last row: ties for the max
    both("PairwiseDistance", {"p": p, "eps": 0.0}, [x1, x2], (0, 1), reduction=None)
    both("PairwiseDistance", {"p": p}, [x1, x2], (0, 1), reduction=None)


def test_cosine_similarity_of_zero_and_tiny_vectors_as_torch():
    x1 = np.array([[0.0, 0.0, 0.0], [1e-10, -2e-10, 3e-11], [1.0, 2.0, 3.0], [3e-9, 4e-9, 0.0]])
    x2 = np.array([[1.0, 2.0, 0.5], [0.3, 0.1, -0.2], [0.0, 0.0, 0.0], [5e-9, 0.0, 1e-9]])
    both("CosineSimilarity", {}, [x1, x2], (0, 1), reduction=None)
    both("CosineSimilarity", {"eps": 1e-12}, [x1, x2], (0, 1), reduction=None)
    both("CosineEmbeddingLoss", {}, [x1, x2, np.array([1, -1, 1, -1])], (0, 1))


def test_gaussian_nll_with_variances_at_and_below_eps_as_torch():
    x, y = np.array([0.3, 0.2, 0.1, -0.4]), np.array([0.0, 0.1, 0.3, 0.2])
    var = np.array([1e-8, 0.0, 1e-6, 0.5])
    grads = both("GaussianNLLLoss", {}, [x, y, var], (0, 2))
    assert grads[1][0] == pytest.approx(0.5 * (1e6 - 0.09 * 1e12))   # flows through the clamp, as torch's


def test_multilabel_margin_ties_padding_and_repeated_labels_as_torch():
    x = np.array([[0.5, -0.5, 0.2, 0.9], [0.1, 0.2, 0.3, 0.4], [0.0, 1.0, 0.0, 2.0]])
    t = np.array([[0, -1, 1, 2], [3, 3, -1, -1], [-1, 0, 1, 2]])   # hinge exactly 0; a repeat; no labels
    for reduction in REDUCTIONS:
        both("MultiLabelMarginLoss", {}, [x, t], (0,), reduction)


def test_empty_batches_give_nan_means_and_zero_sums():
    loss = nn.MarginRankingLoss()
    assert math.isnan(loss(np.zeros(0), np.zeros(0), np.zeros(0)))
    assert nn.TripletMarginLoss(reduction="sum")(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3))) == 0.0


@pytest.mark.parametrize("name", ["MultiLabelSoftMarginLoss", "MultiLabelMarginLoss", "MarginRankingLoss",
                                  "CosineEmbeddingLoss", "TripletMarginLoss"])
@pytest.mark.parametrize("size_average,reduce", [(False, None), (None, False), (True, True), (False, True)])
def test_the_deprecated_size_average_and_reduce_read_as_torchs(name, size_average, reduce):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(torch.nn, name)(size_average=size_average, reduce=reduce).reduction
    with pytest.warns(UserWarning, match=f"please use reduction='{theirs}' instead"):
        assert getattr(nn, name)(size_average=size_average, reduce=reduce).reduction == theirs


@pytest.mark.parametrize("make", [
    lambda m: m.MultiLabelSoftMarginLoss(), lambda m: m.MultiLabelMarginLoss(), lambda m: m.MarginRankingLoss(0.3),
    lambda m: m.CosineEmbeddingLoss(), lambda m: m.TripletMarginLoss(swap=True), lambda m: m.GaussianNLLLoss(),
    lambda m: m.TripletMarginWithDistanceLoss(), lambda m: m.PairwiseDistance(p=1.0),
    lambda m: m.CosineSimilarity(dim=0),
    lambda m: m.TripletMarginWithDistanceLoss(distance_function=m.CosineSimilarity())])
def test_repr_is_torchs(make):
    assert repr(make(nn)) == repr(make(torch.nn))


# ---- errors --------------------------------------------------------------------------------------------------------

z2, z1 = np.zeros((2, 3)), np.zeros(3)
ERRORS = [  # (call on a namespace and an array maker, torch's class, minimlp's message)
    ("ranking-ndim", lambda m, a: m.MarginRankingLoss()(a(z2), a(z1), a(np.ones(2))), RuntimeError,
     r"All input tensors should have same dimension"),
    ("ranking-shapes", lambda m, a: m.MarginRankingLoss()(a(z1), a(np.zeros(2)), a(np.ones(3))), RuntimeError,
     r"do not broadcast"),
    ("cosine-embedding-2d-target", lambda m, a: m.CosineEmbeddingLoss()(a(z2), a(z2), a(np.ones((2, 1)))),
     RuntimeError, r"0D or 1D target tensor expected"),
    ("cosine-embedding-1d-inputs", lambda m, a: m.CosineEmbeddingLoss()(a(z1), a(z1), a(np.ones(3))), RuntimeError,
     r"1D target tensor expects 2D input tensors"),
    ("triplet-ndim", lambda m, a: m.TripletMarginLoss()(a(z2), a(z1), a(z2)), RuntimeError,
     r"expected to have the same number of dimensions, but got: anchor 2D, positive 1D"),
    ("triplet-margin", lambda m, a: m.TripletMarginLoss(margin=0.0)(a(z2), a(z2), a(z2)), ValueError,
     r"margin must be greater than 0, got 0.0"),
    ("triplet-with-distance-margin", lambda m, a: m.TripletMarginWithDistanceLoss(margin=-1.0), ValueError,
     r"expected margin to be greater than 0, got -1.0"),
    ("gaussian-negative-var", lambda m, a: m.GaussianNLLLoss()(a(z2), a(z2), a(-np.ones((2, 3)))), ValueError,
     r"^var has negative entry/entries$"),
    ("gaussian-negative-float-var", lambda m, a: m.GaussianNLLLoss()(a(z2), a(z2), -1.0), ValueError,
     r"^var has negative entry/entries$"),
    ("gaussian-var-size", lambda m, a: m.GaussianNLLLoss()(a(z2), a(z2), a(np.ones(3))), ValueError,
     r"^var is of incorrect size$"),
    ("gaussian-var-two-axes-1", lambda m, a: m.GaussianNLLLoss()(a(z2), a(z2), a(np.ones((1, 1)))), ValueError,
     r"^var is of incorrect size$"),
    ("gaussian-int-var", lambda m, a: m.GaussianNLLLoss()(a(z2), a(z2), 2), TypeError, r"var must be an array"),
    ("multilabel-margin-range", lambda m, a: m.MultiLabelMarginLoss()(a(z2), a(np.array([[0, 3, -1], [0, 0, 0]]))),
     RuntimeError, r"target is out of range"),
    ("multilabel-margin-minus-2", lambda m, a: m.MultiLabelMarginLoss()(a(z2), a(np.array([[0, -2, -1], [0, 0, 0]]))),
     RuntimeError, r"target is out of range"),
    ("multilabel-margin-size", lambda m, a: m.MultiLabelMarginLoss()(a(z2), a(np.array([0, 1, -1]))), RuntimeError,
     r"inconsistent target size"),
    ("multilabel-margin-float-target", lambda m, a: m.MultiLabelMarginLoss()(a(z2), a(z2)), RuntimeError,
     r"expected integer targets"),
    ("multilabel-margin-3d", lambda m, a: m.MultiLabelMarginLoss()(a(np.zeros((2, 3, 4))),
                                                                  a(np.zeros((2, 3, 4), np.int64))), RuntimeError,
     r"Expected non-empty vector or matrix"),
    ("pairwise-shapes", lambda m, a: m.PairwiseDistance()(a(z2), a(np.zeros((2, 4)))), RuntimeError,
     r"do not broadcast"),
    ("cosine-similarity-dim", lambda m, a: m.CosineSimilarity(dim=2)(a(z2), a(z2)), IndexError,
     r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"),
]


@pytest.mark.parametrize("call,error,pattern", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_are_torchs_class_in_one_line(call, error, pattern):
    with pytest.raises(error):
        call(torch.nn, torch.tensor)
    with pytest.raises(error, match=pattern) as caught:
        call(nn, np.asarray)
    assert "\n" not in str(caught.value)


def test_a_distance_function_minimlp_cannot_differentiate_is_refused():
    with pytest.raises(ValueError, match="distance_function must be None, a minimlp nn.PairwiseDistance"):
        nn.TripletMarginWithDistanceLoss(distance_function=lambda a, b: abs(a - b).sum(-1))
    with pytest.raises(NotImplementedError):
        nn.TripletMarginWithDistanceLoss(distance_function=nn.ReLU())


def test_backward_before_forward_and_a_missing_upstream_gradient():
    with pytest.raises(RuntimeError, match="backward called before forward"):
        nn.MarginRankingLoss().backward()
    loss = nn.TripletMarginLoss(reduction="none")
    loss(z2, z2, z2)
    with pytest.raises(ValueError, match=r"backward needs grad_output of the loss's shape \(2,\), got None"):
        loss.backward()


r = np.random.default_rng(21)
SHAPES = [  # (name, kwargs, arguments, differentiable ones): 0-d inputs, broadcasting, float32 with float64
    ("PairwiseDistance", {}, [r.normal(size=()), r.normal(size=())], (0, 1)),
    ("PairwiseDistance", {"keepdim": True}, [r.normal(size=(3,)), r.normal(size=(3,))], (0, 1)),
    ("PairwiseDistance", {"p": 3.0}, [r.normal(size=(2, 1, 3)), r.normal(size=(4, 3))], (0, 1)),
    ("PairwiseDistance", {}, [r.normal(size=(2, 3)).astype(np.float32), r.normal(size=(2, 3))], (0, 1)),
    ("CosineSimilarity", {"dim": 0}, [r.normal(size=()), r.normal(size=())], (0, 1)),
    ("CosineSimilarity", {"dim": 2}, [r.normal(size=(2, 1, 3)), r.normal(size=(4, 3))], (0, 1)),
    ("CosineSimilarity", {"dim": -2}, [r.normal(size=(2, 1, 3)), r.normal(size=(4, 3))], (0, 1)),
    ("MarginRankingLoss", {}, [r.normal(size=()), r.normal(size=()), np.array(-1.0)], (0, 1)),
    ("MarginRankingLoss", {"margin": 0.2}, [r.normal(size=(3, 1)), r.normal(size=(1, 4)), r.choice([-1, 1], (3, 4))],
     (0, 1)),
    ("CosineEmbeddingLoss", {"margin": 0.1}, [r.normal(size=(3, 4)), r.normal(size=(1, 4)), np.array([1, -1, -1])],
     (0, 1)),
    ("TripletMarginLoss", {"margin": 3.0}, [r.normal(size=(1, 4)), r.normal(size=(3, 4)), r.normal(size=(3, 1))],
     (0, 1, 2)),
    ("TripletMarginLoss", {"swap": True, "margin": 3.0},
     [r.normal(size=(1, 4)), r.normal(size=(3, 4)), r.normal(size=(1, 4)).astype(np.float32)], (0, 1, 2)),
    ("TripletMarginWithDistanceLoss", {"distance_function": ("PairwiseDistance", {"keepdim": True}), "margin": 3.0},
     [r.normal(size=(3, 4)), r.normal(size=(3, 4)), r.normal(size=(3, 4))], (0, 1, 2)),
    ("GaussianNLLLoss", {}, [r.normal(size=(3,)), r.normal(size=(3,)), np.array(0.5)], (0, 2)),
    ("GaussianNLLLoss", {}, [r.normal(size=(3,)), r.normal(size=(2, 1, 3)), np.ones(3)], (0, 2)),
    ("GaussianNLLLoss", {}, [r.normal(size=(2, 3, 4)), r.normal(size=(2, 3, 4)), np.full((2, 1, 4), 0.3)], (0, 2)),
    ("GaussianNLLLoss", {}, [r.normal(size=(2, 3, 4)), r.normal(size=(2, 3, 4)), np.full((2, 3), 2.0)], (0, 2)),
    ("MultiLabelSoftMarginLoss", {}, [r.normal(size=(2, 3, 4)), r.uniform(size=(2, 3, 4))], (0,)),
    ("MultiLabelSoftMarginLoss", {}, [r.normal(size=(2, 4)), np.array([[1, 0, 1, 0], [0, 0, 1, 1]])], (0,)),
    ("MultiLabelMarginLoss", {}, [r.normal(size=()), np.array(0)], (0,)),
    ("MultiLabelMarginLoss", {}, [r.normal(size=(1,)), np.array([0])], (0,)),
]


@pytest.mark.parametrize("name,kwargs,args,wrt", SHAPES, ids=[f"{s[0]}-{i}" for i, s in enumerate(SHAPES)])
def test_zero_d_broadcast_and_mixed_dtype_inputs_as_torch(name, kwargs, args, wrt):
    is_loss = name.endswith("Loss")
    ours, theirs = build(nn, name, kwargs, "none" if is_loss else None), \
        build(torch.nn, name, kwargs, "none" if is_loss else None)
    targs = torch_args(args, wrt)
    expected = theirs(*targs)
    value = ours(*args)
    assert value.dtype == np.dtype(str(expected.dtype).replace("torch.", ""))
    assert_close(value, expected.detach(), TOL, f"{name} values")
    g = np.random.default_rng(0).normal(size=tuple(expected.shape))
    expected.backward(torch.tensor(g))
    grads = ours.backward(g)
    for grad, i in zip(grads if isinstance(grads, tuple) else (grads,), wrt):
        assert grad.shape == args[i].shape and grad.dtype == args[i].dtype
        assert_close(grad, targs[i].grad, 1e-6 if args[i].dtype == np.float32 else TOL, f"{name} gradient {i}")


@pytest.mark.parametrize("p", [2.0, 1.0, 0.0, 0.5, math.inf, -math.inf, -1.0])
def test_pairwise_distance_over_an_empty_axis_as_torch(p):
    x = np.zeros((2, 0))
    try:
        expected = torch.nn.PairwiseDistance(p=p)(torch.tensor(x), torch.tensor(x)).numpy()
    except RuntimeError:
        with pytest.raises(RuntimeError, match="cannot compute the .* norm on the dimension 1 because this dimension "
                                               "is empty"):
            nn.PairwiseDistance(p=p)(x, x)
        return
    np.testing.assert_array_equal(nn.PairwiseDistance(p=p)(x, x), expected)


def test_a_non_finite_loss_is_a_floating_point_error_and_the_input_keyword_is_torchs():
    with pytest.raises(FloatingPointError, match=r"MarginRankingLoss is nan: 1 of its 3 terms are not finite"):
        nn.MarginRankingLoss()(np.array([np.nan, 0.0, 1.0]), np.zeros(3), np.ones(3))
    x, y = np.random.default_rng(0).normal(size=(2, 3)), np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    assert nn.MultiLabelSoftMarginLoss()(input=x, target=y) == pytest.approx(
        torch.nn.MultiLabelSoftMarginLoss()(input=torch.tensor(x), target=torch.tensor(y)).item(), rel=1e-14)
