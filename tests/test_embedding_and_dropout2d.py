"""Embedding against torch in float64 (lookup, weight gradient with repeated indices, padding_idx), and
Dropout2d's channel masks (torch's RNG differs, so its properties: whole channels, the 1/(1 − p) scale, the
rate, the same mask in backward, identity in evaluation)."""
import numpy as np
import pytest
import torch
from torch_reference import assert_close

import minimlp
from minimlp import backend, nn

TOL = 1e-12


@pytest.mark.parametrize("padding_idx", [None, 0, 3, -1])
@pytest.mark.parametrize("shape", [(), (5,), (2, 7), (16, 12), (3, 4, 5)])
def test_embedding_matches_torch(shape, padding_idx, device):
    minimlp.manual_seed(0)
    ours = nn.Embedding(10, 6, padding_idx=padding_idx).to(dtype=np.float64)
    theirs = torch.nn.Embedding(10, 6, padding_idx=padding_idx).double()
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    if padding_idx is not None:
        assert not np.any(ours.weight.data[padding_idx])
    theirs.load_state_dict(minimlp.to_torch_state_dict(ours.state_dict()))
    ours.to(device=device)
    rng = np.random.default_rng(len(shape))
    indices = rng.integers(0, 10, shape)
    if indices.size:
        indices.flat[0] = 3                       # the padding row, and a row hit more than once
        indices.flat[-1] = 3
    yt = theirs(torch.tensor(indices))
    g = rng.normal(size=tuple(yt.shape))
    yt.backward(torch.tensor(g))
    y = ours(backend.to_device(indices, device))
    assert ours.backward(backend.to_device(g, device)) is None
    assert_close(y, yt, TOL, f"Embedding{shape} forward")
    assert_close(ours.weight.grad, theirs.weight.grad, TOL, f"Embedding{shape} weight gradient")


def test_embedding_trains_in_a_sequential_as_the_first_layer():
    minimlp.manual_seed(0)
    model = nn.Sequential(nn.Embedding(5, 4), nn.Linear(4, 2))
    indices = np.array([0, 1, 1, 4])
    y = model(indices)
    model.backward(np.ones_like(y), input_grad=False)
    grad = model[0].weight.grad
    assert np.all(grad[[0, 1, 4]] != 0) and not np.any(grad[[2, 3]])
    np.testing.assert_allclose(grad[1], 2 * grad[0])


@pytest.mark.parametrize("make,call,error,pattern", [
    (lambda: nn.Embedding(5, 3, max_norm=1.0), None, ValueError, r"Embedding: max_norm is not supported"),
    (lambda: nn.Embedding(5, 3, sparse=True), None, ValueError, r"Embedding: scale_grad_by_freq and sparse"),
    (lambda: nn.Embedding(5, 3, padding_idx=5), None, ValueError, r"padding_idx must be within num_embeddings"),
    (lambda: nn.Embedding(5, 3), np.array([1, 5]), IndexError, r"Embedding\(5, 3\): index 5 is out of range for 5"),
    (lambda: nn.Embedding(5, 3), np.array([-1]), IndexError, r"index -1 is out of range"),
    (lambda: nn.Embedding(5, 3), np.array([1.0]), TypeError, r"Embedding\(5, 3\): expected integer indices"),
    (lambda: nn.Dropout2d(0.3), np.zeros((2, 3)), ValueError, r"Dropout2d.*expected a 3-D \(N, C, L\) or 4-D"),
])
def test_bad_arguments_get_one_line_errors(make, call, error, pattern):
    with pytest.raises(error, match=pattern):
        make()(call)


@pytest.mark.parametrize("shape", [(64, 32, 3, 4), (50, 40, 7)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout2d_drops_whole_channels_at_the_rate_and_scales_the_rest(shape, dtype):
    minimlp.manual_seed(3)
    p = 0.3
    drop = nn.Dropout2d(p)
    x = np.random.default_rng(0).uniform(1, 2, shape).astype(dtype)
    y = drop(x)
    assert y.dtype == dtype
    m = drop.backward(np.ones_like(x))                        # the mask, through backward
    np.testing.assert_array_equal(y, x * m)
    per_channel = m.reshape(shape[0], shape[1], -1)
    np.testing.assert_array_equal(per_channel, per_channel[..., :1] * np.ones_like(per_channel))  # whole channels
    assert set(np.unique(per_channel).tolist()) == {0.0, float(dtype(1) / dtype(1 - p))}
    assert abs(np.mean(per_channel == 0) - p) < 0.05
    g = np.random.default_rng(1).normal(size=shape).astype(dtype)
    minimlp.manual_seed(3)
    np.testing.assert_array_equal(drop(x), y)                 # the same seed: the same mask, for one more backward
    np.testing.assert_array_equal(drop.backward(g), g * m)
    drop.eval()
    assert drop(x) is x and drop.backward(g) is g
    assert nn.Dropout2d(1.0)(x).max() == 0.0


@pytest.mark.parametrize("shape", [(64, 32, 9), (300, 7)], ids=["batch", "one-sample"])
def test_dropout1d_drops_whole_channels_at_the_rate_and_scales_the_rest(shape):
    minimlp.manual_seed(4)
    p = 0.4
    drop = nn.Dropout1d(p)
    x = np.random.default_rng(0).uniform(1, 2, shape).astype(np.float32)
    y = drop(x)
    m = drop.backward(np.ones_like(x))
    np.testing.assert_array_equal(y, x * m)
    assert np.all(m == m[..., :1])                           # one value per channel (and sample)
    assert set(np.unique(m).tolist()) == {0.0, float(np.float32(1) / np.float32(1 - p))}
    assert abs(np.mean(m[..., 0] == 0) - p) < 0.06
    drop.eval()
    assert drop(x) is x
    assert repr(drop) == repr(torch.nn.Dropout1d(p))
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input, but received a 4D input"):
        nn.Dropout1d()(np.zeros((1, 2, 3, 4)))

