"""Parametrizations against torch 2.13: ``nn.utils.parametrizations.weight_norm`` and ``spectral_norm`` on Linear,
Conv2d and ConvTranspose2d (every ``dim``), and ``nn.utils.parametrize`` with a parametrization of one's own
(register, chain, read, assign, remove): outputs, every original's gradient and the power iteration's buffers
over several training steps in float64, state_dict keys, reprs and classes; finite differences of the
formulas; errors."""
import numpy as np
import pytest
import torch
from torch.nn.utils import parametrizations as tparam
from torch.nn.utils import parametrize as tparametrize

from minimlp import backend, nn, optim
from minimlp.formulas import spectral_norm as sn_formula
from minimlp.formulas import weight_norm as wn_formula
from minimlp.nn.utils import parametrizations, parametrize

TOL = dict(rtol=1e-10, atol=1e-12)
LAYERS = {"linear": (lambda m: m.Linear(4, 3), (5, 4)),
          "conv": (lambda m: m.Conv2d(2, 3, 3), (2, 2, 6, 6)),
          "conv-transpose": (lambda m: m.ConvTranspose2d(2, 3, 3), (2, 2, 5, 5))}


def pair(layer, apply, device="cpu", **kwargs):
    """(ours, torch's) float64 layers, ``apply``ed (weight_norm, spectral_norm), torch's state loaded into ours."""
    build, shape = LAYERS[layer]
    torch.manual_seed(0)
    theirs = getattr(tparam, apply)(build(torch.nn).double(), **kwargs)
    ours = getattr(parametrizations, apply)(build(nn).to(dtype=np.float64), **kwargs)
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    ours.to(device=device)
    return ours, theirs, shape


def close(ours, theirs, what, **tol):
    np.testing.assert_allclose(backend.to_numpy(ours), theirs.detach().numpy(), err_msg=what, **(tol or TOL))


def train_both(ours, theirs, shape, steps, device="cpu", eval_mode=False):
    """``steps`` forward/backward/SGD steps of both, comparing outputs, gradients and state at each."""
    rng = np.random.default_rng(1)
    if eval_mode:
        ours.eval()
        theirs.eval()
    opt = optim.SGD(ours.parameters(), lr=0.1)
    t_opt = torch.optim.SGD(theirs.parameters(), lr=0.1)
    for step in range(steps):
        x, g = rng.standard_normal(shape), None
        y_t = theirs(torch.tensor(x))
        y = ours(backend.to_device(x, device))
        close(y, y_t, f"output, step {step}")
        g = rng.standard_normal(y.shape)
        y_t.backward(torch.tensor(g))
        ours.backward(backend.to_device(g, device))
        for (name, p), (t_name, q) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert name == t_name
            close(p.grad, q.grad, f"grad {name}, step {step}")
        opt.step()
        t_opt.step()
        opt.zero_grad()
        t_opt.zero_grad()
        for key, value in theirs.state_dict().items():
            close(ours.state_dict()[key], value, f"{key} after step {step}")
        close(ours.weight.data, theirs.weight, f"weight after step {step}")


@pytest.mark.parametrize("dim", [0, 1, None])
@pytest.mark.parametrize("layer", list(LAYERS))
def test_weight_norm_trains_as_torchs(layer, dim, device):
    ours, theirs, shape = pair(layer, "weight_norm", device, dim=dim)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for (name, p), (t_name, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == t_name and tuple(p.shape) == tuple(q.shape)
    train_both(ours, theirs, shape, 3, device)


@pytest.mark.parametrize("eval_mode", [False, True], ids=["train", "eval"])
@pytest.mark.parametrize("iterations", [1, 3])
@pytest.mark.parametrize("layer", list(LAYERS))
def test_spectral_norm_trains_as_torchs(layer, iterations, eval_mode, device):
    """The power iteration advances u and v in training only; σ = uᵀWv with them held constant in backward."""
    ours, theirs, shape = pair(layer, "spectral_norm", device, n_power_iterations=iterations)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.parametrizations.weight[0].dim == theirs.parametrizations.weight[0].dim
    train_both(ours, theirs, shape, 3, device, eval_mode)


def test_spectral_norm_of_a_bias_vector_normalises_it_as_torch():
    torch.manual_seed(0)
    theirs = tparam.spectral_norm(torch.nn.Linear(4, 3).double(), name="bias")
    ours = parametrizations.spectral_norm(nn.Linear(4, 3, dtype=np.float64), name="bias")
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    train_both(ours, theirs, (5, 4), 2)


def test_spectral_norm_starts_near_the_largest_singular_value_and_follows_minimlps_seed():
    import minimlp
    minimlp.manual_seed(3)
    layer = parametrizations.spectral_norm(nn.Linear(6, 5, dtype=np.float64))
    minimlp.manual_seed(3)
    again = parametrizations.spectral_norm(nn.Linear(6, 5, dtype=np.float64))
    np.testing.assert_array_equal(again.parametrizations.weight[0]._u, layer.parametrizations.weight[0]._u)
    before = layer.parametrizations.weight[0]._u.copy()
    np.testing.assert_allclose(np.linalg.svd(layer.weight.data, compute_uv=False)[0], 1.0, rtol=1e-4)
    assert not np.array_equal(layer.parametrizations.weight[0]._u, before)   # reading it iterates, as torch's
    layer.eval()
    before = layer.parametrizations.weight[0]._u.copy()
    layer.weight
    np.testing.assert_array_equal(layer.parametrizations.weight[0]._u, before)


class Symmetric(nn.Module):
    """X ↦ triu(X) + triu(X, 1)ᵀ; backward G ↦ triu(G) + tril(G, −1)ᵀ."""

    def forward(self, x):
        return np.triu(x) + np.triu(x, 1).T

    def backward(self, grad):
        return np.triu(grad) + np.tril(grad, -1).T

    def right_inverse(self, x):
        return x


ROWS = np.array([1.0, 2.0, 3.0, 0.5])[:, None]


class Scale(nn.Module):
    """X ↦ X scaled by row (which does not commute with Symmetric), with a right inverse."""

    def forward(self, x):
        return x * ROWS[:x.shape[0]]

    def backward(self, grad):
        return grad * ROWS[:grad.shape[0]]

    def right_inverse(self, x):
        return x / ROWS[:x.shape[0]]


class Transposed(nn.Module):
    """X ↦ Xᵀ, its own right inverse; backward G ↦ Gᵀ."""

    def forward(self, x):
        return x.T.copy()

    def backward(self, grad):
        return grad.T.copy()

    def right_inverse(self, x):
        return x.T.copy()


class TorchTransposed(torch.nn.Module):
    def forward(self, x):
        return x.T

    def right_inverse(self, x):
        return x.T


class TorchSymmetric(torch.nn.Module):
    def forward(self, x):
        return x.triu() + x.triu(1).transpose(0, 1)

    def right_inverse(self, x):
        return x


class TorchScale(torch.nn.Module):
    def forward(self, x):
        return x * torch.tensor(ROWS[:x.shape[0]])

    def right_inverse(self, x):
        return x / torch.tensor(ROWS[:x.shape[0]])


def test_a_chain_of_ones_own_parametrizations_trains_and_is_removed_as_torchs():
    """Symmetric, then a row scaling, then a transpose (none commutes with the next): forward, backward and
    assignment (right_inverse) each run the chain in its order."""
    torch.manual_seed(0)
    theirs = torch.nn.Linear(4, 4).double()
    ours = nn.Linear(4, 4, dtype=np.float64)
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    original = ours.weight
    tparametrize.register_parametrization(theirs, "weight", TorchSymmetric())
    tparametrize.register_parametrization(theirs, "weight", TorchScale())
    tparametrize.register_parametrization(theirs, "weight", TorchTransposed())
    parametrize.register_parametrization(ours, "weight", Symmetric())
    parametrize.register_parametrization(ours, "weight", Scale())
    parametrize.register_parametrization(ours, "weight", Transposed())
    assert ours.parametrizations.weight.original is original          # kept, as torch's
    assert type(ours).__name__ == "ParametrizedLinear" and isinstance(ours, nn.Linear)
    assert parametrize.is_parametrized(ours) and parametrize.is_parametrized(ours, "weight")
    assert not parametrize.is_parametrized(ours, "bias")
    assert parametrize.type_before_parametrizations(ours) is nn.Linear
    close(ours.weight.data, theirs.weight, "the parametrized weight")
    train_both(ours, theirs, (5, 4), 3)
    value = np.arange(16.0).reshape(4, 4)
    value = value + value.T
    ours.weight = value                                               # right_inverse, as torch's assignment
    with torch.no_grad():
        theirs.weight = torch.tensor(value)
    close(ours.parametrizations.weight.original.data, theirs.parametrizations.weight.original, "assigned")
    close(ours.weight.data, theirs.weight, "assigned value")
    parametrize.remove_parametrizations(ours, "weight")
    tparametrize.remove_parametrizations(theirs, "weight")
    assert type(ours) is nn.Linear and not parametrize.is_parametrized(ours)
    assert ours.weight is original and list(ours.state_dict()) == list(theirs.state_dict())
    close(ours.weight.data, theirs.weight, "left parametrized")


def test_remove_weight_norm_leaves_the_value_or_refuses_as_torch():
    layer = parametrizations.weight_norm(nn.Linear(3, 2, dtype=np.float64))
    layer.parametrizations.weight.original0.data[...] *= 2.0
    expected = layer.weight.data.copy()
    with pytest.raises(ValueError, match="Cannot leave unparametrized"):
        parametrize.remove_parametrizations(layer, "weight", leave_parametrized=False)
    parametrize.remove_parametrizations(layer, "weight")
    np.testing.assert_array_equal(layer.weight.data, expected)
    assert type(layer) is nn.Linear and list(layer.state_dict()) == ["bias", "weight"]


def test_repr_and_state_dict_are_torchs():
    torch.manual_seed(0)
    ours = parametrizations.spectral_norm(parametrizations.weight_norm(nn.Conv2d(2, 3, 3)), name="bias")
    theirs = tparam.spectral_norm(tparam.weight_norm(torch.nn.Conv2d(2, 3, 3)), name="bias")
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


def test_float32_stays_float32_and_reading_the_weight_follows_the_originals():
    layer = parametrizations.weight_norm(nn.Linear(3, 2))
    y = layer(np.ones((4, 3), np.float32))
    layer.backward(np.ones_like(y))
    assert y.dtype == layer.weight.data.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in layer.parameters())
    layer.parametrizations.weight.original0.data[...] = 0.0
    np.testing.assert_array_equal(layer.weight.data, 0.0)           # computed afresh outside a pass
    layer.double()
    assert layer.weight.data.dtype == np.float64


def test_inside_a_sequential_model_and_its_second_backward_is_refused():
    model = nn.Sequential(parametrizations.weight_norm(nn.Linear(3, 4, dtype=np.float64)), nn.Tanh(),
                          parametrizations.spectral_norm(nn.Linear(4, 2, dtype=np.float64)))
    y = model(np.ones((5, 3)))
    model.backward(np.ones_like(y))
    assert all(p.grad is not None for p in model.parameters())
    assert model[0].weight.grad is None and model[2].weight.grad is None     # not a leaf: None, as torch's
    with pytest.raises(RuntimeError, match="backward reached this module a second time"):
        model.backward(np.ones_like(y))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_weight_norm_formula_by_finite_differences(dim):
    rng = np.random.default_rng(2)
    v = rng.standard_normal((3, 4, 2))
    g = np.asarray(wn_formula.norm_except_dim(v, dim) * 1.7)
    grad = rng.standard_normal(v.shape)
    _, norm = wn_formula.forward(g, v, dim)
    dg, dv = wn_formula.backward(grad, g, v, norm, dim)
    eps = 1e-6
    for array, analytic in ((g, dg), (v, dv)):
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            plus, minus = array.copy(), array.copy()
            plus[index] += eps
            minus[index] -= eps
            args = ((plus, v), (minus, v)) if array is g else ((g, plus), (g, minus))
            numeric[index] = ((wn_formula.forward(*args[0], dim)[0] - wn_formula.forward(*args[1], dim)[0])
                              * grad).sum() / (2 * eps)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dim", [0, 2])
def test_spectral_norm_formula_by_finite_differences_with_u_and_v_held(dim):
    rng = np.random.default_rng(3)
    weight = rng.standard_normal((3, 2, 4))
    matrix = sn_formula.to_matrix(weight, dim)
    u, v = rng.standard_normal(matrix.shape[0]), rng.standard_normal(matrix.shape[1])
    sn_formula.power_iteration(matrix, u, v, 5, 1e-12)
    grad = rng.standard_normal(weight.shape)
    _, sigma = sn_formula.forward(weight, u, v, dim, 1e-12)
    analytic = sn_formula.backward(grad, weight, u, v, sigma, dim, 1e-12)
    numeric = np.zeros_like(weight)
    eps = 1e-6
    for index in np.ndindex(weight.shape):
        plus, minus = weight.copy(), weight.copy()
        plus[index] += eps
        minus[index] -= eps
        numeric[index] = ((sn_formula.forward(plus, u, v, dim, 1e-12)[0]
                           - sn_formula.forward(minus, u, v, dim, 1e-12)[0]) * grad).sum() / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(sn_formula.from_matrix(matrix, weight.shape, dim), weight)


@pytest.mark.parametrize("call,theirs", [
    (lambda p: p.weight_norm(nn.Linear(3, 2), name="nope"), None),
    (lambda p: p.spectral_norm(nn.Linear(3, 2), n_power_iterations=0),
     lambda: tparam.spectral_norm(torch.nn.Linear(3, 2), n_power_iterations=0)),
    (lambda p: p.spectral_norm(nn.Linear(3, 2), dim=3), lambda: tparam.spectral_norm(torch.nn.Linear(3, 2), dim=3)),
    (lambda p: parametrize.remove_parametrizations(nn.Linear(3, 2), "weight"),
     lambda: tparametrize.remove_parametrizations(torch.nn.Linear(3, 2), "weight")),
])
def test_errors_as_torch(call, theirs):
    with pytest.raises(Exception) as ours:
        call(parametrizations)
    assert "\n" not in str(ours.value)
    if theirs is not None:
        with pytest.raises(Exception) as torchs:
            theirs()
        assert type(ours.value) is type(torchs.value)
        assert str(ours.value).split(" ")[:4] == str(torchs.value).split(" ")[:4]


def test_mistakes_are_named_in_one_line():
    with pytest.raises(ValueError, match="does not have a parameter, a buffer, or a parametrized element with name "
                                         "'nope'"):
        parametrize.register_parametrization(nn.Linear(3, 2), "nope", Scale())
    with pytest.raises(TypeError, match="must be a minimlp Module with forward and backward, got TorchScale"):
        parametrize.register_parametrization(nn.Linear(3, 2), "weight", TorchScale())
    layer = parametrize.register_parametrization(nn.Linear(3, 3), "weight", _Transpose())
    with pytest.raises(RuntimeError, match="parametrization _Transpose does not implement right_inverse."):
        layer.weight = np.eye(3, dtype=np.float32)
    layer = nn.Linear(3, 2)
    weight = layer.weight
    with pytest.raises(ValueError, match="may not change the shape or dtype"):
        parametrize.register_parametrization(layer, "weight", _Transpose())
    assert type(layer) is nn.Linear and layer.weight is weight          # refused before anything changed
    layer = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="is a buffer; minimlp parametrizes parameters only"):
        parametrize.register_parametrization(layer, "running_mean", Scale())


class _Transpose(nn.Module):
    def forward(self, x):
        return x.T

    def backward(self, grad):
        return grad.T


def test_a_parametrized_module_deep_copies_and_pickles_into_an_independent_one():
    import copy
    import pickle
    layer = parametrizations.spectral_norm(parametrizations.weight_norm(nn.Linear(3, 2, dtype=np.float64)), "bias")
    x = np.arange(6.0).reshape(2, 3)
    for clone in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        assert type(clone).__name__ == "ParametrizedLinear" and type(clone) is not type(layer)
        assert list(clone.state_dict()) == list(layer.state_dict())
        layer.eval(), clone.eval()
        np.testing.assert_allclose(clone(x), layer(x), rtol=1e-15)
        clone.backward(np.ones((2, 2)))
        assert clone.parametrizations.weight.original1.grad is not None
        assert layer.parametrizations.weight.original1.grad is None
        clone.parametrizations.weight.original0.data[...] = 0.0
        assert np.abs(layer.weight.data).sum() > 0
        parametrize.remove_parametrizations(clone, "weight")
        assert parametrize.is_parametrized(layer, "weight")


# ------------------------------------------------------------------ the older hooks (torch.nn.utils.weight_norm, ...)
def older_pair(layer, apply, **kwargs):
    build, shape = LAYERS[layer]
    torch.manual_seed(0)
    with pytest.warns(FutureWarning) if apply == "weight_norm" else _nothing():
        theirs = getattr(torch.nn.utils, apply)(build(torch.nn).double(), **kwargs)
    with pytest.warns(FutureWarning, match="torch.nn.utils.weight_norm` is deprecated") if apply == "weight_norm" \
            else _nothing():
        ours = getattr(nn.utils, apply)(build(nn).to(dtype=np.float64), **kwargs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    return ours, theirs, shape


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("dim", [0, None])
@pytest.mark.parametrize("layer", list(LAYERS))
def test_the_older_weight_norm_trains_as_torchs(layer, dim):
    ours, theirs, shape = older_pair(layer, "weight_norm", dim=dim)
    assert repr(ours) == repr(theirs) and type(ours).__name__ == type(theirs).__name__
    train_both(ours, theirs, shape, 3)
    nn.utils.remove_weight_norm(ours)
    torch.nn.utils.remove_weight_norm(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    close(ours.weight.data, theirs.weight, "weight after remove_weight_norm")


@pytest.mark.parametrize("eval_mode", [False, True], ids=["train", "eval"])
@pytest.mark.parametrize("layer", list(LAYERS))
def test_the_older_spectral_norm_trains_as_torchs(layer, eval_mode):
    """The older hook advances v before u, and keeps weight_orig, weight_u and weight_v on the module."""
    ours, theirs, shape = older_pair(layer, "spectral_norm", n_power_iterations=2)
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    train_both(ours, theirs, shape, 3, eval_mode=eval_mode)
    original = ours.weight_orig
    nn.utils.remove_spectral_norm(ours)
    torch.nn.utils.remove_spectral_norm(theirs)
    assert type(ours) is LAYERS[layer][0](nn).__class__ and ours.weight is original
    assert list(ours.state_dict()) == list(theirs.state_dict())
    close(ours.weight.data, theirs.weight, "weight after remove_spectral_norm")


def test_the_older_hooks_refuse_twice_and_a_missing_hook_as_torch():
    layer = nn.utils.spectral_norm(nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match="Cannot register two spectral_norm hooks on the same parameter weight"):
        nn.utils.spectral_norm(layer)
    with pytest.raises(ValueError, match="spectral_norm of 'weight' not found in Linear"):
        nn.utils.remove_spectral_norm(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found in Linear"):
        nn.utils.remove_weight_norm(layer)
    with pytest.warns(FutureWarning):
        normed = nn.utils.weight_norm(nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks"), pytest.warns(FutureWarning):
        nn.utils.weight_norm(normed)
    with pytest.raises(AttributeError, match="'weight' of Linear is computed at each forward from its originals"):
        normed.weight = np.zeros((2, 3), np.float32)
    assert not parametrize.is_parametrized(normed)


def test_cached_computes_each_value_once_per_block_as_torch():
    """Inside ``cached()`` a spectral norm's power iteration runs once, at the first use, for every forward and
    read of the block, as torch's; outside, each forward runs it."""
    ours, theirs, shape = pair("linear", "spectral_norm")
    x = np.random.default_rng(4).standard_normal(shape)
    with parametrize.cached(), tparametrize.cached():
        for _ in range(3):
            close(ours(x), theirs(torch.tensor(x)), "output in a cached block")
        close(ours.weight.data, theirs.weight, "weight read in the block")
    for key, value in theirs.state_dict().items():
        close(ours.state_dict()[key], value, key)
    u = ours.parametrizations.weight[0]._u.copy()
    ours(x)
    assert not np.array_equal(ours.parametrizations.weight[0]._u, u)


class _NoInverse(Scale):
    def right_inverse(self, x):
        raise NotImplementedError("no inverse here")


def test_a_right_inverse_that_raises_not_implemented_keeps_the_original_at_registration_as_torch():
    layer = nn.Linear(4, 4, dtype=np.float64)
    before = layer.weight.data.copy()
    parametrize.register_parametrization(layer, "weight", _NoInverse())
    np.testing.assert_array_equal(layer.parametrizations.weight.original.data, before)
    np.testing.assert_array_equal(layer.weight.data, before * ROWS)
    with pytest.raises(NotImplementedError, match="no inverse here"):
        layer.weight = before


@pytest.mark.parametrize("apply", ["spectral_norm", "weight_norm"])
def test_reading_the_weight_between_forward_and_backward_leaves_the_gradient_as_torchs(apply):
    """A read recomputes (a spectral norm in training advances u and v, as torch's) but the backward still
    differentiates what its forward computed, as torch's graph does."""
    ours, theirs, shape = pair("conv", apply)
    rng = np.random.default_rng(5)
    x, g = rng.standard_normal(shape), None
    y_t = theirs(torch.tensor(x))
    y = ours(x)
    for _ in range(2):
        close(ours.weight.data, theirs.weight, "weight read between forward and backward")
    g = rng.standard_normal(y.shape)
    y_t.backward(torch.tensor(g))
    ours.backward(g)
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        close(p.grad, q.grad, f"grad {name}")
    for key, value in theirs.state_dict().items():
        close(ours.state_dict()[key], value, key)


def test_negative_dims_a_frozen_original_and_lazy_layers_as_torch():
    ours, theirs, shape = pair("conv", "weight_norm", dim=-2)
    train_both(ours, theirs, shape, 2)
    layer = parametrizations.weight_norm(nn.Linear(3, 2, dtype=np.float64))
    layer.parametrizations.weight.original0.requires_grad = False
    layer.backward(np.ones_like(layer(np.ones((4, 3)))))
    assert layer.parametrizations.weight.original0.grad is None
    assert layer.parametrizations.weight.original1.grad is not None
    with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized parameter"):
        parametrizations.spectral_norm(nn.LazyLinear(3))
    with pytest.raises(ValueError, match="The module passed to `SpectralNorm` can't have uninitialized parameters"):
        nn.utils.spectral_norm(nn.LazyLinear(3))
    with pytest.raises(ValueError, match="The module passed to `WeightNorm` can't have uninitialized"), \
            pytest.warns(FutureWarning):
        nn.utils.weight_norm(nn.LazyLinear(3))


def test_fusing_a_parametrized_layer_is_refused_as_torch():
    conv = parametrizations.spectral_norm(nn.Conv2d(3, 4, 3)).eval()
    with pytest.raises(KeyError, match="attribute 'weight' already exists"):
        nn.utils.fuse_conv_bn_eval(conv, nn.BatchNorm2d(4).eval())


def test_the_older_spectral_norm_reads_the_last_forwards_weight_without_iterating_as_torch():
    """torch's older hook sets module.weight at each forward: a read (for logging, say) returns that value and
    leaves u and v alone; before the first forward it is the raw weight."""
    ours, theirs, shape = older_pair("linear", "spectral_norm")
    close(ours.weight.data, theirs.weight, "before the first forward: the raw weight")
    x = np.random.default_rng(6).standard_normal(shape)
    for _ in range(2):
        close(ours(x), theirs(torch.tensor(x)), "output")
        for _ in range(3):
            close(ours.weight.data, theirs.weight, "weight read after the forward")
        close(ours.weight_u, theirs.weight_u, "u after reads")


def test_a_computed_weight_is_no_parameter_to_train_or_share():
    layer = parametrizations.orthogonal(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([layer.weight], lr=0.1)
    other = nn.Linear(3, 3)
    with pytest.raises(TypeError, match="cannot assign a parametrization's computed value as parameter 'weight'"):
        other.weight = layer.weight
    other.weight = layer.parametrizations.weight.original                 # the original is shared
    assert other.weight is layer.parametrizations.weight.original


def test_weight_norm_refuses_a_dim_out_of_range_as_torch():
    for call in (lambda m: parametrizations.weight_norm(m, dim=5), lambda m: nn.utils.weight_norm(m, dim=-3)):
        with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but "
                                             r"got (5|-3)\)"), warnings_allowed():
            call(nn.Linear(3, 2))


def test_a_frozen_weight_gives_frozen_originals_and_nested_cached_blocks_share_one_cache():
    layer = nn.Linear(3, 2, dtype=np.float64)
    layer.weight.requires_grad = False
    parametrizations.weight_norm(layer)
    assert not layer.parametrizations.weight.original0.requires_grad
    assert not layer.parametrizations.weight.original1.requires_grad
    ours, theirs, shape = pair("linear", "spectral_norm")
    x = np.ones(shape)
    with parametrize.cached(), tparametrize.cached():
        with parametrize.cached(), tparametrize.cached():
            close(ours(x), theirs(torch.tensor(x)), "inner block")
        close(ours(x), theirs(torch.tensor(x)), "outer block, after the inner one")
    close(ours.parametrizations.weight[0]._u, theirs.parametrizations.weight[0]._u, "one power iteration")


def test_a_chained_parametrization_that_changes_the_shape_is_refused_unless_unsafe():
    layer = parametrize.register_parametrization(nn.Linear(3, 2, dtype=np.float64), "weight", Scale())
    with pytest.raises(ValueError, match=r"'weight' was \(2, 3\) float64, the parametrization gives \(3, 2\)"):
        parametrize.register_parametrization(layer, "weight", _Transpose())
    parametrize.register_parametrization(layer, "weight", _Transpose(), unsafe=True)
    assert layer.weight.shape == (3, 2)


class warnings_allowed:
    def __enter__(self):
        import warnings
        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", FutureWarning)

    def __exit__(self, *exc):
        return self._catch.__exit__(*exc)
