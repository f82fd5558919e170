"""Bad input gets a clear error naming the problem, never a silent wrong answer."""
import numpy as np
import pytest

from minimlp import nn


def paper_net():
    return nn.Sequential(nn.Linear(1024, 512), nn.BatchNorm1d(512), nn.Sigmoid(),
                         nn.Linear(512, 3072), nn.BatchNorm1d(3072), nn.Tanh())


def test_wrong_feature_width_names_the_layer_expected_and_got():
    with pytest.raises(ValueError) as info:
        paper_net()(np.zeros((4, 1000), dtype=np.float32))
    message = str(info.value)
    assert "Linear(in_features=1024, out_features=512" in message
    assert "(*, 1024)" in message and "(4, 1000)" in message
    assert "layer 0" in "".join(getattr(info.value, "__notes__", []))


def test_a_sample_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError, match=r"expected input of shape \(\*, 3\), got \(4,\)"):
        nn.Linear(3, 2)(np.zeros(4, dtype=np.float32))


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.bool_])
def test_non_floating_dtype_is_refused(dtype):
    with pytest.raises(TypeError, match="floating-point"):
        nn.Linear(3, 2)(np.zeros((2, 3), dtype=dtype))
    with pytest.raises(TypeError, match="floating-point"):
        nn.Tanh()(np.zeros((2, 3), dtype=dtype))


def test_float64_input_to_a_float32_layer_is_refused_not_silently_upcast():
    with pytest.raises(TypeError, match="float64 does not match the layer's float32"):
        nn.Linear(3, 2)(np.zeros((2, 3), dtype=np.float64))


def test_batchnorm_refuses_one_sample_batches_in_training_as_torch():
    bn = nn.BatchNorm1d(4)
    with pytest.raises(ValueError, match="more than 1 value per channel when training"):
        bn(np.ones((1, 4), dtype=np.float32))
    bn.eval()
    assert bn(np.ones((1, 4), dtype=np.float32)).shape == (1, 4)


def test_backward_before_forward_and_wrong_gradient_shape():
    lin = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match="before forward"):
        lin.backward(np.zeros((2, 2), dtype=np.float32))
    lin(np.zeros((5, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"gradient of shape \(5, 2\), got \(4, 2\)"):
        lin.backward(np.zeros((4, 2), dtype=np.float32))


def test_nan_input_propagates_like_torch_and_the_loss_refuses_it():
    """Documented behaviour: layers pass NaN through (as torch does, at no extra cost);
    the loss raises FloatingPointError, so a NaN never reaches an optimizer step silently."""
    x = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    x[1, 2] = np.nan
    lin = nn.Linear(6, 3)
    y = lin(x)
    assert np.isnan(y[1]).all() and np.isfinite(y[[0, 2, 3]]).all()
    with pytest.raises(FloatingPointError, match="prediction has 3 non-finite values and the target 0"):
        nn.MSELoss()(y, np.zeros_like(y))


def test_loss_shape_and_dtype_mismatches():
    a = np.zeros((4, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="differ"):
        nn.MSELoss()(a, np.zeros((4, 1), dtype=np.float32))
    with pytest.raises(TypeError, match="Found dtype float64 but expected float32"):
        nn.BCELoss()(a, np.zeros((4, 3), dtype=np.float64))    # torch's BCELoss alone refuses to promote
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="batchmean")


def test_sequential_refuses_things_that_are_not_modules():
    with pytest.raises(TypeError, match="argument 1"):
        nn.Sequential(nn.ReLU(), lambda x: x)


def test_a_torch_tensor_is_named_as_such():
    import torch
    for call in (lambda: nn.Linear(3, 2)(torch.zeros(4, 3)), lambda: nn.ReLU()(torch.zeros(2)),
                 lambda: nn.MSELoss()(np.zeros(3, np.float32), torch.zeros(3))):
        with pytest.raises(TypeError, match=r"is a torch Tensor; minimlp takes NumPy or CuPy arrays"):
            call()


def test_a_loss_names_the_target_when_the_target_is_wrong():
    with pytest.raises(TypeError, match="expected a floating-point target"):
        nn.MSELoss()(np.zeros(3, np.float32), np.zeros(3, np.int64))


def test_numpy_functions_take_a_parameter_as_its_array():
    p = nn.Linear(3, 2).weight
    assert np.asarray(p).dtype == np.float32 and np.asarray(p).shape == (2, 3)
    assert np.allclose(p, p.data) and np.abs(p).shape == (2, 3) and p.ndim == 2
    copied = np.array(p)
    copied[...] = 7.0
    assert not np.any(p.data == 7.0)   # np.array copies, as for an array


def test_a_gradient_that_is_not_one_array_is_named_in_one_line():
    """A tuple (MultiheadAttention's (dq, dk, dv), a loss of several inputs) or a torch tensor given as backward's
    gradient: one line saying what to pass, before any gradient is added."""
    import torch
    layer = nn.Linear(4, 3)
    layer(np.zeros((2, 4), np.float32))
    for gradient, words in (((np.ones((2, 3), np.float32),) * 3, "got a tuple of 3"),
                            (torch.ones(2, 3), "the gradient is a torch Tensor"), (3.0, "takes an array, got float")):
        with pytest.raises(TypeError, match=words) as info:
            layer.backward(gradient)
        assert "\n" not in str(info.value) and layer.weight.grad is None
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh())
    model(np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match="torch Tensor"):
        model.backward(torch.ones(2, 3))
    assert model[0].weight.grad is None


@pytest.mark.parametrize("make", ["CrossEntropyLoss", "NLLLoss", "MultiMarginLoss", "MultiLabelMarginLoss"])
def test_a_torch_or_list_target_is_named_as_such(make):
    import torch
    loss = getattr(nn, make)()
    with pytest.raises(TypeError, match="the target is a torch Tensor"):
        loss(np.zeros((2, 3), np.float32), torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="array as the target, got list"):
        loss(np.zeros((2, 3), np.float32), [0, 1])
