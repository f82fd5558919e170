"""``nn.utils.parametrizations.orthogonal`` against torch 2.13, in float64: each map ("matrix_exp", "cayley",
"householder") with and without the trivialization on square, tall and wide Linear weights and a Conv2d weight
(a batch of 3×3 matrices): the value at registration, outputs, every gradient and the originals and base over SGD
steps, assignment (right_inverse); QᵀQ = I; each map's backward by finite differences; the matrix exponential
against references at every Padé degree and many squarings; geqrf and householder_product against torch's;
float32; errors."""
import numpy as np
import pytest
import torch
from test_parametrize_vs_torch import train_both
from torch.nn.utils import parametrizations as tparam

from minimlp import backend, nn
from minimlp.formulas import orthogonal as formula
from minimlp.nn.utils import parametrizations, parametrize

TOL = dict(rtol=1e-10, atol=1e-12)
MAPS = ["matrix_exp", "cayley", "householder"]
LAYERS = {"square": (lambda m: m.Linear(4, 4), (5, 4)),
          "tall": (lambda m: m.Linear(3, 6), (5, 3)),
          "wide": (lambda m: m.Linear(6, 3), (5, 6)),
          "conv": (lambda m: m.Conv2d(2, 3, 3), (2, 2, 6, 6))}


def close(ours, theirs, what, **tol):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    np.testing.assert_allclose(backend.to_numpy(ours), theirs, err_msg=what, **(tol or TOL))


def state(module):
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def fresh_pair(layer):
    """(ours, torch's) plain float64 layers with torch's weights."""
    build, shape = LAYERS[layer]
    torch.manual_seed(0)
    theirs = build(torch.nn).double()
    ours = build(nn).to(dtype=np.float64)
    ours.load_state_dict(state(theirs))
    return ours, theirs, shape


@pytest.mark.parametrize("trivialization", [True, False], ids=["trivialization", "plain"])
@pytest.mark.parametrize("layer", list(LAYERS))
@pytest.mark.parametrize("orthogonal_map", MAPS)
def test_registers_and_trains_as_torchs(orthogonal_map, layer, trivialization, device):
    """From the same plain weight: torch's value at registration and originals (−I with the trivialization,
    geqrf's with householder alone, the weight itself for the others), the base where it is not drawn; then,
    torch's state loaded, three SGD steps."""
    ours, theirs, shape = fresh_pair(layer)
    parametrizations.orthogonal(ours, orthogonal_map=orthogonal_map, use_trivialization=trivialization)
    tparam.orthogonal(theirs, orthogonal_map=orthogonal_map, use_trivialization=trivialization)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)
    close(ours.weight.data, theirs.weight, "weight at registration")
    close(ours.parametrizations.weight.original.data, theirs.parametrizations.weight.original, "original")
    if trivialization and layer in ("square", "conv"):   # a tall or wide one's base is completed at random
        close(ours.parametrizations.weight[0].base, theirs.parametrizations.weight[0].base, "base")
    ours.load_state_dict(state(theirs))
    ours.to(device=device)
    train_both(ours, theirs, shape, 3, device)


@pytest.mark.parametrize("trivialization", [True, False], ids=["trivialization", "plain"])
@pytest.mark.parametrize("layer", ["square", "tall", "wide", "conv"])
@pytest.mark.parametrize("orthogonal_map", MAPS)
def test_gradient_after_moving_away_from_the_start(orthogonal_map, layer, trivialization):
    """Random originals (A far from 0: several squarings) and a random upstream gradient, as torch's."""
    ours, theirs, shape = fresh_pair(layer)
    parametrizations.orthogonal(ours, orthogonal_map=orthogonal_map, use_trivialization=trivialization)
    tparam.orthogonal(theirs, orthogonal_map=orthogonal_map, use_trivialization=trivialization)
    rng = np.random.default_rng(5)
    loaded = state(theirs)
    original = rng.standard_normal(loaded["parametrizations.weight.original"].shape) * 1.5
    if orthogonal_map == "householder":   # the diagonal holds each column's sign
        view = original.reshape(-1, *original.shape[-2:])
        for matrix in view:
            np.fill_diagonal(matrix, np.where(np.diagonal(matrix) > 0, 1.0, -1.0))
    loaded["parametrizations.weight.original"] = original
    theirs.load_state_dict({k: torch.tensor(v) for k, v in loaded.items()})
    ours.load_state_dict(loaded)
    close(ours.weight.data, theirs.weight, "weight")
    grad = rng.standard_normal(tuple(theirs.weight.shape))
    (theirs.weight * torch.tensor(grad)).sum().backward()
    chain = ours.parametrizations.weight
    value = chain()
    chain.backward(grad)
    close(value, theirs.weight, "weight")
    close(chain.original.grad, theirs.parametrizations.weight.original.grad, "∂L/∂original")


@pytest.mark.parametrize("orthogonal_map", MAPS)
@pytest.mark.parametrize("shape", [(5, 5), (7, 3), (3, 7), (2, 3, 4, 4)])
@pytest.mark.parametrize("scale", [0.1, 3.0])
def test_the_value_is_orthogonal(orthogonal_map, shape, scale):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape) * scale
    if orthogonal_map == "householder":   # its diagonal holds the columns' signs (trunc: |d| < 1 zeroes one)
        for matrix in x.reshape(-1, *shape[-2:]):
            np.fill_diagonal(matrix, np.where(np.diagonal(matrix) > 0, 1.0, -1.0))
    base = formula.make_orthogonal(rng.standard_normal(shape[:-2] + (max(shape[-2:]),) * 2))
    for b in (None, base):
        q, _ = formula.forward(x, orthogonal_map, b)
        q = q if shape[-2] >= shape[-1] else q.swapaxes(-1, -2)
        np.testing.assert_allclose(q.swapaxes(-1, -2) @ q, np.broadcast_to(np.eye(q.shape[-1]),
                                                                           q.shape[:-2] + (q.shape[-1],) * 2),
                                   rtol=0, atol=1e-12)


@pytest.mark.parametrize("with_base", [False, True], ids=["map", "trivialized"])
@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4), (2, 3, 3)])
@pytest.mark.parametrize("orthogonal_map", MAPS)
def test_each_maps_backward_by_finite_differences(orthogonal_map, shape, with_base):
    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape)
    if orthogonal_map == "householder":   # ±1.5: trunc gives ±1 and a step of 1e-6 does not cross an integer
        for matrix in x.reshape(-1, *shape[-2:]):
            np.fill_diagonal(matrix, np.where(np.diagonal(matrix) > 0, 1.5, -1.5))
    n = max(shape[-2:])
    base = formula.make_orthogonal(rng.standard_normal(shape[:-2] + (n, n))) if with_base else None
    grad = rng.standard_normal(shape)
    _, saved = formula.forward(x, orthogonal_map, base)
    analytic = formula.backward(grad, saved, orthogonal_map, base)
    numeric = np.zeros_like(x)
    eps = 1e-6
    for index in np.ndindex(shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += eps
        minus[index] -= eps
        numeric[index] = ((formula.forward(plus, orthogonal_map, base)[0]
                           - formula.forward(minus, orthogonal_map, base)[0]) * grad).sum() / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)
    diagonal = np.diagonal(analytic.reshape(-1, *shape[-2:]), axis1=-2, axis2=-1)
    np.testing.assert_array_equal(diagonal, 0.0)   # no variable: it cancels, or only picks a sign


# The 1-norms at which each Padé degree runs (13 with 0 to many squarings)
NORMS = [0.0, 1e-3, 0.1, 0.5, 1.5, 4.0, 9.0, 40.0, 300.0]


def test_the_norms_cover_every_degree_and_many_squarings():
    chosen = {formula.expm_degree(norm) for norm in NORMS}
    assert {m for m, _ in chosen} == {3, 5, 7, 9, 13}
    assert max(s for _, s in chosen) >= 6 and (13, 0) in chosen and (13, 1) in chosen


@pytest.mark.parametrize("norm", NORMS)
def test_matrix_exponential_of_a_symmetric_matrix_against_its_eigendecomposition(norm):
    rng = np.random.default_rng(13)
    m = rng.standard_normal((6, 6))
    s = m + m.T
    s *= norm / max(np.abs(s).sum(axis=0).max(), 1e-300)
    s = s / 8.0 if norm > 100 else s   # keep exp(λ) finite
    w, u = np.linalg.eigh(s)
    expected = (u * np.exp(w)) @ u.T
    got = formula.expm(s)
    assert np.linalg.norm(got - expected) <= 1e-13 * max(np.linalg.norm(expected), 1.0)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("kind", ["skew", "general"])
def test_matrix_exponential_against_torchs(norm, kind):
    rng = np.random.default_rng(17)
    m = rng.standard_normal((2, 5, 5))
    a = m - m.swapaxes(-1, -2) if kind == "skew" else m
    a *= norm / max(np.abs(a).sum(axis=-2).max(), 1e-300)
    if kind == "general" and norm > 20:
        a /= 4.0
    assert formula.expm_degree(formula.norm1(a)) == formula.expm_degree(norm) or kind == "general"
    expected = torch.linalg.matrix_exp(torch.tensor(a)).numpy()
    got = formula.expm(a)
    scale = np.linalg.norm(expected, axis=(-2, -1), keepdims=True)
    tol = 1e-15 * max(norm, 10.0)   # the exponential's own conditioning grows with ‖A‖
    assert (np.linalg.norm(got - expected, axis=(-2, -1), keepdims=True) <= tol * np.maximum(scale, 1.0)).all()
    if kind == "skew":
        np.testing.assert_allclose(got.swapaxes(-1, -2) @ got, np.broadcast_to(np.eye(5), got.shape), atol=1e-13)


@pytest.mark.parametrize("norm", [1e-3, 0.5, 4.0, 40.0])
def test_the_exponentials_adjoint_against_torchs_autograd(norm):
    rng = np.random.default_rng(19)
    a = rng.standard_normal((4, 4))
    a *= norm / np.abs(a).sum(axis=0).max()
    grad = rng.standard_normal((4, 4)) * 1e3
    t = torch.tensor(a, requires_grad=True)
    (torch.linalg.matrix_exp(t) * torch.tensor(grad)).sum().backward()
    expected = t.grad.numpy()
    got = formula.expm_adjoint(a, grad)
    assert np.linalg.norm(got - expected) <= 1e-12 * np.linalg.norm(expected)
    np.testing.assert_array_equal(formula.expm_adjoint(a, np.zeros_like(grad)), 0.0)


@pytest.mark.parametrize("shape", [(5, 3), (4, 4), (2, 6, 2)])
def test_geqrf_and_householder_product_as_torchs(shape):
    rng = np.random.default_rng(23)
    a = rng.standard_normal(shape)
    a[..., 2:, 1] = 0.0   # an already-reduced column: τ = 0 there
    a[..., 1, 1] = -0.5
    h, tau = formula.geqrf(a)
    t_h, t_tau = torch.geqrf(torch.tensor(a))
    close(h, t_h, "geqrf")
    close(tau, t_tau, "tau")
    close(formula.householder_product(h, tau), torch.linalg.householder_product(t_h, t_tau), "product")
    q = formula.make_orthogonal(a)
    np.testing.assert_allclose(np.diagonal(q.swapaxes(-1, -2) @ a, axis1=-2, axis2=-1) >= 0, True)


@pytest.mark.parametrize("trivialization", [True, False], ids=["trivialization", "plain"])
@pytest.mark.parametrize("layer", list(LAYERS))
@pytest.mark.parametrize("orthogonal_map", MAPS)
def test_assignment_runs_right_inverse_as_torchs(orthogonal_map, layer, trivialization):
    """``module.weight = Q``: with the trivialization the base becomes Q (or its QR's Q) and the original −I;
    householder alone stores geqrf's reflectors; the other maps refuse without the trivialization, as torch's."""
    ours, theirs, _ = fresh_pair(layer)
    parametrizations.orthogonal(ours, orthogonal_map=orthogonal_map, use_trivialization=trivialization)
    tparam.orthogonal(theirs, orthogonal_map=orthogonal_map, use_trivialization=trivialization)
    ours.load_state_dict(state(theirs))
    rng = np.random.default_rng(29)
    shape = tuple(theirs.weight.shape)
    square = shape[-2] == shape[-1]
    tall = shape if shape[-2] >= shape[-1] else shape[:-2] + shape[-2:][::-1]
    values = [formula.make_orthogonal(rng.standard_normal(tall))]
    if square:
        values.append(rng.standard_normal(shape))   # not orthogonal: its QR's Q
    for value in values:
        value = value if tall == shape else value.swapaxes(-1, -2).copy()
        if not trivialization and orthogonal_map != "householder":
            with pytest.raises(NotImplementedError) as torchs, torch.no_grad():
                theirs.weight = torch.tensor(value)
            with pytest.raises(NotImplementedError) as error:
                ours.weight = value
            assert str(error.value) == str(torchs.value)
            continue
        with torch.no_grad():
            theirs.weight = torch.tensor(value)
        ours.weight = value
        close(ours.parametrizations.weight.original.data, theirs.parametrizations.weight.original, "original")
        if trivialization and square:
            close(ours.parametrizations.weight[0].base, theirs.parametrizations.weight[0].base, "base")
        close(ours.weight.data, theirs.weight, "assigned weight")
        if value is values[0]:
            close(ours.weight.data, value, "an orthogonal weight is kept")


def test_the_default_map_is_matrix_exp_for_square_weights_else_householder():
    for layer, expected in (("square", "matrix_exp"), ("tall", "householder"), ("wide", "householder"),
                            ("conv", "matrix_exp")):
        ours, theirs, _ = fresh_pair(layer)
        parametrizations.orthogonal(ours)
        tparam.orthogonal(theirs)
        assert ours.parametrizations.weight[0].orthogonal_map == expected
        assert theirs.parametrizations.weight[0].orthogonal_map.name == expected


@pytest.mark.parametrize("orthogonal_map", MAPS)
def test_float32_stays_float32(orthogonal_map):
    layer = parametrizations.orthogonal(nn.Linear(3, 5), orthogonal_map=orthogonal_map)
    layer.parametrizations.weight.original.data[...] += np.tril(np.full((5, 3), 0.3, np.float32), -1)
    y = layer(np.ones((4, 3), np.float32))
    layer.backward(np.ones_like(y))
    assert y.dtype == layer.weight.data.dtype == layer.parametrizations.weight[0].base.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in layer.parameters())
    q = layer.weight.data
    np.testing.assert_allclose(q.T @ q, np.eye(3), atol=1e-5)


def test_a_second_layer_shares_nothing_and_removal_leaves_the_value():
    layer = parametrizations.orthogonal(nn.Linear(4, 4, dtype=np.float64), orthogonal_map="cayley")
    layer.parametrizations.weight.original.data[...] = np.random.default_rng(3).standard_normal((4, 4))
    expected = layer.weight.data.copy()
    parametrize.remove_parametrizations(layer, "weight")
    assert type(layer) is nn.Linear and list(layer.state_dict()) == ["bias", "weight"]   # torch's order
    np.testing.assert_array_equal(layer.weight.data, expected)


@pytest.mark.parametrize("call,theirs", [
    (lambda p, m: p.orthogonal(m.Linear(3, 2), name="nope"), lambda p, m: p.orthogonal(m.Linear(3, 2), name="nope")),
    (lambda p, m: p.orthogonal(m.Linear(3, 2), name="bias"), lambda p, m: p.orthogonal(m.Linear(3, 2), name="bias")),
    (lambda p, m: p.orthogonal(m.Linear(3, 2), orthogonal_map="qr"),
     lambda p, m: p.orthogonal(m.Linear(3, 2), orthogonal_map="qr")),
])
def test_errors_as_torch(call, theirs):
    with pytest.raises(Exception) as ours:
        call(parametrizations, nn)
    with pytest.raises(Exception) as torchs:
        theirs(tparam, torch.nn)
    assert type(ours.value) is type(torchs.value) and "\n" not in str(ours.value)
    assert str(ours.value) == str(torchs.value)


def test_a_wrong_shape_or_a_complex_weight_is_refused_in_one_line():
    layer = parametrizations.orthogonal(nn.Linear(3, 2, dtype=np.float64))
    t_layer = tparam.orthogonal(torch.nn.Linear(3, 2).double())
    with pytest.raises(ValueError) as torchs, torch.no_grad():
        t_layer.weight = torch.zeros(3, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"Expected a matrix or batch of matrices of shape \(2, 3\)\. Got a tensor "
                                         r"of shape \(3, 3\)\.") as error:
        layer.weight = np.zeros((3, 3))
    assert str(error.value).split(" shape")[0] == str(torchs.value).split(" shape")[0]
    complex_layer = nn.Linear(3, 3, dtype=np.float64)
    complex_layer.weight.data = complex_layer.weight.data.astype(np.complex128)
    with pytest.raises(ValueError, match="real float32 and float64 weights only, got complex128") as error:
        parametrizations.orthogonal(complex_layer)
    assert "\n" not in str(error.value)
