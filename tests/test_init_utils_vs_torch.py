"""``nn.init``, ``nn.utils``, ``manual_seed`` and ``save``/``load`` against torch's semantics (found by comparing
every shared name with torch 2.13): a Parameter is initialised in place, torch's argument names, torch's checks,
the initialisers torch has, the norms of every order, negative seeds, file objects. Each case runs in torch too."""
import io
import warnings

import numpy as np
import pytest
import torch

import minimlp
from minimlp import nn
from minimlp.nn import init
from minimlp.nn.parameter import Parameter


def test_an_initialiser_fills_a_parameter_in_place_and_returns_it():
    p = Parameter(np.zeros((4, 3), np.float32))
    assert init.kaiming_uniform_(p) is p and p.data.std() > 0
    assert init.zeros_(p) is p and not p.data.any()
    assert init.constant_(tensor=np.zeros(3), val=0.5).tolist() == [0.5] * 3   # torch's keyword names
    t = torch.zeros(3)
    assert torch.nn.init.constant_(tensor=t, val=0.5) is t


def test_a_float32_uniform_draw_stays_below_its_upper_bound():
    minimlp.manual_seed(24)   # a seed whose float64 draws include one that rounds up to 1.0 in float32
    assert init.uniform_(np.empty(10**6, np.float32), 0.0, 1.0).max() < 1.0


@pytest.mark.parametrize("call", [
    lambda m, a: m.uniform_(a(np.zeros((3, 4), np.int64))), lambda m, a: m.normal_(a(np.zeros(3)), std=-1.0),
    lambda m, a: m.uniform_(a(np.zeros(3)), 1.0, 0.0), lambda m, a: m.calculate_gain("identity"),
    lambda m, a: m.eye_(a(np.zeros((2, 2, 2)))), lambda m, a: m.dirac_(a(np.zeros((3, 2, 3, 3))), 2),
    lambda m, a: m.orthogonal_(a(np.zeros(3))), lambda m, a: m.xavier_uniform_(a(np.zeros(3)))],
    ids=["integer-array", "negative-std", "a-above-b", "identity-gain", "eye-3d", "dirac-groups", "orthogonal-1d",
         "xavier-1d"])
def test_bad_arguments_raise_the_class_torch_raises(call):
    with pytest.raises(Exception) as theirs:
        call(torch.nn.init, lambda a: torch.tensor(a))
    with pytest.raises(Exception) as ours:
        call(init, lambda a: a)
    assert isinstance(ours.value, type(theirs.value)), (type(ours.value).__mro__, type(theirs.value))


def test_eye_dirac_and_the_gains_are_torchs():
    for shape in ((2, 3), (4, 4), (3, 1)):
        np.testing.assert_array_equal(init.eye_(np.zeros(shape)), torch.nn.init.eye_(torch.zeros(shape)).numpy())
    for shape, groups in (((4, 2, 3, 3), 2), ((6, 3, 5), 1), ((2, 4, 3, 3, 3), 1), ((4, 2, 2, 2), 4)):
        np.testing.assert_array_equal(init.dirac_(np.ones(shape), groups),
                                      torch.nn.init.dirac_(torch.ones(shape), groups).numpy())
    for name, param in (("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None), ("selu", None),
                        ("leaky_relu", 0.2)):
        ours, theirs = init.calculate_gain(name, param), torch.nn.init.calculate_gain(name, param)
        assert ours == theirs and type(ours) is type(theirs)


def test_orthogonal_truncated_normal_and_sparse_have_their_properties():
    q = init.orthogonal_(np.zeros((3, 5)), gain=2.0)
    np.testing.assert_allclose(q @ q.T, 4 * np.eye(3), atol=1e-12)
    m = init.orthogonal_(np.zeros((6, 2, 2))).reshape(6, 4)
    np.testing.assert_allclose(m.T @ m, np.eye(4), atol=1e-12)
    t = init.trunc_normal_(np.zeros(20000), mean=0.5, std=1.0, a=-1.0, b=1.0)
    reference = torch.nn.init.trunc_normal_(torch.zeros(200000, dtype=torch.float64), 0.5, 1.0, -1.0, 1.0)
    assert t.min() >= -1 and t.max() <= 1
    assert abs(t.mean() - float(reference.mean())) < 0.02 and abs(t.std() - float(reference.std())) < 0.02
    s = init.sparse_(np.zeros((10, 4)), 0.3)
    assert ((s == 0).sum(axis=0) == 3).all() == (torch.nn.init.sparse_(torch.zeros(10, 4), 0.3) == 0).sum(0).eq(3).all()


def test_an_empty_array_is_a_no_op_with_a_warning_before_the_mode_is_checked():
    for lib, array in ((torch.nn.init, torch.empty(0, 3)), (init, np.empty((0, 3)))):
        with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
            lib.kaiming_uniform_(array, mode="bad")


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, 0.0, -1.0, float("inf"), float("-inf")])
def test_clip_grad_norm_of_every_order_is_torchs(norm_type):
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(s).astype(np.float32) for s in ((3, 4), (5,))]
    grads[1][2] = 0.0
    ours = [Parameter(np.zeros_like(g)) for g in grads]
    theirs = [torch.nn.Parameter(torch.zeros(g.shape)) for g in grads]
    for p, q, g in zip(ours, theirs, grads):
        p.grad, q.grad = g.copy(), torch.tensor(g)
    total = nn.utils.clip_grad_norm_(ours, 0.7, norm_type=norm_type, foreach=None)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 0.7, norm_type=norm_type)
    assert isinstance(total, np.ndarray) and total.shape == () and total.dtype == np.float32
    np.testing.assert_allclose(total, expected.numpy(), rtol=1e-6)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-6)
    empty = nn.utils.clip_grad_norm_([], 1.0)
    assert empty.shape == () and empty.dtype == np.float32 and float(empty) == 0.0


def test_the_norm_helpers_and_parameter_vectors_are_torchs():
    arrays = [np.arange(6.0).reshape(2, 3), np.array([3.0, -4.0])]
    tensors = [torch.tensor(a) for a in arrays]
    np.testing.assert_allclose(nn.utils.get_total_norm(arrays), torch.nn.utils.get_total_norm(tensors).numpy())
    ours = [Parameter(a.copy()) for a in arrays]
    theirs = [torch.nn.Parameter(t.clone()) for t in tensors]
    vector = nn.utils.parameters_to_vector(ours)
    np.testing.assert_array_equal(vector, torch.nn.utils.parameters_to_vector(theirs).detach().numpy())
    nn.utils.vector_to_parameters(vector[::-1].copy(), ours)
    torch.nn.utils.vector_to_parameters(torch.tensor(vector[::-1].copy()), theirs)
    for p, q in zip(ours, theirs):
        np.testing.assert_array_equal(p.data, q.detach().numpy())
    for p, q in zip(ours, theirs):
        p.grad, q.grad = np.ones(p.data.shape), torch.ones(q.shape, dtype=torch.float64)
    nn.utils.clip_grads_with_norm_(ours, 1.0, np.asarray(4.0))
    torch.nn.utils.clip_grads_with_norm_(theirs, 1.0, torch.tensor(4.0, dtype=torch.float64))
    np.testing.assert_allclose(ours[0].grad, theirs[0].grad.numpy())


def test_a_negative_seed_is_its_twos_complement_and_an_oversized_one_is_refused():
    assert minimlp.manual_seed(-1) == (1 << 64) - 1 == torch.manual_seed(-1).initial_seed()
    first = nn.Linear(3, 2).weight.data.copy()
    minimlp.manual_seed(-1)
    np.testing.assert_array_equal(nn.Linear(3, 2).weight.data, first)
    for seed in (1 << 64, -(1 << 63) - 1):
        with pytest.raises(ValueError, match="Overflow"):
            torch.manual_seed(seed)
        with pytest.raises(ValueError, match="Overflow"):
            minimlp.manual_seed(seed)


def test_save_and_load_take_file_objects_and_refuse_what_they_cannot_read_back(tmp_path):
    buffer = io.BytesIO()
    minimlp.save({"w": Parameter(np.arange(3.0)), "n": [1, "x"]}, buffer)
    buffer.seek(0)
    loaded = minimlp.load(buffer)
    np.testing.assert_array_equal(loaded["w"], np.arange(3.0))
    assert loaded["n"] == [1, "x"]
    with pytest.raises(TypeError, match="cannot store an array of Python objects"):
        minimlp.save({"o": np.array([{}], dtype=object)}, tmp_path / "o.npz")
    assert not (tmp_path / "o.npz").exists()
    torch.save({"a": torch.ones(2)}, tmp_path / "t.pt")
    np.savez(tmp_path / "plain.npz", weights=np.zeros(3))
    for name in ("t.pt", "plain.npz"):
        with pytest.raises(ValueError, match="not a file written by minimlp.save"):
            minimlp.load(tmp_path / name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        minimlp.save({"x": np.ones(2)}, tmp_path / "ok.npz")


def test_truncated_normal_far_from_its_mean_fills_at_once_near_the_bound_as_torch():
    """A mean 12 std above the interval: torch's inverse-CDF method puts the values near b at once (rejection
    sampling would never finish)."""
    with pytest.warns(UserWarning, match="more than 2 std"):
        ours = init.trunc_normal_(np.empty((4, 4), np.float32), mean=10.0, std=1.0, a=-2.0, b=2.0)
    with pytest.warns(UserWarning):
        theirs = torch.nn.init.trunc_normal_(torch.empty(200), mean=10.0, std=1.0, a=-2.0, b=2.0)
    assert float(theirs.min()) - 0.1 < ours.min() and ours.max() <= 2.0
