"""CrossEntropyLoss against torch in float64: value and gradient, with weights, ignore_index, smoothing, K-D,
index and probability targets, and every reduction."""
import numpy as np
import pytest
import torch

from minimlp import backend, nn
from minimlp.gradcheck import GradcheckError, gradcheck
from torch_reference import assert_close

CASES = {
    "plain": (dict(), (7, 5)),
    "sum": (dict(reduction="sum"), (7, 5)),
    "weight": (dict(weight=np.array([0.2, 1.0, 2.0, 0.5, 1.5])), (7, 5)),
    "ignore": (dict(ignore_index=2), (9, 5)),
    "smoothing": (dict(label_smoothing=0.1), (7, 5)),
    "weight-smoothing-ignore": (dict(weight=np.array([0.2, 1.0, 2.0, 0.5, 1.5]), label_smoothing=0.2,
                                     ignore_index=1), (9, 5)),
    "4d": (dict(label_smoothing=0.05), (3, 4, 5, 2)),
    "large-logits": (dict(), (4, 3)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_cross_entropy_matches_torch(name, device):
    kwargs, shape = CASES[name]
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, shape) * (300 if name == "large-logits" else 1)
    target = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    torch_kwargs = {k: (torch.tensor(v) if k == "weight" else v) for k, v in kwargs.items()}
    lt_in = torch.tensor(logits, requires_grad=True)
    lt = torch.nn.CrossEntropyLoss(**torch_kwargs)(lt_in, torch.tensor(target))
    lt.backward()
    ours_kwargs = {k: (backend.to_device(v, device) if k == "weight" else v) for k, v in kwargs.items()}
    loss = nn.CrossEntropyLoss(**ours_kwargs)
    value = loss(backend.to_device(logits, device), backend.to_device(target, device))
    assert abs(value - lt.item()) <= 1e-10 * max(1.0, abs(lt.item()))
    assert_close(loss.backward(), lt_in.grad, 1e-7, f"CrossEntropyLoss {name} gradient")


def test_cross_entropy_bad_input():
    loss = nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match=r"integer class indices of shape \(2,\) or floating class probabilities "
                                         r"of shape \(2, 3\), got float64 targets of shape \(2,\)"):
        loss(np.zeros((2, 3)), np.zeros(2))
    assert loss(np.zeros((2, 3)), np.full((2, 3), 1 / 3, np.float32)) == pytest.approx(np.log(3), rel=1e-7)
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none'"):
        nn.CrossEntropyLoss(reduction="max")
    none = nn.CrossEntropyLoss(reduction="none")
    none(np.zeros((2, 3, 4)), np.zeros((2, 4), np.int64))
    with pytest.raises(ValueError, match=r"grad_output of the loss's shape \(2, 4\), got None"):
        none.backward()
    with pytest.raises(ValueError, match="out of bounds for 3 classes"):
        loss(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"logits of shape \(2, 3\) need .* got int64 targets of shape \(3,\)"):
        loss(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(RuntimeError, match="before forward"):
        nn.CrossEntropyLoss().backward()


W4 = np.array([0.2, 1.0, 2.0, 0.5])
KD_CASES = {  # (kwargs, logits shape, target kind)
    "index-3d-weight-mean": (dict(weight=W4), (3, 4, 5), "index"),
    "index-4d-weight-sum": (dict(weight=W4, reduction="sum"), (2, 4, 3, 5), "index"),
    "index-5d-weight-none": (dict(weight=W4, reduction="none", ignore_index=1), (2, 4, 3, 2, 2), "index"),
    "index-4d-weight-ignore-smoothing-mean": (dict(weight=W4, ignore_index=3, label_smoothing=0.1), (2, 4, 3, 3),
                                              "index"),
    "prob-2d-mean": (dict(), (6, 4), "probability"),
    "prob-4d-weight-mean": (dict(weight=W4), (2, 4, 3, 5), "probability"),
    "prob-3d-weight-sum": (dict(weight=W4, reduction="sum"), (3, 4, 7), "probability"),
    "prob-4d-weight-none": (dict(weight=W4, reduction="none"), (2, 4, 3, 3), "probability"),
    "prob-4d-weight-smoothing-mean": (dict(weight=W4, label_smoothing=0.2), (2, 4, 5, 2), "probability"),
}


def _kd_inputs(shape, kind, seed=1):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, shape)
    if kind == "index":
        return logits, rng.integers(0, shape[1], (shape[0],) + shape[2:])
    raw = rng.random(shape) ** 3
    return logits, raw / raw.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("name", list(KD_CASES))
def test_cross_entropy_k_dimensional_matches_torch(name, device):
    """K-D logits with index or probability targets: torch's value (mean divides by Σ w[y] for indices, by
    N·d₁·… for probabilities) and input gradient within 1e-10, with a random upstream gradient for 'none'."""
    kwargs, shape, kind = KD_CASES[name]
    logits, target = _kd_inputs(shape, kind)
    torch_kwargs = {k: (torch.tensor(v) if k == "weight" else v) for k, v in kwargs.items()}
    lt_in = torch.tensor(logits, requires_grad=True)
    lt = torch.nn.CrossEntropyLoss(**torch_kwargs)(lt_in, torch.tensor(target))
    upstream = np.random.default_rng(2).normal(size=tuple(lt.shape)) if lt.ndim else None
    lt.backward(None if upstream is None else torch.tensor(upstream))
    ours_kwargs = {k: (backend.to_device(v, device) if k == "weight" else v) for k, v in kwargs.items()}
    loss = nn.CrossEntropyLoss(**ours_kwargs)
    value = loss(backend.to_device(logits, device), backend.to_device(target, device))
    if upstream is None:
        assert abs(value - lt.item()) <= 1e-10 * abs(lt.item())
        grad = loss.backward()
    else:
        assert_close(value, lt.detach(), 1e-10, f"CrossEntropyLoss {name} losses")
        grad = loss.backward(backend.to_device(upstream, device))
    assert_close(grad, lt_in.grad, 1e-10, f"CrossEntropyLoss {name} gradient")


def test_cross_entropy_probability_mean_is_not_weighted_mean():
    """The two 'mean's differ: one-hot probability targets with weights divide by the row count, indices by Σ w[y]."""
    logits, y = _kd_inputs((5, 4), "index")
    onehot = np.eye(4)[y]
    by_index = nn.CrossEntropyLoss(weight=W4)(logits, y)
    by_probability = nn.CrossEntropyLoss(weight=W4)(logits, onehot)
    assert by_probability == pytest.approx(by_index * W4[y].sum() / 5, rel=1e-12)


@pytest.mark.parametrize("name", ["index-5d-weight-none", "prob-4d-weight-none", "prob-4d-weight-smoothing-mean",
                                  "index-4d-weight-ignore-smoothing-mean"])
def test_cross_entropy_gradcheck(name):
    kwargs, shape, kind = KD_CASES[name]
    logits, target = _kd_inputs(shape, kind)
    loss = nn.CrossEntropyLoss(**kwargs)
    if kwargs.get("reduction") == "none":
        pair = (lambda z: loss(z, target), loss.backward)
    else:
        pair = (lambda z: np.asarray(loss(z, target)), lambda g: loss.backward(g))
    assert gradcheck(pair, logits)


class _WrongBackward(nn.CrossEntropyLoss):
    """A planted bug: the softmax term of the gradient uses Σ_c t_c instead of Σ_c w_c t_c (the weights forgotten)."""

    def backward(self, grad_output=None):
        (p, wt, valid), divisor, shape = self._cache
        t = wt / W4
        self._cache = ((p * (t.sum(axis=1, keepdims=True) / wt.sum(axis=1, keepdims=True)), wt, valid), divisor, shape)
        return super().backward(grad_output)


def test_gradcheck_catches_a_wrong_cross_entropy_backward():
    logits, target = _kd_inputs((2, 4, 3, 3), "probability")
    loss = _WrongBackward(weight=W4, reduction="none")
    with pytest.raises(GradcheckError, match="finite difference"):
        gradcheck((lambda z: loss(z, target), loss.backward), logits)


@pytest.mark.parametrize("optimizer", ["SGD", "Adam", "AdamW-no-decay"])
def test_an_all_ignored_batch_gives_a_zero_gradient_and_a_step_that_changes_nothing(optimizer):
    """Issue 28's case: every target is ``ignore_index``. torch's loss is NaN and its gradient zero; the step
    after such a batch must leave the weights as they were (a NaN gradient would write NaN into every one)."""
    from minimlp import optim
    logits = np.array([[0.1, 0.2, 0.3], [1.0, -1.0, 0.5]])
    target = np.array([1, 1])
    lt_in = torch.tensor(logits, requires_grad=True)
    lt = torch.nn.CrossEntropyLoss(ignore_index=1)(lt_in, torch.tensor(target))
    lt.backward()
    loss = nn.CrossEntropyLoss(ignore_index=1)
    assert np.isnan(loss(logits, target)) and np.isnan(lt.item())
    grad = loss.backward()
    np.testing.assert_array_equal(grad, np.zeros_like(logits))
    np.testing.assert_array_equal(grad, lt_in.grad.numpy())
    model = nn.Linear(4, 3, dtype=np.float64)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    make = {"SGD": lambda p: optim.SGD(p, lr=0.1, momentum=0.9), "Adam": lambda p: optim.Adam(p, lr=0.1),
            "AdamW-no-decay": lambda p: optim.AdamW(p, lr=0.1, weight_decay=0.0)}[optimizer]
    opt = make(model.parameters())
    x = np.random.default_rng(0).normal(size=(2, 4))
    loss(model(x), target)
    model.backward(loss.backward())
    opt.step()
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("kind", ["index", "probability"])
def test_one_sample_of_logits_c_with_a_0d_target_matches_torch(kind, reduction, device):
    """Issue 28: torch takes logits (C,) with a 0-d class index (or (C,) probabilities); "none" gives a 0-d loss."""
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 2, 5)
    target = np.array(3) if kind == "index" else rng.dirichlet(np.ones(5))
    kwargs = dict(reduction=reduction, label_smoothing=0.1, weight=np.array([0.2, 1.0, 2.0, 0.5, 1.5]))
    lt_in = torch.tensor(logits, requires_grad=True)
    lt = torch.nn.CrossEntropyLoss(**{**kwargs, "weight": torch.tensor(kwargs["weight"])})(lt_in, torch.tensor(target))
    lt.backward(torch.tensor(0.7, dtype=torch.float64))
    loss = nn.CrossEntropyLoss(**{**kwargs, "weight": backend.to_device(kwargs["weight"], device)})
    value = loss(backend.to_device(logits, device), backend.to_device(target, device))
    if reduction == "none":
        assert value.shape == ()
        grad = loss.backward(backend.to_device(np.array(0.7), device))
    else:
        grad = loss.backward(0.7)
    assert abs(float(value) - lt.item()) <= 1e-12 * abs(lt.item())
    assert grad.shape == (5,)
    assert_close(grad, lt_in.grad, 1e-10, f"CrossEntropyLoss (C,) {kind} {reduction} gradient")
    with pytest.raises(ValueError, match=r"logits of shape \(5,\) \(one sample\) need a 0-d integer class index"):
        loss(backend.to_device(logits, device), backend.to_device(np.array([3]), device))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
def test_a_class_masked_by_minus_infinity_costs_nothing_as_in_torch(reduction, weighted):
    """A −inf logit outside the target (a masked class): torch's loss and gradient are finite, 0 · −inf is not
    taken; an ignored row whose logits hold −inf counts nothing either."""
    z = np.array([[-np.inf, 0.0, 1.0], [2.0, 0.0, -1.0], [-np.inf, 3.0, 0.5]])
    y = np.array([1, 2, -100])
    w = np.array([0.5, 2.0, 1.5]) if weighted else None
    ours = nn.CrossEntropyLoss(weight=w, reduction=reduction)
    theirs = torch.nn.CrossEntropyLoss(weight=None if w is None else torch.tensor(w), reduction=reduction)
    zt = torch.tensor(z, requires_grad=True)
    expected = theirs(zt, torch.tensor(y))
    loss = ours(z, y)
    np.testing.assert_allclose(loss, expected.detach().numpy(), rtol=1e-12)
    expected.backward(torch.ones_like(expected))
    grad = ours.backward(np.ones(3) if reduction == "none" else None)
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-12, atol=1e-15)
