"""The lazy layers (LazyLinear, LazyConv1d/2d/3d, LazyConvTranspose1d/2d/3d, LazyBatchNorm1d/2d/3d,
LazyInstanceNorm1d/2d/3d) against torch's.

Each case builds torch's lazy layer and ours, casts both to float64 before the first forward (the dtype must
reach the parameters created later), compares reprs and state_dict keys before, runs one forward on the same
input, checks the class each became and its repr, copies torch's materialised state into ours, then compares a
second forward, the input gradient and every parameter gradient for a random upstream gradient (1e-10), and the
running statistics. Then: batched and unbatched inputs, float32, loading torch's state_dict into a layer that is
still lazy, reproducibility under ``minimlp.manual_seed`` (the same draws as the non-lazy class), and the one-line
errors (an optimizer before the first forward, backward before forward, an input that does not fit).
"""
import copy

import numpy as np
import pytest
import torch
from torch_reference import assert_close

import minimlp
from minimlp import backend, nn, optim

T = torch.nn
TOL = 1e-10

# name -> (factory of the layer from nn or torch.nn, input shapes: batched first, then unbatched where torch takes it)
CASES = {
    "LazyLinear": (lambda m: m.LazyLinear(3), [(4, 5), (5,), (2, 3, 5)]),
    "LazyLinear-nobias": (lambda m: m.LazyLinear(2, bias=False), [(3, 4)]),
    "LazyConv1d": (lambda m: m.LazyConv1d(4, 3, padding=1), [(2, 3, 7), (3, 7)]),
    "LazyConv1d-groups": (lambda m: m.LazyConv1d(4, 3, stride=2, groups=2, padding_mode="circular", padding=1),
                          [(2, 6, 9)]),
    "LazyConv2d": (lambda m: m.LazyConv2d(4, 3), [(2, 3, 6, 6), (3, 6, 5)]),
    "LazyConv2d-same": (lambda m: m.LazyConv2d(4, (3, 2), padding="same", bias=False, padding_mode="reflect"),
                        [(2, 2, 5, 6)]),
    "LazyConv3d": (lambda m: m.LazyConv3d(4, 2), [(2, 3, 4, 3, 4), (3, 4, 4, 3)]),
    "LazyConv3d-groups": (lambda m: m.LazyConv3d(4, 2, padding=1, groups=2, dilation=(1, 2, 1)), [(1, 4, 3, 3, 3)]),
    "LazyConvTranspose1d": (lambda m: m.LazyConvTranspose1d(4, 3, stride=2, output_padding=1), [(2, 3, 5), (3, 5)]),
    "LazyConvTranspose2d": (lambda m: m.LazyConvTranspose2d(4, 3, groups=2, padding=1), [(2, 6, 4, 4), (6, 4, 3)]),
    "LazyConvTranspose3d": (lambda m: m.LazyConvTranspose3d(2, 2, stride=2, bias=False), [(2, 3, 2, 3, 2),
                                                                                          (3, 2, 3, 2)]),
    "LazyBatchNorm1d": (lambda m: m.LazyBatchNorm1d(), [(6, 3), (4, 3, 5)]),
    "LazyBatchNorm1d-cumulative": (lambda m: m.LazyBatchNorm1d(affine=False, momentum=None), [(5, 4, 2)]),
    "LazyBatchNorm2d": (lambda m: m.LazyBatchNorm2d(momentum=0.3), [(4, 3, 3, 3)]),
    "LazyBatchNorm2d-nobias": (lambda m: m.LazyBatchNorm2d(bias=False), [(2, 3, 2, 3)]),
    "LazyBatchNorm3d": (lambda m: m.LazyBatchNorm3d(eps=1e-3), [(2, 3, 2, 3, 2)]),
    "LazyInstanceNorm1d": (lambda m: m.LazyInstanceNorm1d(), [(2, 3, 7)]),
    "LazyInstanceNorm2d": (lambda m: m.LazyInstanceNorm2d(affine=False), [(2, 3, 4, 4)]),
    "LazyInstanceNorm2d-untracked": (lambda m: m.LazyInstanceNorm2d(track_running_stats=False), [(2, 3, 4, 4)]),
    "LazyInstanceNorm3d": (lambda m: m.LazyInstanceNorm3d(), [(2, 3, 3, 2, 3)]),
}
PARAMS = [pytest.param(name, shape, id=f"{name}-{'x'.join(map(str, shape))}")
          for name, (_, shapes) in CASES.items() for shape in shapes]


def _grads(theirs):
    return {name: p.grad for name, p in theirs.named_parameters()}


@pytest.mark.parametrize("name,shape", PARAMS)
def test_lazy_layer_matches_torch(name, shape, device):
    factory, _ = CASES[name]
    ours, theirs = factory(nn), factory(T)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.has_uninitialized_params() == theirs.has_uninitialized_params()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert all(type(p).__name__ == "UninitializedParameter" for p in ours.parameters())
    ours.double().to(device=device)
    theirs.double()
    rng = np.random.default_rng(len(shape))
    x = rng.normal(0, 1.3, shape)
    y0 = ours(backend.to_device(x, device))
    y0t = theirs(torch.tensor(x))
    assert type(ours) is getattr(nn, type(theirs).__name__), type(ours)
    assert type(ours).__name__ == name.split("-")[0][4:]
    assert repr(ours) == repr(theirs)
    assert all(type(p) is nn.Parameter for p in ours.parameters())
    assert ours.dtype in (None, np.float64) and ours.device == device
    if "Norm" in name:   # γ = 1, β = 0 and the statistics start alike: the first outputs agree too
        assert_close(y0, y0t, TOL, f"{name} first forward")
    ours.load_state_dict(minimlp.from_torch_state_dict(theirs.state_dict()))
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    G = rng.normal(0, 1, tuple(yt.shape))
    yt.backward(torch.tensor(G))
    y = ours(backend.to_device(x, device))
    dx = ours.backward(backend.to_device(G, device))
    assert_close(y, yt, TOL, f"{name} forward")
    assert_close(dx, xt.grad, TOL, f"{name} input gradient")
    torch_grads = _grads(theirs)
    assert set(dict(ours.named_parameters())) == set(torch_grads)
    for pname, p in ours.named_parameters():
        assert p.grad.dtype == np.float64
        assert_close(p.grad, torch_grads[pname], TOL, f"{name} grad {pname}")
    sd = ours.state_dict()
    for bname, b in theirs.named_buffers():
        assert_close(sd[bname], b, TOL, f"{name} buffer {bname}")
    ours.eval()
    theirs.eval()
    assert_close(ours(backend.to_device(x, device)), theirs(torch.tensor(x)).detach(), TOL, f"{name} eval forward")


@pytest.mark.parametrize("name", list(CASES))
def test_float32_stays_float32_and_matches_torch(name):
    factory, shapes = CASES[name]
    ours, theirs = factory(nn), factory(T)
    x = np.random.default_rng(3).normal(0, 1, shapes[0]).astype(np.float32)
    ours(x)
    theirs(torch.tensor(x))
    ours.load_state_dict(minimlp.from_torch_state_dict(theirs.state_dict()))
    y, yt = ours(x), theirs(torch.tensor(x))
    assert y.dtype == np.float32 and all(p.data.dtype == np.float32 for p in ours.parameters())
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list(CASES))
def test_initialisation_is_the_non_lazy_class_drawn_from_minimlps_generator(name):
    """Under one seed, the first forward draws exactly what the non-lazy class draws when built with that size;
    a second seeded run gives the same layer."""
    factory, shapes = CASES[name]
    x = np.random.default_rng(0).normal(0, 1, shapes[0]).astype(np.float32)
    states = []
    for _ in range(2):
        minimlp.manual_seed(11)
        lazy = factory(nn)
        lazy(x)
        states.append(lazy.state_dict())
    for key in states[0]:
        np.testing.assert_array_equal(states[0][key], states[1][key])
    args, kwargs = _rebuild_arguments(lazy, getattr(lazy, lazy_size_name(lazy)))
    minimlp.manual_seed(11)
    plain = type(lazy)(*args, **kwargs)
    for key, value in plain.state_dict().items():
        if not key.endswith(("running_mean", "running_var", "num_batches_tracked")):
            np.testing.assert_array_equal(states[0][key], value, err_msg=f"{name} {key}")
    if "Norm" in name:
        for key, value in states[0].items():
            if key.endswith("weight") or key.endswith("running_var"):
                assert np.all(value == 1) or key.endswith("running_var")
            if key.endswith("bias"):
                assert np.all(value == 0)


def lazy_size_name(module):
    for name in ("in_features", "in_channels", "num_features"):
        if hasattr(module, name):
            return name


def _rebuild_arguments(m, size):
    """The arguments of ``type(m)`` that rebuild ``m`` with input size ``size``."""
    kind = type(m).__name__
    if kind == "Linear":
        return (size, m.out_features, m.bias is not None), {}
    if kind.startswith("Conv"):
        common = (size, m.out_channels, m.kernel_size, m.stride, m.padding)
        if "Transpose" in kind:
            return common + (m.output_padding, m.groups, m.bias is not None, m.dilation, m.padding_mode), {}
        return common + (m.dilation, m.groups, m.bias is not None, m.padding_mode), {}
    return (size, m.eps, m.momentum, m.affine, m.track_running_stats), {"bias": m.bias is not None or not m.affine}


def test_lazy_is_as_reproducible_as_linear_in_a_model():
    x = np.random.default_rng(1).normal(0, 1, (4, 6)).astype(np.float32)
    minimlp.manual_seed(5)
    eager = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    minimlp.manual_seed(5)
    lazy = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(2))
    lazy(x)
    assert repr(lazy) == repr(eager)
    for (k, a), (_, b) in zip(lazy.state_dict().items(), eager.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=k)


@pytest.mark.parametrize("name", ["LazyInstanceNorm1d", "LazyInstanceNorm2d", "LazyInstanceNorm3d"])
def test_lazy_instance_norm_reads_the_channel_axis_of_an_unbatched_input(name):
    """torch's lazy instance norms read axis 1 (a spatial axis of an unbatched input) and then refuse it; ours read
    the channel axis and compute what torch's non-lazy layer with that many channels computes."""
    spatial = int(name[-2])
    shape = (3,) + (4, 5, 2)[:spatial]
    x = np.random.default_rng(2).normal(0, 1, shape)
    with pytest.raises(ValueError):
        getattr(T, name)().double()(torch.tensor(x))
    ours = getattr(nn, name)().double()
    theirs = getattr(T, name[4:])(3, affine=True, track_running_stats=True).double()
    y = ours(x)
    assert repr(ours) == repr(theirs)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    G = np.random.default_rng(3).normal(0, 1, shape)
    yt.backward(torch.tensor(G))
    assert_close(y, yt, TOL, f"{name} unbatched forward")
    assert_close(ours.backward(G), xt.grad, TOL, f"{name} unbatched input gradient")
    assert_close(ours.weight.grad, theirs.weight.grad, TOL, f"{name} unbatched grad weight")
    assert_close(ours.running_var, theirs.running_var, TOL, f"{name} unbatched running_var")


def test_a_norm_with_nothing_to_create_becomes_its_class_with_the_real_num_features():
    ours, theirs = nn.LazyBatchNorm1d(affine=False, track_running_stats=False), \
        T.LazyBatchNorm1d(affine=False, track_running_stats=False)
    assert repr(ours) == repr(theirs) and not ours.has_uninitialized_params()
    assert ours.state_dict() == {} and list(ours.parameters()) == []
    x = np.random.default_rng(0).normal(0, 1, (5, 3))
    assert_close(ours(x), theirs(torch.tensor(x)), TOL, "untracked BatchNorm1d")
    assert type(ours) is nn.BatchNorm1d and type(theirs) is T.BatchNorm1d
    assert repr(ours) == repr(theirs).replace("(0,", "(3,")   # torch leaves num_features at 0


@pytest.mark.parametrize("name", ["LazyLinear", "LazyConv1d-groups", "LazyConv2d", "LazyConv3d", "LazyConvTranspose2d",
                                  "LazyConvTranspose3d", "LazyBatchNorm2d", "LazyInstanceNorm3d"])
def test_loading_torchs_state_dict_into_a_lazy_layer_materialises_it(name):
    factory, shapes = CASES[name]
    x = np.random.default_rng(4).normal(0, 1, shapes[0])
    theirs = factory(T).double()
    theirs(torch.tensor(x))
    theirs.train()
    ours = factory(nn).double()
    result = ours.load_state_dict(minimlp.from_torch_state_dict(theirs.state_dict()))
    assert repr(result) == "<All keys matched successfully>"
    assert not ours.has_uninitialized_params()
    assert type(ours).__name__.startswith("Lazy")      # as torch: it becomes its class at the first forward
    fresh = factory(T)
    fresh.load_state_dict(theirs.state_dict())
    assert repr(ours) == repr(fresh)
    for key, value in theirs.state_dict().items():
        assert_close(ours.state_dict()[key], value, 0, f"{name} loaded {key}")
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    y = ours(x)
    assert type(ours) is getattr(nn, type(theirs).__name__)
    assert repr(ours) == repr(theirs)
    assert_close(y, yt, TOL, f"{name} forward after loading")


def test_loading_checks_shapes_and_uninitialised_values():
    # an uninitialised state into an uninitialised layer: nothing happens (torch's)
    a, b = nn.LazyLinear(4), nn.LazyLinear(4)
    assert repr(a.load_state_dict(b.state_dict())) == "<All keys matched successfully>"
    assert a.has_uninitialized_params()
    # an uninitialised state into an initialised layer: torch's RuntimeError
    with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized parameter"):
        nn.Linear(3, 4).load_state_dict(nn.LazyLinear(4).state_dict())
    # a weight the layer cannot have (torch loads it, and fails later)
    with pytest.raises(RuntimeError, match=r"weight of shape \(4, 3\) does not fit .*needs shape \(5, \?\)"):
        nn.LazyLinear(5).load_state_dict(nn.Linear(3, 4).state_dict())
    with pytest.raises(RuntimeError, match="needs shape"):
        nn.LazyConv2d(4, 3).load_state_dict(nn.Conv2d(2, 4, 5).state_dict())
    # a loaded layer then given an input of another size
    m = nn.LazyConv2d(4, 3)
    m.load_state_dict(nn.Conv2d(2, 4, 3).state_dict())
    with pytest.raises(ValueError, match=r"the loaded weight has shape \(4, 2, 3, 3\)"):
        m(np.zeros((1, 3, 5, 5), np.float32))
    # a partial load: the rest is created at the first forward, the loaded part kept
    m = nn.LazyLinear(3)
    w = np.arange(6, dtype=np.float32).reshape(3, 2)
    m.load_state_dict({"weight": w}, strict=False)
    assert m.has_uninitialized_params()
    m(np.zeros((1, 2), np.float32))
    np.testing.assert_array_equal(m.weight.data, w)
    assert np.all(np.abs(m.bias.data) <= 1 / np.sqrt(2))


@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0.1), lambda p: optim.Adam(p),
                                  lambda p: optim.AdamW([{"params": p}])])
def test_an_optimizer_before_the_first_forward_is_a_one_line_error(make):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.LazyLinear(2))
    with pytest.raises(RuntimeError, match="uninitialized parameter") as info:
        make(model.parameters())
    assert "\n" not in str(info.value) and "forward" in str(info.value)
    model(np.zeros((2, 3), np.float32))
    make(model.parameters())   # after one forward: fine


@pytest.mark.parametrize("name", [n for n in CASES if not n.endswith(("cumulative", "untracked"))
                                  and "InstanceNorm2d" not in n])
def test_backward_before_forward_is_the_non_lazy_layers_error(name):
    factory, shapes = CASES[name]
    m = factory(nn)
    with pytest.raises(RuntimeError, match=r"^Lazy\w+\(.*\): backward called before forward$"):
        m.backward(np.zeros((1,), np.float32))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        m.backward_parameters(np.zeros((1,), np.float32))


@pytest.mark.parametrize("name", list(CASES))
def test_dtype_and_device_before_the_first_forward_reach_the_parameters(name):
    factory, shapes = CASES[name]
    m = factory(nn)
    m.double()
    m.float()
    m.to(np.float64)
    assert m.dtype in (None, np.float64)
    x = np.zeros(shapes[0], np.float64) + np.linspace(0, 1, int(np.prod(shapes[0]))).reshape(shapes[0])
    m(x)
    assert all(p.data.dtype == np.float64 for p in m.parameters())
    assert all(b.dtype == np.float64 for n, b in m.named_buffers() if n != "num_batches_tracked")
    m = factory(nn)
    if not m.has_uninitialized_params():
        return
    with pytest.raises(TypeError, match="does not match the layer's float32"):
        m(x)   # float64 into a float32 layer: refused, and the layer stays lazy
    assert type(m).__name__.startswith("Lazy") and m.has_uninitialized_params()


def test_dtype_argument_and_uninitialised_placeholders():
    m = nn.LazyConv3d(2, 1, dtype=np.float64)
    assert m.weight.dtype == np.float64 and repr(m.weight) == "<UninitializedParameter>"
    with pytest.raises(RuntimeError, match="Can't access the shape"):
        m.weight.shape
    assert repr(nn.LazyBatchNorm1d().running_mean) == "<UninitializedBuffer>"
    assert nn.LazyLinear(2, dtype=np.float64).dtype == np.float64
    m = nn.LazyBatchNorm2d(affine=False).double()
    assert m.running_mean.dtype == np.float64 and m.device == "cpu"
    m(np.ones((2, 3, 2, 2)))
    assert m.running_mean.dtype == np.float64 and m.running_mean.shape == (3,)
    p = nn.UninitializedParameter()
    p.materialize((2, 3))
    assert type(p) is nn.Parameter and p.shape == (2, 3) and p.dtype == np.float32
    assert nn.UninitializedBuffer(dtype=np.float64).materialize((4,)).dtype == np.float64


def test_misuse_before_the_first_forward():
    m = nn.LazyLinear(3)
    m.reset_parameters()      # a no-op, as torch's
    m.zero_grad()
    m.zero_grad(set_to_none=False)
    assert [p.grad for p in m.parameters()] == [None, None]
    assert repr(copy.deepcopy(m)) == repr(m) and copy.deepcopy(m).has_uninitialized_params()
    with pytest.raises(ValueError, match="0-D"):
        m(np.float32(1.0) * np.ones((), np.float32))
    with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to LazyConv2d"):
        nn.LazyConv2d(4, 3)(np.zeros((5, 5), np.float32))
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.LazyConv2d(4, 3, groups=2)(np.zeros((1, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match="multiple of groups"):
        nn.LazyConv2d(3, 3, groups=2)
    bn = nn.LazyBatchNorm2d()
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        bn(np.zeros((3, 5, 5), np.float32))
    assert type(bn) is nn.LazyBatchNorm2d and bn.has_uninitialized_params()   # torch's has become BatchNorm2d(5)


def test_a_lazy_model_trains_like_its_torch_twin():
    """A small lazy CNN: one dry run, then torch's weights, then an SGD step each; the parameters agree."""
    def build(m):
        return m.Sequential(m.LazyConv2d(4, 3, padding=1), m.LazyBatchNorm2d(), m.ReLU(), m.Flatten(),
                            m.LazyLinear(3))
    ours, theirs = build(nn).double(), build(T).double()
    x = np.random.default_rng(6).normal(0, 1, (2, 2, 4, 4))
    ours(x)
    theirs(torch.tensor(x))
    assert repr(ours) == repr(theirs)
    ours.load_state_dict(minimlp.from_torch_state_dict(theirs.state_dict()))
    opt, topt = optim.SGD(ours.parameters(), lr=0.1), torch.optim.SGD(theirs.parameters(), lr=0.1)
    y, yt = ours(x), theirs(torch.tensor(x))
    G = np.ones(y.shape)
    ours.backward(G)
    yt.backward(torch.tensor(G))
    opt.step()
    topt.step()
    for (k, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        assert_close(a, b, TOL, f"after a step: {k}")
