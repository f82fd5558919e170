"""NLLLoss, BCELoss, BCEWithLogitsLoss, HuberLoss, SmoothL1Loss and KLDivLoss against torch in float64: the
loss and the input gradient for every reduction ("none" with a random upstream gradient), over shapes from
one sample to a training batch, with weights, pos_weight, ignore_index and log targets; finite differences;
and the one-line errors."""
import numpy as np
import pytest
import torch
from torch_reference import assert_close, reduced_loss_value

import minimlp
from minimlp import backend, nn

TOL = 1e-10
pytestmark = pytest.mark.filterwarnings("ignore:reduction. .mean. divides:UserWarning")


def probabilities(rng, shape):
    return rng.uniform(0.02, 0.98, shape)


def log_probabilities(rng, shape, axis=1):
    z = rng.normal(0, 2, shape)
    axis = min(axis, len(shape) - 1)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


# name -> (loss name, keyword arguments (NumPy arrays go to torch as tensors), input and target from rng, shape)
CASES = {
    "Huber": ("HuberLoss", {}, lambda r, s: (r.normal(0, 2, s), r.normal(0, 2, s))),
    "Huber-delta": ("HuberLoss", {"delta": 0.4}, lambda r, s: (r.normal(0, 1, s), r.normal(0, 1, s))),
    "SmoothL1": ("SmoothL1Loss", {}, lambda r, s: (r.normal(0, 2, s), r.normal(0, 2, s))),
    "SmoothL1-beta": ("SmoothL1Loss", {"beta": 0.3}, lambda r, s: (r.normal(0, 1, s), r.normal(0, 1, s))),
    "SmoothL1-beta0": ("SmoothL1Loss", {"beta": 0.0}, lambda r, s: (r.normal(0, 1, s), r.normal(0, 1, s))),
    "BCE": ("BCELoss", {}, lambda r, s: (probabilities(r, s), r.uniform(0, 1, s))),
    "BCE-hard-targets": ("BCELoss", {}, lambda r, s: (probabilities(r, s), (r.uniform(size=s) > 0.5) * 1.0)),
    "BCE-weight": ("BCELoss", {"weight": np.linspace(0.5, 2, 5)}, lambda r, s: (probabilities(r, s),
                                                                                r.uniform(0, 1, s))),
    "BCEWithLogits": ("BCEWithLogitsLoss", {}, lambda r, s: (r.normal(0, 3, s), r.uniform(0, 1, s))),
    "BCEWithLogits-pos-weight": ("BCEWithLogitsLoss", {"pos_weight": np.array([0.5, 1.0, 2.0, 3.0, 0.1])},
                                 lambda r, s: (r.normal(0, 3, s), (r.uniform(size=s) > 0.3) * 1.0)),
    "BCEWithLogits-both-weights": ("BCEWithLogitsLoss", {"pos_weight": np.linspace(0.2, 3, 5),
                                                         "weight": np.linspace(1.5, 0.5, 5)},
                                   lambda r, s: (r.normal(0, 3, s), r.uniform(0, 1, s))),
    "KLDiv": ("KLDivLoss", {}, lambda r, s: (log_probabilities(r, s), np.exp(log_probabilities(r, s)))),
    "KLDiv-batchmean": ("KLDivLoss", {"reduction": "batchmean"},
                        lambda r, s: (log_probabilities(r, s), np.exp(log_probabilities(r, s)))),
    "KLDiv-log-target": ("KLDivLoss", {"log_target": True},
                         lambda r, s: (log_probabilities(r, s), log_probabilities(r, s))),
    "SoftMargin": ("SoftMarginLoss", {}, lambda r, s: (r.normal(0, 4, s), r.choice([-1.0, 1.0], s))),
    "PoissonNLL": ("PoissonNLLLoss", {}, lambda r, s: (r.normal(0, 1, s), r.poisson(3, s) * 1.0)),
    "PoissonNLL-rates-full": ("PoissonNLLLoss", {"log_input": False, "full": True},
                              lambda r, s: (r.uniform(0.1, 5, s), r.poisson(3, s) * 1.0)),
    "PoissonNLL-full-eps": ("PoissonNLLLoss", {"full": True, "eps": 1e-3},
                            lambda r, s: (r.normal(0, 1, s), r.poisson(2, s) * 1.0)),
    "HingeEmbedding": ("HingeEmbeddingLoss", {}, lambda r, s: (r.normal(0.5, 1, s), r.choice([-1.0, 1.0], s))),
    "HingeEmbedding-margin": ("HingeEmbeddingLoss", {"margin": 0.3},
                              lambda r, s: (r.normal(0.5, 1, s), r.choice([-1.0, 1.0], s))),
}
SHAPES = [(5,), (1, 5), (2, 5), (7, 5), (16, 5), (3, 4, 5)]
REDUCTIONS = ["mean", "sum", "none"]


def build(module, name, kwargs, reduction, device=None):
    convert = (lambda a: torch.tensor(a)) if module is torch.nn else (lambda a: backend.to_device(a, device))
    kwargs = {k: convert(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    kwargs.setdefault("reduction", reduction)
    return getattr(module, name)(**kwargs)


def run_both(ours, theirs, x, y, device, rng, where):
    xt = torch.tensor(x, requires_grad=True)
    lt = theirs(xt, torch.tensor(y))
    value = ours(backend.to_device(x, device), backend.to_device(y, device))
    if ours.reduction == "none":
        g = rng.normal(size=tuple(lt.shape))
        lt.backward(torch.tensor(g))
        assert_close(value, lt.detach(), TOL, f"{where} values")
        grad = ours.backward(backend.to_device(g, device))
    else:
        lt.backward()
        value = reduced_loss_value(value, device)
        assert abs(value - lt.item()) <= TOL * max(abs(lt.item()), 1e-300), (where, value, lt.item())
        grad = ours.backward()
    assert_close(grad, xt.grad, TOL, f"{where} gradient")


@pytest.mark.parametrize("shape", SHAPES, ids=[str(s) for s in SHAPES])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", list(CASES))
def test_pointwise_loss_matches_torch(case, reduction, shape, device):
    name, kwargs, draw = CASES[case]
    if "reduction" in kwargs and reduction != "mean":
        pytest.skip("the case fixes its reduction")
    rng = np.random.default_rng(len(shape) * 10 + shape[0])
    x, y = draw(rng, shape)
    run_both(build(nn, name, kwargs, reduction, device), build(torch.nn, name, kwargs, reduction), x, y, device,
             rng, f"{case}({reduction}) {shape}")


def test_bce_at_the_clamps_and_bce_with_logits_far_out_match_torch():
    p = np.array([0.0, 1e-50, 0.5, 1 - 1e-6, 1.0, 1.0])
    y = np.array([0.0, 1.0, 0.3, 0.0, 1.0, 0.0])
    run_both(nn.BCELoss(reduction="none"), torch.nn.BCELoss(reduction="none"), p, y, "cpu",
             np.random.default_rng(0), "BCE clamps")
    z = np.array([-800.0, -40.0, -1.0, 0.0, 1.0, 40.0, 800.0])
    t = np.array([1.0, 0.0, 0.5, 1.0, 0.0, 1.0, 0.0])
    run_both(nn.BCEWithLogitsLoss(reduction="none", pos_weight=np.array([2.0])),
             torch.nn.BCEWithLogitsLoss(reduction="none", pos_weight=torch.tensor([2.0])), z, t, "cpu",
             np.random.default_rng(0), "BCEWithLogits far out")


def test_kl_div_with_zero_target_probabilities_matches_torch():
    x = log_probabilities(np.random.default_rng(0), (3, 4))
    y = np.array([[0.5, 0.5, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]])
    run_both(nn.KLDivLoss(reduction="batchmean"), torch.nn.KLDivLoss(reduction="batchmean"), x, y, "cpu",
             np.random.default_rng(1), "KLDiv zeros")


NLL = [((6, 4), {}), ((1, 3), {}), ((16, 10), {"weight": np.linspace(0.2, 2, 10)}), ((7, 5), {"ignore_index": 2}),
       ((4, 3, 5), {"weight": np.array([1.0, 0.5, 2.0])}), ((2, 4, 3, 2), {"ignore_index": 0}), ((5,), {})]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape,kwargs", NLL, ids=[f"nll{i}" for i in range(len(NLL))])
def test_nll_loss_matches_torch(shape, kwargs, reduction, device):
    rng = np.random.default_rng(shape[0])
    x = log_probabilities(rng, shape, axis=0 if len(shape) == 1 else 1)
    c = shape[0] if len(shape) == 1 else shape[1]
    target = rng.integers(0, c, () if len(shape) == 1 else (shape[0],) + shape[2:])
    run_both(build(nn, "NLLLoss", kwargs, reduction, device), build(torch.nn, "NLLLoss", kwargs, reduction),
             x, target, device, rng, f"NLLLoss{kwargs}({reduction}) {shape}")


def test_nll_of_log_softmax_is_cross_entropy():
    rng = np.random.default_rng(0)
    z, target = rng.normal(size=(8, 5)), rng.integers(0, 5, 8)
    log_softmax, nll, ce = nn.LogSoftmax(dim=1), nn.NLLLoss(), nn.CrossEntropyLoss()
    assert abs(nll(log_softmax(z), target) - ce(z, target)) < 1e-14
    np.testing.assert_allclose(log_softmax.backward(nll.backward()), ce.backward(), rtol=1e-12, atol=1e-15)


def test_nll_with_every_row_ignored_gives_nan_and_a_zero_gradient_as_torch():
    loss = nn.NLLLoss(ignore_index=1)
    assert np.isnan(loss(np.log(np.full((2, 3), 1 / 3)), np.array([1, 1])))
    assert not np.any(loss.backward())


@pytest.mark.parametrize("case", list(CASES))
def test_gradcheck(case):
    name, kwargs, draw = CASES[case]
    x, y = draw(np.random.default_rng(3), (4, 5))
    loss = build(nn, name, {k: v for k, v in kwargs.items() if k != "reduction"}, "none", "cpu")
    assert minimlp.gradcheck((lambda v: loss(v, y), loss.backward), x)


@pytest.mark.parametrize("make,args,error,pattern", [
    (lambda: nn.HuberLoss(delta=0), None, ValueError, r"HuberLoss: delta must be positive, got 0"),
    (lambda: nn.SmoothL1Loss(beta=-1), None, ValueError, r"SmoothL1Loss: beta must be non-negative"),
    (lambda: nn.KLDivLoss(reduction="avg"), None, ValueError,
     r"KLDivLoss: reduction must be one of \('mean', 'batchmean', 'sum', 'none'\), got 'avg'"),
    (lambda: nn.HuberLoss(), (np.zeros((2, 3)), np.zeros((3, 2))), ValueError,
     r"HuberLoss.*input shape \(2, 3\) and target shape \(3, 2\) differ"),
    (lambda: nn.BCELoss(), (np.full((2,), 1.5), np.zeros(2)), ValueError,
     r"BCELoss.*all elements of input should be between 0 and 1"),
    (lambda: nn.BCEWithLogitsLoss(pos_weight=np.ones(3)), (np.zeros((2, 5)), np.zeros((2, 5))), ValueError,
     r"BCEWithLogitsLoss.*pos_weight of shape \(3,\).*must broadcast to the input's shape \(2, 5\)"),
    (lambda: nn.SmoothL1Loss(reduction="none"), (np.zeros(3), np.zeros(3), "backward"), ValueError,
     r"SmoothL1Loss.*backward needs grad_output of the loss's shape \(3,\), got None"),
    (lambda: nn.HuberLoss(), (np.array([np.nan, np.inf, 1.0]), np.zeros(3)), FloatingPointError,
     r"HuberLoss is nan: the input has 2 non-finite values and the target 0"),
    (lambda: nn.NLLLoss(), (np.array([[np.nan, 0.0]]), np.array([0])), FloatingPointError, r"NLLLoss is nan"),
    (lambda: nn.NLLLoss(), (np.zeros((2, 3)), np.array([0.0, 1.0])), ValueError,
     r"NLLLoss.*needs integer class indices of shape \(2,\), got float64 targets"),
    (lambda: nn.NLLLoss(), (np.zeros((2, 3)), np.array([0, 3])), ValueError,
     r"NLLLoss.*target 3 is out of bounds for 3 classes"),
    (lambda: nn.NLLLoss(weight=np.ones(4)), (np.zeros((2, 3)), np.array([0, 1])), ValueError,
     r"NLLLoss.*weight must be a float64 array of shape \(3,\), got float64 of shape \(4,\)"),
])
def test_bad_arguments_get_one_line_errors(make, args, error, pattern):
    with pytest.raises(error, match=pattern):
        loss = make()
        loss(*args[:2])
        if len(args) > 2:
            loss.backward()


@pytest.mark.parametrize("name,make", [
    ("MSELoss", lambda m: m.MSELoss()), ("L1Loss", lambda m: m.L1Loss(reduction="sum")),
    ("HuberLoss", lambda m: m.HuberLoss(delta=0.5)), ("SmoothL1Loss", lambda m: m.SmoothL1Loss()),
    ("KLDivLoss", lambda m: m.KLDivLoss(reduction="batchmean")), ("BCEWithLogitsLoss", lambda m: m.BCEWithLogitsLoss()),
    ("CrossEntropyLoss-probabilities", lambda m: m.CrossEntropyLoss()),
])
def test_a_float64_target_for_a_float32_input_is_promoted_as_torch(name, make):
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(6, 4)).astype(np.float32), rng.uniform(size=(6, 4))
    if name.startswith("CrossEntropy"):
        y /= y.sum(axis=1, keepdims=True)
    ours = make(nn)
    value = ours(x, y)
    grad = ours.backward()
    xt = torch.tensor(x, requires_grad=True)
    expected = make(torch.nn)(xt, torch.tensor(y))
    assert value == pytest.approx(expected.item(), rel=2e-6)
    assert grad.dtype == np.float32
    if name == "HuberLoss":   # torch's own backward refuses the mixed pair it computed forward
        xt = torch.tensor(x, requires_grad=True)
        expected = make(torch.nn)(xt, torch.tensor(y, dtype=torch.float32))
    expected.backward()
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=2e-5, atol=1e-7)


def test_bce_weights_of_another_float_dtype_are_taken_as_torch():
    rng = np.random.default_rng(6)
    p, y, w = rng.uniform(0.1, 0.9, (3, 4)).astype(np.float32), rng.uniform(size=(3, 4)).astype(np.float32), \
        rng.uniform(size=4)
    for name, kwargs in (("BCELoss", {"weight": w}), ("BCEWithLogitsLoss", {"pos_weight": w})):
        ours = getattr(nn, name)(**kwargs)(p, y)
        theirs = getattr(torch.nn, name)(**{k: torch.tensor(v) for k, v in kwargs.items()})(torch.tensor(p),
                                                                                            torch.tensor(y))
        assert ours == pytest.approx(theirs.item(), rel=1e-6), name



MARGIN_CASES = [{}, {"p": 2}, {"margin": 0.3}, {"weight": np.linspace(0.5, 2.0, 5)},
                {"p": 2, "weight": np.linspace(2.0, 0.5, 5), "reduction": "sum"}, {"reduction": "none"}]


@pytest.mark.parametrize("kwargs", MARGIN_CASES, ids=lambda k: "-".join(f"{a}" for a in k) or "default")
@pytest.mark.parametrize("shape", [(6, 5), (5,)], ids=["batch", "one"])
def test_multi_margin_loss_matches_torch(kwargs, shape):
    rng = np.random.default_rng(len(shape) + len(kwargs))
    x = rng.normal(size=shape)
    y = rng.integers(0, 5, shape[:-1])
    ours = nn.MultiMarginLoss(**kwargs)
    theirs = torch.nn.MultiMarginLoss(**{k: torch.tensor(v) if k == "weight" else v for k, v in kwargs.items()})
    xt = torch.tensor(x, requires_grad=True)
    expected = theirs(xt, torch.tensor(y))
    value = ours(x, y)
    if kwargs.get("reduction") == "none":
        g = rng.normal(size=tuple(expected.shape))
        expected.backward(torch.tensor(g))
        np.testing.assert_allclose(value, expected.detach().numpy(), rtol=1e-14)
        grad = ours.backward(np.asarray(g))
    else:
        expected.backward()
        assert value == pytest.approx(expected.item(), rel=1e-14)
        grad = ours.backward()
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_loss_gradcheck(p):
    rng = np.random.default_rng(p)
    y = rng.integers(0, 4, 3)
    loss = nn.MultiMarginLoss(p=p, margin=0.7, weight=rng.uniform(0.5, 2, 4))
    assert minimlp.gradcheck((lambda z: np.asarray(loss(z, y)), lambda g: loss.backward() * float(g)),
                             rng.normal(size=(3, 4)))


def test_multi_margin_loss_errors_as_torchs():
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(RuntimeError, match="target out of range"):
        nn.MultiMarginLoss()(np.zeros((1, 4)), np.array([4]))
    with pytest.raises(RuntimeError, match=r"scores \(N, C\) or \(C,\)"):
        nn.MultiMarginLoss()(np.zeros((2, 3, 4)), np.array([0, 1]))
    assert repr(nn.MultiMarginLoss(p=2)) == repr(torch.nn.MultiMarginLoss(p=2))


def test_hinge_embedding_loss_at_its_corner_and_other_labels_as_torchs():
    x, y = np.array([0.5, 1.0, 1.5, -1.0, 2.0]), np.array([-1.0, -1.0, 1.0, -1.0, 0.5])
    ours = nn.HingeEmbeddingLoss(reduction="sum")
    xt = torch.tensor(x, requires_grad=True)
    expected = torch.nn.HingeEmbeddingLoss(reduction="sum")(xt, torch.tensor(y))
    expected.backward()
    assert ours(x, y) == expected.item()
    np.testing.assert_array_equal(ours.backward(), xt.grad.numpy())


def test_soft_margin_loss_does_not_overflow():
    x, y = np.array([800.0, -800.0, 3.0]), np.array([-1.0, -1.0, 1.0])
    loss = nn.SoftMarginLoss(reduction="none")(x, y)
    np.testing.assert_allclose(loss, [800.0, 0.0, np.log1p(np.exp(-3.0))], rtol=1e-15)



@pytest.mark.parametrize("name", ["SoftMarginLoss", "HingeEmbeddingLoss"])
def test_integer_labels_are_taken_as_torch_takes_them(name):
    x, y = np.linspace(-2, 2, 9), np.array([1, -1, 1, 1, -1, -1, 1, -1, 1])
    expected = getattr(torch.nn, name)()(torch.tensor(x), torch.tensor(y)).item()
    assert getattr(nn, name)()(x, y) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("name", ["SoftMarginLoss", "PoissonNLLLoss", "BCEWithLogitsLoss", "HuberLoss"])
def test_an_unreduced_loss_gradient_keeps_the_inputs_dtype(name):
    loss = getattr(nn, name)(reduction="none")
    loss(np.full(3, 0.5, np.float32), np.ones(3, np.float32))
    assert loss.backward(np.ones(3)).dtype == np.float32

