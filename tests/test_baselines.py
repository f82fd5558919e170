"""The closed-form baselines: ridge regression gray → RGB and gray-copy."""
import numpy as np
import pytest

from minimlp.colorize.experiments.baselines import baseline_scores, ridge_fit, ridge_predict
from minimlp.colorize.task.data import load_split


def test_ridge_recovers_the_weights_of_a_linear_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 12))
    w, b = rng.normal(size=(12, 5)), rng.normal(size=5)
    y = x @ w + b + 1e-3 * rng.normal(size=(400, 5))
    fitted = ridge_fit(x, y, lam=1e-6)
    np.testing.assert_allclose(fitted[:-1], w, atol=1e-3)
    np.testing.assert_allclose(fitted[-1], b, atol=1e-3)
    np.testing.assert_allclose(ridge_predict(fitted, x), y, atol=5e-3)


def test_ridge_shrinks_the_weights_but_not_the_bias():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4))
    y = x @ rng.normal(size=(4, 2)) + 3.0
    fitted = ridge_fit(x, y, lam=1e9)
    assert np.abs(fitted[:-1]).max() < 1e-5
    np.testing.assert_allclose(fitted[-1], y.mean(axis=0), rtol=1e-3)


@pytest.fixture(scope="module")
def small_split():
    split = load_split("default", "paper")
    return split._replace(train=split.train.subset(range(2000)))


def test_ridge_beats_or_equals_gray_copy_on_the_train_set(small_split):
    # gray-copy is one linear map (weights 1 on the pixel's own luma), so the least-squares fit can only do better
    scores = baseline_scores(small_split, lambdas=(1e-3, 1.0))
    assert scores["ridge"]["train"] <= scores["gray_copy"]["train"]
    assert 0.020 < scores["gray_copy"]["test"] < 0.028
    assert scores["ridge"]["lambda"] in (1e-3, 1.0)
    assert set(scores["ridge"]["valid_by_lambda"]) == {1e-3, 1.0}
