"""Cases found by running torch's own module test inputs (``torch.testing._internal.common_modules.module_db``
and ``common_nn``) against minimlp: empty batches, ``bias=False`` on the normalisations, KLDivLoss's negative
targets, the exception classes torch raises for bad inputs, and the input passed as ``input=``. Each case runs
in torch too."""
import math

import numpy as np
import pytest
import torch

from minimlp import nn


def _copy_parameters(ours, theirs):
    for name, p in ours.named_parameters():
        p.data[...] = dict(theirs.named_parameters())[name].detach().numpy()


@pytest.mark.parametrize("make,shape", [
    (lambda m: m.Conv2d(4, 5, 3), (0, 4, 3, 4)), (lambda m: m.Conv2d(4, 5, 3, padding="same"), (0, 4, 3, 4)),
    (lambda m: m.Conv2d(3, 4, 3), (0, 3, 7, 5)), (lambda m: m.ConvTranspose2d(4, 5, 2, stride=2), (0, 4, 3, 4)),
    (lambda m: m.GroupNorm(3, 6), (0, 6, 5)), (lambda m: m.InstanceNorm2d(3), (0, 3, 6, 6))],
    ids=["conv", "conv-same", "conv-7x5", "conv-transpose", "group-norm", "instance-norm"])
def test_an_empty_batch_gives_an_empty_output_and_zero_gradients(make, shape):
    theirs = make(torch.nn).double()
    ours = make(nn)
    ours.to(dtype=np.float64)
    x = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    y = theirs(x)
    y.sum().backward()
    ours_y = ours(np.zeros(shape))
    assert ours_y.shape == tuple(y.shape)
    assert ours.backward(np.ones(ours_y.shape)).shape == shape
    for name, p in ours.named_parameters():
        np.testing.assert_array_equal(p.grad, dict(theirs.named_parameters())[name].grad.numpy())


@pytest.mark.parametrize("make,shape", [
    (lambda m: m.GroupNorm(3, 6, 1e-3, bias=False), (4, 6, 5)),
    (lambda m: m.InstanceNorm2d(3, 1e-3, 0.3, affine=True, bias=False), (4, 3, 5, 6))], ids=["group", "instance"])
def test_the_normalisations_take_bias_false_as_torch(make, shape):
    theirs = make(torch.nn).double()
    ours = make(nn)
    ours.to(dtype=np.float64)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()] == ["weight"]
    theirs.weight.data.uniform_(0.5, 1.5)
    _copy_parameters(ours, theirs)
    x = np.random.default_rng(0).standard_normal(shape)
    xt = torch.tensor(x, requires_grad=True)
    g = np.random.default_rng(1).standard_normal(shape)
    theirs(xt).backward(torch.tensor(g))
    np.testing.assert_allclose(ours(x), theirs(xt).detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.backward(g), xt.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("name", ["MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss",
                                  "KLDivLoss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_a_loss_over_no_elements_is_nan_for_mean_and_zero_for_sum(name, reduction):
    theirs = getattr(torch.nn, name)(reduction=reduction)(torch.zeros(0, 3, dtype=torch.float64),
                                                           torch.zeros(0, 3, dtype=torch.float64))
    loss = getattr(nn, name)(reduction=reduction)
    value = loss(np.zeros((0, 3)), np.zeros((0, 3)))
    if reduction == "none":
        assert value.shape == tuple(theirs.shape) == (0, 3)
        assert loss.backward(np.zeros((0, 3))).shape == (0, 3)
        return
    assert isinstance(value, float)
    assert math.isnan(value) == math.isnan(float(theirs)) and (math.isnan(value) or value == float(theirs) == 0.0)
    assert loss.backward().shape == (0, 3)


def test_kl_divergence_of_a_negative_target_is_nan_as_torchs_xlogy():
    x, t = np.array([-1.0, -2.0, -0.5]), np.array([-0.5, 0.3, 0.0])
    theirs = torch.nn.KLDivLoss(reduction="none")(torch.tensor(x), torch.tensor(t)).numpy()
    ours = nn.KLDivLoss(reduction="none")(x, t)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_allclose(ours[1:], theirs[1:], atol=1e-15)
    with pytest.raises(FloatingPointError):        # a NaN loss, summed: minimlp's documented refusal
        nn.KLDivLoss(reduction="sum")(x, t)


BAD_CALLS = {
    "CE target out of bounds": lambda m, a: m.CrossEntropyLoss()(a([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]]), a([0, 5])),
    "NLL target out of bounds": lambda m, a: m.NLLLoss()(a([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]]), a([0, 5])),
    "CE label smoothing 1.5": lambda m, a: m.CrossEntropyLoss(label_smoothing=1.5)(a([[0.1, 0.2, 0.3]]), a([0])),
    "CE ignore_index, probabilities": lambda m, a: m.CrossEntropyLoss(ignore_index=1)(a([[0.1, 0.2, 0.3]]),
                                                                                     a([[0.2, 0.3, 0.5]])),
    "CE weight of 2 for 3 classes": lambda m, a: m.CrossEntropyLoss(weight=a([1.0, 2.0]))(a([[0.1, 0.2, 0.3]]), a([0])),
    "CE batch sizes differ": lambda m, a: m.CrossEntropyLoss()(a([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]]), a([0, 1, 2])),
    "NLL weight of 2 for 3 classes": lambda m, a: m.NLLLoss(weight=a([1.0, 2.0]))(a([[0.1, 0.2, 0.3]]), a([0])),
    "Embedding negative size": lambda m, a: m.Embedding(-1, 3),
    "Embedding float indices": lambda m, a: m.Embedding(10, 3)(a([1.5])),
    "LayerNorm last axis": lambda m, a: m.LayerNorm(4)(a([[1.0, 2.0, 3.0]])),
    "Linear features": lambda m, a: m.Linear(4, 2)(a([[1.0, 2.0, 3.0]])),
    "MaxPool2d padding": lambda m, a: m.MaxPool2d(3, padding=5)(a(np.zeros((1, 1, 8, 8)))),
    "MaxPool2d 2-D input": lambda m, a: m.MaxPool2d(2)(a(np.zeros((3, 4)))),
    "MaxPool2d kernel past the input": lambda m, a: m.MaxPool2d(5)(a(np.zeros((1, 1, 3, 3)))),
    "Conv2d channels": lambda m, a: m.Conv2d(3, 4, 3)(a(np.zeros((1, 2, 5, 5)))),
    "GroupNorm channels": lambda m, a: m.GroupNorm(2, 4)(a(np.zeros((2, 6, 3)))),
}


def _torch_array(values):
    array = np.asarray(values)
    return torch.tensor(array, dtype=torch.float32 if array.dtype.kind == "f" else torch.int64)


def _our_array(values):
    array = np.asarray(values)
    return array.astype(np.float32) if array.dtype.kind == "f" else array


@pytest.mark.parametrize("case", list(BAD_CALLS), ids=list(BAD_CALLS))
def test_a_bad_input_raises_an_exception_of_torchs_class(case):
    """minimlp's ValueError/TypeError for a bad input is also the class torch raises (RuntimeError, IndexError),
    so that code written for torch catches it."""
    with pytest.raises(Exception) as theirs:
        BAD_CALLS[case](torch.nn, _torch_array)
    with pytest.raises(Exception) as ours:
        BAD_CALLS[case](nn, _our_array)
    assert isinstance(ours.value, type(theirs.value)), (type(ours.value).__mro__, type(theirs.value))
    assert isinstance(ours.value, (ValueError, TypeError))


def test_the_input_can_be_passed_by_torchs_keyword():
    x = np.ones((2, 3), np.float32)
    layer = nn.Linear(3, 2)
    np.testing.assert_array_equal(layer(input=x), layer(x))
    assert nn.MSELoss()(input=x, target=np.zeros_like(x)) == 1.0
    assert nn.CrossEntropyLoss()(input=x, target=np.array([0, 1])) == pytest.approx(math.log(3))


def test_review_findings_behave_as_torch():
    """Four cases a review of the change found: each as torch."""
    rng = np.random.default_rng(0)
    z, probs = rng.standard_normal((3, 4)), rng.dirichlet(np.ones(4), size=3)
    ours = nn.CrossEntropyLoss(ignore_index=-1)(z, probs)                 # a negative ignore_index never matches
    theirs = torch.nn.CrossEntropyLoss(ignore_index=-1)(torch.tensor(z), torch.tensor(probs))
    assert ours == pytest.approx(float(theirs), rel=1e-12)
    x = np.arange(64.0).reshape(1, 1, 8, 8)
    pool, tpool = nn.MaxPool2d(2), torch.nn.MaxPool2d(2)
    pool.stride, tpool.stride = (1, 1), (1, 1)                            # an attribute set after construction
    np.testing.assert_array_equal(pool(x), tpool(torch.tensor(x)).numpy())
    kl = nn.KLDivLoss(reduction="none")(np.full(3, -1.0, np.float32), np.array([0.0, 0.5, 1.0], np.float32))
    assert kl.dtype == np.float32                                         # the input's dtype, not float64
    y, indices = nn.MaxPool2d(2, return_indices=True)(x)
    assert nn.MaxUnpool2d(2)(input=y, indices=indices).shape == (1, 1, 8, 8)
