"""Dropout: mask statistics, scaling, and a backward that uses the forward's mask."""
import numpy as np
import pytest

import minimlp
from minimlp import backend, nn


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_mask_statistics_and_scaling(p, device):
    minimlp.manual_seed(0)
    drop = nn.Dropout(p).to(device=device)
    x = backend.to_device(np.random.default_rng(0).uniform(1, 2, (400, 500)).astype(np.float32), device)
    y = backend.to_numpy(drop(x))
    xn = backend.to_numpy(x)
    dropped = y == 0
    # 200,000 Bernoulli draws: the zero fraction is p within 5 standard deviations
    assert abs(dropped.mean() - p) < 5 * np.sqrt(p * (1 - p) / dropped.size)
    np.testing.assert_allclose(y[~dropped], xn[~dropped] / (1 - p), rtol=1e-6)
    assert y.dtype == np.float32


def test_backward_uses_the_same_mask(device):
    minimlp.manual_seed(3)
    drop = nn.Dropout(0.5).to(device=device)
    x = backend.to_device(np.random.default_rng(1).uniform(1, 2, (64, 32)), device)
    y = backend.to_numpy(drop(x))
    G = np.random.default_rng(2).normal(size=(64, 32))
    dx = backend.to_numpy(drop.backward(backend.to_device(G, device)))
    np.testing.assert_allclose(dx, np.where(y != 0, G * 2.0, 0.0), rtol=1e-12)


def test_eval_mode_and_extremes_are_exact():
    x = np.random.default_rng(0).normal(size=(8, 8)).astype(np.float32)
    drop = nn.Dropout(0.7).eval()
    np.testing.assert_array_equal(drop(x), x)
    np.testing.assert_array_equal(drop.backward(x), x)
    np.testing.assert_array_equal(nn.Dropout(0.0)(x), x)
    np.testing.assert_array_equal(nn.Dropout(1.0)(x), np.zeros_like(x))
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_same_seed_same_masks():
    x = np.ones((10, 10), dtype=np.float32)
    minimlp.manual_seed(7)
    a = nn.Dropout(0.5)(x)
    minimlp.manual_seed(7)
    b = nn.Dropout(0.5)(x)
    np.testing.assert_array_equal(a, b)
