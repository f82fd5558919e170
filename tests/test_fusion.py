"""A BatchNorm then a ReLU inside a Sequential run as one pass each way (``minimlp.nn.fusion``): the values
must be those of the two layers run one after the other, and both layers must be left as their own calls
would leave them. (The fused kernel against its formula: ``test_kernels.py``, family ``batch_norm_relu``.)"""
import numpy as np
import pytest

import minimlp
from minimlp import kernels, nn
from minimlp.kernels import ops


def _pair(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    width = shape[1]
    bn = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(width, dtype=dtype)
    bn.weight.data[...] = rng.standard_normal(width)
    bn.bias.data[...] = rng.standard_normal(width)
    return bn, nn.ReLU(), rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)


def _separately(bn, relu, x, g):
    """The reference: each layer's own forward and backward."""
    y = relu(bn(x))
    dx = bn.backward(relu.backward(g))
    return y, dx


def _state(bn):
    return [bn.weight.grad.copy(), bn.bias.grad.copy(), bn.running_mean.copy(), bn.running_var.copy()]


@pytest.mark.parametrize("shape", [(16, 32, 32, 32), (16, 128, 8, 8), (3, 5, 7, 2), (64, 512), (4, 6, 9)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fused_pair_gives_the_values_of_its_layers_run_apart(shape, dtype):
    bn, relu, x, g = _pair(shape, dtype)
    y_ref, dx_ref = _separately(bn, relu, x, g)
    state_ref = _state(bn)
    bn2, relu2, _, _ = _pair(shape, dtype)
    seq = nn.Sequential(bn2, relu2)
    with kernels.record() as log:
        y = seq(x)
        dx = seq.backward(g)
    assert ("batch_norm_relu", "forward_train", "cpu-compiled") in log, log
    assert not any(op == "relu" for op, _, _ in log), log       # the ReLU ran inside the pair, not again
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_allclose(dx, dx_ref, rtol=0, atol=8 * np.finfo(dtype).eps * np.abs(dx_ref).max())
    for got, ref in zip(_state(bn2), state_ref):
        np.testing.assert_allclose(got, ref, rtol=0, atol=8 * np.finfo(dtype).eps * max(1.0, np.abs(ref).max()))
    assert y.dtype == dx.dtype == dtype


def test_both_layers_can_still_run_their_own_backward_after_a_fused_forward():
    """``relu.backward`` then ``bn.backward`` (a user stepping through the layers) give the fused backward's
    values: the ReLU kept the pair's output, BatchNorm its x̂."""
    bn, relu, x, g = _pair((8, 16, 6, 6), np.float64)
    seq = nn.Sequential(bn, relu)
    seq(x)
    dx_apart = bn.backward(relu.backward(g))
    grads_apart = [bn.weight.grad.copy(), bn.bias.grad.copy()]
    bn.zero_grad()
    seq(x)                              # one backward per forward, as torch's
    dx = seq.backward(g)
    np.testing.assert_allclose(dx, dx_apart, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(bn.weight.grad, grads_apart[0], rtol=1e-12)
    np.testing.assert_allclose(bn.bias.grad, grads_apart[1], rtol=1e-12)


@pytest.mark.parametrize("impl", ["formula", "cpu-compiled"])
def test_a_nan_goes_through_the_fused_pair_as_through_its_layers(impl):
    """A NaN makes its channel's statistics NaN; the ReLU keeps a NaN, and its gradient passes G there (torch)."""
    bn, relu, x, g = _pair((4, 3, 5, 5), np.float32)
    x[1, 1, 2, 3] = np.nan
    with kernels.use(batch_norm=impl, batch_norm_relu=impl, relu=impl):
        y_ref, dx_ref = _separately(bn, relu, x, g)
        bn2, relu2, _, _ = _pair((4, 3, 5, 5), np.float32)
        seq = nn.Sequential(bn2, relu2)
        y, dx = seq(x), seq.backward(g)
    assert np.isnan(y[:, 1]).all() and not np.isnan(y[:, [0, 2]]).any()
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-5, atol=1e-6)


def test_evaluation_does_not_fuse_and_gives_the_layers_values():
    bn, relu, x, g = _pair((4, 3, 5, 5), np.float32)
    bn(x)                                               # running statistics other than 0 and 1
    bn.eval()
    y_ref, dx_ref = _separately(bn, relu, x, g)
    seq = nn.Sequential(bn, relu)
    with kernels.record() as log:
        y, dx = seq(x), seq.backward(g)
    assert not any(op == "batch_norm_relu" for op, _, _ in log)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(dx, dx_ref)


def test_a_subclass_or_a_replaced_forward_runs_as_itself():
    calls = []

    class LoggedReLU(nn.ReLU):
        def forward(self, x):
            calls.append("subclass")
            return super().forward(x)

    bn, _, x, g = _pair((4, 3, 5, 5), np.float32)
    seq = nn.Sequential(bn, LoggedReLU())
    seq.backward(np.ones_like(seq(x)))
    assert calls == ["subclass"]
    bn2, relu2, _, _ = _pair((4, 3, 5, 5), np.float32)
    forward = bn2.forward
    object.__setattr__(bn2, "forward", lambda v: calls.append("instance") or forward(v))
    seq = nn.Sequential(bn2, relu2)
    with kernels.record() as log:
        seq.backward(np.ones_like(seq(x)))
    assert calls[-1] == "instance" and not any(op == "batch_norm_relu" for op, _, _ in log)


@pytest.mark.parametrize("where", ["first", "middle"])
def test_input_grad_false_skips_only_the_input_gradient(where):
    """``backward(input_grad=False)`` with the pair first, or inside: None back, the same parameter gradients."""
    minimlp.manual_seed(0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 4, 5, 5)).astype(np.float32)
    layers = [nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 3, 3, padding=1)]
    if where == "middle":
        layers = [nn.Conv2d(4, 4, 3, padding=1)] + layers
    seq = nn.Sequential(*layers)
    g = rng.standard_normal(seq(x).shape).astype(np.float32)
    seq.backward(g)
    full = [p.grad.copy() for p in seq.parameters()]
    seq.zero_grad()
    seq(x)
    assert seq.backward(g, input_grad=False) is None
    for p, ref in zip(seq.parameters(), full):
        np.testing.assert_allclose(p.grad, ref, rtol=1e-6, atol=1e-7)


def test_a_bad_input_names_the_pairs_first_layer():
    seq = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(5), nn.ReLU())
    seq[0] = nn.Identity()
    with pytest.raises(ValueError, match="BatchNorm2d") as info:
        seq(np.zeros((2, 3, 4, 4), np.float32))
    assert "layer 1 of the Sequential" in "".join(getattr(info.value, "__notes__", [])) + str(info.value)


def test_a_batch_of_one_value_per_channel_is_refused_as_without_fusion():
    seq = nn.Sequential(nn.BatchNorm1d(3), nn.ReLU())
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        seq(np.zeros((1, 3), np.float32))
    assert seq(np.zeros((0, 3), np.float32)).shape == (0, 3)


@pytest.mark.parametrize("activation", [nn.Sigmoid, nn.Tanh])
def test_a_sigmoid_or_tanh_after_batch_norm_runs_as_its_own_layer_on_the_cpu(activation):
    """On the CPU the pair has no kernel of its own (the GPU's is ``kernels/gpu/batch_norm.py``): BatchNorm's
    compiled passes and the activation's own op run, as without a Sequential."""
    bn, _, x, g = _pair((16, 12), np.float32)
    seq = nn.Sequential(bn, activation())
    with kernels.record() as log:
        seq.backward(g + 0 * seq(x))
    ops_run = {op for op, _, _ in log}
    assert activation.__name__.lower() in ops_run and not any(op.startswith("batch_norm_") for op in ops_run), log


def test_a_batch_norm_relu_pair_fuses_on_the_cpu_without_compiled_kernels(monkeypatch):
    """The ReLU pair needs no compiled kernel: with ``MINIMLP_CPU_KERNELS=numpy`` its formula runs as one op."""
    monkeypatch.setenv("MINIMLP_CPU_KERNELS", "numpy")
    seq = nn.Sequential(nn.BatchNorm1d(6), nn.ReLU())
    x = np.random.default_rng(0).normal(size=(8, 6)).astype(np.float32)
    with kernels.record() as log:
        seq.backward(seq(x) * 0 + 1)
    assert ("batch_norm_relu", "forward_train", "formula") in log, log


@pytest.mark.parametrize("impl", ["formula", "cpu-compiled"])
@pytest.mark.parametrize("shape", [(16, 512), (4, 6, 9), (3, 5, 7, 2)])
def test_a_batch_norm_given_the_layer_befores_bias_normalises_x_plus_that_bias(shape, impl):
    """``forward_train``'s ``shift`` (the bias a Linear leaves to the BatchNorm after it on the GPU,
    ``nn.fusion.folds_bias``): the values of x + shift normalised, on every CPU implementation."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    gamma, beta, shift = (rng.standard_normal(shape[1]) for _ in range(3))
    channel = shift.reshape((-1,) + (1,) * (len(shape) - 2))
    op = ops.batch_norm_relu
    got = op.named(impl).forward_train(x, gamma, beta, 1e-5, None, shift)
    want = op.named(impl).forward_train(x + channel, gamma, beta, 1e-5)
    for a, b in zip((got[0], *got[1], *got[2:]), (want[0], *want[1], *want[2:])):
        np.testing.assert_array_equal(a, b)


def test_a_linear_keeps_its_bias_before_a_batch_norm_on_the_cpu():
    """On the CPU the product adds the bias inside it: nothing to fold (``nn.fusion.folds_bias``)."""
    linear, bn = nn.Linear(8, 4), nn.BatchNorm1d(4)
    assert not nn.fusion.folds_bias(linear, bn, np.zeros((5, 8), np.float32))
