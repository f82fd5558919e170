"""Finite-difference gradchecks of the convolutional modules, planted bugs that the checks catch, and bad input."""
import numpy as np
import pytest
import torch

import minimlp
from minimlp import backend, nn
from minimlp.formulas import im2col as im2col_mod
from minimlp.formulas.conv import Geometry
from test_conv_vs_torch import TorchConcat, compare
from torch_reference import WORST_RELATIVE_ERROR

MODULES = {
    "Conv2d": (lambda: nn.Conv2d(3, 4, 3, padding=1), (2, 3, 5, 6)),
    "Conv2d-stride-dilation-groups": (lambda: nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2),
                                      (2, 4, 7, 6)),
    "Conv2d-same-reflect": (lambda: nn.Conv2d(2, 3, 4, padding="same", padding_mode="reflect"), (2, 2, 5, 6)),
    "Conv2d-depthwise-k5": (lambda: nn.Conv2d(3, 3, 5, groups=3, padding=1, bias=False), (1, 3, 6, 5)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), (2, 3, 4, 3)),
    "ConvTranspose2d-groups": (lambda: nn.ConvTranspose2d(4, 2, 2, stride=2, groups=2), (2, 4, 3, 3)),
    "MaxPool2d": (lambda: nn.MaxPool2d(3, stride=2, padding=1), (2, 2, 6, 5)),
    "AvgPool2d": (lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (2, 2, 6, 5)),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d((2, 3)), (2, 2, 5, 7)),
    "Upsample-nearest": (lambda: nn.Upsample(scale_factor=2), (2, 2, 3, 4)),
    "Upsample-bilinear": (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (2, 2, 3, 4)),
    "Upsample-bicubic": (lambda: nn.Upsample(scale_factor=(1.5, 2), mode="bicubic"), (2, 2, 3, 4)),
    "Upsample-area": (lambda: nn.Upsample(size=(2, 3), mode="area"), (2, 2, 5, 4)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), (3, 3, 4, 5)),
    "Dropout-4d": (lambda: nn.Dropout(0.3), (2, 3, 4, 4)),
    "Flatten": (lambda: nn.Flatten(), (2, 3, 4, 4)),
    "Residual": (lambda: nn.Residual(nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Tanh())), (2, 3, 5, 5)),
    "Concat": (lambda: nn.Concat(nn.Sequential(nn.Conv2d(3, 2, 3, stride=2, padding=1),
                                               nn.ConvTranspose2d(2, 2, 2, stride=2))), (2, 3, 6, 6)),
    "GlobalFusion": (lambda: nn.GlobalFusion(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(3, 2, 1), nn.Tanh())),
                     (2, 3, 4, 5)),
}


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("name", list(MODULES))
def test_every_conv_module_passes_gradcheck(name, mode, device):
    factory, shape = MODULES[name]
    minimlp.manual_seed(1)
    module = factory().to(device=device)
    module.train(mode == "train")
    x = backend.to_device(np.random.default_rng(2).normal(size=shape), device)
    assert minimlp.gradcheck(module, x)


def test_float32_layers_stay_float32():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                        nn.ConvTranspose2d(4, 2, 2, stride=2), nn.Upsample(scale_factor=2, mode="bilinear"))
    x = np.random.default_rng(0).normal(size=(2, 3, 6, 6)).astype(np.float32)
    y = net(x)
    assert y.dtype == np.float32 and y.flags.c_contiguous
    dx = net.backward(np.ones_like(y))
    assert dx.dtype == np.float32 and dx.shape == x.shape
    assert all(p.grad.dtype == np.float32 for p in net.parameters())


# ---------------------------------------------------------------- planted bugs
class ZeroPaddedGradientForReflect(nn.Conv2d):
    """A planted bug: reflect padding's backward drops the border (treats it as zero padding)."""

    def _backward(self, dout, want_dx):
        impl, saved, shape, geometry = self._cache
        if impl.name != "formula":  # the compiled kernel keeps its loops' layout, whose last entry is the reflect flag
            x, layout = saved
            self._cache = (impl, (x, layout[:-1] + (False,)), shape, geometry)
        else:
            zeros = Geometry(geometry.kernel, geometry.stride, geometry.dilation, geometry.pads, geometry.groups)
            self._cache = (impl, saved, shape, zeros)
        return super()._backward(dout, want_dx)


class SkipDroppingConcat(nn.Concat):
    """A planted bug: the skip path's share of the gradient is forgotten."""

    def backward(self, dout):
        g_x, g_f = self._parts(dout)
        return self.block.backward(g_f)


class HalfWeightGradientConv(nn.Conv2d):
    """A planted bug in one parameter: the weight gradient comes out at half its value (on either CPU path)."""

    def _backward(self, dout, want_dx):
        dx = super()._backward(dout, want_dx)
        self.weight.grad *= 0.5
        return dx


PLANTED = {
    "reflect-backward": (lambda: ZeroPaddedGradientForReflect(2, 3, 3, padding=1, padding_mode="reflect"),
                         lambda: torch.nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), (2, 2, 5, 5), "input"),
    "concat-skip": (lambda: SkipDroppingConcat(nn.Conv2d(2, 3, 3, padding=1)),
                    lambda: TorchConcat(torch.nn.Conv2d(2, 3, 3, padding=1)), (2, 2, 4, 4), "input"),
    "weight-grad": (lambda: HalfWeightGradientConv(2, 3, 3), lambda: torch.nn.Conv2d(2, 3, 3), (2, 2, 5, 5),
                    "weight"),
}


@pytest.mark.parametrize("name", list(PLANTED))
def test_planted_wrong_backward_is_caught_by_torch_comparison_and_gradcheck(name):
    ours_factory, torch_factory, shape, what = PLANTED[name]
    minimlp.manual_seed(0)
    worst = dict(WORST_RELATIVE_ERROR)
    with pytest.raises(AssertionError, match="input gradient" if what == "input" else "grad weight"):
        compare(ours_factory(), torch_factory(), shape, "train", "cpu", f"planted {name}")
    WORST_RELATIVE_ERROR.update(worst)  # the planted error is not the library's
    minimlp.manual_seed(0)
    x = np.random.default_rng(0).normal(size=shape)
    with pytest.raises(minimlp.GradcheckError, match="input 0" if what == "input" else "weight"):
        minimlp.gradcheck(ours_factory(), x)


def test_col2im_is_the_adjoint_of_im2col():
    """⟨im2col(a), b⟩ = ⟨a, col2im(b)⟩ for strides and dilations: the identity every backward here rests on."""
    rng = np.random.default_rng(0)
    for stride, dilation, (hp, wp), (kh, kw) in [((1, 1), (1, 1), (6, 7), (3, 3)), ((2, 3), (2, 1), (9, 8), (2, 3))]:
        ho = (hp - dilation[0] * (kh - 1) - 1) // stride[0] + 1
        wo = (wp - dilation[1] * (kw - 1) - 1) // stride[1] + 1
        a = rng.normal(size=(3, 2, hp, wp))
        b = rng.normal(size=(3, kh, kw, 2, ho, wo))
        cols = im2col_mod.im2col(a, np.empty_like(b), stride, dilation)
        back = im2col_mod.col2im(b, np.empty_like(a), stride, dilation)
        assert abs(np.sum(cols * b) - np.sum(a * back)) < 1e-10 * np.sum(np.abs(cols * b))


# ---------------------------------------------------------------- bad input
def f32(*shape):
    return np.zeros(shape, dtype=np.float32)


@pytest.mark.parametrize("shape", [(8, 8), (1, 3, 8, 8, 1)])
def test_conv_refuses_a_tensor_that_is_not_3d_or_4d_naming_layer_and_shape(shape):
    with pytest.raises(ValueError) as info:
        nn.Conv2d(3, 4, 3)(f32(*shape))
    message = str(info.value)
    assert "Conv2d(3, 4, kernel_size=(3, 3)" in message and "4-D" in message and str(shape) in message


@pytest.mark.parametrize("layer", [nn.Conv2d(3, 4, 3), nn.ConvTranspose2d(3, 4, 2), nn.BatchNorm2d(3)])
def test_channel_mismatch_names_layer_expected_and_got(layer):
    with pytest.raises(ValueError, match=r"expected 3 input channels, got input of shape \(2, 5, 8, 8\)"):
        layer(f32(2, 5, 8, 8))


def test_channel_mismatch_inside_a_network_names_the_layer_index():
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 4, 3))
    with pytest.raises(ValueError, match="expected 16 input channels") as info:
        net(f32(2, 1, 8, 8))
    assert "layer 2" in "".join(getattr(info.value, "__notes__", []))


@pytest.mark.parametrize("layer,shape,pattern", [
    (nn.Conv2d(3, 4, 5), (2, 3, 4, 9), r"\(2, 3, 4, 9\).*smaller than the dilated kernel \(5, 5\).*0x5"),
    (nn.Conv2d(3, 4, 3, dilation=3), (1, 3, 6, 6), r"dilated kernel \(7, 7\)"),
    (nn.MaxPool2d(4), (2, 3, 3, 8), r"smaller than the kernel: the output would be 0x2"),
    (nn.ConvTranspose2d(3, 4, 1, padding=1), (2, 3, 2, 2), r"empty output \(0x0\)"),
    (nn.Conv2d(3, 4, 3, padding=3, padding_mode="reflect"), (1, 3, 3, 8), r"too small for reflect padding"),
])
def test_an_output_that_would_be_empty_is_refused(layer, shape, pattern):
    with pytest.raises(ValueError, match=pattern):
        layer(f32(*shape))


@pytest.mark.parametrize("make,pattern", [
    (lambda: nn.Conv2d(6, 4, 3, groups=4), r"in_channels=6 must be a positive multiple of groups=4"),
    (lambda: nn.Conv2d(4, 6, 3, groups=4), r"out_channels=6 must be a positive multiple of groups=4"),
    (lambda: nn.ConvTranspose2d(3, 4, 3, groups=2), r"in_channels=3 must be a positive multiple of groups=2"),
    (lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same"), "not supported for strided"),
    (lambda: nn.Conv2d(3, 4, 3, padding_mode="mirror"), "padding_mode must be one of"),
    (lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=2), "output padding must be smaller"),
    (lambda: nn.MaxPool2d(2, padding=2), "pad should be at most half"),
])
def test_bad_construction_arguments_are_refused(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_dtype_and_skip_shape_errors():
    with pytest.raises(TypeError, match="float64 does not match the layer's float32"):
        nn.Conv2d(3, 4, 3)(np.zeros((1, 3, 5, 5)))
    with pytest.raises(ValueError, match=r"residual connection needs the same shape"):
        nn.Residual(nn.Conv2d(3, 4, 3, padding=1))(f32(1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"must agree on every other axis"):
        nn.Concat(nn.Conv2d(3, 4, 3))(f32(1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"GlobalFusion: takes \(N, C, H, W\) and a block giving \(N, C_g, 1, 1\)"):
        nn.GlobalFusion(nn.Conv2d(3, 4, 1))(f32(1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"4-D input"):
        nn.BatchNorm2d(3)(f32(4, 3))


def test_backward_before_forward_and_twice_after_one_forward_are_refused():
    conv = nn.Conv2d(2, 3, 3)
    with pytest.raises(RuntimeError, match="before forward"):
        conv.backward(f32(1, 3, 3, 3))
    y = conv(f32(1, 2, 5, 5))
    with pytest.raises(ValueError, match=r"gradient of shape \(1, 3, 3, 3\)"):
        conv.backward(f32(1, 3, 4, 3))
    conv(f32(1, 2, 5, 5))
    conv.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match="second time since its last forward"):
        conv.backward(np.ones_like(y))


def test_a_small_cnn_learns_a_spatial_task_and_the_unet_fits_a_batch():
    """Training converges (catches a backward that is wrong in a consistent way): a blob left or right of centre."""
    from minimlp import optim
    from minimlp.colorize.models.unet import unet
    rng = np.random.default_rng(0)
    n = 64
    labels = rng.integers(0, 2, n)
    x = rng.normal(0, 0.3, (n, 1, 8, 8)).astype(np.float32)
    for i, side in enumerate(labels):
        r, c = rng.integers(1, 6), rng.integers(0, 3) + (5 if side else 0)
        x[i, 0, r - 1:r + 2, max(c - 1, 0):c + 2] += 2.0
    minimlp.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1),
                        nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))
    loss_fn, opt = nn.CrossEntropyLoss(), optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        loss_fn(net(x), labels)
        net.backward(loss_fn.backward(), input_grad=False)
        opt.step()
    net.eval()
    assert (net(x).argmax(axis=1) == labels).mean() == 1.0
    model = unet(1, 2, (4, 8, 8))
    target = rng.uniform(-1, 1, (4, 2, 8, 8)).astype(np.float32)
    mse, opt = nn.MSELoss(), optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(40):
        opt.zero_grad()
        value = mse(model(x[:4]), target)
        first = value if first is None else first
        model.backward(mse.backward(), input_grad=False)
        opt.step()
    assert value < 0.5 * first
