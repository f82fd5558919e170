"""torch's rules for the arguments and the edge values of the names we share with it: sizes must be integers,
dims must be in range, a size has as many entries as the input has spatial axes, a NaN passes the gradient of
the activations that torch lets it through, and torch's initialisers' checks. Each case is run in torch too."""
import contextlib
import inspect
import typing
import warnings

import numpy as np
import pytest
import torch

from minimlp import kernels, nn


@pytest.mark.parametrize("make", [
    lambda m: m.Conv2d(3, 4, 3.5), lambda m: m.Linear(3.5, 2), lambda m: m.BatchNorm1d(3.5),
    lambda m: m.Embedding(3.5, 2), lambda m: m.Conv2d(3.0, 4, 3), lambda m: m.GroupNorm(2, 4.0)],
    ids=["kernel", "linear", "batchnorm", "embedding", "channels", "groupnorm"])
def test_a_float_size_is_a_type_error_as_in_torch(make):
    with pytest.raises(TypeError):
        make(torch.nn)
    with pytest.raises(TypeError, match="must be an int, got"):
        make(nn)


def test_a_float_stride_is_a_type_error_here_when_made_and_in_torch_when_called():
    with pytest.raises(TypeError):
        torch.nn.Conv2d(3, 4, 3, stride=1.5)(torch.zeros(1, 3, 5, 5))
    with pytest.raises(TypeError, match="stride must be an int, got 1.5"):
        nn.Conv2d(3, 4, 3, stride=1.5)


def test_numpy_integers_are_sizes():
    assert nn.Linear(np.int64(3), np.int32(2)).weight.shape == (2, 3)


@pytest.mark.parametrize("make,shape", [
    (lambda m: m.Flatten(5), (2, 3, 4, 5)), (lambda m: m.Flatten(0, 6), (2, 3, 4, 5)), (lambda m: m.Flatten(), (5,)),
    (lambda m: m.Flatten(-5), (2, 3, 4, 5)), (lambda m: m.Unflatten(3, (2, 2)), (2, 4))])
def test_a_dim_out_of_range_is_an_index_error_as_in_torch(make, shape):
    with pytest.raises(IndexError):
        make(torch.nn)(torch.zeros(shape))
    with pytest.raises(IndexError, match="dimension out of range"):
        make(nn)(np.zeros(shape))


@pytest.mark.parametrize("make,shape", [
    (lambda m: m.Flatten(-2), (2, 3, 4)), (lambda m: m.Flatten(0), ()), (lambda m: m.Flatten(0, 0), (3, 4)),
    (lambda m: m.Unflatten(1, (2, -1)), (3, 8)), (lambda m: m.Unflatten(-1, (-1, 4)), (3, 8))])
def test_dims_in_range_and_an_inferred_size_give_torchs_shape(make, shape):
    x = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    ours, theirs = make(nn)(x), make(torch.nn)(torch.tensor(x))
    np.testing.assert_array_equal(ours, theirs.numpy())


def test_unflatten_that_cannot_split_is_a_clear_error():
    with pytest.raises(RuntimeError):
        torch.nn.Unflatten(1, (3, -1))(torch.zeros(3, 8))
    with pytest.raises(ValueError, match=r"has size 8, which \(3, -1\) cannot split"):
        nn.Unflatten(1, (3, -1))(np.zeros((3, 8)))


@pytest.mark.parametrize("make", [lambda m: m.AdaptiveAvgPool2d((1, 2, 3)), lambda m: m.AdaptiveAvgPool2d((2,)),
                                  lambda m: m.Upsample(size=(2, 3, 4)), lambda m: m.Upsample(size=(2,))])
def test_a_size_for_another_number_of_axes_is_an_error_as_in_torch(make):
    with pytest.raises((ValueError, RuntimeError)):
        make(torch.nn)(torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="must be"):
        make(nn)(np.zeros((1, 1, 4, 4)))


def test_adaptive_pooling_keeps_a_none_size():
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 5))
    ours = nn.AdaptiveAvgPool2d((2, None))(x)
    np.testing.assert_allclose(ours, torch.nn.AdaptiveAvgPool2d((2, None))(torch.tensor(x)).numpy(), rtol=1e-14)


@pytest.mark.parametrize("name,args", [("ReLU", ()), ("Hardtanh", (-1.0, 2.0)), ("ELU", (0.7,)),
                                       ("LeakyReLU", (0.1,)), ("ReLU6", ()), ("SELU", ()), ("CELU", (0.5,)),
                                       ("Hardswish", ()), ("Hardsigmoid", ()), ("Threshold", (0.25, -1.0)),
                                       ("Softsign", ()), ("Tanhshrink", ()), ("Mish", ()), ("LogSigmoid", ())])
def test_a_nan_input_passes_the_gradient_where_torch_passes_it(name, args):
    x = np.array([np.nan, -3.0, -1.0, 0.0, 0.5, 2.0, 3.0])
    g = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, np.nan])
    ours = getattr(nn, name)(*args)
    y = ours(x)
    dx = ours.backward(g)
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(torch.nn, name)(*args)(xt)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-15)


def test_relu_compiled_gradient_passes_nan_as_torch():
    x = np.array([np.nan, -1.0, 0.0, 2.0] * 4096, dtype=np.float32)
    relu = nn.ReLU()
    relu(x)
    dx = relu.backward(np.ones_like(x))
    np.testing.assert_array_equal(dx[:4], [1.0, 0.0, 0.0, 1.0])


def test_kaiming_rejects_an_unknown_mode_and_calculate_gain_a_bool_slope():
    for module, weight in ((nn.init, np.zeros((3, 4))), (torch.nn.init, torch.zeros(3, 4))):
        with pytest.raises(ValueError, match="fan_avg"):
            module.kaiming_uniform_(weight, mode="fan_avg")
        with pytest.raises(ValueError, match="negative_slope"):
            module.calculate_gain("leaky_relu", True)
    assert nn.init.calculate_gain("conv_transpose2d") == torch.nn.init.calculate_gain("conv_transpose2d") == 1
    assert nn.init.calculate_gain("leaky_relu", 0) == torch.nn.init.calculate_gain("leaky_relu", 0)


def test_initialising_an_empty_array_is_a_no_op_that_warns_as_in_torch():
    with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
        torch.nn.init.kaiming_uniform_(torch.zeros(3, 0))
    with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
        assert nn.init.kaiming_normal_(np.zeros((3, 0))).shape == (3, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer = nn.Linear(0, 3)
    np.testing.assert_array_equal(layer(np.zeros((2, 0), np.float32)), np.broadcast_to(layer.bias.data, (2, 3)))


def test_identity_takes_any_arguments():
    x = np.arange(3.0)
    np.testing.assert_array_equal(nn.Identity(54, unused="argument")(x), torch.nn.Identity(54, unused="x")(
        torch.tensor(x)).numpy())


@pytest.mark.parametrize("make", [
    lambda m: m.AdaptiveAvgPool2d(2), lambda m: m.AdaptiveAvgPool2d((3, 2)),
    lambda m: m.Upsample(scale_factor=2), lambda m: m.Upsample(scale_factor=2, mode="bilinear"),
    lambda m: m.Upsample(size=(7, 5), mode="bilinear", align_corners=True),
    lambda m: m.Upsample(scale_factor=2, mode="bicubic"), lambda m: m.Upsample(size=(3, 2), mode="area")],
    ids=["pool2", "pool3x2", "nearest", "bilinear", "bilinear-corners", "bicubic", "area"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_pixel_reaches_only_the_outputs_that_read_it_as_in_torch(make, bad):
    """The forward sums each output's taps: a product with the whole axis matrix would make 0·inf = NaN of
    every output in the pixel's rows and columns."""
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 4))
    x[0, 1, 1, 2] = bad
    ours = make(nn)(x)
    theirs = make(torch.nn)(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-14, atol=1e-15)
    assert 0 < np.count_nonzero(~np.isfinite(ours)) < ours[0, 1].size


def test_kl_div_mean_and_dropout2d_on_3d_input_warn_as_in_torch():
    x, y = np.log(np.full((2, 3), 1 / 3)), np.full((2, 3), 1 / 3)
    for module, lhs, rhs in ((nn, x, y), (torch.nn, torch.tensor(x), torch.tensor(y))):
        with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
            module.KLDivLoss()(lhs, rhs)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            module.KLDivLoss(reduction="batchmean")(lhs, rhs)
    for module, z in ((nn, np.ones((2, 3, 4))), (torch.nn, torch.ones(2, 3, 4))):
        with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
            module.Dropout2d(0.5)(z)


@pytest.mark.parametrize("impl", ["formula", "selected"])
@pytest.mark.parametrize("kernel,stride,padding,dilation,output_size,shape", [
    (3, 2, 0, 1, (18, 18), (2, 3, 8, 8)), (3, 2, 1, 1, [16, 15], (3, 8, 8)),
    (2, 3, 0, 2, (2, 4, 27, 28), (2, 3, 9, 9)), (4, 3, 1, 1, (24, 25), (2, 3, 8, 8))])
def test_conv_transpose_output_size_picks_the_output_padding_as_torch(kernel, stride, padding, dilation, output_size,
                                                                      shape, impl):
    """``forward(x, output_size=...)``: the output, ∂x and ∂W of that size, float64, against torch, by the
    formula and by the kernel training selects."""
    with (kernels.use("formula") if impl == "formula" else contextlib.nullcontext()):
        _check_output_size(kernel, stride, padding, dilation, output_size, shape)


def _check_output_size(kernel, stride, padding, dilation, output_size, shape):
    theirs = torch.nn.ConvTranspose2d(3, 4, kernel, stride=stride, padding=padding, dilation=dilation).double()
    ours = nn.ConvTranspose2d(3, 4, kernel, stride=stride, padding=padding, dilation=dilation, dtype=np.float64)
    ours.weight.data[...] = theirs.weight.detach().numpy()
    ours.bias.data[...] = theirs.bias.detach().numpy()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt, output_size=output_size)
    y = ours(x, output_size=output_size)
    assert y.shape == tuple(yt.shape) and y.shape[-2:] == tuple(output_size[-2:])
    g = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.backward(g), xt.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), atol=1e-12)
    assert ours(x).shape[-2:] != y.shape[-2:] or output_size[-2:] == ours(x).shape[-2:]   # the layer's own padding is kept


@pytest.mark.parametrize("output_size,message", [
    ((20, 20), r"requested an output size of \(20, 20\), but valid sizes range from \[17, 17\] to \[18, 18\]"),
    ((1, 2, 3), r"for 4D input, output_size must have 2 or 4 elements \(got 3\)")])
def test_conv_transpose_refuses_an_output_size_it_cannot_give_as_torch(output_size, message):
    with pytest.raises(ValueError, match=message):
        torch.nn.ConvTranspose2d(3, 4, 3, stride=2)(torch.zeros(1, 3, 8, 8), output_size=output_size)
    with pytest.raises(ValueError, match=message):
        nn.ConvTranspose2d(3, 4, 3, stride=2)(np.zeros((1, 3, 8, 8), np.float32), output_size=output_size)


@pytest.mark.parametrize("make", [
    lambda m: m.MaxPool2d(2), lambda m: m.MaxPool2d(3, stride=2, padding=1), lambda m: m.MaxPool2d((2, 3), dilation=2),
    lambda m: m.MaxPool2d(3, 1, 1, ceil_mode=True), lambda m: m.AvgPool2d(2), lambda m: m.AvgPool2d(3, 2, 1),
    lambda m: m.AvgPool2d((2, 4), (1, 2))],
    ids=["max", "max-stride-pad", "max-pair-dilation", "max-ceil", "avg", "avg-stride-pad", "avg-pairs"])
def test_pooling_keeps_its_arguments_as_given_as_torch(make):
    """``MaxPool2d(2).stride == 2``, not (2, 2): the attributes and the repr are torch's."""
    ours, theirs = make(nn), make(torch.nn)
    for name in ("kernel_size", "stride", "padding"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
def test_nearest_upsampling_reads_the_pixels_torchs_cpu_kernel_reads(mode):
    """Every size 1-24 by scale factors whose float32 products land near integers, and by sizes 1-40: the same
    source pixel as torch's (which rounds the scale and, for nearest-exact, the product to float32, and copies
    an output as large as the input, or twice as large, straight)."""
    for n in range(1, 25):
        x = np.arange(float(n)).reshape(1, 1, 1, n)
        for sf in (0.3, 0.7, 1.1, 1.9, 2.1, 2.3, 2.7, 3.3):
            if int(n * sf) < 1:
                continue
            ours = nn.Upsample(scale_factor=(1, sf), mode=mode)(x)
            theirs = torch.nn.Upsample(scale_factor=(1, sf), mode=mode)(torch.tensor(x)).numpy()
            np.testing.assert_array_equal(ours, theirs, err_msg=f"{n} by {sf}")
        for m in range(1, 41):
            ours = nn.Upsample(size=(1, m), mode=mode)(x)
            theirs = torch.nn.Upsample(size=(1, m), mode=mode)(torch.tensor(x)).numpy()
            np.testing.assert_array_equal(ours, theirs, err_msg=f"{n} to {m}")


def test_conv_reprs_are_torchs():
    cases = [("Conv2d", dict(padding="same", dilation=2)), ("Conv2d", dict(padding="valid")),
             ("Conv2d", dict(padding=(1, 2), groups=2, bias=False, padding_mode="reflect")),
             ("ConvTranspose2d", dict(stride=3, dilation=2, output_padding=2, padding=1)),
             ("ConvTranspose2d", dict(groups=2, bias=False))]
    for name, kwargs in cases:
        assert repr(getattr(nn, name)(4, 4, 3, **kwargs)) == repr(getattr(torch.nn, name)(4, 4, 3, **kwargs))


@pytest.mark.parametrize("call", [
    lambda m, a: m.Conv2d(1, 1, 3)(a(np.zeros((1, 1, 2, 2), np.float32))),
    lambda m, a: m.Conv2d(1, 1, 3, padding=2, padding_mode="reflect")(a(np.zeros((1, 1, 2, 2), np.float32))),
    lambda m, a: m.Conv2d(1, 1, 3, stride=0)(a(np.zeros((1, 1, 4, 4), np.float32))),
    lambda m, a: m.ConvTranspose2d(1, 1, 3, stride=1, output_padding=1)(a(np.zeros((1, 1, 2, 2), np.float32))),
    lambda m, a: m.HuberLoss(delta=0)(a(np.zeros(3, np.float32)), a(np.zeros(3, np.float32))),
    lambda m, a: m.SmoothL1Loss(beta=-1)(a(np.zeros(3, np.float32)), a(np.zeros(3, np.float32))),
    lambda m, a: m.AvgPool2d(2, divisor_override=0)(a(np.zeros((1, 1, 2, 2), np.float32))),
    lambda m, a: m.Unflatten(1, (2, 2))(a(np.zeros((1, 3), np.float32))),
    lambda m, a: m.KLDivLoss(reduction="sum")(a(np.zeros((2, 3), np.float32)), a(np.zeros((3, 2), np.float32))),
    lambda m, a: m.BCELoss()(a(np.full(3, 2.0, np.float32)), a(np.zeros(3, np.float32))),
])
def test_errors_torch_raises_as_runtime_error_are_runtime_errors(call):
    for module, array in ((torch.nn, torch.tensor), (nn, np.asarray)):
        with pytest.raises(RuntimeError):
            call(module, array)


LOSSES = ["L1Loss", "MSELoss", "NLLLoss", "CrossEntropyLoss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss",
          "SmoothL1Loss", "HuberLoss", "SoftMarginLoss", "PoissonNLLLoss", "HingeEmbeddingLoss", "MultiMarginLoss"]


def _parameters(cls):
    """The argument names of ``cls``, in order; where torch's ``__init__`` takes only ``*args, **kwargs`` (RNN, LSTM,
    GRU), those of its first ``typing.overload``, the signature torch documents."""
    init = cls.__init__
    if set(inspect.signature(init).parameters) == {"self", "args", "kwargs"} and typing.get_overloads(init):
        init = typing.get_overloads(init)[0]
    return [p for p in inspect.signature(init).parameters if p not in ("self", "device", "dtype")]


def test_every_shared_layer_takes_torchs_arguments_in_torchs_order():
    skip = {"Module", "Parameter", "UninitializedParameter", "UninitializedBuffer", "init", "utils", "Residual",
            "Concat", "GlobalFusion", "Sequential"}
    differ = {name: (_parameters(getattr(nn, name)), _parameters(getattr(torch.nn, name)))
              for name in sorted(set(nn.__all__) - skip)
              if [p for p in _parameters(getattr(nn, name)) if p not in ("args", "kwargs")]
              != [p for p in _parameters(getattr(torch.nn, name)) if p not in ("args", "kwargs")]}
    assert set(differ) <= {"Hardtanh"}, differ   # torch's Hardtanh also takes the long-deprecated min_value


@pytest.mark.parametrize("name", [n for n in LOSSES if n != "HuberLoss"])
@pytest.mark.parametrize("size_average,reduce", [(False, None), (None, False), (True, True), (False, True)])
def test_the_deprecated_size_average_and_reduce_read_as_torchs(name, size_average, reduce):
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        theirs = getattr(torch.nn, name)(size_average=size_average, reduce=reduce).reduction
    with pytest.warns(UserWarning, match=f"please use reduction='{theirs}' instead"):
        assert getattr(nn, name)(size_average=size_average, reduce=reduce).reduction == theirs


@pytest.mark.parametrize("call,error", [
    (lambda m: m.Embedding(3, 2, padding_idx=5), AssertionError),
    (lambda m: m.Upsample(scale_factor=2, mode="foo")(np.zeros((1, 1, 2, 2), np.float32)), NotImplementedError),
])
def test_errors_of_torchs_other_classes(call, error):
    with pytest.raises(error):
        call(torch.nn) if error is AssertionError else torch.nn.Upsample(scale_factor=2, mode="foo")(
            torch.zeros(1, 1, 2, 2))
    with pytest.raises(error):
        call(nn)
    with pytest.raises(ValueError):   # and minimlp's own convention for a bad argument
        call(nn)
